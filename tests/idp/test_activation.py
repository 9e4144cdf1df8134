"""Activation: CPR number and the letter's code, then the citizen's own user ID and password."""

from __future__ import annotations

import re

import pytest

from tests.conftest import activate, assert_field_error, csrf_token, login

GOOD_PASSWORD = "blåbær syltetøj"
NO_MATCH = "The CPR number and activation code do not match, or the code has expired or been used."


def _pending(citizens) -> str:
    """Register a citizen without an account; return their CPR number."""
    cpr = citizens.next_cpr()
    citizens.create(username=None, cpr=cpr, given_name="Oskar")
    return cpr


def _activate(client, cpr, code, username="oskar", password=GOOD_PASSWORD, **more):
    return activate(client, cpr, code, username, password, **more)


def _login(client, username="oskar", password=GOOD_PASSWORD):
    return login(client, username, password)


def _without_values(html: str) -> str:
    # Typed-in values (and the CSRF token) are echoed back; everything else must be equal.
    return re.sub(r' value="[^"]*"', "", html)


def test_activation_page_explains_each_field(client):
    page = client.get("/activate")
    assert page.status_code == 200
    for label in ["CPR number", "Activation code", "Choose a user ID", "Choose a password"]:
        assert f">{label}</label>" in page.text
    assert 'aria-describedby="cpr-hint"' in page.text
    assert 'autocomplete="new-password"' in page.text
    assert csrf_token(page)


