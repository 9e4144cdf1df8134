"""Attacks on the authenticators: TOTP replay and guessing across workers, WebAuthn assertions
replayed or made for another origin, a phone's approval replayed for another login, and
user enumeration at activation and recovery.

Already tested elsewhere: a TOTP code accepted once in one worker and two concurrent logins
with one code (tests/idp/test_second_factor.py), a passkey's counter going back and a passkey
login without user verification in real Chromium (tests/e2e/test_passkeys.py), the password
step's enumeration by answer and by argon2 work (tests/idp/test_login.py)."""

from __future__ import annotations

import re
import statistics
import time

import argon2
import pyotp
import pytest

from tests.conftest import (
    RECOVERY_CODE_RE,
    CitizenActions,
    activate,
    csrf_token,
    login,
    new_recovery_codes,
    rendering_independent,
    sql,
)
from tests.oidc.conftest import Flow, redirect_params, register
from tests.security.conftest import (
    SoftAuthenticator,
    login_challenge,
    pair_phone,
    post_json,
    register_passkey,
    send_assertion,
)

PASSWORD = "correct horse battery"
USED_CODE = "This code has been used already."


def _code_step(client, code: str):
    page = client.get("/login/code")
    return client.post("/login/code", data={"csrf_token": csrf_token(page), "otp": code,
                                            "next": "/me"})  # fmt: skip


def _secret(citizens, username="anna") -> str:
    return citizens.totp_secrets[username]


# --- TOTP ---------------------------------------------------------------------------------------


def test_attack_totp_replay_across_workers(app, citizens, second_worker):
    """A code seen over the citizen's shoulder (or phished), sent at once to another worker."""
    citizens.create()
    code = pyotp.TOTP(_secret(citizens)).now()
    citizen_browser, attacker_browser = app.test_client(), second_worker.test_client()
    assert login(citizen_browser, "anna", PASSWORD).status_code == 302
    assert login(attacker_browser, "anna", PASSWORD).status_code == 302
    assert _code_step(citizen_browser, code).status_code == 302
    replay = _code_step(attacker_browser, code)
    assert replay.status_code == 401 and USED_CODE in replay.text
    assert attacker_browser.get("/me").status_code == 302  # not in


