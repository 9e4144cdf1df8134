"""Back-Channel Logout 1.0 from Tillid's side: registration and discovery; the logout token
(checked by a validator written here, against the published keys only); every way a session
ends; expiry noticed by the sweep; the queue's retries, a service that is down, giving up.

The services' endpoints are real HTTP servers on free ports; deliveries are made by
`flask logout deliver`, what each worker's thread does every BACKCHANNEL_LOGOUT_SECONDS."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from idp.oidc import backchannel_logout
from idp.sessions import sessions
from tests.conftest import (
    CitizenActions,
    Clock,
    csrf_token,
    login,
    new_recovery_codes,
    sibling_app,
)
from tests.oidc.conftest import Flow, register
from tests.test_metrics import Moved

EVENT = "http://schemas.openid.net/event/backchannel-logout"
PASSWORD = "correct horse battery"

DELIVERIES = "tillid_backchannel_logout_deliveries_total"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """A service's back-channel logout endpoint: a real HTTP server on 127.0.0.1, answering
    each POST with the next of ``statuses`` (then 200) after ``delay`` seconds; it keeps
    what it was sent. Not listening until ``start``: a service that is down."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.port = _free_port()
        self.statuses, self.delay = list(statuses), delay
        self.received: list[dict] = []
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel-logout"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append({"content_type": self.headers["Content-Type"],
                                          "form": parse_qs(body)})  # fmt: skip
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def tokens(self) -> list[str]:
        return [post["form"]["logout_token"][0] for post in self.received]


@pytest.fixture
def app(make_app):
    # Retries a second apart, for a window of 30 s: the schedule in test time.
    return make_app(BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS=1, BACKCHANNEL_LOGOUT_TIMEOUT=3,
                    BACKCHANNEL_LOGOUT_RETRY_SECONDS=30)  # fmt: skip


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def make(*statuses, delay: float = 0.0, running: bool = True) -> Receiver:
        receiver = Receiver(statuses, delay)
        started.append(receiver)
        return receiver.start() if running else receiver

    yield make
    for receiver in started:
        receiver.stop()


def _service(app, receiver: Receiver, *, name="Nordbank", alg=None, session_required=True):
    extra = ["--backchannel-logout-uri", receiver.url,
             *(["--backchannel-logout-session-required"] if session_required else []),
             *(["--id-token-alg", alg] if alg else [])]  # fmt: skip
    return register(app, name=name, extra=extra)


def deliver(app) -> dict:
    result = app.test_cli_runner().invoke(args=["logout", "deliver"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def verified(app, client, token: str) -> tuple[dict, dict]:
    """An independent check of a logout token, as a service makes it (2.6): the signature
    against Tillid's published keys, then every claim. Returns (header, claims)."""
    header = jws.extract_compact(token.encode()).protected
    keys = KeySet.import_key_set(client.get("/jwks").json)
    claims = jwt.decode(token, keys, algorithms=[header["alg"]]).claims
    now = time.time()
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == app.config["ISSUER"]
    assert now - 60 <= claims["iat"] <= now + 5 and claims["exp"] > now
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    return header, claims


def test_a_service_registers_its_logout_address_and_discovery_says_so(app, client, receivers):
    receiver = receivers(running=False)
    service = _service(app, receiver)
    shown = json.loads(app.test_cli_runner().invoke(
        args=["clients", "show", service.client_id]).stdout)  # fmt: skip
    assert shown["backchannel_logout_uri"] == receiver.url
    assert shown["backchannel_logout_session_required"] is True
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


def test_a_registration_from_a_file_carries_it_too(app, tmp_path):
    spec = {"name": "Kommunen", "kind": "public_authority", "scope": "openid profile",
            "redirect_uris": ["https://kommune.example/callback"], "legal_basis": "public_task",
            "purpose": "To serve you",
            "backchannel_logout_uri": "https://kommune.example/backchannel-logout",
            "backchannel_logout_session_required": False}  # fmt: skip
    path = tmp_path / "kommune.json"
    path.write_text(json.dumps(spec))
    runner = app.test_cli_runner()
    created = runner.invoke(args=["clients", "create", "--from-file", str(path)])
    assert created.exit_code == 0, created.output
    shown = json.loads(runner.invoke(
        args=["clients", "show", json.loads(created.stdout)["client_id"]]).stdout)  # fmt: skip
    assert shown["backchannel_logout_uri"] == "https://kommune.example/backchannel-logout"
    assert shown["backchannel_logout_session_required"] is False


@pytest.mark.parametrize(("extra", "message"), [
    (["--backchannel-logout-uri", "http://bank.example/bcl"], "plain http only on localhost"),
    (["--backchannel-logout-uri", "https://bank.example/bcl#x"], "must not have a fragment"),
    (["--backchannel-logout-uri", "bank.example/bcl"], "is not an absolute http(s) URL"),
    (["--backchannel-logout-session-required"], "needs a backchannel_logout_uri"),
])  # fmt: skip
def test_a_bad_logout_address_is_refused_and_nothing_is_stored(app, extra, message):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clients", "create", "--name", "Nordbank", "--kind",
                                 "private_service", "--redirect-uri",
                                 "https://bank.example/callback", "--scope", "openid",
                                 "--legal-basis", "consent", "--purpose", "To serve you",
                                 *extra])  # fmt: skip
    assert result.exit_code != 0 and message in result.output
    assert json.loads(runner.invoke(args=["clients", "list"]).stdout) == []


