"""The operator CLI: `flask citizens create|import|activation-code` and `flask demo load`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from idp import create_app
from idp.citizens import demo
from idp.citizens.models import ActivationCode, Citizen
from idp.crypto import DecryptionError
from idp.extensions import db
from tests.conftest import CitizenActions, activate, base_config

ANNA = [
    "citizens", "create", "--cpr", "0101901234", "--given-name", "Anna",
    "--family-name", "Jensen", "--birthdate", "1990-01-01",
]  # fmt: skip
GOOD_PASSWORD = "correct horse battery"


def invoke(runner, *args):
    return runner.invoke(args=list(args))


def citizen_rows(app) -> list:
    with app.app_context():
        return db.session.execute(text("SELECT * FROM citizen")).mappings().all()


def test_create_an_active_citizen(app, runner):
    result = invoke(runner, *ANNA, "--username", "Anna", "--password", GOOD_PASSWORD,
                    "--email", "anna@example.org", "--phone", "+45 12345678",
                    "--address-json", '{"street": "Vesterbrogade 1", "postcode": "1620",'
                    ' "city": "København V", "municipality_code": "101"}')  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.keys() == {"id", "username", "status"}
    assert printed["username"] == "anna" and printed["status"] == "active"
    (row,) = citizen_rows(app)
    assert row["city"] == "København V" and row["postcode"] == "1620"
    assert row["password_hash"].startswith("$argon2id$")


def test_create_without_credentials_is_pending(app, runner):
    result = invoke(runner, *ANNA)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "pending"
    assert json.loads(result.stdout)["username"] is None


def test_the_birthdate_defaults_to_the_one_in_the_cpr_number(app, runner):
    result = invoke(runner, "citizens", "create", "--cpr", "150785-1234",
                    "--given-name", "Ida", "--family-name", "Hansen")  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = citizen_rows(app)
    assert str(row["birthdate"]) == "1985-07-15"


def test_the_cpr_number_is_stored_encrypted_and_found_by_keyed_hash(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    (row,) = citizen_rows(app)
    stored = b"".join(
        value if isinstance(value, bytes) else str(value).encode() for value in row.values()
    )
    assert b"0101901234" not in stored and b"010190-1234" not in stored
    assert len(row["cpr_lookup"]) == 64  # HMAC-SHA256, hex
    # Found again by CPR (through the lookup hash) for the activation letter:
    letter = invoke(runner, "citizens", "activation-code", "010190-1234")
    assert letter.exit_code == 0, letter.output


def test_another_data_key_cannot_find_or_read_the_cpr(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    same_database = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL")}
    other = create_app(base_config(**same_database))  # another TILLID_DATA_KEY
    try:
        result = invoke(other.test_cli_runner(), "citizens", "activation-code", "0101901234")
        assert result.exit_code != 0
        assert "no citizen with this CPR number" in result.output
        with other.app_context():
            citizen = db.session.scalars(select(Citizen)).one()
            with pytest.raises(DecryptionError):
                _ = citizen.cpr
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


REFUSALS = {
    "bad cpr": (["--cpr", "3102901234"], "cpr"),
    "cpr letters": (["--cpr", "01019O1234"], "cpr"),
    "birthdate not the cpr's": (["--birthdate", "1990-01-02"], "does not match"),
    "birthdate not a date": (["--birthdate", "01/01/1990"], "YYYY-MM-DD"),
    "address not json": (["--address-json", "{street"], "not valid JSON"),
    "address unknown field": (["--address-json", '{"country": "DK"}'], "unknown fields"),
    "address bad postcode": (["--address-json", '{"postcode": "DK-1620"}'], "postcode"),
    "address not an object": (["--address-json", '["Vesterbrogade"]'], "must be an object"),
    "bad email": (["--email", "anna at example"], "e-mail"),
    "bad phone": (["--phone", "call me"], "phone"),
    "empty name": (["--given-name", "  "], "given_name"),
    "control character in name": (["--family-name", "Jen\x07sen"], "control characters"),
    "name too long": (["--family-name", "J" * 201], "longer than"),
    "short password": (["--username", "anna", "--password", "seven77"], "at least 8"),
    "common password": (["--username", "anna", "--password", "Password1"], "most common"),
    "common password 2": (["--username", "anna", "--password", "qwertyuiop"], "most common"),
    "password has user id": (["--username", "anna", "--password", "anna-is-best"], "user ID"),
    "user id only digits": (["--username", "12345678", "--password", GOOD_PASSWORD], "letter"),
    "user id bad characters": (["--username", "an na", "--password", GOOD_PASSWORD], "username"),
    "user id too short": (["--username", "an", "--password", GOOD_PASSWORD], "username"),
    "user id without password": (["--username", "anna"], "both"),
    "password without user id": (["--password", GOOD_PASSWORD], "both"),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_create_refuses_bad_input_and_writes_nothing(app, runner, case):
    extra, message = REFUSALS[case]
    args = list(ANNA)
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert citizen_rows(app) == []


def test_duplicate_cpr_is_refused(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    result = invoke(runner, "citizens", "create", "--cpr", "010190-1234",
                    "--given-name", "Other", "--family-name", "Person")  # fmt: skip
    assert result.exit_code != 0
    assert "already registered" in result.output
    assert len(citizen_rows(app)) == 1


def test_user_ids_are_unique_whatever_the_case(app, runner):
    citizens = CitizenActions(app, app.test_client())
    citizens.create(username="anna")
    result = invoke(runner, "citizens", "create", "--cpr", "0202901234", "--given-name", "B",
                    "--family-name", "C", "--username", "ANNA",
                    "--password", GOOD_PASSWORD)  # fmt: skip
    assert result.exit_code != 0
    assert "taken" in result.output
    assert len(citizen_rows(app)) == 1


# --- activation codes ------------------------------------------------------------------


def _letter(runner, cpr="0101901234") -> dict:
    result = invoke(runner, "citizens", "activation-code", cpr)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _activate(client, code, cpr="010190-1234", username="anna"):
    return activate(client, cpr, code, username, GOOD_PASSWORD)


def test_an_activation_code_works_once_and_expires_in_30_days(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    letter = _letter(runner)
    assert letter.keys() == {"citizen_id", "activation_code", "expires_at"}
    with app.app_context():
        (row,) = db.session.execute(text("SELECT * FROM activation_code")).mappings().all()
        assert letter["activation_code"] not in str(dict(row))  # stored hashed
        stored = db.session.scalars(select(ActivationCode)).one()
        assert (stored.expires_at - stored.created_at).days == 30
    assert _activate(client, letter["activation_code"]).status_code == 302
    assert CitizenActions(app, client).login("anna").status_code == 302
    other = app.test_client()
    assert _activate(other, letter["activation_code"], username="anna2").status_code == 400


def test_a_new_letter_voids_the_old_code(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    old = _letter(runner)["activation_code"]
    new = _letter(runner)["activation_code"]
    assert old != new
    assert _activate(client, old).status_code == 400
    assert _activate(client, new).status_code == 302


def test_an_expired_code_is_refused(make_app):
    app = make_app(ACTIVATION_CODE_DAYS=0)  # valid until the moment it is issued
    runner = app.test_cli_runner()
    assert invoke(runner, *ANNA).exit_code == 0
    assert _activate(app.test_client(), _letter(runner)["activation_code"]).status_code == 400


@pytest.mark.parametrize(
    ("cpr", "message"),
    [("0101901299", "no citizen"), ("3102901234", "cpr"), ("junk", "cpr")],
)
def test_activation_code_refusals(app, runner, cpr, message):
    assert invoke(runner, *ANNA).exit_code == 0
    result = invoke(runner, "citizens", "activation-code", cpr)
    assert result.exit_code != 0 and message in result.output


def test_no_activation_code_for_an_active_citizen(app, runner):
    assert invoke(runner, *ANNA, "--username", "anna", "--password", GOOD_PASSWORD).exit_code == 0
    result = invoke(runner, "citizens", "activation-code", "0101901234")
    assert result.exit_code != 0 and "not pending" in result.output


# --- demo data -------------------------------------------------------------------------


def test_demo_load_makes_citizens_and_a_demo_login(app, runner, client):
    result = invoke(runner, "demo", "load", "--citizens", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["created"] == 5 + 2
    assert printed["demo_citizen"] == {"username": demo.DEMO_USERNAME,
                                       "password": demo.DEMO_PASSWORD}  # fmt: skip
    assert len(citizen_rows(app)) == 7
    citizens = CitizenActions(app, client)
    assert citizens.login(demo.DEMO_USERNAME, demo.DEMO_PASSWORD).headers["Location"] == "/me"
    letter = printed["activation_demo"]
    response = _activate(app.test_client(), letter["activation_code"], cpr=letter["cpr"],
                         username="oskar")  # fmt: skip
    assert response.status_code == 302


def test_demo_load_twice_does_not_duplicate_the_demo_citizens(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "0").exit_code == 0
    again = json.loads(invoke(runner, "demo", "load", "--citizens", "0").stdout)
    assert again["created"] == 0
    assert len(citizen_rows(app)) == 2


def test_demo_load_if_empty_leaves_a_registry_alone(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    result = json.loads(invoke(runner, "demo", "load", "--if-empty").stdout)
    assert result["loaded"] is False
    assert len(citizen_rows(app)) == 1


def test_demo_welcome_tells_where_to_log_in(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "0").exit_code == 0
    output = invoke(runner, "demo", "welcome").output
    assert "http://localhost:5000/login" in output and demo.DEMO_PASSWORD in output