def _wrong_code(secret: str) -> str:
    """A code that is not valid in any accepted step around now."""
    totp = pyotp.TOTP(secret)
    step = int(time.time() // 30)
    valid = {totp.generate_otp(s) for s in range(step - 2, step + 3)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in valid)


def test_attack_totp_brute_force_lockout_holds_across_workers(app, citizens, second_worker):
    """The attacker knows the password and spreads the guesses at the code over the workers;
    they count together, and lock the right code out on every worker."""
    citizens.create()
    wrong = _wrong_code(_secret(citizens))
    browsers = [app.test_client(), second_worker.test_client()]
    for browser in browsers:
        assert login(browser, "anna", PASSWORD).status_code == 302
    statuses = [_code_step(browsers[i % 2], wrong).status_code for i in range(5)]
    assert statuses == [401] * 5
    right = pyotp.TOTP(_secret(citizens)).now()
    for browser in browsers:
        locked = _code_step(browser, right)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert browser.get("/me").status_code == 302
    # The recovery codes share the budget: no way round the lockout through them.
    page = browsers[1].get("/login/recovery")
    recovery = browsers[1].post("/login/recovery", data={
        "csrf_token": csrf_token(page), "recovery_code": "0000-0000-0000-0000"})  # fmt: skip
    assert recovery.status_code == 429


def test_attack_totp_brute_force_from_a_new_session_for_each_guess(app, citizens):
    """A new session (a fresh password login) per guess does not reset the count."""
    citizens.create()
    wrong = _wrong_code(_secret(citizens))
    for _ in range(5):
        browser = app.test_client()
        assert login(browser, "anna", PASSWORD).status_code == 302
        assert _code_step(browser, wrong).status_code == 401
    browser = app.test_client()
    assert login(browser, "anna", PASSWORD).status_code == 302
    assert _code_step(browser, pyotp.TOTP(_secret(citizens)).now()).status_code == 429


# --- WebAuthn ---------------------------------------------------------------------------------


@pytest.fixture
def passkey(app, client, citizens) -> SoftAuthenticator:
    citizens.create()
    assert citizens.login().status_code == 302
    authenticator = SoftAuthenticator()
    register_passkey(client, authenticator)
    return authenticator


def _logged_in(browser) -> bool:
    return browser.get("/me").status_code == 200


def test_attack_webauthn_challenge_replay(app, passkey):
    """A captured assertion (a valid signature over a challenge already answered) opens
    nothing again: not in the same browser, nor in another one with a fresh challenge."""
    browser = app.test_client()
    token, challenge = login_challenge(browser)
    captured = passkey.assertion(challenge)
    assert send_assertion(browser, token, captured).status_code == 200
    assert _logged_in(browser)
    again = send_assertion(browser, token, captured)
    assert again.status_code == 400
    attacker = app.test_client()
    token, _fresh = login_challenge(attacker)
    replay = send_assertion(attacker, token, captured)
    assert replay.status_code == 400 and not _logged_in(attacker)
    token, _fresh = login_challenge(attacker)
    with_its_own_count = passkey.assertion(challenge)  # the old challenge, re-signed
    assert send_assertion(attacker, token, with_its_own_count).status_code == 400
    assert not _logged_in(attacker)


@pytest.mark.parametrize(
    "bend",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost.evil.example:5000"},
        {"origin": "http://localhost:5001"},
        {"origin": "https://localhost:5000"},
        {"origin": "null"},
        {"rp_id": "evil.example"},
        {"rp_id": "localhost.evil.example"},
    ],
    ids=lambda bend: "-".join(f"{k}={v}" for k, v in bend.items()),
)
def test_attack_webauthn_cross_origin_assertion(app, passkey, bend):
    """A phishing page (another origin, or another RP ID) relays Tillid's challenge to the
    citizen's authenticator: the answer carries the origin it really came from."""
    browser = app.test_client()
    token, challenge = login_challenge(browser)
    response = send_assertion(browser, token, passkey.assertion(challenge, **bend))
    assert response.status_code == 400 and "not accepted" in response.json["detail"]
    assert not _logged_in(browser)
    # The challenge is spent by the failure: a corrected answer cannot follow it.
    assert send_assertion(browser, token, passkey.assertion(challenge)).status_code == 400


def test_attack_webauthn_registration_from_another_origin(app, client, citizens):
    """An attacker's page cannot plant its own credential on the citizen's account."""
    citizens.create()
    assert citizens.login().status_code == 302
    token = csrf_token(client.get("/me/security"))
    options = post_json(client, "/me/security/passkey/options", {}, token).json
    foreign = SoftAuthenticator(origin="https://evil.example")
    response = post_json(client, "/me/security/passkey/verify",
                         {"credential": foreign.register(options), "name": "x"}, token)  # fmt: skip
    assert response.status_code == 400
    kinds = [a["kind"] for a in client.get("/api/me/authenticators").json["authenticators"]]
    assert kinds == ["totp"]


# --- the phone's approval ------------------------------------------------------------------------


def _phone_login(app) -> tuple[object, str]:
    """A browser asks to log in with the phone: the browser, and the code it shows."""
    browser = app.test_client()
    page = browser.get("/login/app")
    waiting = browser.post("/login/app", data={"csrf_token": csrf_token(page), "username": "anna"},
                           follow_redirects=True)  # fmt: skip
    return browser, re.search(r'id="binding-code">([^<]+)<', waiting.text).group(1)


def _phone_csrf(phone) -> str:
    return re.search(r'data-csrf-token="([^"]+)"', phone.get("/app").text).group(1)