@pytest.mark.cluster
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_logging_out_at_tillid_sends_each_service_a_logout_token(app, client, oidc, receivers,
                                                                  alg):  # fmt: skip
    bank, tax = receivers(), receivers()
    bank_flow = oidc(_service(app, bank, alg=alg))
    tax_flow = oidc(register(app, name="Skat", kind="public_authority",
                             redirect_uri="https://skat.example/callback", scope="openid profile",
                             legal_basis="public_task",
                             extra=["--backchannel-logout-uri", tax.url]))  # fmt: skip
    bank_id_token = bank_flow.id_token(bank_flow.tokens())
    tax_id_token = tax_flow.id_token(tax_flow.tokens())
    assert CitizenActions(app, client).logout().status_code == 302
    # Sent from the queue, never in the request that ended the session.
    assert bank.received == [] and tax.received == []
    outcome = deliver(app)
    assert outcome["delivered"] == 2 and outcome["pending"] == 0
    for receiver, flow, id_token in ((bank, bank_flow, bank_id_token),
                                     (tax, tax_flow, tax_id_token)):  # fmt: skip
        [post] = receiver.received
        assert post["content_type"] == "application/x-www-form-urlencoded"
        header, claims = verified(app, client, receiver.tokens()[0])
        assert header["alg"] == (alg if receiver is bank else "RS256")
        assert claims["aud"] == flow.service.client_id
        # The service's own `sub` (pairwise: the two differ) and the session's `sid`.
        assert claims["sub"] == id_token["sub"] and claims["sid"] == id_token["sid"]
    assert bank_id_token["sub"] != tax_id_token["sub"]
    assert deliver(app)["delivered"] == 0  # each once


def test_a_service_without_a_logout_address_is_not_told(app, client, oidc, receivers):
    bank = receivers()
    oidc(_service(app, bank)).tokens()
    oidc(register(app, name="Quiet")).tokens()
    CitizenActions(app, client).logout()
    assert deliver(app)["delivered"] == 1 and len(bank.received) == 1


def test_a_service_that_got_no_id_token_in_the_session_is_not_told(app, client, oidc, receivers):
    bank = receivers()
    _service(app, bank)
    CitizenActions(app, client).logout()
    assert deliver(app)["delivered"] == 0 and bank.received == []


def test_the_service_asking_for_the_logout_sends_it_a_logout_token(app, client, oidc, receivers):
    bank = receivers()
    flow = oidc(_service(app, bank))
    tokens = flow.tokens()
    url = f"/logout?id_token_hint={tokens['id_token']}"
    page = client.get(url)
    assert client.post(url, data={"csrf_token": csrf_token(page)}).status_code == 302
    deliver(app)
    _, claims = verified(app, client, bank.tokens()[0])
    assert claims["sid"] == flow.id_token(tokens)["sid"]


def _logged_in_elsewhere(app, oidc, receiver) -> tuple[Flow, str]:
    """Anna on a second browser, with the service logged in there (the first browser is
    ``oidc``'s own): the flow, and the `sid` its ID token had."""
    service = _service(app, receiver)
    oidc(service)  # the citizen and keys of the oidc fixture
    laptop = CitizenActions(app, app.test_client())
    assert laptop.login().status_code == 302
    flow = Flow(app, laptop.client, service)
    return flow, flow.id_token(flow.tokens())["sid"]


