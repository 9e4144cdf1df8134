"""The second factor through HTTP: TOTP at login, enrolment, recovery codes, /me/security."""

from __future__ import annotations

import re
import threading
import time

import pyotp
import pytest

from tests.conftest import (
    RECOVERY_CODE_RE,
    CitizenActions,
    csrf_token,
    login,
    new_recovery_codes,
    sql,
)

PASSWORD = "correct horse battery"


def code_page(client, destination="/me"):
    return client.get("/login/code", query_string={"next": destination})


def send_code(client, code: str, destination="/me"):
    page = code_page(client, destination)
    return client.post("/login/code", data={"csrf_token": csrf_token(page), "otp": code,
                                            "next": destination})  # fmt: skip


def code_at(secret: str, steps_from_now: int) -> str:
    return pyotp.TOTP(secret).generate_otp(int(time.time() // 30) + steps_from_now)


@pytest.fixture
def anna(citizens):
    """Anna, with an authenticator app, after her password (a Low session)."""
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).headers["Location"] == "/me"
    return citizens.totp_secrets["anna"]


# --- the second step of a login -------------------------------------------------------------


def test_the_password_alone_does_not_open_tillids_pages(client, anna):
    response = client.get("/me")
    assert response.status_code == 302 and response.headers["Location"] == "/login/code?next=/me"
    page = code_page(client)
    assert page.status_code == 200 and 'name="otp"' in page.text
    assert 'autocomplete="one-time-code"' in page.text


@pytest.mark.cluster
def test_the_right_code_opens_them_and_renews_the_session_id(app, client, anna):
    before = client.get_cookie("tillid_sso").value
    response = send_code(client, code_at(anna, 0))
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    after = client.get_cookie("tillid_sso").value
    assert after != before, "a step-up gives a new session id"
    assert client.get("/me").status_code == 200
    stale = app.test_client()
    stale.set_cookie("tillid_sso", before)
    assert stale.get("/me").headers["Location"].startswith("/login")


@pytest.mark.parametrize("steps", [-1, 1])
def test_one_time_step_either_side_is_accepted(client, anna, steps):
    assert send_code(client, code_at(anna, steps)).headers["Location"] == "/me"


@pytest.mark.parametrize("code", ["000000", "12345", "1234567", "abcdef", "", "١٢٣٤٥٦"])
def test_a_wrong_or_malformed_code_is_refused(client, anna, code):
    response = send_code(client, code)
    assert response.status_code in (400, 401)
    assert client.get("/me").status_code == 302


def test_a_code_two_steps_away_is_refused(client, anna):
    response = send_code(client, code_at(anna, -3))
    assert response.status_code == 401 and "wrong or has expired" in response.text


@pytest.mark.cluster
def test_a_code_is_accepted_once(app, client, anna):
    code = code_at(anna, 0)
    assert send_code(client, code).status_code == 302
    laptop = app.test_client()
    assert login(laptop, "anna", PASSWORD).status_code == 302
    replay = send_code(laptop, code)
    assert replay.status_code == 401 and "used already" in replay.text


def test_two_concurrent_logins_with_one_code_let_only_one_in(app, anna):
    browsers = [app.test_client() for _ in range(4)]
    for browser in browsers:
        assert login(browser, "anna", PASSWORD).status_code == 302
    code, statuses = code_at(anna, 0), []
    pages = [code_page(b) for b in browsers]
    start = threading.Barrier(len(browsers))

    def send(browser, page):
        start.wait()
        statuses.append(browser.post("/login/code", data={
            "csrf_token": csrf_token(page), "otp": code, "next": "/me"}).status_code)  # fmt: skip

    threads = [
        threading.Thread(target=send, args=pair) for pair in zip(browsers, pages, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302, 401, 401, 401]


@pytest.mark.cluster
def test_wrong_codes_lock_the_second_step(make_app):
    app = make_app(LOCKOUT_THRESHOLD=3)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).status_code == 302
    statuses = [send_code(citizens.client, "000000").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    locked = send_code(citizens.client, citizens.totp_code("anna"))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


@pytest.mark.cluster
def test_a_right_code_before_the_threshold_resets_the_count(make_app):
    app = make_app(LOCKOUT_THRESHOLD=3)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    for _ in range(2):
        assert login(citizens.client, "anna", PASSWORD).status_code == 302
        assert [send_code(citizens.client, "000000").status_code for _ in range(2)] == [401] * 2
        assert send_code(citizens.client, citizens.totp_code("anna")).status_code == 302
        citizens.logout()
    # Four wrong codes in all, never three in a row: the right ones cleared the count.
    assert login(citizens.client, "anna", PASSWORD).status_code == 302
    assert send_code(citizens.client, "000000").status_code == 401


def test_the_code_step_needs_a_session(client):
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_code_step_keeps_its_destination_on_this_site_only(client, anna):
    response = send_code(client, code_at(anna, 0), destination="https://evil.example/")
    assert response.headers["Location"] == "/me"


# --- enrolment --------------------------------------------------------------------------------


@pytest.fixture
def oskar(citizens):
    """A citizen with a password and no second factor yet (as after activation)."""
    citizens.create(username="oskar", given_name="Oskar", totp=False)
    assert login(citizens.client, "oskar", PASSWORD).status_code == 302
    return citizens


def _enrol_page(client, destination="/me"):
    page = client.get("/me/security/totp", query_string={"next": destination})
    assert page.status_code == 200, page.status_code
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    return page, secret


def _confirm(client, page, code, name="Min telefon", destination="/me"):
    return client.post("/me/security/totp", data={
        "csrf_token": csrf_token(page), "otp": code, "name": name, "next": destination,
    })  # fmt: skip


def test_without_a_second_factor_the_citizen_is_sent_to_enrol(client, oskar):
    assert client.get("/me").headers["Location"] == "/login/code?next=/me"
    assert code_page(client).headers["Location"] == "/me/security/totp?next=/me"


def test_enrolment_shows_a_qr_code_and_the_key_and_needs_one_code(app, client, oskar):
    page, secret = _enrol_page(client)
    assert '<img src="/me/security/totp/qr.svg"' in page.text
    qr = client.get("/me/security/totp/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    assert qr.headers["Cache-Control"] == "no-store"
    assert secret not in qr.text, "the key is drawn, not written, in the image"
    (row,) = sql(app, "SELECT totp_secret_encrypted, confirmed_at FROM authenticator")
    assert row["confirmed_at"] is None, "not active before a code confirms it"
    assert secret.encode() not in bytes(row["totp_secret_encrypted"])

    wrong = _confirm(client, page, "000000")
    assert wrong.status_code == 400 and "does not match" in wrong.text
    done = _confirm(client, page, pyotp.TOTP(secret).now())
    assert done.status_code == 303, "POST-redirect-GET: the codes are shown by the next page"
    shown = client.get(done.headers["Location"])
    assert shown.status_code == 200 and "Save your recovery codes" in shown.text
    codes = RECOVERY_CODE_RE.findall(shown.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = sql(app, "SELECT code_hash FROM recovery_code")
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & {
        r["code_hash"] for r in stored
    }
    assert client.get("/me").status_code == 200, "password + the code just typed: two factors"
    (row,) = sql(app, "SELECT name, confirmed_at FROM authenticator")
    assert row["name"] == "Min telefon" and row["confirmed_at"] is not None


def test_the_qr_code_is_only_for_an_enrolment_under_way(client, oskar):
    assert client.get("/me/security/totp/qr.svg").status_code == 404


def test_a_password_alone_cannot_add_an_authenticator_to_an_account_that_has_one(client, anna):
    """The attack: someone with the password adds their own phone. They must not."""
    response = client.get("/me/security/totp")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/code")
    assert client.get("/me/security/totp/qr.svg").status_code == 302
    page = code_page(client)
    forged = client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                                                    "otp": "123456"})  # fmt: skip
    assert forged.status_code == 302 and forged.headers["Location"].startswith("/login/code")


# --- recovery codes ---------------------------------------------------------------------------


def _recovery_codes(citizens) -> list[str]:
    """Anna, fully logged in, makes a fresh list on /me/security."""
    client = citizens.client
    if client.get("/me").status_code != 200:
        assert send_code(client, citizens.totp_code("anna")).status_code == 302
    return new_recovery_codes(client)


def _use_recovery_code(client, code):
    page = client.get("/login/recovery", query_string={"next": "/me"})
    return client.post("/login/recovery", data={"csrf_token": csrf_token(page),
                                                "recovery_code": code, "next": "/me"})  # fmt: skip


@pytest.mark.cluster
def test_a_recovery_code_lets_the_citizen_enrol_a_new_authenticator_once(app, citizens, anna):
    codes = _recovery_codes(citizens)
    assert len(codes) == 10
    lost_phone = app.test_client()
    assert login(lost_phone, "anna", PASSWORD).status_code == 302
    response = _use_recovery_code(lost_phone, codes[0].upper().replace("-", " "))
    assert response.headers["Location"] == "/me/security/totp?next=/me"
    assert lost_phone.get("/me").status_code == 302, "a recovery code is no second factor"
    page, secret = _enrol_page(lost_phone)
    assert _confirm(lost_phone, page, pyotp.TOTP(secret).now()).status_code == 303
    assert lost_phone.get("/me").status_code == 200

    again = app.test_client()
    assert login(again, "anna", PASSWORD).status_code == 302
    assert _use_recovery_code(again, codes[0]).status_code == 401, "each code works once"
    assert _use_recovery_code(again, codes[1]).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(app, citizens, anna):
    old = _recovery_codes(citizens)
    _recovery_codes(citizens)
    other = app.test_client()
    assert login(other, "anna", PASSWORD).status_code == 302
    assert _use_recovery_code(other, old[0]).status_code == 401


# --- /me/security -----------------------------------------------------------------------------


def _authenticator_ids(client) -> list[str]:
    return re.findall(
        r'action="/me/security/([0-9a-f-]{36})/rename"', client.get("/me/security").text
    )


def test_the_security_page_lists_renames_and_removes_but_never_the_last(app, citizens, anna):
    client = citizens.client
    assert send_code(client, citizens.totp_code("anna")).status_code == 302
    page = client.get("/me/security")
    assert "Authenticator app (6-digit codes)" in page.text and "Last used" in page.text
    (only,) = _authenticator_ids(client)
    token = csrf_token(page)
    refused = client.post(f"/me/security/{only}/remove", data={"csrf_token": token})
    assert refused.status_code == 409 and "only second factor" in refused.text

    enrol, secret = _enrol_page(client, "/me/security")
    assert _confirm(client, enrol, pyotp.TOTP(secret).now(), name="Tablet").status_code == 303
    first, second = _authenticator_ids(client)
    renamed = client.post(f"/me/security/{first}/rename",
                          data={"csrf_token": token, "name": "  Gammel  telefon "})  # fmt: skip
    assert renamed.status_code == 303
    assert "Gammel telefon" in client.get("/me/security").text
    assert (
        client.post(f"/me/security/{first}/remove", data={"csrf_token": token}).status_code == 303
    )
    assert _authenticator_ids(client) == [second]
    assert [r["name"] for r in sql(app, "SELECT name FROM authenticator")] == ["Tablet"]


def test_another_citizens_authenticator_is_not_found(app, citizens, anna):
    citizens.create(username="bodil", given_name="Bodil")
    bodil = CitizenActions(app, app.test_client())
    assert bodil.login("bodil").status_code == 302
    (bodils,) = _authenticator_ids(bodil.client)
    client = citizens.client
    assert send_code(client, citizens.totp_code("anna")).status_code == 302
    token = csrf_token(client.get("/me/security"))
    for action in ("rename", "remove"):
        response = client.post(f"/me/security/{bodils}/{action}",
                               data={"csrf_token": token, "name": "mine"})  # fmt: skip
        assert response.status_code == 404
    assert len(sql(app, "SELECT id FROM authenticator")) == 2


# --- the operator CLI -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--username", "anna", "--password", PASSWORD, "--totp-secret", "not base32!"], "base32"),
        (["--username", "anna", "--password", PASSWORD, "--totp-secret", "ABCD"], "base32"),
        # 80 bits: pyotp computes no code from it (the citizen's first login was a 500).
        (
            ["--username", "anna", "--password", PASSWORD, "--totp-secret", "JBSWY3DPEHPK3PXP"],
            "at least 112 bits",
        ),
        # 22 characters: no whole number of bytes (base32 never has that length).
        (
            ["--username", "anna", "--password", PASSWORD, "--totp-secret", "A" * 22],
            "at least 112 bits",
        ),
        (["--totp-secret", "JBSWY3DPEHPK3PXP"], "needs a username"),
    ],
)
def test_create_refuses_a_bad_totp_secret_and_writes_nothing(app, runner, extra, message):
    """Every seed `create` takes is one a login can compute codes from: a seed refused here
    was once taken and then broke the citizen's login with a 500."""
    result = runner.invoke(args=["citizens", "create", "--cpr", "0101901234", "--given-name",
                                 "Anna", "--family-name", "Jensen", *extra])  # fmt: skip
    assert result.exit_code != 0 and message in result.output
    assert (
        sql(app, "SELECT id FROM citizen") == [] and sql(app, "SELECT id FROM authenticator") == []
    )


def test_a_seed_of_112_bits_or_more_logs_in(app, runner):
    """The shortest seed taken (23 characters would not be whole bytes: 24) logs in with
    its codes, as does one of 160 bits."""
    for username, seed in (("short", "JBSWY3DPEHPK3PXPJBSWY3DP"), ("long", "A" * 32)):
        cpr = "0101901234" if username == "short" else "0202851234"
        created = runner.invoke(args=["citizens", "create", "--cpr", cpr, "--given-name", "A",
                                      "--family-name", "B", "--username", username, "--password",
                                      PASSWORD, "--totp-secret", seed])  # fmt: skip
        assert created.exit_code == 0, created.output
        browser = app.test_client()
        assert login(browser, username, PASSWORD).status_code == 302
        answer = send_code(browser, pyotp.TOTP(seed).now())
        assert answer.status_code == 302 and answer.headers["Location"] == "/me", answer.text