def test_attack_phone_approval_replayed_for_another_login(app, client, citizens):
    """A captured approval (a signature by the phone's key) answers its own request only:
    not the same request twice, not the next login's request."""
    citizens.create()
    assert citizens.login().status_code == 302
    phone_key = SoftAuthenticator()
    phone = pair_phone(app, client, phone_key)
    first_browser, code = _phone_login(app)
    first_id = phone.get("/app/api/pending").json["request"]
    token = _phone_csrf(phone)
    options = post_json(phone, f"/app/api/requests/{first_id}/options", {"code": code}, token)
    captured = phone_key.assertion(options.json["challenge"])
    approved = post_json(phone, f"/app/api/requests/{first_id}/approve",
                         {"credential": captured, "code": code}, token)  # fmt: skip
    assert approved.status_code == 200, approved.json
    again = post_json(phone, f"/app/api/requests/{first_id}/approve",
                      {"credential": captured, "code": code}, token)  # fmt: skip
    assert again.status_code in (400, 409)

    done = first_browser.post("/login/app/complete", data={
        "csrf_token": csrf_token(first_browser.get("/login/app/wait")), "next": "/me"})  # fmt: skip
    assert done.status_code == 302 and first_browser.get("/me").status_code == 200

    second_browser, second_code = _phone_login(app)
    second_id = phone.get("/app/api/pending").json["request"]
    assert second_id != first_id
    post_json(phone, f"/app/api/requests/{second_id}/options", {"code": second_code}, token)
    replay = post_json(phone, f"/app/api/requests/{second_id}/approve",
                       {"credential": captured, "code": second_code}, token)  # fmt: skip
    assert replay.status_code == 400
    assert second_browser.get("/login/app/status").json["status"] == "pending"


# --- user enumeration -----------------------------------------------------------------------------


def _activation_answers(app, client):
    """The answer to each way of being wrong at activation, for a registered and pending,
    a registered and active, and an unregistered CPR number."""
    actions = CitizenActions(app, client)
    actions.create(username=None, cpr="0101901111")
    actions.letter("0101901111")
    actions.create(username="already", cpr="0101902222")
    return {
        "pending citizen, wrong code": "0101901111",
        "active citizen": "0101902222",
        "unregistered CPR number": "0101903333",
    }


def _activate(client, cpr: str):
    page = client.get("/activate")
    return client.post("/activate", data={
        "csrf_token": csrf_token(page), "cpr": cpr, "activation_code": "ABCD-EFGH-JKMN",
        "username": "newname", "password": "a long enough password", "password_confirm":
        "a long enough password"})  # fmt: skip


def _shape(html: str) -> str:
    """The page without what differs between two renderings, nor what a field echoes of
    what was typed."""
    return re.sub(r'value="[^"]*"', 'value=""', rendering_independent(html))


def test_attack_user_enumeration_by_response_at_activation(make_app, monkeypatch):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute")
    client = app.test_client()
    attempts = _activation_answers(app, client)
    hashed = []
    real_hash = argon2.PasswordHasher.hash

    def counting_hash(self, password, **options):
        hashed.append(password)
        return real_hash(self, password, **options)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", counting_hash)
    answers = {name: _activate(client, cpr) for name, cpr in attempts.items()}
    statuses = {name: r.status_code for name, r in answers.items()}
    assert set(statuses.values()) == {400}, statuses
    shapes = {_shape(r.text) for r in answers.values()}
    assert len(shapes) == 1, "the pages differ between registered and unregistered"
    assert hashed == []  # no path hashes a password it will not keep


def test_attack_user_enumeration_by_timing_at_activation(make_app):
    """Medians over many tries, with a generous bound: a registered CPR number must not
    take measurably longer to refuse than an unregistered one."""
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute")
    client = app.test_client()
    attempts = _activation_answers(app, client)
    timings = {name: [] for name in attempts}
    for _ in range(12):
        for name, cpr in attempts.items():
            started = time.perf_counter()
            assert _activate(client, cpr).status_code == 400
            timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest - fastest < max(0.05, fastest), medians


