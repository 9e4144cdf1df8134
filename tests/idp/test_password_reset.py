"""A forgotten password at /login/forgot, through HTTP: proved by a recovery code, a passkey or
the phone, then a new password; every session ended; no user ID told apart; the lockouts
shared with the login. And the recovery letter (`flask citizens reissue-letter`)."""

from __future__ import annotations

import json
import re
import time

import pyotp
import pytest

from tests.conftest import (
    CitizenActions,
    assert_field_error,
    csrf_token,
    login,
    new_recovery_codes,
    rendering_independent,
    sql,
)
from tests.security.conftest import SoftAuthenticator, pair_phone, post_json, register_passkey

PASSWORD = "correct horse battery"
NEW_PASSWORD = "lantern meadow quietly"
ANNA_CPR = "0101901111"


@pytest.fixture
def anna(app, citizens):
    """Anna, logged in on her laptop (``citizens.client``) with her password and app."""
    citizens.create(cpr=ANNA_CPR)
    assert citizens.login().status_code == 302
    return citizens


def recovery_codes(client) -> list[str]:
    return new_recovery_codes(client)


def forgot(client, user_id="anna"):
    page = client.get("/login/forgot")
    response = client.post("/login/forgot", data={"csrf_token": csrf_token(page),
                                                  "username": user_id})  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == "/login/forgot/prove"
    return response


def send_recovery_code(client, code):
    page = client.get("/login/forgot/prove")
    return client.post("/login/forgot/recovery-code",
                       data={"csrf_token": csrf_token(page), "recovery_code": code})  # fmt: skip


def set_new_password(client, password=NEW_PASSWORD, confirm=None):
    page = client.get("/login/forgot/new-password")
    return client.post("/login/forgot/new-password", data={
        "csrf_token": csrf_token(page), "password": password,
        "password_confirm": password if confirm is None else confirm,
    })  # fmt: skip


def test_the_login_page_links_to_the_forgotten_password(client):
    page = client.get("/login")
    assert '<a href="/login/forgot">Forgot your password?</a>' in page.text
    assert client.get("/login/forgot").status_code == 200


def test_a_recovery_code_resets_the_password_and_ends_every_session(app, anna):
    codes = recovery_codes(anna.client)
    browser = app.test_client()
    forgot(browser)
    proved = send_recovery_code(browser, codes[0])
    assert proved.status_code == 302 and proved.headers["Location"] == "/login/forgot/new-password"
    page = browser.get("/login/forgot/new-password")
    assert "For the user ID anna." in page.text
    done = set_new_password(browser)
    # A recovery code is a way back in, not a second factor: on to a new authenticator.
    assert done.status_code == 302 and done.headers["Location"] == "/me/security/totp"
    told = browser.get("/me/security/totp")
    assert told.status_code == 200
    assert "Your password is changed. 1 session was logged out." in told.text
    assert "Set up a new authenticator now" in told.text
    # The laptop's session is over, the code spent, the password the new one.
    assert anna.client.get("/me").headers["Location"] == "/login?next=/me"
    again = app.test_client()
    forgot(again)
    assert send_recovery_code(again, codes[0]).status_code == 401
    assert login(app.test_client(), "anna", PASSWORD).status_code == 401
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_a_passkey_resets_the_password_and_logs_in_with_two_factors(app, anna):
    key = SoftAuthenticator()
    register_passkey(anna.client, key)
    browser = app.test_client()
    forgot(browser)
    page = browser.get("/login/forgot/prove")
    assert 'data-passkey="reset"' in page.text
    token = csrf_token(page)
    options = post_json(browser, "/login/forgot/passkey/options", {}, token)
    assert options.status_code == 200 and options.json.get("allowCredentials", []) == []
    proved = post_json(browser, "/login/forgot/passkey/verify",
                       {"credential": key.assertion(options.json["challenge"])}, token)  # fmt: skip
    assert proved.status_code == 200
    assert proved.json["redirect"] == "/login/forgot/new-password"
    done = set_new_password(browser)
    assert done.status_code == 302 and done.headers["Location"] == "/me/security"
    assert browser.get("/me").status_code == 200  # a passkey is two factors
    assert anna.client.get("/me").headers["Location"] == "/login?next=/me"
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_a_passkey_of_another_user_id_proves_nothing(app, anna):
    key = SoftAuthenticator()
    register_passkey(anna.client, key)
    bent = CitizenActions(app, app.test_client())
    bent.create(username="bent", cpr="0101902222")
    browser = app.test_client()
    forgot(browser, "bent")
    token = csrf_token(browser.get("/login/forgot/prove"))
    options = post_json(browser, "/login/forgot/passkey/options", {}, token)
    refused = post_json(
        browser,
        "/login/forgot/passkey/verify",
        {"credential": key.assertion(options.json["challenge"])},
        token,
    )
    assert refused.status_code == 400
    assert refused.json["detail"] == "This passkey is not for the user ID you typed."
    assert browser.get("/login/forgot/new-password").headers["Location"] == "/login/forgot/prove"