def test_logging_out_everywhere_tells_the_services_of_every_session(app, client, oidc,
                                                                    receivers):  # fmt: skip
    bank = receivers()
    laptop_flow, _ = _logged_in_elsewhere(app, oidc, bank)
    Flow(app, client, laptop_flow.service).tokens()  # and in the first browser
    page = client.get("/me/sessions")
    assert client.post("/me/sessions/end-all",
                       data={"csrf_token": csrf_token(page)}).status_code == 302  # fmt: skip
    assert deliver(app)["delivered"] == 2
    sids = {verified(app, client, token)[1]["sid"] for token in bank.tokens()}
    assert len(sids) == 2


def test_ending_another_session_from_the_list_tells_the_services_of_that_one(
    app, client, oidc, receivers
):
    bank = receivers()
    _, laptop_sid = _logged_in_elsewhere(app, oidc, bank)
    page = client.get("/me/sessions")
    own = hashlib.sha256(client.get_cookie("tillid_sso").value.encode()).hexdigest()
    listed = re.findall(r'action="/me/sessions/([0-9a-f]{64})/end"', page.text)
    other = [id_hash for id_hash in listed if id_hash != own]
    response = client.post(f"/me/sessions/{other[0]}/end", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()] == [laptop_sid]


def test_a_password_change_tells_the_services_of_the_sessions_it_ends(app, client, oidc,
                                                                      receivers):  # fmt: skip
    bank = receivers()
    laptop_flow, laptop_sid = _logged_in_elsewhere(app, oidc, bank)
    here = Flow(app, client, laptop_flow.service)
    here_sid = here.id_token(here.tokens())["sid"]
    page = client.get("/me/security/password")
    response = client.post("/me/security/password", data={
        "csrf_token": csrf_token(page), "current_password": PASSWORD,
        "password": "lantern meadow quietly", "password_confirm": "lantern meadow quietly",
        "otp": CitizenActions(app, client).totp_code()})  # fmt: skip
    assert response.status_code == 302, response.text
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()] == [laptop_sid]
    # This browser's session goes on under a new id: not ended, not told...
    assert client.get("/me").status_code == 200
    assert deliver(app)["delivered"] == 0
    # ...until it ends: then the service is told of the `sid` its ID token had.
    CitizenActions(app, client).logout()
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()[1:]] == [here_sid]


def test_a_password_reset_tells_the_services_of_every_session(app, client, oidc, receivers):
    bank = receivers()
    flow = oidc(_service(app, bank))
    sid = flow.id_token(flow.tokens())["sid"]
    codes = new_recovery_codes(client)
    browser = app.test_client()
    page = browser.get("/login/forgot")
    browser.post("/login/forgot", data={"csrf_token": csrf_token(page), "username": "anna"})
    page = browser.get("/login/forgot/prove")
    browser.post("/login/forgot/recovery-code",
                 data={"csrf_token": csrf_token(page), "recovery_code": codes[0]})  # fmt: skip
    page = browser.get("/login/forgot/new-password")
    done = browser.post("/login/forgot/new-password", data={
        "csrf_token": csrf_token(page), "password": "lantern meadow quietly",
        "password_confirm": "lantern meadow quietly"})  # fmt: skip
    assert done.status_code == 302
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()] == [sid]


def test_a_new_login_over_a_session_tells_the_services_of_the_old_one(app, client, oidc,
                                                                      receivers):  # fmt: skip
    bank = receivers()
    flow = oidc(_service(app, bank))
    sid = flow.id_token(flow.tokens())["sid"]
    # A fresh login in the same browser (as a service's prompt=login asks for).
    page = client.get("/login?force=1")
    response = client.post("/login", data={"csrf_token": csrf_token(page), "username": "anna",
                                           "password": PASSWORD})  # fmt: skip
    assert response.status_code == 302
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()] == [sid]


