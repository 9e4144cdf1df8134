"""A mandate's life in both people's access logs (docs/representation.md): giving,
accepting and ending in the portal, appointing and ending by the operator, custody from the
register; each an entry with Tillid itself as the other party, provable, and none counted
as a release in the summary."""

from __future__ import annotations

import datetime as dt
import json
import time

from consent.ledger import sequencer
from tests.conftest import sql
from tests.mandates.portal_helpers import ANNA_CPR, BO_CPR, act, give, mandate_rows, person


def _events(browser) -> list[tuple[str, str, str]]:
    entries = browser.get("/api/me/access-log").json["entries"]
    return [(e["representation"]["event"], e["representation"]["role"], e["service"]["name"])
            for e in reversed(entries) if e["channel"] == "mandate"]  # fmt: skip


def test_giving_accepting_and_ending_are_in_both_logs_and_provable(app, anna, bo):
    assert give(anna.client, attributes=["name"]).status_code == 303
    (row,) = mandate_rows(app)
    assert act(bo.client, row["id"], "accept").status_code == 303
    assert act(anna.client, row["id"], "end").status_code == 303
    assert _events(anna.client) == [("granted", "principal", "Tillid"),
                                    ("accepted", "principal", "Tillid"),
                                    ("ended", "principal", "Tillid")]  # fmt: skip
    assert _events(bo.client) == [("granted", "agent", "Tillid"), ("accepted", "agent", "Tillid"),
                                  ("ended", "agent", "Tillid")]  # fmt: skip
    entry = anna.client.get("/api/me/access-log").json["entries"][0]
    assert entry["attributes"] == ["name"] and entry["legal_basis"] == "consent"
    assert entry["representation"]["agent"] == "Bo Nielsen"
    assert entry["service"]["kind"] == "tillid"

    page = anna.client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert "You gave Bo Nielsen a mandate to act for you." in page
    assert "The mandate for Bo Nielsen to act for you ended." in page
    danish = bo.client.get("/me/access-log", headers={"Accept-Language": "da"}).text
    assert "Du tog imod mandatet til at handle på vegne af Anna Jensen." in danish

    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    for entry in anna.client.get("/api/me/access-log").json["entries"]:
        assert entry["verified"] is True, entry
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0
    # Nothing was released to anyone: the summary counts no service and no release.
    summary = anna.client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert "Tillid itself: your mandates." in summary


def test_the_operator_appoints_and_ends_and_both_logs_say_so(app, runner, anna, bo):
    appointed = runner.invoke(
        args=[
            "mandates",
            "appoint",
            "--principal-cpr",
            ANNA_CPR,
            "--agent-cpr",
            BO_CPR,
            "--attribute",
            "name",
        ]
    )
    assert appointed.exit_code == 0, appointed.output
    mandate_id = json.loads(appointed.stdout)["id"]
    assert runner.invoke(args=["mandates", "end", "--id", mandate_id]).exit_code == 0
    assert runner.invoke(args=["mandates", "end", "--id", mandate_id]).exit_code == 0  # again
    assert _events(anna.client) == [("appointed", "principal", "Tillid"),
                                    ("ended", "principal", "Tillid")]  # fmt: skip
    assert _events(bo.client) == [("appointed", "agent", "Tillid"), ("ended", "agent", "Tillid")]
    basis = sql(app, "SELECT DISTINCT legal_basis FROM ledger_entry WHERE channel = 'mandate'")
    assert basis == [{"legal_basis": "legal_obligation"}]


def test_tillid_itself_is_no_client_anyone_can_register_or_use(app, runner, anna, bo):
    assert give(anna.client, attributes=["name"]).status_code == 303
    listed = json.loads(runner.invoke(args=["clients", "list"]).stdout)
    assert all(client["client_id"] != "tillid" for client in listed)
    refused = runner.invoke(
        args=[
            "clients",
            "create",
            "--name",
            "X",
            "--kind",
            "tillid",
            "--redirect-uri",
            "https://x.example/cb",
            "--scope",
            "openid",
        ]
    )
    assert refused.exit_code != 0
    token = app.test_client().post("/token", data={"grant_type": "client_credentials",
                                                   "client_id": "tillid"})  # fmt: skip
    assert token.status_code == 401


