"""Bounded waits on PostgreSQL: how long a request may wait to connect, for a statement, for a
lock, and how long a transaction may sit idle; and the operator's work that may take longer.

PostgreSQL enforces the statement, lock and idle-in-transaction timeouts itself (connection
options), and answers a statement it cancelled with an error, which errors.py turns into a
503. A server that does not answer at all (stopped, its disk hung, the network dropping
packets) cancels nothing: for that a connection stops waiting one second after the statement
timeout (the pool's check of an idle one, after the connect timeout), closes, and the pool
makes a new one for the next request. So a request waits at most the longer of the statement
timeout + 1 s and twice the connect timeout (a failed check, then a failed new connection).

The pool's check of a connection before a request takes it (`_checked`): a look at its socket
every time (free: a server that ended the session, stopped or restarted has closed it), and a
round trip (`SELECT 1`) only after it sat idle for `PING_AFTER_IDLE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import contextvars
import select
import time

import psycopg
from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url

from idp.core.extensions import db

# The server's own cancellation comes first, with its clear error; this is for one that is
# not there to cancel.
_CLIENT_GRACE_SECONDS = 1

# A pooled connection idle at least this long is pinged before use. One used less than this
# ago was answering then; had its server gone since (stopped, restarted, the session ended),
# the socket says so without a round trip. What neither shows (a host or network gone silent
# within the last second) the statement's own wait limit ends with a 503.
PING_AFTER_IDLE_SECONDS = 1.0

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


class ServerSilent(psycopg.OperationalError):
    """PostgreSQL did not answer within the connection's wait limit (it is closed)."""


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
    idle_since = 0.0  # time.monotonic() when the pool last took it back (0: never)

    def wait(self, gen, *args, **kwargs):
        if self.wait_limit is None:
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(_until(time.monotonic() + self.wait_limit, gen), *args, **kwargs)
        except _NoAnswer:
            # Half an exchange is left on the wire: the connection is unusable.
            self.close()
            raise ServerSilent(
                f"PostgreSQL did not answer within {self.wait_limit:g} s; connection closed"
            ) from None


def first_row(statement, parameters: dict):
    """The first row of one read-only ``statement`` (or None), on a pooled connection of its
    own, with no ORM session: for a request's hot reads.

    On PostgreSQL it runs outside a transaction block (autocommit: the statement is its own
    transaction, with its own snapshot, as inside one), so the read costs one round trip,
    not three (BEGIN, the statement, the ROLLBACK when the pool takes the connection back).
    A connection found dead by its first statement (its server went away after the pool's
    check) is discarded with every connection made before it, and the read runs once more on
    a new one: nothing was done on the dead one. Not after a server that stopped answering:
    that waited the whole limit already."""
    try:
        return _first_row(statement, parameters)
    except exc.DBAPIError as error:
        if not error.connection_invalidated or isinstance(error.orig, ServerSilent):
            raise
    return _first_row(statement, parameters)


def _first_row(statement, parameters: dict):
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        if not isinstance(raw, psycopg.Connection):
            return connection.execute(statement, parameters).first()
        raw.autocommit = True
        try:
            return connection.execute(statement, parameters).first()
        finally:
            if not raw.closed:
                raw.autocommit = False


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
    # init_app's checkout pings when it must; SQLAlchemy's pre-ping pings on every checkout.
    options["pool_pre_ping"] = False
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
        connection.idle_since = time.monotonic()  # it has just answered
        return connection

    @event.listens_for(engine, "checkout")
    def checkout(connection, _record, _proxy):
        # A ping waits no longer than a new connection would, whoever had this one last.
        connection.wait_limit = app.config["DATABASE_CONNECT_TIMEOUT"]
        _checked(connection, engine.dialect)
        unbounded = _unbounded.get()
        connection.wait_limit = None if unbounded else wait_limit
        if connection.unbounded != unbounded:
            _switch(connection, unbounded, app.config)

    @event.listens_for(engine, "checkin")
    def checkin(connection, _record):
        if connection is not None:
            connection.idle_since = time.monotonic()


def _checked(connection: BoundedConnection, dialect) -> None:
    """What SQLAlchemy's pre-ping does, only where it can find something: raises
    DisconnectionError (the pool then discards the connection and takes or makes another)
    for a connection that is closed, or that fails a ping, made only when its socket shows
    something arrived while it was idle (a server that ends a session says why, then
    closes it) or it sat idle longer than PING_AFTER_IDLE_SECONDS."""
    if connection.closed or connection.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise exc.DisconnectionError("connection closed")
    # poll, not select: a worker may hold more than 1024 sockets (select's limit).
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    said_something = poller.poll(0)
    if not said_something and time.monotonic() - connection.idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dialect.do_ping(connection)
    except Exception as error:  # whatever the ping met, the connection is no use
        raise exc.DisconnectionError(f"ping failed: {error}") from error


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
