"""Changing the password at /me/security/password, through HTTP: the current password and a
fresh second factor (a code, or a passkey), the policy, the other sessions ended, the lockouts."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CitizenActions, assert_field_error, csrf_token, login
from tests.security.conftest import SoftAuthenticator, pair_phone, post_json, register_passkey

PASSWORD = "correct horse battery"
NEW_PASSWORD = "lantern meadow quietly"
PAGE = "/me/security/password"


@pytest.fixture
def anna(citizens):
    """Anna, logged in with her password and the code from her app."""
    citizens.create()
    assert citizens.login().status_code == 302
    return citizens


def change(citizens, *, current=PASSWORD, new=NEW_PASSWORD, confirm=None, otp="app", token="page"):
    client = citizens.client
    page = client.get(PAGE)
    data = {"current_password": current, "password": new,
            "password_confirm": new if confirm is None else confirm}  # fmt: skip
    if otp == "app":
        otp = citizens.totp_code()
    if otp is not None:
        data["otp"] = otp
    if token is not None:
        data["csrf_token"] = csrf_token(page) if token == "page" else token
    return client.post(PAGE, data=data)


def other_browser(app, citizens) -> CitizenActions:
    other = CitizenActions(app, app.test_client())
    other.totp_secrets.update(citizens.totp_secrets)
    assert other.login().status_code == 302
    return other


def test_the_page_asks_for_the_current_password_a_code_and_the_new_one_twice(anna):
    page = anna.client.get(PAGE)
    assert page.status_code == 200
    for name in ("current_password", "otp", "password", "password_confirm"):
        assert f'name="{name}"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert page.text.count('autocomplete="new-password"') == 2


def test_it_needs_two_factors_first(app, citizens):
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).status_code == 302  # the password only
    response = citizens.client.get(PAGE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/code")
    assert app.test_client().get(PAGE).headers["Location"].startswith("/login")


def test_a_change_ends_every_other_session_and_says_so(app, anna):
    laptop = other_browser(app, anna)
    tablet = app.test_client()  # got as far as the password: a session too
    assert login(tablet, "anna", PASSWORD).status_code == 302
    before = anna.client.get_cookie("tillid_sso").value
    response = change(anna)
    assert response.status_code == 302 and response.headers["Location"] == "/me/security"
    # PRG: the next page tells, and a reload of it does nothing again.
    told = anna.client.get("/me/security")
    assert "Your password is changed. 2 other sessions were logged out." in told.text
    assert "Your password is changed" not in anna.client.get("/me/security").text
    # The other browsers are out; this one goes on under a new session id.
    for other in (laptop.client, tablet):
        assert other.get("/me").headers["Location"] == "/login?next=/me"
    assert anna.client.get("/me").status_code == 200
    assert anna.client.get_cookie("tillid_sso").value != before
    stale = app.test_client()
    stale.set_cookie("tillid_sso", before)
    assert stale.get("/me").headers["Location"].startswith("/login")
    # The new password is the password now; the old one is not.
    anna.logout()
    assert login(app.test_client(), "anna", PASSWORD).status_code == 401
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_a_reload_of_the_post_does_not_change_it_again(anna):
    assert change(anna).status_code == 302
    # The browser sends the same form again (its token, the old password): refused.
    again = change(anna, current=PASSWORD, new="another fine password")
    assert again.status_code == 401
    assert_field_error(again, "current_password", "The password is wrong.")


def test_a_wrong_current_password_is_a_field_error_and_changes_nothing(app, anna):
    response = change(anna, current="not my password")
    assert response.status_code == 401
    assert_field_error(response, "current_password", "The password is wrong.")
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_a_wrong_or_missing_code_is_a_field_error(app, anna):
    wrong = change(anna, otp="000000")
    assert wrong.status_code == 401
    assert_field_error(wrong, "otp", "The code is wrong or has expired.")
    missing = change(anna, otp=None)
    assert missing.status_code == 401
    assert_field_error(missing, "otp", "Enter the code from your authenticator app.")
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_a_used_code_is_refused(anna):
    code = anna.totp_code()
    assert change(anna, otp=code).status_code == 302
    replayed = change(anna, current=NEW_PASSWORD, new="yet another good one", otp=code)
    assert replayed.status_code == 401
    assert_field_error(replayed, "otp", "This code has been used already.")


@pytest.mark.parametrize(
    ("new", "confirm", "message"),
    [
        ("short", None, "Use at least 8 characters."),
        ("password123", None, "among the most common ones"),
        ("anna-is-my-name", None, "must not contain your user ID"),
        (NEW_PASSWORD, "lantern meadow quietlx", "The two passwords are not the same."),
        (PASSWORD, None, "differs from your current one"),
    ],
)
def test_the_new_password_follows_the_policy(app, anna, new, confirm, message):
    response = change(anna, new=new, confirm=confirm)
    assert response.status_code == 400
    field = "password_confirm" if confirm else "password"
    assert_field_error(response, field, message)
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_a_weak_new_password_costs_no_code_and_no_guess(app, anna):
    code = anna.totp_code()
    weak = change(anna, current="not my password", new="password123", otp=code)
    assert weak.status_code == 400
    assert_field_error(weak, "password", "among the most common ones")
    assert "The password is wrong." not in weak.text  # not checked: no guess was made
    assert change(anna, otp=code).status_code == 302  # the same code still works


def test_without_the_csrf_token_nothing_changes(app, anna):
    assert change(anna, token=None).status_code == 400
    assert change(anna, token="forged").status_code == 400
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_guessing_the_password_here_locks_out_like_the_login(app, anna):
    """A session left open is no oracle: guesses count against the login's own lockout."""
    threshold = app.config["LOCKOUT_THRESHOLD"]
    answers = [change(anna, current=f"guess number {n}", otp="000000").status_code
               for n in range(threshold + 1)]  # fmt: skip
    assert answers[-1] == 429 and set(answers[:-1]) <= {401, 429}
    # Now even the right password is refused, here and at the login.
    assert change(anna).status_code == 429
    assert login(app.test_client(), "anna", PASSWORD).status_code == 429