def test_attack_user_enumeration_at_recovery(app, client, citizens):
    """At the recovery step a wrong code and a spent one get the same answer; and without a
    password session the step answers every visitor alike (it knows no user ID yet)."""
    citizens.create()
    assert citizens.login().status_code == 302
    codes = new_recovery_codes(client)
    assert len(codes) == 10
    browser = app.test_client()
    assert login(browser, "anna", PASSWORD).status_code == 302
    token = csrf_token(browser.get("/login/recovery"))
    used = browser.post("/login/recovery", data={"csrf_token": token, "recovery_code": codes[0]})
    assert used.status_code == 302
    browser = app.test_client()
    assert login(browser, "anna", PASSWORD).status_code == 302
    token = csrf_token(browser.get("/login/recovery"))
    spent = browser.post("/login/recovery", data={"csrf_token": token, "recovery_code": codes[0]})
    wrong_code = "0000-0000-0000-0000"
    wrong = browser.post("/login/recovery", data={"csrf_token": token, "recovery_code": wrong_code})
    assert spent.status_code == wrong.status_code == 401
    assert _shape(spent.text) == _shape(wrong.text)
    strangers = [app.test_client().get("/login/recovery") for _ in range(2)]
    answers = {(r.status_code, r.headers.get("Location")) for r in strangers}
    assert len(answers) == 1 and answers.pop()[0] == 302


def test_attack_webauthn_sign_count_regression_of_a_cloned_phone_key(app, client, citizens):
    """A copy of the phone's key, taken when its counter stood lower, approves after the real
    phone has moved on: the approval is refused and the phone blocked. (A cloned passkey at
    the login: tests/e2e/test_passkeys.py::test_a_sign_count_that_goes_back_blocks_the_passkey.)"""
    citizens.create()
    assert citizens.login().status_code == 302
    phone_key = SoftAuthenticator()
    phone = pair_phone(app, client, phone_key)
    answers = []
    for count in (5, 3):  # the real phone at 5; the clone, copied earlier, at 3
        browser, code = _phone_login(app)
        request_id = phone.get("/app/api/pending").json["request"]
        token = _phone_csrf(phone)
        options = post_json(phone, f"/app/api/requests/{request_id}/options", {"code": code},
                            token)  # fmt: skip
        credential = phone_key.assertion(options.json["challenge"], sign_count=count)
        answers.append(post_json(phone, f"/app/api/requests/{request_id}/approve",
                                 {"credential": credential, "code": code}, token))  # fmt: skip
        if count == 5:
            assert answers[0].status_code == 200, answers[0].json
            token = csrf_token(browser.get("/login/app/wait"))
            done = browser.post("/login/app/complete", data={"csrf_token": token, "next": "/me"})
            assert done.status_code == 302
    assert answers[1].status_code == 400 and "counter went backwards" in answers[1].json["detail"]
    assert browser.get("/login/app/status").json["status"] == "pending"
    assert phone.get("/app/api/pending").status_code == 401  # the phone is blocked
    listed = client.get("/api/me/authenticators").json["authenticators"]
    assert [a["blocked"] for a in listed if a["kind"] == "phone"] == [True]


# --- the binding rule: an authenticator logs in no higher than the session that added it ------

HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def _activated_and_logged_in(app, citizens, browser, username: str) -> None:
    """A citizen whose identity the activation letter proved, logged in with the password
    and nothing more (no second factor yet)."""
    cpr = citizens.next_cpr()
    citizens.create(username=None, cpr=cpr)
    assert activate(browser, cpr, citizens.letter(cpr), username, PASSWORD).status_code == 302
    assert login(browser, username, PASSWORD).status_code == 302


def _passkey_login(app, passkey: SoftAuthenticator):
    browser = app.test_client()
    token, challenge = login_challenge(browser)
    assert send_assertion(browser, token, passkey.assertion(challenge)).status_code == 200
    return browser


