"""The fixtures' promise that every test starts from an empty database and store: on
PostgreSQL the session's one database is emptied for each app (by DELETE of the tables
written, see tests/conftest.py), so here an app writes to it, and the next app built on it
must find every table empty and every sequence at its start."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from idp.core.extensions import db
from tests.conftest import BACKENDS, CitizenActions, sql


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        tables = [table.name for table in db.metadata.sorted_tables]
    return {name: sql(app, f"SELECT COUNT(*) AS n FROM {name}")[0]["n"] for name in tables}  # noqa: S608


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_next_app_finds_what_the_last_one_wrote_gone(make_app, backend):
    first = make_app(backend)
    runner = first.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(first, first.test_client()).create()
    created = runner.invoke(args=[
        "clients", "create", "--name", "Written", "--kind", "private_service",
        "--redirect-uri", "https://written.example/cb", "--scope", "openid",
        "--legal-basis", "consent", "--purpose", "Testing",
    ])  # fmt: skip
    assert created.exit_code == 0, created.output
    with pytest.raises(IntegrityError):  # a refused insert still takes a sequence's number
        sql(first, "INSERT INTO consent_grant (citizen_id) VALUES (NULL)")
    written = {name for name, count in row_counts(first).items() if count}
    assert {"signing_key", "citizen", "authenticator", "client", "audit_entry"} <= written
    store, prefix = first.extensions["tillid_store"], first.config["STORE_KEY_PREFIX"]
    store.set(f"{prefix}written", "1")
    assert store.get(f"{prefix}written") is not None

    second = make_app(backend)
    assert {name: count for name, count in row_counts(second).items() if count} == {}
    # The store is shared (Redis, or per app in memory): each app has keys of its own.
    store, prefix = second.extensions["tillid_store"], second.config["STORE_KEY_PREFIX"]
    assert not first.config["STORE_KEY_PREFIX"].startswith(prefix)
    assert list(store.scan_iter(match=f"{prefix}*")) == []
    if backend == "postgres":
        used = sql(second, "SELECT sequencename FROM pg_sequences "
                           "WHERE schemaname = 'public' AND last_value IS NOT NULL")  # fmt: skip
        assert used == []
    second.test_cli_runner().invoke(args=["keys", "list"])  # one audit entry, the first again
    assert [row["id"] for row in sql(second, "SELECT id FROM audit_entry")] == [1]