def test_activation_lets_the_citizen_choose_a_login_and_use_it(client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    response = _activate(client, cpr, code, username="Oskar")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your account is active" in client.get("/login").text
    assert _login(client, "OSKAR").headers["Location"] == "/me"
    # Before anything else, a second factor (tests/idp/test_second_factor.py enrols one).
    assert client.get("/me").headers["Location"] == "/login/code?next=/me"
    enrol = client.get("/login/code?next=/me")
    assert enrol.headers["Location"] == "/me/security/totp?next=/me"


def test_activation_accepts_the_code_and_cpr_as_people_type_them(client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    typed_cpr = f" {cpr[:6]}-{cpr[6:]} "
    typed_code = code.replace("-", " ").lower()
    assert _activate(client, typed_cpr, typed_code).status_code == 302


def test_a_used_code_cannot_activate_again(app, client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    assert _activate(app.test_client(), cpr, code).status_code == 302
    again = _activate(client, cpr, code, username="someone-else")
    assert again.status_code == 400
    assert_field_error(again, "activation_code", NO_MATCH)
    assert _login(client, "someone-else").status_code == 401


def test_every_wrong_cpr_or_code_gets_the_same_answer(app, client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    other_cpr = _pending(citizens)
    citizens.letter(other_cpr)
    used_cpr = _pending(citizens)
    used = _activate(app.test_client(), used_cpr, citizens.letter(used_cpr), username="early")
    assert used.status_code == 302
    used_code_cpr = _pending(citizens)
    used_code = citizens.letter(used_code_cpr)
    assert (
        _activate(app.test_client(), used_code_cpr, used_code, username="user2").status_code == 302
    )

    answers = {
        "wrong code": _activate(client, cpr, "ABCD-EFGH-JKMN"),
        "someone else's cpr": _activate(client, other_cpr, code),
        "unknown cpr": _activate(client, citizens.next_cpr(), code),
        "impossible cpr date": _activate(client, "311399-1234", code),
        "already active cpr": _activate(client, used_cpr, code),
        "used code": _activate(client, used_code_cpr, used_code, username="user3"),
    }
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 400)
    for response in answers.values():
        assert_field_error(response, "activation_code", NO_MATCH)
    pages = {_without_values(r.text) for r in answers.values()}
    assert len(pages) == 1
    # None of this spent the good code.
    assert _activate(client, cpr, code).status_code == 302


def test_a_cpr_number_of_the_wrong_shape_is_shown_at_the_field(client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    refused = _activate(client, "12345", code)
    assert refused.status_code == 400
    assert_field_error(refused, "cpr", "Enter the 10 digits of your CPR number")
    assert "<title>Error: Activate your account" in refused.text
    assert _activate(client, cpr, code).status_code == 302


def test_a_new_letter_replaces_the_old_code(client, citizens):
    cpr = _pending(citizens)
    old = citizens.letter(cpr)
    new = citizens.letter(cpr)
    assert _activate(client, cpr, old).status_code == 400
    assert _activate(client, cpr, new).status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 8 characters."),
        ("password1", "This password is among the most common ones."),
        ("PassWord1", "This password is among the most common ones."),
        ("oskar-is-great", "The password must not contain your user ID."),
    ],
)
def test_a_weak_password_is_shown_at_the_field_and_the_code_stays_usable(
    client, citizens, password, message
):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    refused = _activate(client, cpr, code, password=password)
    assert refused.status_code == 400
    assert_field_error(refused, "password", message)
    assert _activate(client, cpr, code).status_code == 302


def test_mismatched_passwords_are_shown_at_the_field_and_the_code_stays_usable(client, citizens):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    refused = _activate(client, cpr, code, confirm=GOOD_PASSWORD + "!")
    assert refused.status_code == 400
    assert_field_error(refused, "password_confirm", "The two passwords are not the same.")
    assert _activate(client, cpr, code).status_code == 302


def test_a_taken_user_id_answers_409_and_the_code_stays_usable(client, citizens):
    citizens.create(username="oskar")
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    refused = _activate(client, cpr, code, username="OSKAR")
    assert refused.status_code == 409
    assert_field_error(refused, "username", "This user ID is taken. Choose another.")
    assert _activate(client, cpr, code, username="oskar2").status_code == 302
    assert _login(client, "oskar2").status_code == 302


@pytest.mark.parametrize(
    ("username", "message"),
    [("ab", "3 to 64 characters"), ("12345678", "must contain at least one letter")],
)
def test_an_unusable_user_id_is_shown_at_the_field(client, citizens, username, message):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    refused = _activate(client, cpr, code, username=username)
    assert refused.status_code == 400
    assert_field_error(refused, "username", message)
    assert _activate(client, cpr, code).status_code == 302


def test_an_empty_activation_form_shows_each_error_at_its_field(client):
    page = client.get("/activate")
    response = client.post("/activate", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 400
    assert_field_error(response, "cpr", "Enter your CPR number.")
    assert_field_error(response, "activation_code", "Enter the activation code from your letter.")
    assert_field_error(response, "username", "Choose a user ID.")
    assert_field_error(response, "password", "Choose a password.")
    # The hint stays announced next to the error.
    assert 'aria-describedby="cpr-hint cpr-error"' in response.text


@pytest.mark.parametrize("token", [None, "not-a-token", "another-browsers-token"])
def test_activation_without_a_valid_csrf_token_is_refused_and_spends_nothing(
    app, client, citizens, token
):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    if token == "another-browsers-token":
        token = csrf_token(app.test_client().get("/activate"))
    refused = _activate(client, cpr, code, token=token)
    assert refused.status_code == 400
    assert "not sent from this site" in refused.text
    assert _login(client).status_code == 401
    assert _activate(client, cpr, code).status_code == 302


@pytest.mark.parametrize(
    "fields",
    [
        {"cpr": "9" * 40},
        {"activation_code": "x" * 100},
        {"username": "é" * 70},
        {"password": "p" * 300},
        {"cpr": "311399-1234"},
    ],
    ids=["long-cpr", "long-code", "long-user-id", "long-password", "impossible-date"],
)
def test_odd_activation_input_gets_a_page_never_a_500(client, citizens, fields):
    cpr = _pending(citizens)
    code = citizens.letter(cpr)
    values = {"cpr": cpr, "code": code, **fields}
    if "activation_code" in values:
        values["code"] = values.pop("activation_code")
    response = _activate(client, **values)
    assert response.status_code == 400
    assert "There is a problem" in response.text
