"""Attacks on the sensitive changes of /me/security: someone at a computer the citizen left
logged in (or holding a stolen session cookie) adds their own authenticator, removes the
citizen's, pairs their phone or makes new recovery codes. Each needs the second factor
proved in the last few minutes (FRESH_SECOND_FACTOR_SECONDS); a request without it is sent
to confirm first and never takes effect, whatever the page shows or hides.

The binding rule's attacks (a passkey added at Substantial logging in at High) are in
test_attacks_authenticators.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import (
    RECOVERY_CODE_RE,
    CitizenActions,
    csrf_token,
    login,
    new_recovery_codes,
    sql,
)
from tests.security.conftest import (
    SoftAuthenticator,
    age_second_factor,
    post_json,
    register_passkey,
)

PASSWORD = "correct horse battery"
LEFT_ALONE = 10 * 60  # the citizen walked away ten minutes ago: past the default five


@pytest.fixture
def anna(app, client, citizens):
    """Anna, logged in with password and code, her codes made; then she leaves the computer."""
    citizens.create()
    assert citizens.login().status_code == 302
    codes = new_recovery_codes(client)
    assert len(codes) == 10
    age_second_factor(app, client, LEFT_ALONE)
    return codes


def _sent_to_confirm(response, back_to: str) -> None:
    assert response.status_code == 303, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/me/security/confirm"
    assert parse_qs(location.query)["next"] == [back_to]


def _authenticators(app) -> list[dict]:
    return sql(app, "SELECT id, kind, name, confirmed_at FROM authenticator ORDER BY created_at")


def _unused_codes(app) -> int:
    return len(sql(app, "SELECT id FROM recovery_code WHERE used_at IS NULL"))


def test_attack_new_recovery_codes_from_a_stale_session(app, client, anna):
    """New codes would void the citizen's and hand the attacker a way back in."""
    code_hashes = sql(app, "SELECT code_hash FROM recovery_code ORDER BY code_hash")
    _sent_to_confirm(client.get("/me/security/recovery-codes/new"),
                     "/me/security/recovery-codes/new")  # fmt: skip
    token = csrf_token(client.get("/me/security"))
    forged = client.post("/me/security/recovery-codes/new", data={"csrf_token": token})
    _sent_to_confirm(forged, "/me/security/recovery-codes/new")
    assert sql(app, "SELECT code_hash FROM recovery_code ORDER BY code_hash") == code_hashes
    shown = client.get("/me/security/recovery-codes").text
    assert RECOVERY_CODE_RE.findall(shown) == anna, "still the citizen's own codes, none new"


def test_attack_add_an_authenticator_app_from_a_stale_session(app, client, anna):
    before = _authenticators(app)
    _sent_to_confirm(client.get("/me/security/totp"), "/me/security/totp")
    token = csrf_token(client.get("/me/security"))
    forged = client.post("/me/security/totp", data={"csrf_token": token, "otp": "123456",
                                                    "name": "Attacker"})  # fmt: skip
    _sent_to_confirm(forged, "/me/security/totp")
    assert _authenticators(app) == before, "not even an unconfirmed one is begun"


def test_attack_add_a_passkey_from_a_stale_session(app, client, anna):
    """The passkey ceremony is JSON: refused 403 with where to confirm, and no credential
    is kept even with a well-formed answer to a challenge got earlier."""
    _sent_to_confirm(client.get("/me/security/passkey"), "/me/security/passkey")
    token = csrf_token(client.get("/me/security"))
    options = post_json(client, "/me/security/passkey/options", {}, token)
    assert options.status_code == 403
    assert options.json["confirm"].startswith("/me/security/confirm?next=")
    attacker = SoftAuthenticator()
    answer = attacker.register({"challenge": "AAAA", "user": {"id": "AAAA"}})
    verify = post_json(client, "/me/security/passkey/verify", {"credential": answer}, token)
    assert verify.status_code == 403
    assert [a["kind"] for a in _authenticators(app)] == ["totp"]


def test_attack_remove_the_citizens_authenticator_from_a_stale_session(app, client, citizens):
    """With two authenticators, the attacker removes the one the citizen would notice."""
    citizens.create()
    assert citizens.login().status_code == 302
    register_passkey(client, SoftAuthenticator())
    age_second_factor(app, client, LEFT_ALONE)
    totp_id = next(a["id"] for a in _authenticators(app) if a["kind"] == "totp")
    token = csrf_token(client.get("/me/security"))
    forged = client.post(f"/me/security/{totp_id}/remove", data={"csrf_token": token})
    _sent_to_confirm(forged, "/me/security")  # the address answers POST only: the overview
    assert len(_authenticators(app)) == 2


def test_attack_pair_a_phone_from_a_stale_session(app, client, anna):
    token = csrf_token(client.get("/me/security"))
    forged = client.post("/me/security/phone", data={"csrf_token": token})
    _sent_to_confirm(forged, "/me/security/phone")
    assert client.get("/me/security/phone").headers["Location"] == "/me/security"
    assert client.get("/me/security/phone/qr.svg").status_code == 404, "no link was made"


