"""Bounded waits on PostgreSQL: how long a request may wait to connect, for a statement, for a
lock, and how long a transaction may sit idle; and the operator's work that may take longer.

PostgreSQL enforces the statement, lock and idle-in-transaction timeouts itself (connection
options), and answers a statement it cancelled with an error, which errors.py turns into a
503. A server that does not answer at all (stopped, its disk hung, the network dropping
packets) cancels nothing: for that a connection stops waiting one second after the statement
timeout (the pool's check of an idle one, after the connect timeout), closes, and the pool
makes a new one for the next request. So a request waits at most the longer of the statement
timeout + 1 s and twice the connect timeout (a failed check, then a failed new connection).
"""

from __future__ import annotations

import contextlib
import contextvars
import time

import psycopg
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

from idp.core.extensions import db

# The server's own cancellation comes first, with its clear error; this is for one that is
# not there to cancel.
_CLIENT_GRACE_SECONDS = 1

_unbounded = contextvars.ContextVar("tillid_unbounded_statements", default=False)


@contextlib.contextmanager
def unbounded_statements():
    """Within it (this thread only) statements may run as long as they need, and a transaction
    may pause between them: for migrations, the ledger's commands and its integrator, whose
    work grows with the data. The lock timeout stays: DDL waiting for a lock makes every
    request that needs the table queue behind it."""
    token = _unbounded.set(True)
    try:
        yield
    finally:
        _unbounded.reset(token)


class _NoAnswer(Exception):
    pass


def _until(deadline: float, gen):
    """``gen`` (a psycopg protocol exchange), given up when nothing came by ``deadline``:
    psycopg resumes it at least every 0.1 s while it waits (to notice Ctrl-C), answer or not."""
    try:
        wait_for = next(gen)
        while True:
            ready = yield wait_for
            if not ready and time.monotonic() >= deadline:
                raise _NoAnswer
            wait_for = gen.send(ready)
    except StopIteration as done:
        return done.value


class BoundedConnection(psycopg.Connection):
    """A psycopg connection that gives up on a server that does not answer within
    ``wait_limit`` seconds (None: waits as long as it takes), and closes."""

    wait_limit: float | None = None
    unbounded = False  # whether the session's timeouts are off (see ``_switch``)

    def wait(self, gen, *args, **kwargs):
        if self.wait_limit is None:
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(_until(time.monotonic() + self.wait_limit, gen), *args, **kwargs)
        except _NoAnswer:
            # Half an exchange is left on the wire: the connection is unusable.
            self.close()
            raise psycopg.OperationalError(
                f"PostgreSQL did not answer within {self.wait_limit:g} s; connection closed"
            ) from None


def _milliseconds(seconds: int) -> int:
    return seconds * 1000


def engine_options(config: dict) -> dict:
    """The engine options for ``config``'s database: on PostgreSQL the timeouts as connection
    options, and a pool that makes a request wait no longer for a connection than it would
    wait for a new one."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        return options
    settings = {
        "statement_timeout": config["DATABASE_STATEMENT_TIMEOUT"],
        "lock_timeout": config["DATABASE_LOCK_TIMEOUT"],
        "idle_in_transaction_session_timeout": config["DATABASE_IDLE_IN_TRANSACTION_TIMEOUT"],
    }
    ours = [f"-c {name}={_milliseconds(seconds)}" for name, seconds in settings.items()]
    # Options in the URL's query come after ours: what an operator wrote there wins.
    theirs = url.query.get("options", ())
    options["connect_args"] = {
        **options.get("connect_args", {}),
        "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"],
        "options": " ".join([*ours, *([theirs] if isinstance(theirs, str) else theirs)]),
    }
    options["pool_timeout"] = config["DATABASE_CONNECT_TIMEOUT"]
    return options


def init_app(app: Flask) -> None:
    """Make the app's PostgreSQL connections BoundedConnections (after ``db.init_app``)."""
    with app.app_context():
        engine = db.engine
    if (engine.dialect.name, engine.dialect.driver) != ("postgresql", "psycopg"):
        return  # SQLite waits for its file lock by itself (5 s)
    statement_timeout = app.config["DATABASE_STATEMENT_TIMEOUT"]
    wait_limit = statement_timeout + _CLIENT_GRACE_SECONDS if statement_timeout else None

    @event.listens_for(engine, "do_connect")
    def connect(_dialect, _record, cargs, cparams):
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.wait_limit = wait_limit
        return connection

    @event.listens_for(engine, "checkout")
    def checkout(connection, _record, _proxy):
        unbounded = _unbounded.get()
        connection.wait_limit = None if unbounded else wait_limit
        if connection.unbounded != unbounded:
            _switch(connection, unbounded, app.config)

    @event.listens_for(engine, "checkin")
    def checkin(connection, _record):
        # The pool pings a connection before "checkout" (pool_pre_ping): a ping waits no
        # longer than a new connection would, whoever had this one last.
        if connection is not None:
            connection.wait_limit = app.config["DATABASE_CONNECT_TIMEOUT"]


def _switch(connection: BoundedConnection, unbounded: bool, config: dict) -> None:
    """Turn a pooled connection's statement and idle-in-transaction timeouts off, or back to
    the configured ones: a round trip only when a connection passes between the two kinds
    of work (a worker's integrator, then a request)."""
    names = ("DATABASE_STATEMENT_TIMEOUT", "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT")
    statement, idle = (0, 0) if unbounded else (config[name] for name in names)
    connection.execute(
        "SELECT set_config('statement_timeout', %s, false),"
        " set_config('idle_in_transaction_session_timeout', %s, false)",
        (str(_milliseconds(statement)), str(_milliseconds(idle))),
    )
    connection.commit()
    connection.unbounded = unbounded