def test_custody_from_the_register_is_in_the_parents_log(app, runner, anna):
    child = "1505154234"  # born 2015
    extract = ("cpr,given_name,family_name,custody\n"
               f"{child},Oskar,Jensen,{ANNA_CPR}\n")  # fmt: skip
    imported = runner.invoke(args=["citizens", "import", "-"], input=extract)
    assert imported.exit_code == 0, imported.output
    assert _events(anna.client) == [("appointed", "agent", "Tillid")]
    again = runner.invoke(args=["citizens", "import", "-"], input=extract)
    assert again.exit_code == 0 and _events(anna.client) == [("appointed", "agent", "Tillid")]


def test_a_mandate_past_its_end_date_is_in_both_logs_once(app, runner, anna, bo):
    """Nobody ends it: its date passes. `flask mandates expire` (what the workers run every
    minute) writes it in both logs, once, provable; a mandate ended by hand is not expired."""
    assert give(anna.client, attributes=["name"]).status_code == 303
    (row,) = mandate_rows(app)
    assert act(bo.client, row["id"], "accept").status_code == 303
    appointed = runner.invoke(args=["mandates", "appoint", "--principal-cpr", BO_CPR,
                                    "--agent-cpr", ANNA_CPR, "--attribute", "name"])  # fmt: skip
    ended_by_hand = json.loads(appointed.stdout)["id"]
    assert runner.invoke(args=["mandates", "end", "--id", ended_by_hand]).exit_code == 0
    assert json.loads(runner.invoke(args=["mandates", "expire"]).stdout) == {"recorded": 0}

    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    sql(app, "UPDATE mandate SET valid_until = :t", t=yesterday)
    assert json.loads(runner.invoke(args=["mandates", "expire"]).stdout) == {"recorded": 1}
    assert json.loads(runner.invoke(args=["mandates", "expire"]).stdout) == {"recorded": 0}
    assert _events(anna.client)[-1] == ("expired", "principal", "Tillid")
    assert [e for e in _events(anna.client) if e[0] == "expired"] == [
        ("expired", "principal", "Tillid")
    ]
    assert _events(bo.client)[-1] == ("expired", "agent", "Tillid")
    latest = anna.client.get("/api/me/access-log").json["entries"][0]["representation"]
    assert latest["mandate_id"] == row["id"]
    assert dt.datetime.fromisoformat(latest["expired_at"]) == yesterday

    page = anna.client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert "The mandate for Bo Nielsen to act for you reached its end date." in page
    danish = bo.client.get("/me/access-log", headers={"Accept-Language": "da"}).text
    assert "Dit mandat til at handle på vegne af Anna Jensen nåede sin slutdato." in danish
    assert runner.invoke(args=["ledger", "integrate"]).exit_code == 0
    for entry in bo.client.get("/api/me/access-log").json["entries"]:
        assert entry["verified"] is True, entry


def test_the_workers_record_a_custody_ending_at_the_18th_birthday(make_app):
    """The integrator thread every worker runs also looks for mandates past their end date."""
    app = make_app(LEDGER_INTEGRATE_SECONDS=1)
    parent = person(app, "anna", ANNA_CPR, "Anna", "Jensen")
    extract = "cpr,given_name,family_name,custody\n1505154234,Oskar,Jensen," + ANNA_CPR + "\n"
    assert app.test_cli_runner().invoke(args=["citizens", "import", "-"],
                                        input=extract).exit_code == 0  # fmt: skip
    birthday = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    sql(app, "UPDATE mandate SET valid_until = :t", t=birthday)
    stop = sequencer.start_integrator(app)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and ("expired", "agent", "Tillid") not in _events(
            parent.client
        ):
            time.sleep(0.2)
    finally:
        stop.set()
    assert _events(parent.client) == [("appointed", "agent", "Tillid"),
                                      ("expired", "agent", "Tillid")]  # fmt: skip
