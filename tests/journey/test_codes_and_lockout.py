"""A wrong code says what was wrong with it (its length, its characters) before it is tried;
a lockout says when the citizen may try again, on their clock and in their language."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from babel.dates import format_time

from tests.conftest import CitizenActions, assert_field_error, csrf_token, login
from tests.idp.test_phone_requests import _phone

PASSWORD = "correct horse battery"
COPENHAGEN = zoneinfo.ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def anna(citizens):
    """Anna with an authenticator app, after her password."""
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).status_code == 302
    return citizens


def send(client, path: str, field: str, value: str, **headers):
    page = client.get(path, query_string={"next": "/me"}, headers=headers)
    data = {"csrf_token": csrf_token(page), field: value, "next": "/me"}
    return client.post(path, data=data, headers=headers)


def clock_times(seconds: int, locale: str) -> set[str]:
    """The try-again time a page may show for a wait of ``seconds`` from about now: the
    minute it ends in, rounded up, on Copenhagen's clock (either side of a minute's turn)."""
    now = dt.datetime.now(dt.UTC)
    shown = set()
    for slack in (-2, 0, 2):
        ends = now + dt.timedelta(seconds=seconds + slack)
        ends = ends.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        shown.add(format_time(ends, "short", tzinfo=COPENHAGEN, locale=locale))
    return shown


@pytest.mark.parametrize(
    "typed, message",
    [
        ("12345", "The code has 6 digits; you entered 5."),
        ("1234567", "The code has 6 digits; you entered 7."),
        ("12a456", "The code has only digits (0 to 9)."),
    ],
)
def test_a_code_of_the_wrong_shape_says_so_and_is_not_a_guess(make_app, typed, message):
    app = make_app(LOCKOUT_THRESHOLD=2)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).status_code == 302
    for _ in range(4):  # past the lockout threshold: typos are not counted
        response = send(citizens.client, "/login/code", "otp", typed)
        assert response.status_code == 400
        assert_field_error(response, "otp", message)
        assert "wrong or has expired" not in response.text
    right = citizens.second_factor("/me")
    assert right.status_code == 302 and right.headers["Location"] == "/me"


def test_spaces_between_the_digits_are_fine(anna):
    code = anna.totp_code()
    response = send(anna.client, "/login/code", "otp", f"{code[:3]} {code[3:]}")
    assert response.status_code == 302


def test_a_right_shaped_wrong_code_is_still_called_wrong(anna):
    response = send(anna.client, "/login/code", "otp", "000000")
    assert response.status_code == 401 and "wrong or has expired" in response.text


def test_the_danish_page_says_it_in_danish(anna):
    response = send(anna.client, "/login/code", "otp", "1234", **{"Accept-Language": "da"})
    assert_field_error(response, "otp", "Koden har 6 cifre; du skrev 4.")


@pytest.mark.parametrize(
    "typed, message",
    [
        (
            "abcd-ef01-2345",
            "A recovery code has 16 characters (dashes not counted); you entered 12.",
        ),
        (
            "abcd-ef01-2345-678x",
            "A recovery code has only the digits 0 to 9 and the letters a to f.",
        ),
    ],
)
def test_a_recovery_code_of_the_wrong_shape_says_so(anna, typed, message):
    response = send(anna.client, "/login/recovery", "recovery_code", typed)
    assert response.status_code == 400
    assert_field_error(response, "recovery_code", message)


def test_a_right_shaped_wrong_recovery_code_is_still_called_wrong(anna):
    response = send(anna.client, "/login/recovery", "recovery_code", "ABCD-EF01-2345-6789")
    assert response.status_code == 401 and "wrong or has been used" in response.text


@pytest.mark.parametrize("language", ["en", "da"])
def test_a_locked_login_says_when_to_try_again(make_app, language):
    app = make_app(LOCKOUT_THRESHOLD=2, LOCKOUT_BASE_SECONDS=300, DEFAULT_LANGUAGE=language)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert citizens.login(password="wrong").status_code == 401
    locked = citizens.login(password="wrong")
    assert locked.status_code == 429
    summary = re.search(r'class="alert alert-error error-summary".*?</ul>', locked.text, re.S)
    text = summary.group(0)
    times = clock_times(300, language)
    assert any(time in text for time in times), (times, text)
    if language == "da":
        assert "Du kan prøve igen kl." in text and "om 5 minutter." in text
    else:
        assert "You can try again at" in text and "in 5 minutes." in text


def test_a_locked_code_step_and_recovery_code_step_say_when(make_app):
    app = make_app(LOCKOUT_THRESHOLD=1, LOCKOUT_BASE_SECONDS=120)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert login(citizens.client, "anna", PASSWORD).status_code == 302
    assert send(citizens.client, "/login/code", "otp", "000000").status_code == 401
    locked = send(citizens.client, "/login/code", "otp", "000000")
    assert locked.status_code == 429 and "in 2 minutes." in locked.text
    assert any(time in locked.text for time in clock_times(120, "en"))
    # The recovery codes share the budget: the same wait, said the same way.
    recovery = send(citizens.client, "/login/recovery", "recovery_code", "0" * 16)
    assert recovery.status_code == 429 and "You can try again at" in recovery.text
    assert int(recovery.headers["Retry-After"]) <= 120


@pytest.mark.cluster
def test_too_many_phone_requests_say_when_to_try_again(make_app):
    app = make_app(PHONE_REQUEST_RATE_LIMIT=2)
    citizens = CitizenActions(app, app.test_client())
    citizen = citizens.create(totp=False)
    _phone(app, citizen["id"])
    browser = citizens.client
    for expected in (302, 302):  # the same browser may start again: it replaces its own
        page = browser.get("/login/app")
        sent = browser.post("/login/app", data={"username": "anna", "csrf_token": csrf_token(page)})
        assert sent.status_code == expected
    page = browser.get("/login/app")
    refused = browser.post("/login/app", data={"username": "anna", "csrf_token": csrf_token(page)})
    assert refused.status_code == 429
    assert "Too many approval requests lately. You can try again at" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert any(
        time in refused.text for time in clock_times(int(refused.headers["Retry-After"]), "en")
    )