def _phone_csrf(phone) -> str:
    return re.search(r'data-csrf-token="([^"]+)"', phone.get("/app").text).group(1)


def test_an_approval_on_the_phone_resets_the_password(app, anna):
    phone_key = SoftAuthenticator()
    phone = pair_phone(app, anna.client, phone_key)
    browser = app.test_client()
    forgot(browser)
    token = csrf_token(browser.get("/login/forgot/prove"))
    waiting = browser.post("/login/forgot/phone", data={"csrf_token": token},
                           follow_redirects=True)  # fmt: skip
    code = re.search(r'id="binding-code">([^<]+)<', waiting.text).group(1)
    # The phone says what approving does.
    shown = phone.get("/app")
    assert "Choose a new password for Tillid?" in shown.text
    request_id = phone.get("/app/api/pending").json["request"]
    phone_token = _phone_csrf(phone)
    options = post_json(phone, f"/app/api/requests/{request_id}/options", {"code": code},
                        phone_token)  # fmt: skip
    approved = post_json(phone, f"/app/api/requests/{request_id}/approve",
                         {"credential": phone_key.assertion(options.json["challenge"]),
                          "code": code}, phone_token)  # fmt: skip
    assert approved.status_code == 200, approved.json
    assert browser.get("/login/forgot/phone/status").json["status"] == "approved"
    # An approval for a reset is no login at /login/app.
    assert (
        browser.post("/login/app/complete", data={"csrf_token": token})
        .headers["Location"]
        .startswith("/login/app")
    )
    done = browser.post(
        "/login/forgot/phone/complete",
        data={"csrf_token": csrf_token(browser.get("/login/forgot/phone"))},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/login/forgot/new-password"
    assert set_new_password(browser).headers["Location"] == "/me/security"
    assert browser.get("/me").status_code == 200
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_completing_before_the_phone_approves_proves_nothing(app, anna):
    pair_phone(app, anna.client, SoftAuthenticator())
    browser = app.test_client()
    forgot(browser)
    token = csrf_token(browser.get("/login/forgot/prove"))
    browser.post("/login/forgot/phone", data={"csrf_token": token})
    early = browser.post("/login/forgot/phone/complete", data={"csrf_token": token})
    assert early.headers["Location"] == "/login/forgot/phone"
    assert browser.get("/login/forgot/new-password").headers["Location"] == "/login/forgot/prove"


# --- refusals -----------------------------------------------------------------------------------


def test_a_wrong_recovery_code_is_a_field_error(app, anna):
    browser = app.test_client()
    forgot(browser)
    response = send_recovery_code(browser, "0000-0000-0000-0000")
    assert response.status_code == 401
    assert_field_error(response, "recovery_code", "This recovery code is wrong or has been used.")


def test_a_weak_or_mismatched_new_password_keeps_the_proof(app, anna):
    codes = recovery_codes(anna.client)
    browser = app.test_client()
    forgot(browser)
    send_recovery_code(browser, codes[0])
    weak = set_new_password(browser, "password123")
    assert weak.status_code == 400
    assert_field_error(weak, "password", "among the most common ones")
    mismatched = set_new_password(browser, NEW_PASSWORD, "lantern meadow quietlx")
    assert mismatched.status_code == 400
    assert_field_error(mismatched, "password_confirm", "The two passwords are not the same.")
    assert set_new_password(browser).status_code == 302
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_a_proof_works_once_even_from_a_copied_cookie(app, anna):
    codes = recovery_codes(anna.client)
    browser = app.test_client()
    forgot(browser)
    send_recovery_code(browser, codes[0])
    copy = app.test_client()
    copy.set_cookie("tillid", browser.get_cookie("tillid").value)
    assert set_new_password(browser).status_code == 302
    replayed = copy.post("/login/forgot/new-password", data={
        "csrf_token": csrf_token(copy.get("/login/forgot")), "password": "another good one",
        "password_confirm": "another good one"})  # fmt: skip
    assert replayed.status_code == 302 and replayed.headers["Location"] == "/login/forgot/prove"
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_the_new_password_page_needs_a_proof(client):
    response = client.get("/login/forgot/new-password")
    assert response.status_code == 302 and response.headers["Location"] == "/login/forgot/prove"
    assert client.get("/login/forgot/prove").headers["Location"] == "/login/forgot"


def test_every_form_needs_its_csrf_token(app, anna):
    browser = app.test_client()
    assert browser.post("/login/forgot", data={"username": "anna"}).status_code == 400
    forgot(browser)
    assert (
        browser.post(
            "/login/forgot/recovery-code", data={"recovery_code": "0000-0000-0000-0000"}
        ).status_code
        == 400
    )
    assert browser.post("/login/forgot/phone").status_code == 400
    assert browser.post("/login/forgot/letter", data={"cpr": ANNA_CPR}).status_code == 400
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_nothing_tells_whether_a_user_id_exists(app, anna):
    """A user ID with an account and one without: the same pages, the same answer to a wrong
    code, the same wait for the phone."""
    pages = {}
    for user_id in ("anna", "nobody-here"):
        browser = app.test_client()
        forgot(browser, user_id)
        prove = browser.get("/login/forgot/prove")
        wrong = send_recovery_code(browser, "0000-0000-0000-0000")
        waiting = browser.post(
            "/login/forgot/phone", data={"csrf_token": csrf_token(prove)}, follow_redirects=True
        )
        code = re.search(r'id="binding-code">([^<]+)<', waiting.text).group(1)
        pages[user_id] = (
            prove.status_code,
            rendering_independent(prove.text).replace(user_id, "USER"),
            wrong.status_code,
            rendering_independent(wrong.text).replace(user_id, "USER"),
            rendering_independent(waiting.text).replace(code, "CODE"),
        )
    assert pages["anna"] == pages["nobody-here"]


def test_recovery_code_guesses_share_the_logins_lockout(app, anna):
    """The reset is no fresh supply of guesses: wrong codes here lock the login's second step
    (and the other way round, one budget)."""
    threshold = app.config["LOCKOUT_THRESHOLD"]
    browser = app.test_client()
    forgot(browser)
    answers = [send_recovery_code(browser, f"{n:04d}-0000-0000-0000").status_code
               for n in range(threshold + 1)]  # fmt: skip
    assert answers[-1] == 429 and set(answers[:-1]) <= {401, 429}
    codes_page = app.test_client()
    assert login(codes_page, "anna", PASSWORD).status_code == 302
    page = codes_page.get("/login/code")
    locked = codes_page.post("/login/code", data={"csrf_token": csrf_token(page),
                                                  "otp": anna.totp_code()})  # fmt: skip
    assert locked.status_code == 429


def test_unknown_user_ids_lock_out_alike(app):
    threshold = app.config["LOCKOUT_THRESHOLD"]
    browser = app.test_client()
    forgot(browser, "nobody-here")
    answers = [send_recovery_code(browser, f"{n:04d}-0000-0000-0000").status_code
               for n in range(threshold + 1)]  # fmt: skip
    assert answers[-1] == 429


def test_a_locked_account_cannot_be_reset(app, anna):
    codes = recovery_codes(anna.client)
    sql(app, "UPDATE citizen SET status = 'locked'")
    browser = app.test_client()
    forgot(browser)
    assert send_recovery_code(browser, codes[0]).status_code == 401


# --- the recovery letter ------------------------------------------------------------------------


def reissue(runner, cpr=ANNA_CPR):
    result = runner.invoke(args=["citizens", "reissue-letter", cpr])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def redeem(client, code, cpr=ANNA_CPR, password=NEW_PASSWORD):
    page = client.get("/login/forgot/letter")
    return client.post("/login/forgot/letter", data={
        "csrf_token": csrf_token(page), "cpr": cpr, "activation_code": code,
        "password": password, "password_confirm": password,
    })  # fmt: skip


def test_a_reissued_letter_prints_what_the_letter_needs(app, runner, anna):
    letter = reissue(runner)
    assert letter["letter"] == "recovery"
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", letter["activation_code"])
    assert letter["redeem_at"] == "http://localhost:5000/login/forgot/letter"
    assert letter["recipient"]["name"] == "Anna Jensen"
    assert letter["expires_at"] and letter["citizen_id"]
    # The operator's command is in the audit log, without the CPR number in clear.
    (entry,) = sql(app, "SELECT command, arguments FROM audit_entry WHERE command LIKE "
                        "'%reissue-letter%'")  # fmt: skip
    assert ANNA_CPR not in json.dumps(entry["arguments"])


def test_a_new_letter_voids_the_old_one_and_works(app, runner, anna):
    old = reissue(runner)["activation_code"]
    new = reissue(runner)["activation_code"]
    browser = app.test_client()
    refused = redeem(browser, old)
    assert refused.status_code == 400
    assert_field_error(refused, "activation_code", "do not match")
    done = redeem(browser, new)
    assert done.status_code == 302 and done.headers["Location"] == "/me/security/totp"
    assert anna.client.get("/me").headers["Location"] == "/login?next=/me"
    # The letter works once.
    assert redeem(app.test_client(), new, password="another fine phrase").status_code == 400
    assert login(app.test_client(), "anna", NEW_PASSWORD).status_code == 302


def test_the_letter_answers_alike_for_an_unknown_cpr_and_a_wrong_code(app, runner, anna):
    reissue(runner)
    answers = {}
    for cpr in (ANNA_CPR, "0101909876"):
        response = redeem(app.test_client(), "AAAA-BBBB-CCCC", cpr=cpr)
        answers[cpr] = (response.status_code,
                        rendering_independent(response.text).replace(cpr, "CPR"))  # fmt: skip
    assert answers[ANNA_CPR] == answers["0101909876"]


def test_a_weak_password_keeps_the_letter_good(app, runner, anna):
    code = reissue(runner)["activation_code"]
    weak = redeem(app.test_client(), code, password="anna1234567")
    assert weak.status_code == 400
    assert_field_error(weak, "password", "must not contain your user ID")
    assert redeem(app.test_client(), code).status_code == 302


def test_for_a_pending_citizen_it_is_the_activation_letter_again(app, runner, client):
    actions = CitizenActions(app, client)
    actions.create(username=None, cpr="0101904444")
    first = actions.letter("0101904444")
    letter = reissue(runner, "0101904444")
    assert letter["letter"] == "activation"
    assert letter["redeem_at"] == "http://localhost:5000/activate"
    # The letter page of an active account does not take an activation letter.
    assert redeem(app.test_client(), letter["activation_code"], cpr="0101904444").status_code == 400
    from tests.conftest import activate

    assert activate(client, "0101904444", first, "carl", PASSWORD).status_code == 400
    assert activate(client, "0101904444", letter["activation_code"], "carl",
                    PASSWORD).status_code == 302  # fmt: skip


@pytest.mark.parametrize(
    ("cpr", "message"),
    [("0101909876", "no citizen with this CPR number"), ("12345", "cpr:")],
)
def test_no_letter_for_an_unknown_or_malformed_cpr(runner, cpr, message):
    result = runner.invoke(args=["citizens", "reissue-letter", cpr])
    assert result.exit_code != 0 and message in result.output


def test_no_letter_for_a_locked_account(app, runner, anna):
    sql(app, "UPDATE citizen SET status = 'blocked'")
    result = runner.invoke(args=["citizens", "reissue-letter", ANNA_CPR])
    assert result.exit_code != 0 and "blocked" in result.output


# --- a lost phone or authenticator app ---------------------------------------------------------


def _enrol_app(client) -> str:
    page = client.get("/me/security/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    done = client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                       "otp": pyotp.TOTP(secret).now(), "name": "New phone"})  # fmt: skip
    assert done.status_code == 303, done.text
    return secret


def _remove(client, name: str):
    page = client.get("/me/security")
    ids = dict(
        (label, ident)
        for ident, label in re.findall(
            r'action="/me/security/([0-9a-f-]{36})/remove">.*?Remove “([^”]+)”', page.text, re.S
        )
    )
    return client.post(f"/me/security/{ids[name]}/remove", data={"csrf_token": csrf_token(page)})


def test_after_a_letter_the_lost_app_is_replaced_and_removed(app, runner, anna):
    """Lost her only authenticator and forgot nothing else: the letter gets her back in, she
    sets up a new app and removes the lost one."""
    code = reissue(runner)["activation_code"]
    browser = app.test_client()
    assert redeem(browser, code).headers["Location"] == "/me/security/totp"
    _enrol_app(browser)
    removed = _remove(browser, "Authenticator app")
    assert removed.status_code == 303
    names = re.findall(r"<h2>([^<]+)</h2>", browser.get("/me/security").text)
    assert "New phone" in names and "Authenticator app" not in names


def test_with_a_passkey_the_lost_app_is_removed_directly(app, anna):
    key = SoftAuthenticator()
    register_passkey(anna.client, key)
    assert _remove(anna.client, "Authenticator app").status_code == 303
    listed = [a["kind"] for a in anna.client.get("/api/me/authenticators").json["authenticators"]]
    assert listed == ["webauthn"]


# --- limits in time and number ------------------------------------------------------------------


def test_each_step_is_rate_limited_per_source_like_the_login(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    browser = app.test_client()
    forgot(browser, "nobody-here")  # the first POST of /login/forgot's own budget
    page = browser.get("/login/forgot/prove")
    data = {"csrf_token": csrf_token(page), "recovery_code": "0000-0000-0000-0000"}
    answers = [browser.post("/login/forgot/recovery-code", data=data).status_code
               for _ in range(4)]  # fmt: skip
    assert answers == [401, 401, 401, 429]
    letter_page = browser.get("/login/forgot/letter")
    letter = {"csrf_token": csrf_token(letter_page), "cpr": ANNA_CPR,
              "activation_code": "AAAA-BBBB-CCCC", "password": NEW_PASSWORD,
              "password_confirm": NEW_PASSWORD}  # fmt: skip
    assert [browser.post("/login/forgot/letter", data=letter).status_code
            for _ in range(4)] == [400, 400, 400, 429]  # fmt: skip


def test_a_proof_lasts_minutes_only(app, anna, monkeypatch):
    from idp.security import possession

    monkeypatch.setattr(possession, "HOLD_SECONDS", 1)
    codes = recovery_codes(anna.client)
    browser = app.test_client()
    forgot(browser)
    send_recovery_code(browser, codes[0])
    page = browser.get("/login/forgot/new-password")
    assert page.status_code == 200
    time.sleep(1.2)
    late = browser.post("/login/forgot/new-password", data={
        "csrf_token": csrf_token(page), "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD})  # fmt: skip
    assert late.status_code == 302 and late.headers["Location"] == "/login/forgot/prove"
    assert login(app.test_client(), "anna", PASSWORD).status_code == 302


def test_an_expired_letter_is_refused(app, runner, anna):
    code = reissue(runner)["activation_code"]
    sql(app, "UPDATE activation_code SET expires_at = created_at")
    refused = redeem(app.test_client(), code)
    assert refused.status_code == 400
    assert_field_error(refused, "activation_code", "do not match")


def test_the_passkey_steps_need_the_csrf_token(app, anna):
    browser = app.test_client()
    forgot(browser)
    for path in ("/login/forgot/passkey/options", "/login/forgot/passkey/verify"):
        response = post_json(browser, path, {}, None)
        assert response.status_code == 400
