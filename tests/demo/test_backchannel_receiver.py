"""The demo services' back-channel logout endpoint, as a service must validate a logout token
(Back-Channel Logout 1.0 2.6): Tillid's live JWKS, and tokens forged with Tillid's own keys
(what no attacker could sign, to test each rule alone) or with a key of the test's own. A
valid one ends the session it names; every broken one is a 400, and ends nothing."""

from __future__ import annotations

import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from demo import registry as demo_registry
from demo.service import create_service
from idp.keys import service as keys

EVENT = "http://schemas.openid.net/event/backchannel-logout"
CLIENT_ID = "demo-bank"
SID, SUB = "0123456789abcdef0123456789abcdef", "pairwise-sub-of-anna"
RECEIVED = {"signed_with": {"alg": "RS256", "kid": "k"},
            "id_token": {"sub": SUB, "sid": SID}, "userinfo": {"sub": SUB}}  # fmt: skip


@pytest.fixture
def tillid(live_server):
    app, issuer = live_server
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    return app, issuer


@pytest.fixture
def bank(tillid):
    _, issuer = tillid
    template = demo_registry.BANK
    service = create_service(name=template.name, issuer=issuer, client_id=CLIENT_ID,
                             client_secret="not used here", scope=template.scope,
                             description=template.description, kind=template.kind,
                             ui_locales="en")  # fmt: skip
    client = service.test_client()
    with client.session_transaction() as session:
        session["received"] = RECEIVED
        session["logged_in_at"] = time.time() - 60
    return client


def claims(tillid, **changes) -> dict:
    _, issuer = tillid
    now = int(time.time())
    base = {"iss": issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": secrets.token_urlsafe(16), "sub": SUB, "sid": SID,
            "events": {EVENT: {}}}  # fmt: skip
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(tillid, payload: dict, *, alg="RS256", typ="logout+jwt", key=None) -> str:
    app, _ = tillid
    with app.app_context():
        kid, tillid_key = keys.signing_key(alg)
    header = {"alg": alg, "kid": kid, "typ": typ} if typ else {"alg": alg, "kid": kid}
    return jwt.encode(header, payload, key or tillid_key, [alg])


def post(bank, token: str):
    return bank.post("/backchannel-logout", data={"logout_token": token})


def logged_in(bank) -> bool:
    return "Log in with Tillid" not in bank.get("/").get_data(as_text=True)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_valid_logout_token_ends_the_session_it_names(tillid, bank, alg):
    assert logged_in(bank)
    answer = post(bank, signed(tillid, claims(tillid), alg=alg))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert not logged_in(bank)


def test_a_token_for_another_session_leaves_this_one(tillid, bank):
    assert post(bank, signed(tillid, claims(tillid, sid="another-session"))).status_code == 200
    assert logged_in(bank)


def test_a_token_with_only_sub_ends_the_citizens_sessions_from_before_it(tillid, bank):
    assert post(bank, signed(tillid, claims(tillid, sid=None))).status_code == 200
    assert not logged_in(bank)


def test_the_same_token_twice_is_a_replay(tillid, bank):
    token = signed(tillid, claims(tillid, sid="another-session"))
    assert post(bank, token).status_code == 200
    replayed = post(bank, token)
    assert replayed.status_code == 400 and "replayed" in replayed.json["error_description"]


@pytest.mark.parametrize(("changes", "why"), [
    ({"aud": "another-service"}, "not meant for this service"),
    ({"iss": "https://evil.example"}, "wrong issuer"),
    ({"nonce": "n-0S6_WzA2Mj"}, "a nonce"),
    ({"events": None}, "no back-channel logout event"),
    ({"events": {"http://schemas.openid.net/event/other": {}}}, "no back-channel logout event"),
    ({"events": {EVENT: "yes"}}, "no back-channel logout event"),
    ({"sub": None, "sid": None}, "neither sub nor sid"),
    ({"jti": None}, "no jti"),
    ({"iat": None}, "no iat"),
    ({"iat": int(time.time()) + 3600}, "in the future"),
    ({"exp": int(time.time()) - 3600}, "expired"),
])  # fmt: skip
def test_a_token_breaking_a_rule_is_refused_and_ends_nothing(tillid, bank, changes, why):
    answer = post(bank, signed(tillid, claims(tillid, **changes)))
    assert answer.status_code == 400 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json["error"] == "invalid_request" and why in answer.json["error_description"]
    assert logged_in(bank)


@pytest.mark.parametrize(("typ", "why"), [("JWT", "typ"), (None, "typ")])
def test_a_token_not_typed_as_a_logout_token_is_refused(tillid, bank, typ, why):
    answer = post(bank, signed(tillid, claims(tillid), typ=typ))
    assert answer.status_code == 400 and why in answer.json["error_description"]
    assert logged_in(bank)


def test_a_token_signed_with_another_key_is_refused(tillid, bank):
    forged = signed(tillid, claims(tillid), alg="ES256", key=ECKey.generate_key("P-256"))
    answer = post(bank, forged)
    assert answer.status_code == 400 and "signature" in answer.json["error_description"]
    assert logged_in(bank)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "eyJhbGciOiJub25lIn0.e30."])
def test_what_is_no_signed_token_is_refused(bank, token):
    assert post(bank, token).status_code == 400
    assert logged_in(bank)


def test_demo_load_registers_the_demo_services_logout_address_even_on_an_old_registration(app):
    """A demo service registered before it received logout tokens gets its address at the
    next `demo load`; a new one has it from the start."""
    from clients import service as client_registry

    bank = demo_registry.BANK
    with app.app_context():
        client_registry.register({
            "name": bank.name, "kind": bank.kind, "redirect_uris": [f"{bank.url}/callback"],
            "scope": bank.scope, "legal_basis": "consent", "purpose": "Before",
        })  # fmt: skip
    result = app.test_cli_runner().invoke(args=["demo", "load", "--citizens", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        for service in demo_registry.DEMO_SERVICES:
            registered = client_registry.find_by_name(service.name)
            assert registered.backchannel_logout_uri == f"{service.url}/backchannel-logout"
            assert registered.backchannel_logout_session_required is True