def _bound_levels(app) -> list[str]:
    rows = sql(app, "SELECT bound_level FROM authenticator WHERE kind = 'webauthn' "
                    "ORDER BY created_at")  # fmt: skip
    return [r["bound_level"] for r in rows]


@pytest.fixture
def high_service(app):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    return register(app, name="Sundhed", kind="public_authority", scope="openid profile",
                    legal_basis="public_task")  # fmt: skip


def test_attack_a_passkey_added_from_a_substantial_session_never_logs_in_at_high(
    app, client, citizens, high_service
):
    """The citizen's first factor is the app (Substantial). Someone with the password and a
    code (phished, or over the shoulder) adds their own device-bound passkey and asks a
    service for High with it: the passkey is bound to the Substantial session it came from."""
    _activated_and_logged_in(app, citizens, client, "ida")
    page = client.get("/me/security/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    code = pyotp.TOTP(secret).now()
    enrolled = client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                                                      "otp": code, "next": "/me"})  # fmt: skip
    assert enrolled.status_code == 303
    attackers_key = SoftAuthenticator()  # device-bound: High if anything is
    register_passkey(client, attackers_key)
    assert _bound_levels(app) == [SUBSTANTIAL]

    browser = _passkey_login(app, attackers_key)
    flow = Flow(app, browser, high_service)
    refused = redirect_params(flow.authorize(acr_values=HIGH))
    assert refused["error"] == "unmet_authentication_requirements", refused
    assert flow.id_token(flow.tokens())["acr"] == SUBSTANTIAL, "what it reaches: Substantial"


def test_a_first_passkey_after_activation_reaches_high_and_binds_the_next_at_high(
    app, client, citizens, high_service
):
    """The control: a passkey set up as the first second factor after the letter is bound by
    the identity proofing (High); a passkey added from the High session it opens is High too."""
    _activated_and_logged_in(app, citizens, client, "ida")
    first = SoftAuthenticator()
    register_passkey(client, first, page="/me/security/totp")
    browser = _passkey_login(app, first)
    flow = Flow(app, browser, high_service)
    assert flow.id_token(flow.tokens(acr_values=HIGH))["acr"] == HIGH
    second = SoftAuthenticator()
    register_passkey(browser, second)
    assert _bound_levels(app) == [HIGH, HIGH]
    flow = Flow(app, _passkey_login(app, second), high_service)
    assert flow.id_token(flow.tokens(acr_values=HIGH))["acr"] == HIGH


def test_attack_a_passkey_added_after_a_recovery_code_stays_at_substantial(
    app, client, citizens, high_service
):
    """Someone with the password and one recovery code (found in a drawer) gets in to set up
    a new authenticator: the code and the password are two factors, never High."""
    _activated_and_logged_in(app, citizens, client, "ida")
    register_passkey(client, SoftAuthenticator(), page="/me/security/totp")
    codes = RECOVERY_CODE_RE.findall(client.get("/me/security/recovery-codes").text)
    assert len(codes) == 10, "a first authenticator comes with recovery codes"
    intruder = app.test_client()
    assert login(intruder, "ida", PASSWORD).status_code == 302
    page = intruder.get("/login/recovery")
    used = intruder.post("/login/recovery", data={"csrf_token": csrf_token(page),
                                                  "recovery_code": codes[0]})  # fmt: skip
    assert used.status_code == 302
    intruders_key = SoftAuthenticator()
    register_passkey(intruder, intruders_key, page="/me/security/totp")
    assert _bound_levels(app) == [HIGH, SUBSTANTIAL]
    flow = Flow(app, _passkey_login(app, intruders_key), high_service)
    asked = flow.authorize(acr_values=HIGH)
    # Not High: sent to prove it with the citizen's own High passkey, which the intruder lacks.
    assert asked.status_code == 302
    location = asked.headers["Location"]
    assert location.startswith("/login/code?") and "need=high" in location