@pytest.mark.cluster
def test_an_expired_session_is_noticed_by_the_sweep(make_app, receivers):
    """The store drops the session at its idle limit and tells nobody: the sweep finds it
    gone, and the service is told."""
    app = make_app(SESSION_IDLE_TIMEOUT=2, SESSION_ABSOLUTE_TIMEOUT=60)
    bank = receivers()
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert citizens.login().status_code == 302
    flow = Flow(app, citizens.client, _service(app, bank))
    sid = flow.id_token(flow.tokens())["sid"]
    assert deliver(app)["sessions_expired"] == 0
    deadline = time.monotonic() + 10
    while (outcome := deliver(app))["sessions_expired"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert outcome["sessions_expired"] == 1 and outcome["delivered"] == 1
    assert [verified(app, citizens.client, t)[1]["sid"] for t in bank.tokens()] == [sid]


def test_a_burst_of_expiries_is_worked_off_in_one_round_whatever_the_batch(
    app, client, oidc, receivers, monkeypatch
):
    """Three logins (three browsers) expire together; a sweep taking two at a time still
    ends all three in one round, and the next round finds nothing."""
    bank = receivers()
    service = _service(app, bank)
    oidc(service).tokens()
    for _ in range(2):
        elsewhere = CitizenActions(app, app.test_client())
        assert elsewhere.login().status_code == 302
        Flow(app, elsewhere.client, service).tokens()
    clock = Clock()
    monkeypatch.setattr(sessions, "time", clock)
    clock.advance(app.config["SESSION_ABSOLUTE_TIMEOUT"] + 1)
    with app.app_context():
        assert sessions.sweep_expired(limit=2) == 3
        assert sessions.sweep_expired(limit=2) == 0
    assert deliver(app)["delivered"] == 3 and len(bank.received) == 3


def test_a_session_past_its_limit_but_still_stored_is_ended_by_the_sweep(
    app, client, oidc, receivers, monkeypatch
):
    bank = receivers()
    flow = oidc(_service(app, bank))
    flow.tokens()
    clock = Clock()
    monkeypatch.setattr(sessions, "time", clock)
    clock.advance(app.config["SESSION_IDLE_TIMEOUT"] - 60)
    assert client.get("/me").status_code == 200  # kept alive: its deadline moves on
    clock.advance(120)  # past the first deadline, not the new one
    assert deliver(app)["sessions_expired"] == 0 and bank.received == []
    clock.advance(app.config["SESSION_ABSOLUTE_TIMEOUT"])
    assert deliver(app)["sessions_expired"] == 1 and len(bank.received) == 1
    assert client.get("/me").status_code == 302


@pytest.mark.cluster
def test_a_service_answering_503_is_tried_again_until_it_answers_200(app, client, oidc,
                                                                     receivers):  # fmt: skip
    bank = receivers(503, 500)
    oidc(_service(app, bank)).tokens()
    CitizenActions(app, client).logout()
    assert deliver(app)["retrying"] == 1
    assert deliver(app)["retrying"] == 0  # not due yet: the backoff
    pending = json.loads(app.test_cli_runner().invoke(args=["logout", "pending"]).stdout)
    assert [entry["attempts"] for entry in pending] == [1]
    time.sleep(1.1)
    assert deliver(app)["retrying"] == 1
    time.sleep(2.1)  # the second wait is twice the first
    outcome = deliver(app)
    assert outcome["delivered"] == 1 and outcome["pending"] == 0
    assert len(bank.received) == 3
    assert len(set(bank.tokens())) == 3  # a fresh token (and jti) each attempt


def test_a_service_that_is_down_gets_the_token_when_it_is_back(app, client, oidc, receivers):
    bank = receivers(running=False)
    oidc(_service(app, bank)).tokens()
    moved = Moved()  # and the metrics count each attempt by its outcome (docs/metrics.md)
    CitizenActions(app, client).logout()
    assert deliver(app)["retrying"] == 1
    bank.start()
    time.sleep(1.1)
    assert deliver(app)["delivered"] == 1
    verified(app, client, bank.tokens()[0])
    for outcome, attempts in (("retrying", 1), ("delivered", 1), ("gave_up", 0)):
        assert moved(DELIVERIES, outcome=outcome) == attempts, outcome


def test_after_the_window_tillid_gives_up(make_app, receivers, caplog):
    app = make_app(BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS=1, BACKCHANNEL_LOGOUT_RETRY_SECONDS=2)
    bank = receivers(running=False)
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert citizens.login().status_code == 302
    Flow(app, citizens.client, _service(app, bank)).tokens()
    citizens.logout()
    caplog.set_level("INFO", logger="tillid.backchannel_logout")
    assert deliver(app)["retrying"] == 1
    time.sleep(1.1)
    moved = Moved()
    outcome = deliver(app)  # the next wait (2 s) would end past the 2 s window
    assert outcome["gave_up"] == 1 and outcome["pending"] == 0
    assert moved(DELIVERIES, outcome="gave_up") == 1
    lines = [r for r in caplog.records if r.name == "tillid.backchannel_logout"]
    assert [(r.outcome, r.attempt, r.error) for r in lines] == [
        ("retrying", 1, "ConnectionError"), ("gave_up", 2, "ConnectionError")]  # fmt: skip
    # Each attempt logged, never the token itself.
    assert all("logout_token" not in r.getMessage() and "eyJ" not in str(r.__dict__)
               for r in lines)  # fmt: skip


def test_a_disabled_service_is_not_told(app, client, oidc, receivers):
    bank = receivers()
    service = _service(app, bank)
    oidc(service).tokens()
    assert app.test_cli_runner().invoke(
        args=["clients", "disable", service.client_id]).exit_code == 0  # fmt: skip
    CitizenActions(app, client).logout()
    assert deliver(app)["gave_up"] == 1 and bank.received == []


def test_two_workers_never_send_the_same_token_at_once(app, client, oidc, receivers):
    bank = receivers(delay=1.0)
    oidc(_service(app, bank)).tokens()
    CitizenActions(app, client).logout()
    other = sibling_app(app)
    results = []

    def worker(each_app):
        with each_app.app_context():
            results.append(backchannel_logout.deliver_due())

    threads = [threading.Thread(target=worker, args=(each,)) for each in (app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result["delivered"] for result in results) == 1
    assert len(bank.received) == 1


def test_the_operator_locking_the_citizen_tells_the_services(app, client, oidc, receivers):
    bank = receivers()
    flow = oidc(_service(app, bank))
    sid = flow.id_token(flow.tokens())["sid"]
    runner = app.test_cli_runner()
    bo = runner.invoke(args=["citizens", "create", "--cpr", "0101905555", "--given-name", "Bo",
                             "--family-name", "Berg"])  # fmt: skip
    anna_cpr = "0101900001"  # the oidc fixture's Anna: the first CPR number CitizenActions gives
    locked = runner.invoke(args=["citizens", "lock", anna_cpr])
    assert locked.exit_code == 0, locked.output
    assert json.loads(locked.stdout)["status"] == "locked"
    assert json.loads(locked.stdout)["sessions_ended"] == 1
    assert client.get("/me").status_code == 302
    deliver(app)
    assert [verified(app, client, t)[1]["sid"] for t in bank.tokens()] == [sid]
    # Locking twice, or a citizen who is not active, is refused with a reason.
    again = runner.invoke(args=["citizens", "lock", anna_cpr])
    assert again.exit_code != 0 and "the citizen is locked, not active" in again.output
    assert json.loads(bo.stdout)["status"] == "pending"
    pending = runner.invoke(args=["citizens", "lock", "0101905555"])
    assert pending.exit_code != 0 and "the citizen is pending, not active" in pending.output
    for cpr, reason in (("not-a-cpr", "cpr: "), ("0202851234", "no citizen")):
        refused = runner.invoke(args=["citizens", "lock", cpr])
        assert refused.exit_code == 1 and reason in refused.output, refused.output
    # Locked: no login until unlocked.
    assert login(app.test_client(), "anna", PASSWORD).status_code == 403
    unlocked = runner.invoke(args=["citizens", "unlock", anna_cpr])
    assert unlocked.exit_code == 0 and json.loads(unlocked.stdout)["status"] == "active"
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_a_request_in_a_session_writes_nothing_to_the_expiry_watch(app, client, oidc):
    """The hot path stays as it was: a request's touch of its session is no write to the
    watch list (the sweep finds a kept-alive session's new deadline by itself)."""
    store_client = app.extensions["tillid_store"]
    sent: list[tuple] = []
    original = store_client.execute_command

    def recording(*args, **options):
        sent.append(args)
        return original(*args, **options)

    store_client.execute_command = recording
    try:
        assert client.get("/me").status_code == 200
    finally:
        del store_client.execute_command
    named = [" ".join(str(part) for part in command) for command in sent]
    assert any("sso:" in command for command in named)  # the session was read and touched
    assert not [command for command in named if "sso-watch" in command]
