"""The operator CLI: `flask citizens create|activation-code` and `flask demo load|welcome`."""

from __future__ import annotations

import datetime as dt
import json

import pyotp
import pytest

from demo import citizens as demo
from idp.app import create_app
from idp.citizens import cpr as cpr_numbers
from idp.core import crypto
from idp.core.extensions import db
from tests.conftest import CitizenActions, activate, base_config, sql

ANNA = [
    "citizens", "create", "--cpr", "0101901234", "--given-name", "Anna",
    "--family-name", "Jensen", "--birthdate", "1990-01-01",
]  # fmt: skip
GOOD_PASSWORD = "correct horse battery"
NO_MATCH = "do not match, or the code has expired or been used"


def invoke(runner, *args):
    return runner.invoke(args=list(args))


def citizen_rows(app) -> list:
    return sql(app, "SELECT * FROM citizen")


def assert_refused(result, message: str) -> None:
    """A refusal: non-zero exit, the reason on stderr, no JSON on stdout, no traceback."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert message in result.stderr, result.stderr
    assert result.stdout == ""


# --- citizens create -------------------------------------------------------------------


def test_create_with_user_id_and_password_makes_an_active_citizen(app, runner):
    result = invoke(runner, *ANNA, "--username", "Anna", "--password", GOOD_PASSWORD,
                    "--email", "anna@example.org", "--phone", "+45 12345678",
                    "--address-json", '{"street": "Vesterbrogade 1", "postcode": "1620",'
                    ' "city": "København V", "municipality_code": "101"}')  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.keys() == {"id", "username", "status"}
    assert printed["username"] == "anna" and printed["status"] == "active"
    (row,) = citizen_rows(app)
    assert row["id"] == printed["id"] and row["username"] == "anna"
    assert (row["given_name"], row["family_name"]) == ("Anna", "Jensen")
    assert (row["email"], row["phone"]) == ("anna@example.org", "+45 12345678")
    assert (row["street"], row["postcode"], row["city"], row["municipality_code"]) == (
        "Vesterbrogade 1", "1620", "København V", "101",
    )  # fmt: skip


def test_the_password_is_stored_as_an_argon2id_hash(app, runner, client):
    assert invoke(runner, *ANNA, "--username", "anna", "--password", GOOD_PASSWORD).exit_code == 0
    (row,) = sql(app, "SELECT password_hash FROM citizen")
    assert row["password_hash"].startswith("$argon2id$")
    assert GOOD_PASSWORD not in row["password_hash"]
    assert CitizenActions(app, client).login("anna").headers["Location"] == "/me"


def test_create_without_user_id_and_password_makes_a_pending_citizen(app, runner):
    result = invoke(runner, *ANNA)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["status"] == "pending" and printed["username"] is None
    (row,) = citizen_rows(app)
    assert row["status"] == "pending" and row["password_hash"] is None


def test_the_birthdate_defaults_to_the_one_in_the_cpr_number(app, runner):
    result = invoke(runner, "citizens", "create", "--cpr", "150785-1234",
                    "--given-name", "Ida", "--family-name", "Hansen")  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = citizen_rows(app)
    assert str(row["birthdate"]) == "1985-07-15"


def test_the_birthdate_follows_the_century_rule(app, runner):
    result = invoke(runner, "citizens", "create", "--cpr", "010105-4321", "--given-name", "Ea",
                    "--family-name", "Holm", "--birthdate", "2005-01-01")  # fmt: skip
    assert result.exit_code == 0, result.output


# --- the CPR number at rest ------------------------------------------------------------


def test_the_cpr_number_is_stored_only_encrypted_and_as_a_keyed_hash(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    (row,) = sql(app, "SELECT cpr_encrypted, cpr_lookup FROM citizen")
    ciphertext = bytes(row["cpr_encrypted"])
    assert b"0101901234" not in ciphertext and b"1234" not in ciphertext
    assert len(row["cpr_lookup"]) == 64 and "0101901234" not in row["cpr_lookup"]
    (everything,) = citizen_rows(app)
    stored = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
        for v in everything.values()
    )
    assert b"0101901234" not in stored and b"010190-1234" not in stored
    with app.app_context():  # the data key opens it again, bound to its column
        assert crypto.decrypt(ciphertext, "citizen.cpr") == b"0101901234"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(ciphertext, "citizen.email")


def test_the_cpr_number_is_found_again_through_its_keyed_hash(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    # Either written form finds the citizen (for the activation letter).
    for written in ("0101901234", "010190-1234"):
        assert invoke(runner, "citizens", "activation-code", written).exit_code == 0


@pytest.fixture
def app_with_another_data_key(app):
    """A second app on the same database and store, with its own TILLID_DATA_KEY."""
    shared = {
        k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "STORE_KEY_PREFIX")
    }
    other = create_app(base_config(**shared))
    assert other.config["TILLID_DATA_KEY"] != app.config["TILLID_DATA_KEY"]
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    other.extensions["tillid_store"].close()


def test_another_data_key_can_neither_read_nor_find_the_cpr_number(
    app, runner, app_with_another_data_key
):
    assert invoke(runner, *ANNA).exit_code == 0
    other = app_with_another_data_key
    (row,) = sql(other, "SELECT cpr_encrypted FROM citizen")
    with other.app_context(), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(bytes(row["cpr_encrypted"]), "citizen.cpr")
    result = invoke(other.test_cli_runner(), "citizens", "activation-code", "0101901234")
    assert_refused(result, "no citizen with this CPR number")
    # …and it does not see the number as taken either, so nothing could link the two.
    with app.app_context():
        assert crypto.decrypt(bytes(row["cpr_encrypted"]), "citizen.cpr") == b"0101901234"


# --- citizens create: refusals ----------------------------------------------------------

REFUSALS = {
    "bad cpr date": (["--cpr", "3102901234"], "cpr: the first six digits"),
    "cpr with a letter": (["--cpr", "01019O1234"], "cpr: a CPR number has 10 digits"),
    "cpr too short": (["--cpr", "010190123"], "cpr: a CPR number has 10 digits"),
    "birthdate not the cpr's": (["--birthdate", "1990-01-02"], "does not match the date"),
    "birthdate a century off": (["--birthdate", "2090-01-01"], "does not match the date"),
    "birthdate not a date": (["--birthdate", "01/01/1990"], "YYYY-MM-DD"),
    "birthdate without dashes": (["--birthdate", "19900101"], "YYYY-MM-DD"),
    "birthdate as iso week": (["--birthdate", "1990-W01-1"], "YYYY-MM-DD"),
    "address not json": (["--address-json", "{street"], "--address-json is not valid JSON"),
    "address unknown field": (["--address-json", '{"country": "DK"}'], "unknown fields: country"),
    "address bad postcode": (["--address-json", '{"postcode": "DK-1620"}'], "address.postcode"),
    "address short postcode": (["--address-json", '{"postcode": "162"}'], "address.postcode"),
    "address postcode number": (["--address-json", '{"postcode": 1620}'], "must be text"),
    "address bad municipality": (
        ["--address-json", '{"municipality_code": "K101"}'],
        "address.municipality_code",
    ),
    "address a list": (["--address-json", '["Vesterbrogade"]'], "must be an object"),
    "address an empty list": (["--address-json", "[]"], "must be an object"),
    "address a number": (["--address-json", "0"], "must be an object"),
    "bad email": (["--email", "anna at example"], "e-mail"),
    "bad phone": (["--phone", "call me"], "phone"),
    "empty name": (["--given-name", "  "], "given_name: is required"),
    "nul in name": (["--given-name", "An\x00na"], "given_name: contains control characters"),
    "bell in name": (["--family-name", "Jen\x07sen"], "family_name: contains control"),
    "newline in name": (["--family-name", "Jen\nsen"], "family_name: contains control"),
    "bidi override in name": (["--family-name", "Jen\u202esen"], "family_name: contains control"),
    "line separator in street": (
        ["--address-json", '{"street": "Vesterbrogade\\u2028 1"}'],
        "street: contains control",
    ),
    "bytes not utf-8 in name": (["--given-name", "An\udcf8na"], "given_name: is not valid text"),
    "name too long": (["--family-name", "J" * 201], "longer than 200"),
    "short password": (["--username", "anna", "--password", "seven77"], "at least 8"),
    "common password": (["--username", "anna", "--password", "password1"], "most common"),
    "common password any case": (["--username", "anna", "--password", "PassWord1"], "most common"),
    "common password 2": (["--username", "anna", "--password", "QWERTYUIOP"], "most common"),
    "password has user id": (["--username", "anna", "--password", "anna-is-best"], "user ID"),
    "password has user id in capitals": (
        ["--username", "Anna", "--password", "I am ANNA, hello"],
        "user ID",
    ),
    "password has user id in fullwidth": (
        ["--username", "anna", "--password", "ａｎｎａ-is-best"],
        "user ID",
    ),
    "password bytes not utf-8": (
        ["--username", "anna", "--password", "correct \udcff horse"],
        "not valid text",
    ),
    "user id only digits": (["--username", "12345678", "--password", GOOD_PASSWORD], "one letter"),
    "user id with a space": (["--username", "an na", "--password", GOOD_PASSWORD], "username:"),
    "user id with a letter outside a-z": (
        ["--username", "änna", "--password", GOOD_PASSWORD],
        "username:",
    ),
    "user id with @": (["--username", "anna@x", "--password", GOOD_PASSWORD], "username:"),
    "user id starting with a dot": (
        ["--username", ".anna", "--password", GOOD_PASSWORD],
        "username:",
    ),
    "user id too short": (["--username", "an", "--password", GOOD_PASSWORD], "username:"),
    "user id too long": (["--username", "a" * 65, "--password", GOOD_PASSWORD], "username:"),
    "user id without password": (["--username", "anna"], "both a username and a password"),
    "password without user id": (["--password", GOOD_PASSWORD], "both a username and a password"),
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
    assert_refused(runner.invoke(args=args), message)
    assert citizen_rows(app) == []


@pytest.mark.parametrize("written", ["0101901234", "010190-1234"])
def test_a_cpr_number_already_registered_is_refused(app, runner, written):
    assert invoke(runner, *ANNA).exit_code == 0
    result = invoke(runner, "citizens", "create", "--cpr", written, "--given-name", "Other",
                    "--family-name", "Person", "--username", "other",
                    "--password", GOOD_PASSWORD)  # fmt: skip
    assert_refused(result, "already registered")
    (row,) = citizen_rows(app)
    assert row["given_name"] == "Anna" and row["username"] is None


@pytest.mark.parametrize("taken_as", ["Anna", "ANNA", "anna", " anna "])
def test_a_user_id_is_taken_whatever_its_case(app, runner, client, taken_as):
    CitizenActions(app, client).create(username="anna")
    result = invoke(runner, "citizens", "create", "--cpr", "0202901234", "--given-name", "B",
                    "--family-name", "C", "--username", taken_as,
                    "--password", GOOD_PASSWORD)  # fmt: skip
    assert_refused(result, "this user ID is taken")
    assert len(citizen_rows(app)) == 1


# --- citizens activation-code -----------------------------------------------------------


def _letter(runner, cpr="0101901234") -> dict:
    result = invoke(runner, "citizens", "activation-code", cpr)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _activate(client, code, cpr="010190-1234", username="anna"):
    return activate(client, cpr, code, username, GOOD_PASSWORD)


def _refused(response) -> bool:
    return response.status_code == 400 and NO_MATCH in response.text


def test_a_letter_has_a_one_time_code_valid_for_30_days(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    before = dt.datetime.now(dt.UTC)
    letter = _letter(runner)
    after = dt.datetime.now(dt.UTC)
    assert letter.keys() == {"citizen_id", "activation_code", "expires_at"}
    assert letter["citizen_id"] == citizen_rows(app)[0]["id"]
    expires = dt.datetime.fromisoformat(letter["expires_at"])
    assert before + dt.timedelta(days=30) <= expires <= after + dt.timedelta(days=30)
    (row,) = sql(app, "SELECT * FROM activation_code")
    code = letter["activation_code"]
    assert code not in str(dict(row)) and code.replace("-", "") not in str(dict(row))


def test_the_code_activates_the_citizen_who_can_then_log_in(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    response = _activate(client, _letter(runner)["activation_code"])
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    (row,) = citizen_rows(app)
    assert row["status"] == "active" and row["password_hash"].startswith("$argon2id$")
    assert CitizenActions(app, client).login("anna").headers["Location"] == "/me"


def test_a_code_works_only_once(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    code = _letter(runner)["activation_code"]
    assert _activate(client, code).status_code == 302
    # Even were the citizen pending again (an operator's reset), the used code stays used.
    sql(app, "UPDATE citizen SET status = 'pending', username = NULL, password_hash = NULL")
    assert _refused(_activate(app.test_client(), code, username="anna2"))
    assert _activate(app.test_client(), _letter(runner)["activation_code"]).status_code == 302


def test_a_new_letter_voids_the_old_code(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    old = _letter(runner)["activation_code"]
    new = _letter(runner)["activation_code"]
    assert old != new
    assert _refused(_activate(client, old))
    assert _activate(client, new).status_code == 302


def test_a_code_past_its_expiry_is_refused(app, runner, client):
    assert invoke(runner, *ANNA).exit_code == 0
    code = _letter(runner)["activation_code"]
    expired = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    sql(app, "UPDATE activation_code SET expires_at = :t", t=expired)  # 30 days went by
    assert _refused(_activate(client, code))
    assert citizen_rows(app)[0]["status"] == "pending"


def test_a_code_valid_for_0_days_is_expired_when_it_arrives(make_app):
    app = make_app(ACTIVATION_CODE_DAYS=0)  # valid until the moment it is issued
    runner = app.test_cli_runner()
    assert invoke(runner, *ANNA).exit_code == 0
    assert _refused(_activate(app.test_client(), _letter(runner)["activation_code"]))


@pytest.mark.parametrize(
    ("cpr", "message"),
    [
        ("0101901299", "no citizen with this CPR number"),
        ("3102901234", "cpr: the first six digits"),
        ("junk", "cpr: a CPR number has 10 digits"),
    ],
)
def test_activation_code_refuses_an_unknown_or_bad_cpr_number(app, runner, cpr, message):
    assert invoke(runner, *ANNA).exit_code == 0
    assert_refused(invoke(runner, "citizens", "activation-code", cpr), message)
    assert sql(app, "SELECT * FROM activation_code") == []


def test_no_activation_code_for_a_citizen_who_is_not_pending(app, runner):
    assert invoke(runner, *ANNA, "--username", "anna", "--password", GOOD_PASSWORD).exit_code == 0
    result = invoke(runner, "citizens", "activation-code", "0101901234")
    assert_refused(result, "the citizen is active, not pending")
    assert sql(app, "SELECT * FROM activation_code") == []


# --- demo load ---------------------------------------------------------------------------


def test_demo_load_makes_fictitious_citizens_and_a_demo_login(app, runner, client):
    result = invoke(runner, "demo", "load", "--citizens", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    # The fictitious five, Ida (demo), Oskar (pending) and Ida's son Emil.
    assert printed["loaded"] is True and printed["created"] == 5 + 3
    assert printed["demo_citizen"] == {"username": demo.DEMO_USERNAME,
                                       "password": demo.DEMO_PASSWORD,
                                       "totp_secret": demo.DEMO_TOTP_SECRET}  # fmt: skip
    assert len(citizen_rows(app)) == 8
    actions = CitizenActions(app, client)
    actions.totp_secrets[demo.DEMO_USERNAME] = demo.DEMO_TOTP_SECRET  # as in the README
    response = actions.login(demo.DEMO_USERNAME, demo.DEMO_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    assert client.get("/me").status_code == 200


def test_demo_code_prints_the_demo_citizens_current_code(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "0").exit_code == 0
    code = invoke(runner, "demo", "code").stdout.strip()
    assert code == pyotp.TOTP(demo.DEMO_TOTP_SECRET).now() and len(code) == 6


def test_demo_load_makes_a_pending_citizen_whose_printed_code_activates(app, runner, client):
    printed = json.loads(invoke(runner, "demo", "load", "--citizens", "0").stdout)
    letter = printed["activation_demo"]
    assert letter["cpr"] == demo.PENDING_DEMO_CPR
    response = _activate(client, letter["activation_code"], cpr=letter["cpr"], username="oskar")
    assert response.status_code == 302
    assert CitizenActions(app, client).login("oskar").headers["Location"] == "/me"


def test_demo_citizens_are_plausible_danes(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "20", "--seed", "11").exit_code == 0
    # Not the named demo people without an account (Oskar, pending; Emil, Ida's son).
    rows = sql(
        app, "SELECT * FROM citizen WHERE username IS NULL AND family_name NOT LIKE 'Demo-%'"
    )
    assert len(rows) == 20
    with app.app_context():
        for row in rows:
            number = crypto.decrypt(bytes(row["cpr_encrypted"]), "citizen.cpr").decode()
            assert str(cpr_numbers.birthdate(cpr_numbers.parse(number))) == str(row["birthdate"])
            assert row["phone"].startswith("+45 ") and len(row["postcode"]) == 4
            assert row["status"] == "pending"


def test_demo_load_with_a_seed_is_reproducible(make_app):
    names = []
    for _ in range(2):
        app = make_app()
        invoke(app.test_cli_runner(), "demo", "load", "--citizens", "4", "--seed", "5")
        names.append(sorted(r["family_name"] for r in citizen_rows(app)))
    assert names[0] == names[1]


def test_demo_load_twice_does_not_duplicate_the_demo_citizens(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "3", "--seed", "9").exit_code == 0
    again = invoke(runner, "demo", "load", "--citizens", "3", "--seed", "9")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["created"] == 0
    assert len(citizen_rows(app)) == 3 + 3
    assert len(sql(app, "SELECT id FROM citizen WHERE username = 'demo'")) == 1


def test_demo_load_if_empty_leaves_a_registry_with_citizens_alone(app, runner):
    assert invoke(runner, *ANNA).exit_code == 0
    result = invoke(runner, "demo", "load", "--if-empty")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"loaded": False, "reason": "the registry is not empty"}
    assert len(citizen_rows(app)) == 1


def test_demo_load_if_empty_loads_an_empty_registry(app, runner):
    result = invoke(runner, "demo", "load", "--if-empty", "--citizens", "2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loaded"] is True
    assert len(citizen_rows(app)) == 2 + 3


def test_demo_load_is_refused_in_production(app, runner):
    app.config["TILLID_ENV"] = "production"  # what TILLID_ENV=production sets
    assert_refused(invoke(runner, "demo", "load"), "demo data is for development")
    assert citizen_rows(app) == []
    assert_refused(invoke(runner, "demo", "code"), "demo data is for development")


def test_demo_load_refuses_a_negative_count(app, runner):
    result = invoke(runner, "demo", "load", "--citizens", "-1")
    assert result.exit_code == 2 and "--citizens" in result.stderr
    assert citizen_rows(app) == []


def test_demo_welcome_tells_where_to_log_in(app, runner):
    assert invoke(runner, "demo", "load", "--citizens", "0").exit_code == 0
    output = invoke(runner, "demo", "welcome").output
    assert "http://localhost:5000/login" in output and demo.DEMO_PASSWORD in output