def test_a_passkey_confirms_the_change_instead_of_a_code(app, anna):
    key = SoftAuthenticator()
    register_passkey(anna.client, key)
    page = anna.client.get(PAGE)
    assert 'data-passkey="confirm"' in page.text
    token = csrf_token(page)
    options = post_json(anna.client, f"{PAGE}/passkey/options", {}, token)
    assert options.status_code == 200
    # Only her own passkeys are offered.
    assert len(options.json["allowCredentials"]) == 1
    confirmed = post_json(
        anna.client,
        f"{PAGE}/passkey/verify",
        {"credential": key.assertion(options.json["challenge"])},
        token,
    )
    assert confirmed.status_code == 200 and confirmed.json["redirect"] == PAGE
    assert "Confirmed with your passkey." in anna.client.get(PAGE).text
    assert change(anna, otp=None).status_code == 302
    # The passkey's answer served that change only.
    again = change(anna, current=NEW_PASSWORD, new="yet another good one", otp=None)
    assert again.status_code == 401


def test_someone_elses_passkey_confirms_nothing(app, anna):
    bent = CitizenActions(app, app.test_client())
    bent.create(username="bent", cpr="0101909999")
    assert bent.login("bent").status_code == 302
    bents_key = SoftAuthenticator()
    register_passkey(bent.client, bents_key)
    token = csrf_token(anna.client.get(PAGE))
    options = post_json(anna.client, f"{PAGE}/passkey/options", {}, token)
    refused = post_json(
        anna.client,
        f"{PAGE}/passkey/verify",
        {"credential": bents_key.assertion(options.json["challenge"])},
        token,
    )
    assert refused.status_code == 400
    assert change(anna, otp=None).status_code == 401


def test_the_sessions_page_links_its_advice_to_the_change(anna):
    page = anna.client.get("/me/sessions")
    assert "change your password" in page.text
    assert re.search(r'<a href="/me/security/password">', page.text)
    assert anna.client.get("/me/security/password").status_code == 200
    assert 'href="/me/security/password"' in anna.client.get("/me/security").text


def _phone_csrf(phone) -> str:
    return re.search(r'data-csrf-token="([^"]+)"', phone.get("/app").text).group(1)


def test_a_citizen_with_only_a_phone_confirms_on_it(app, anna):
    phone_key = SoftAuthenticator()
    phone = pair_phone(app, anna.client, phone_key)
    listed = anna.client.get("/api/me/authenticators").json["authenticators"]
    (app_id,) = [a["id"] for a in listed if a["kind"] == "totp"]
    page = anna.client.get("/me/security")
    anna.client.post(f"/me/security/{app_id}/remove", data={"csrf_token": csrf_token(page)})
    page = anna.client.get(PAGE)
    assert 'name="otp"' not in page.text and "Confirm on my phone" in page.text
    refused = change(anna, otp=None)
    assert refused.status_code == 401
    assert "Confirm with a passkey or your phone first." in refused.text
    waiting = anna.client.post(f"{PAGE}/phone", data={"csrf_token": csrf_token(page)},
                               follow_redirects=True)  # fmt: skip
    code = re.search(r'id="binding-code">([^<]+)<', waiting.text).group(1)
    assert "Change your password for Tillid?" in phone.get("/app").text
    request_id = phone.get("/app/api/pending").json["request"]
    token = _phone_csrf(phone)
    options = post_json(phone, f"/app/api/requests/{request_id}/options", {"code": code}, token)
    credential = phone_key.assertion(options.json["challenge"])
    approved = post_json(phone, f"/app/api/requests/{request_id}/approve",
                         {"credential": credential, "code": code}, token)  # fmt: skip
    assert approved.status_code == 200, approved.json
    token = csrf_token(anna.client.get(f"{PAGE}/phone"))
    done = anna.client.post(f"{PAGE}/phone/complete", data={"csrf_token": token})
    assert done.headers["Location"] == PAGE
    assert "Confirmed on your phone." in anna.client.get(PAGE).text
    assert change(anna, otp=None).status_code == 302
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302