def test_confirming_with_the_code_goes_back_and_the_change_then_works(app, client, citizens, anna):
    old_codes = anna
    asked = client.get("/me/security/recovery-codes/new")
    page = client.get(asked.headers["Location"])
    assert page.status_code == 200 and "Confirm it is you" in page.text
    confirmed = client.post("/me/security/confirm", data={
        "csrf_token": csrf_token(page), "otp": citizens.totp_code(),
        "next": "/me/security/recovery-codes/new"})  # fmt: skip
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "/me/security/recovery-codes/new"
    new_codes = new_recovery_codes(client)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    # Still fresh: the confirmation page itself now goes straight on.
    again = client.get("/me/security/confirm", query_string={"next": "/me/security/totp"})
    assert again.status_code == 303 and again.headers["Location"] == "/me/security/totp"


def test_confirming_with_a_passkey(app, client, citizens):
    citizens.create()
    assert citizens.login().status_code == 302
    passkey = SoftAuthenticator()
    register_passkey(client, passkey)
    age_second_factor(app, client, LEFT_ALONE)
    page = client.get("/me/security/confirm", query_string={"next": "/me/security/passkey"})
    assert "Confirm with a passkey" in page.text
    token = csrf_token(page)
    options = post_json(client, "/me/security/confirm/passkey/options", {}, token)
    assert options.status_code == 200
    done = post_json(client, "/me/security/confirm/passkey/verify", {
        "credential": passkey.assertion(options.json["challenge"]),
        "next": "/me/security/passkey"}, token)  # fmt: skip
    assert done.status_code == 200 and done.json["redirect"] == "/me/security/passkey"
    assert client.get("/me/security/passkey").status_code == 200


def test_attack_someone_elses_passkey_does_not_confirm(app, client, citizens):
    citizens.create()
    assert citizens.login().status_code == 302
    age_second_factor(app, client, LEFT_ALONE)
    citizens.create(username="bodil", given_name="Bodil")
    bodil_browser = app.test_client()
    assert CitizenActions(app, bodil_browser).login(username="bodil").status_code == 302
    bodil_key = SoftAuthenticator()
    register_passkey(bodil_browser, bodil_key)
    token = csrf_token(client.get("/me/security/confirm"))
    options = post_json(client, "/me/security/confirm/passkey/options", {}, token)
    answer = post_json(client, "/me/security/confirm/passkey/verify",
                       {"credential": bodil_key.assertion(options.json["challenge"])},
                       token)  # fmt: skip
    assert answer.status_code == 400
    _sent_to_confirm(client.get("/me/security/totp"), "/me/security/totp")


def test_attack_the_confirmation_sends_nowhere_but_this_site(app, client, citizens, anna):
    page = client.get("/me/security/confirm", query_string={"next": "https://evil.example/"})
    confirmed = client.post("/me/security/confirm", data={
        "csrf_token": csrf_token(page), "otp": citizens.totp_code(),
        "next": "https://evil.example/"})  # fmt: skip
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/me/security"


def test_attack_guessing_codes_at_the_confirmation_spends_the_logins_lockout(
    app, client, citizens, anna
):
    """Wrong codes at the confirmation count with the login's second step: it is no way to
    guess without the lockout."""
    page = client.get("/me/security/confirm")
    token = csrf_token(page)
    for _ in range(5):
        wrong = client.post("/me/security/confirm", data={"csrf_token": token, "otp": "000000"})
        assert wrong.status_code == 401
    locked = client.post("/me/security/confirm",
                         data={"csrf_token": token, "otp": citizens.totp_code()})  # fmt: skip
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "You can try again at" in locked.text  # when, as at the login's own steps
    elsewhere = app.test_client()
    assert login(elsewhere, "anna", PASSWORD).status_code == 302
    step = elsewhere.get("/login/code")
    refused = elsewhere.post("/login/code", data={"csrf_token": csrf_token(step),
                                                  "otp": citizens.totp_code()})  # fmt: skip
    assert refused.status_code == 429


def test_a_password_only_session_is_sent_to_the_second_step_not_to_confirm(app, citizens):
    citizens.create()
    browser = app.test_client()
    assert login(browser, "anna", PASSWORD).status_code == 302
    page = browser.get("/login/code")
    forged = browser.post("/me/security/recovery-codes/new", data={"csrf_token": csrf_token(page)})
    assert forged.status_code == 302 and forged.headers["Location"].startswith("/login/code")
    assert _unused_codes(app) == 0


def test_a_first_authenticator_needs_nothing_to_confirm(app, client, citizens):
    """After activation there is no second factor to prove again: the first one is set up
    straight away (a password alone may do that only for an account without one)."""
    citizens.create(username="oskar", totp=False)
    assert login(client, "oskar", PASSWORD).status_code == 302
    assert client.get("/me/security/totp").status_code == 200
