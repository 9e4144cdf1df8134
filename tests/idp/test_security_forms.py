"""/me/security's forms follow POST-redirect-GET: a form that changes something answers a
successful POST with 303 See Other, and the page it leads to, reloaded, repeats nothing.
And the recovery codes: asked first, shown by the page after, downloadable as text."""

from __future__ import annotations

import re

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
from tests.security.conftest import age_second_factor

PASSWORD = "correct horse battery"


@pytest.fixture
def anna(citizens):
    citizens.create()
    assert citizens.login().status_code == 302
    return citizens


def _ids(client) -> list[str]:
    return re.findall(r'action="/me/security/([0-9a-f-]{36})/rename"',
                      client.get("/me/security").text)  # fmt: skip


def _rows(app, table: str) -> list[dict]:
    return sql(app, f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 (a table name of ours)


class TestEveryChangingFormRedirects:
    """For each form of /me/security that changes something: 303 on success, and reloading
    where it leads changes nothing more."""

    def _reloaded_twice(self, client, response) -> str:
        assert response.status_code == 303, response.status_code
        first = client.get(response.headers["Location"])
        second = client.get(response.headers["Location"])
        assert first.status_code == second.status_code
        return second.get_data(as_text=True)

    def test_adding_an_authenticator_app(self, app, client, anna):
        page = client.get("/me/security/totp")
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        done = client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                           "otp": pyotp.TOTP(secret).now(), "name": "Tablet"})  # fmt: skip
        self._reloaded_twice(client, done)
        assert len(_ids(client)) == 2

    def test_adding_a_first_authenticator_shows_its_codes_on_the_next_page(self, app, citizens):
        citizens.create(username="oskar", totp=False)
        client = citizens.client
        assert login(client, "oskar", PASSWORD).status_code == 302
        page = client.get("/me/security/totp")
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        done = client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                           "otp": pyotp.TOTP(secret).now(), "next": "/me"})  # fmt: skip
        hashes = _rows(app, "recovery_code")
        shown = self._reloaded_twice(client, done)
        assert len(RECOVERY_CODE_RE.findall(shown)) == 10
        assert _rows(app, "recovery_code") == hashes, "the reload made no new set"

    def test_renaming(self, app, client, anna):
        (only,) = _ids(client)
        token = csrf_token(client.get("/me/security"))
        renamed = client.post(f"/me/security/{only}/rename",
                              data={"csrf_token": token, "name": "Min telefon"})  # fmt: skip
        assert "Min telefon" in self._reloaded_twice(client, renamed)

    def test_removing(self, app, client, anna):
        page = client.get("/me/security/totp")
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        client.post("/me/security/totp", data={"csrf_token": csrf_token(page),
                    "otp": pyotp.TOTP(secret).now()})  # fmt: skip
        first, second = _ids(client)
        token = csrf_token(client.get("/me/security"))
        removed = client.post(f"/me/security/{first}/remove", data={"csrf_token": token})
        self._reloaded_twice(client, removed)
        assert _ids(client) == [second]

    def test_new_recovery_codes(self, app, client, anna):
        asked = client.get("/me/security/recovery-codes/new")
        assert "stop working" in asked.text, "asks first, and says what happens to the old"
        made = client.post("/me/security/recovery-codes/new",
                           data={"csrf_token": csrf_token(asked)})  # fmt: skip
        hashes = _rows(app, "recovery_code")
        shown = self._reloaded_twice(client, made)
        assert len(RECOVERY_CODE_RE.findall(shown)) == 10
        assert _rows(app, "recovery_code") == hashes, "the reload made no new set"

    def test_having_saved_the_codes(self, app, client, anna):
        new_recovery_codes(client)
        page = client.get("/me/security/recovery-codes")
        saved = client.post("/me/security/recovery-codes/saved",
                            data={"csrf_token": csrf_token(page), "next": "/me"})  # fmt: skip
        assert saved.headers["Location"] == "/me"
        self._reloaded_twice(client, saved)
        after = client.get("/me/security/recovery-codes").text
        assert "Your recovery codes were shown" in after and not RECOVERY_CODE_RE.findall(after)

    def test_pairing_a_phone(self, app, client, anna):
        token = csrf_token(client.get("/me/security"))
        started = client.post("/me/security/phone", data={"csrf_token": token})
        shown = self._reloaded_twice(client, started)
        link = re.search(r'id="pairing-link" href="([^"]+)"', shown).group(1)
        assert link in client.get("/me/security/phone").text, "the same link, not a new one"

    def test_confirming_it_is_you(self, app, client, anna):
        age_second_factor(app, client, 60 * 60)
        page = client.get("/me/security/confirm", query_string={"next": "/me/security"})
        code = anna.totp_code()
        confirmed = client.post("/me/security/confirm", data={
            "csrf_token": csrf_token(page), "otp": code, "next": "/me/security"})  # fmt: skip
        self._reloaded_twice(client, confirmed)


def test_the_codes_download_as_a_text_file_while_they_are_shown(app, client, anna):
    codes = new_recovery_codes(client)
    download = client.get("/me/security/recovery-codes.txt")
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert re.findall(r"^[0-9a-f]{4}(?:-[0-9a-f]{4}){3}$", download.text, re.M) == codes
    page = client.get("/me/security/recovery-codes")
    client.post("/me/security/recovery-codes/saved", data={"csrf_token": csrf_token(page)})
    gone = client.get("/me/security/recovery-codes.txt")
    assert gone.status_code == 303 and gone.headers["Location"] == "/me/security/recovery-codes"


def test_the_codes_are_shown_only_to_the_browser_that_made_them(app, client, citizens, anna):
    new_recovery_codes(client)
    other = app.test_client()
    assert CitizenActions(app, other).login().status_code == 302
    assert not RECOVERY_CODE_RE.findall(other.get("/me/security/recovery-codes").text)
    assert other.get("/me/security/recovery-codes.txt").status_code == 303


def test_no_unused_codes_is_a_warning_on_the_security_page(app, client, anna):
    page = client.get("/me/security")
    assert 'id="no-recovery-codes"' in page.text, "none ever made"
    assert 'href="/me/security/recovery-codes/new"' in page.text
    codes = new_recovery_codes(client)
    assert 'id="no-recovery-codes"' not in client.get("/me/security").text
    sql(app, "UPDATE recovery_code SET used_at = CURRENT_TIMESTAMP")
    assert len(codes) == 10 and 'id="no-recovery-codes"' in client.get("/me/security").text
