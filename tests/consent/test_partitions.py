"""The ledger partitioned by month on PostgreSQL: months made ahead, stray rows moved into
their month, old months archived by detaching them, and the log still verifying after."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import sql
from tests.consent.test_authority_api import _authority, _service_token

RETENTION_DAYS = 400


@pytest.fixture
def app(make_app):
    return make_app("postgres", LEDGER_RETENTION_DAYS=RETENTION_DAYS, LEDGER_INTEGRATE_SECONDS=0)


def ledger(app, *args):
    result = app.test_cli_runner().invoke(args=["ledger", *args])
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:  # a refusal: its message
        return result.exit_code, result.output


def month_name(moment: dt.datetime) -> str:
    return f"ledger_entry_y{moment.year:04d}m{moment.month:02d}"


def partition_of(app, entry_id: int) -> str:
    (row,) = sql(app, "SELECT tableoid::regclass::text AS part FROM ledger_entry WHERE id = :i",
                 i=entry_id)  # fmt: skip
    return row["part"]


@pytest.fixture
def reports(app, client, oidc):
    """Report a lookup of Anna by the tax authority at a given time; returns the entry id."""
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]  # also one login entry, now
    headers = _service_token(app, authority, "ledger:report")

    def report(looked_up_at: dt.datetime) -> int:
        response = app.test_client().post("/api/ledger/reports", headers=headers, json={
            "sub": sub, "attributes": ["address"], "purpose": "Tax assessment",
            "legal_basis": "public_task", "looked_up_at": looked_up_at.isoformat(),
        })  # fmt: skip
        assert response.status_code == 201, response.json
        return response.json["entry_id"]

    return report


@pytest.fixture
def drop_detached(app):
    """Archived months stay as tables for the operator to dump and drop: drop them after."""
    made = []
    yield made.append
    for name in made:
        sql(app, f"DROP TABLE IF EXISTS {name}")


def test_this_month_and_the_next_three_are_partitions(app):
    code, listed = ledger(app, "partitions")
    assert code == 0
    names = [p["partition"] for p in listed["partitions"]]
    now = dt.datetime.now(dt.UTC)
    assert month_name(now) in names
    code, result = ledger(app, "partitions", "ensure", "--months-ahead", "5")
    assert code == 0
    later = [p["partition"] for p in result["partitions"]]
    in_five = (now.replace(day=1) + dt.timedelta(days=5 * 31)).replace(day=1)
    assert month_name(in_five) in later and len(later) >= len(names)


def test_a_release_lands_in_its_month(app, reports):
    now = dt.datetime.now(dt.UTC)
    entry = reports(now - dt.timedelta(minutes=5))
    assert partition_of(app, entry) in (month_name(now), month_name(now - dt.timedelta(minutes=5)))


def test_a_stray_release_waits_in_the_default_and_moves_into_its_month(app, reports):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS - 10)
    sql(app, f"DROP TABLE IF EXISTS {month_name(long_ago)}")  # no such month yet
    entry = reports(long_ago)
    assert partition_of(app, entry) == "ledger_entry_default"
    code, result = ledger(app, "partitions", "ensure", "--from", long_ago.strftime("%Y-%m"))
    assert code == 0 and month_name(long_ago) in result["made"]
    assert partition_of(app, entry) == month_name(long_ago)
    assert sql(app, "SELECT count(*) AS n FROM ledger_entry_default")[0]["n"] == 0
    assert ledger(app, "verify")[1]["ok"]


def test_an_archived_month_leaves_the_log_but_every_proof_still_holds(
    app, client, reports, drop_detached
):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS - 10)
    old_month = month_name(long_ago)
    drop_detached(old_month)
    ledger(app, "partitions", "ensure", "--from", long_ago.strftime("%Y-%m"))
    old = [reports(long_ago + dt.timedelta(minutes=i)) for i in range(3)]
    recent = reports(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    month_after = (long_ago.replace(day=1) + dt.timedelta(days=32)).strftime("%Y-%m")

    code, refused = ledger(app, "archive", "--before", month_after)
    assert code != 0 and f"kept {RETENTION_DAYS} days" in refused  # still within retention
    app.config["LEDGER_RETENTION_DAYS"] = 30  # the operator shortens retention
    code, refused = ledger(app, "archive", "--before", month_after)
    assert code != 0 and "not in the tree" in refused  # nothing integrated yet
    assert partition_of(app, old[0]) == old_month
    assert ledger(app, "integrate")[1]["tree_size"] == 5  # 4 reports and the login

    code, result = ledger(app, "archive", "--before", month_after)
    assert code == 0 and result["archived"] == [{"partition": old_month, "entries": 3}]
    # The month is out of the ledger but still in the database, for the operator to dump.
    assert (
        sql(app, "SELECT count(*) AS n FROM ledger_entry WHERE id = ANY(:ids)", ids=old)[0]["n"]
        == 0
    )
    assert sql(app, f"SELECT count(*) AS n FROM {old_month}")[0]["n"] == 3  # noqa: S608
    code, report = ledger(app, "verify")
    assert code == 0 and report["ok"] and report["archived"] == 3 and report["tree_size"] == 5

    log = client.get("/api/me/access-log").json
    assert [entry["id"] for entry in log["entries"]].count(recent) == 1
    assert not set(old) & {entry["id"] for entry in log["entries"]}
    proof = client.get(f"/api/me/access-log/{recent}/proof")
    assert proof.status_code == 200 and proof.json["tree_size"] == 5


def test_an_entry_deleted_outside_an_archived_month_is_still_caught(app, reports, drop_detached):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS - 10)
    drop_detached(month_name(long_ago))
    ledger(app, "partitions", "ensure", "--from", long_ago.strftime("%Y-%m"))
    reports(long_ago)
    recent = reports(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    ledger(app, "integrate")
    app.config["LEDGER_RETENTION_DAYS"] = 30
    month_after = (long_ago.replace(day=1) + dt.timedelta(days=32)).strftime("%Y-%m")
    assert ledger(app, "archive", "--before", month_after)[0] == 0

    sql(app, "DELETE FROM ledger_entry WHERE id = :i", i=recent)  # covering up a lookup
    code, report = ledger(app, "verify")
    assert code == 1 and not report["ok"] and report["archived"] == 1
    assert [p["problem"] for p in report["problems"]] == ["the entry at this leaf is missing"]


def test_partitions_are_a_postgres_feature_and_sqlite_says_so(make_app):
    app = make_app("sqlite")
    for args in (["partitions"], ["archive", "--before", "2020-01"]):
        result = app.test_cli_runner().invoke(args=["ledger", *args])
        assert result.exit_code == 1
        assert "partitioned on PostgreSQL only" in result.output
