"""`flask mandates list|appoint|end`: the operator appoints a guardian, lists what a citizen
gave and holds, ends any mandate; every refusal exits 1 with the reason and writes nothing;
every run is in the admin audit log without a CPR number in clear."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import sql

KAREN, SOEREN, STRANGER = "0101401234", "020270-1234", "0303751234"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"


@pytest.fixture
def people(runner):
    for cpr, given in ((KAREN, "Karen"), (SOEREN, "Søren")):
        args = ["citizens", "create", "--cpr", cpr, "--given-name", given, "--family-name", "Lund"]
        assert runner.invoke(args=args).exit_code == 0


def _appoint(runner, *extra):
    args = ["mandates", "appoint", "--principal-cpr", KAREN, "--agent-cpr", SOEREN, *extra]
    return runner.invoke(args=args)


def test_the_operator_appoints_lists_and_ends_a_guardianship(app, runner, people):
    until = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    result = _appoint(runner, "--attribute", "name", "--attribute", CPR, "--attribute", "name",
                      "--until", until, "--service-kind", "public_authority")  # fmt: skip
    assert result.exit_code == 0, result.output
    mandate = json.loads(result.stdout)
    assert mandate["origin"] == "guardianship" and mandate["appointed_by"] is None
    assert mandate["attributes"] == ["name", CPR]
    assert mandate["service_kind"] == "public_authority" and mandate["in_force"] is True
    assert mandate["principal"]["name"] == "Karen Lund"
    assert mandate["agent"]["name"] == "Søren Lund"
    # In force all that last day: until midnight Danish time (22:00 or 23:00 UTC that day).
    assert mandate["valid_until"][:10] == until and mandate["valid_until"][11:13] in ("22", "23")

    karen = json.loads(runner.invoke(args=["mandates", "list", "--cpr", KAREN]).stdout)
    soeren = json.loads(runner.invoke(args=["mandates", "list", "--cpr", SOEREN]).stdout)
    assert [m["id"] for m in karen["given"]] == [mandate["id"]] and karen["held"] == []
    assert [m["id"] for m in soeren["held"]] == [mandate["id"]] and soeren["given"] == []

    ended = runner.invoke(args=["mandates", "end", "--id", mandate["id"]])
    assert ended.exit_code == 0, ended.output
    assert json.loads(ended.stdout) == {"id": mandate["id"], "ended": True,
                                        "ended_by": "operator"}  # fmt: skip
    again = json.loads(runner.invoke(args=["mandates", "end", "--id", mandate["id"]]).stdout)
    assert again["ended"] is False
    (listed,) = json.loads(runner.invoke(args=["mandates", "list", "--cpr", KAREN]).stdout)["given"]
    assert listed["in_force"] is False and listed["ended_by"] == "operator"


def test_the_operator_ends_a_custody_too(app, runner, people):
    child = ["citizens", "create", "--cpr", "1203154321", "--given-name", "Emil",
             "--family-name", "Lund"]  # fmt: skip
    assert runner.invoke(args=child).exit_code == 0
    parent = ["citizens", "create", "--cpr", "0505801234", "--given-name", "Mette",
              "--family-name", "Lund", "--custody-of", "1203154321"]  # fmt: skip
    (custody,) = json.loads(runner.invoke(args=parent).stdout)["custody"]
    listed = json.loads(runner.invoke(args=["mandates", "list", "--cpr", "1203154321"]).stdout)
    assert [(m["id"], m["origin"]) for m in listed["given"]] == [(custody, "custody")]
    result = runner.invoke(args=["mandates", "end", "--id", custody])
    assert result.exit_code == 0 and json.loads(result.stdout)["ended"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attribute", "shoe_size"], "attribute: unknown shoe_size (choose from"),
        (["--attribute", "place_of_birth"], "attribute: unknown place_of_birth"),
        (["--attribute", "name", "--until", "2020-01-01"], "until is in the past"),
        (["--attribute", "name", "--until", "31-12-2099"], "until must be a date, YYYY-MM-DD"),
        (["--attribute", "name", "--until", "2099-02-30"], "until must be a date, YYYY-MM-DD"),
        (["--attribute", "name", "--until", "9999-12-31"], "more than 100 years ahead"),
        (["--attribute", "name", "--service-kind", "wallet"], "service-kind: choose"),
        (["--attribute", "name", "--client", "nope"], "client_ids: a service named does not"),
    ],
)
def test_a_bad_appointment_exits_1_with_the_reason(app, runner, people, extra, message):
    result = _appoint(runner, *extra)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert sql(app, "SELECT id FROM mandate") == []


@pytest.mark.parametrize(
    ("principal", "agent", "message"),
    [
        (STRANGER, SOEREN, "principal-cpr: no citizen with that CPR number is registered"),
        (KAREN, STRANGER, "agent-cpr: no citizen with that CPR number is registered"),
        ("12345", SOEREN, "principal-cpr: a CPR number has 10 digits"),
        (KAREN, "3102801234", "agent-cpr: the first six digits"),
        (KAREN, KAREN, "agent: a person cannot be their own guardian"),
    ],
)
def test_unknown_or_bad_cpr_numbers_exit_1(app, runner, people, principal, agent, message):
    args = ["mandates", "appoint", "--principal-cpr", principal, "--agent-cpr", agent,
            "--attribute", "name"]  # fmt: skip
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert sql(app, "SELECT id FROM mandate") == []


def test_list_and_end_refuse_what_they_do_not_know(app, runner, people):
    unknown = runner.invoke(args=["mandates", "list", "--cpr", STRANGER])
    assert unknown.exit_code == 1 and "no citizen with that CPR number" in unknown.output
    bad = runner.invoke(args=["mandates", "list", "--cpr", "abc"])
    assert bad.exit_code == 1 and "cpr: a CPR number has 10 digits" in bad.output
    for mandate_id in ("0" * 32, "nope"):
        result = runner.invoke(args=["mandates", "end", "--id", mandate_id])
        assert result.exit_code == 1 and "id: no mandate has that id" in result.output


def test_every_run_is_audited_without_cpr_numbers_in_clear(app, runner, people):
    assert _appoint(runner, "--attribute", "name").exit_code == 0
    assert runner.invoke(args=["mandates", "list", "--cpr", KAREN]).exit_code == 0
    rows = sql(app, "SELECT command, arguments FROM audit_entry ORDER BY id")
    commands = [row["command"] for row in rows]
    assert "mandates appoint" in commands and "mandates list" in commands
    recorded = " ".join(str(row["arguments"]) for row in rows)
    assert KAREN not in recorded and SOEREN not in recorded and "0202701234" not in recorded
    # Each named by its keyed lookup hash, as `citizens` commands name one: who was named can
    # be found by whoever holds the data key, and by no one else.
    appointed = next(row["arguments"] for row in rows if row["command"] == "mandates appoint")
    appointed = json.loads(appointed) if isinstance(appointed, str) else appointed
    assert appointed["principal_cpr"].startswith("cpr-lookup:")
    assert appointed["agent_cpr"].startswith("cpr-lookup:")
