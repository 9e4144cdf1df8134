"""Pooled PostgreSQL connections that die (idp/core/database.py): the pool looks at each one's
socket before a request takes it and pings only one idle longer than
PING_AFTER_IDLE_SECONDS; a userinfo read that finds its connection dead all the same reads
again on a new one. Either way the service gets its answer, not a 503. On PostgreSQL only
(SQLite has no sessions to end)."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from idp.core import database
from idp.core.extensions import db
from tests.consent.test_userinfo_repeats import call
from tests.faults.processes import wait_until
from tests.oidc.conftest import register


@pytest.fixture
def postgresql(app, monkeypatch):
    """A connection of the test's own to the app's database; no pings (a pooled connection
    is never idle long enough here), so only the socket's look and the read's retry count."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no sessions to end")
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600)
    url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def _end(postgresql, pids) -> None:
    """End these sessions, as an administrator or a restart does, and wait until they are."""
    pids = list(pids)
    postgresql.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
    wait_until(lambda: postgresql.execute(gone, (pids,)).fetchone()[0] == 0, 10,
               "the sessions ended")  # fmt: skip


def test_pooled_connections_ended_while_idle_are_replaced_before_use(app, client, oidc,
                                                                    postgresql):  # fmt: skip
    bank = oidc(register(app))
    tokens = bank.tokens()
    first = call(bank, tokens)  # ledgered: the calls below are repeats, one read each
    pooled = set()
    with app.app_context():
        engine = db.engine

    def returned(connection, _record):
        pooled.add(connection.info.backend_pid)

    event.listen(engine, "checkin", returned)
    try:
        call(bank, tokens)
        assert pooled
        _end(postgresql, pooled)
        # The citizen's own log: the ORM session's reads, which nothing reads again.
        listing = client.get("/api/me/access-log")
        assert listing.status_code == 200, listing.json
        assert {e["channel"] for e in listing.json["entries"]} == {"login", "userinfo"}
        _end(postgresql, pooled)
        assert call(bank, tokens) == first
    finally:
        event.remove(engine, "checkin", returned)


def test_a_connection_that_dies_after_the_pools_check_is_read_again(app, oidc, postgresql):
    bank = oidc(register(app))
    tokens = bank.tokens()
    first = call(bank, tokens)
    ended = []
    with app.app_context():
        engine = db.engine

    def end_once(connection, _record, _proxy):
        # After the pool's own check: the request gets a connection that looked alive.
        if not ended:
            ended.append(connection.info.backend_pid)
            _end(postgresql, ended)
            time.sleep(0.05)  # the server's goodbye and the socket's close have arrived

    event.listen(engine, "checkout", end_once)
    try:
        assert call(bank, tokens) == first
    finally:
        event.remove(engine, "checkout", end_once)
    assert ended
