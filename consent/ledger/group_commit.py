"""Group commit: the entries of concurrent releases written in one INSERT and one commit, each
release answered only once its own entry is durable.

What "in the same transaction as the release" becomes. A release used to add its entry to
the request's session and commit both at once. Now a release's entries wait beside the
request's session (``appending.append``) and ``commit()`` makes them durable in two steps,
in this order:

1. the request's own transaction commits (whatever the release wrote besides its entries:
   the `sub` handed out, say). If that fails, its entries are dropped: no entry for a
   release whose own writes failed, and no answer either (the caller's error answers);
2. its entries are handed to this process's committer and the caller waits. The committer
   writes every entry waiting at that moment, from every thread of the process, in one
   INSERT that is its own transaction (synchronous_commit as the server has it: it
   returns once the WAL is flushed). It wakes each waiting request only then; if that
   commit fails, every request in the batch gets ``LedgerNotRecorded`` (a 503 with
   Retry-After, the answer with the released data never sent).

So the release's answer and its entry stay atomic where it matters: no answer without a
durable entry, no entry for a release whose writes failed. What a crash between the two
commits can leave is a release's own writes without an entry and without an answer (the
service got nothing; it asks again), and a request that gave up waiting (the database hung
past its own timeouts, see Committer.write) may have its entry written after all: an entry
without an answer, never an answer without an entry. A batch whose INSERT a row of it
breaks (its citizen deleted meanwhile, say) is written again one request at a time, so only
that request fails.

Where it runs:
- PostgreSQL: one committer thread per process and engine, started on first use (again in
  a forked child), with a connection of its own in autocommit, so a batch is one statement,
  one round trip and one transaction; a batch is whatever queued while the previous commit
  was in flight, at most MAX_BATCH entries. Under several server workers each has its own
  committer, and PostgreSQL flushes the WAL of their concurrent commits together.
- SQLite (development, tests): the caller writes its own entries under a per-process lock;
  SQLite has one writer at a time anyway, and an in-memory database's single connection
  must not be shared with a thread.

An authority's report of its own lookup (``consent.authority``) is no release by Tillid: its
entry commits in the report's own transaction, as before (its reference must be unique, and
the answer gives the entry's id).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

import psycopg
import sqlalchemy.exc
from flask import current_app, g
from psycopg import sql
from psycopg.adapt import PyFormat
from sqlalchemy import Engine, insert

from consent.ledger.models import LedgerEntry
from idp.core import metrics
from idp.core.extensions import db
from idp.core.problems import TemporarilyUnavailable

log = logging.getLogger(__name__)

# Entries in one INSERT and commit (64 concurrent releases make batches of up to ~64).
MAX_BATCH = 1_000
# A committer thread with nothing to do for this long ends; the next release starts another.
IDLE_SECONDS = 5.0
_PENDING = "tillid_ledger_pending"
_EXTENSION = "tillid_ledger_committer"
_TABLE = LedgerEntry.__table__
_COLUMNS = [column for column in _TABLE.columns if not column.primary_key]
# The INSERT failed for its rows, not for the database (PostgreSQL's class 22 and 23).
_ROW_ERRORS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlalchemy.exc.DataError,
    sqlalchemy.exc.IntegrityError,
)
_sqlite_lock = threading.Lock()
_committers_lock = threading.Lock()


class LedgerNotRecorded(TemporarilyUnavailable):
    """The release's entries could not be made durable: the release must not be answered."""

    backend = "ledger"


def add(row: dict) -> bool:
    """Queue ``row`` (an entry as the table's columns: ``appending.append``) for this
    request's ``commit()``; whether it is the request's first."""
    request_globals = g._get_current_object()  # one context lookup, not one per use
    rows = request_globals.get(_PENDING)
    if rows is None:
        setattr(request_globals, _PENDING, [row])
        return True
    rows.append(row)
    return False


def has_pending() -> bool:
    return bool(g.get(_PENDING))


def commit() -> None:
    """Commit the caller's transaction, then its entries with those of concurrent releases;
    return once they are durable. Call it where the answer is built, before it is sent.
    Raises what the caller's commit raised (entries dropped), or LedgerNotRecorded."""
    rows = g.pop(_PENDING, [])
    session = db.session()
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        session.commit()  # (a commit with nothing begun would begin and end one, for nothing)
    if not rows:
        return
    engine = db.engine
    if engine.dialect.name == "sqlite":
        with _sqlite_lock:
            _write(engine, rows)
    else:
        _committer(engine).write(rows)
    metrics.count_ledger_appends(row["channel"] for row in rows)  # durable now


def _write(engine: Engine, rows: Sequence[dict]) -> None:
    """One INSERT and one COMMIT, through SQLAlchemy (SQLite)."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(_TABLE), list(rows))
    except Exception as exc:
        raise LedgerNotRecorded(f"ledger entries not recorded: {type(exc).__name__}") from exc


class _PostgresWriter:
    """The committer's own connection, in autocommit: one INSERT is a transaction of its own,
    so when it returns the batch is committed and (synchronous_commit being as the server
    has it) durable: one round trip. The rows go as one array per column (``unnest``): one
    short statement whatever the batch, which psycopg parses once and prepares. Values are
    converted by the columns' own SQLAlchemy types: what the ORM would store is stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection = None  # the pool's, held while the committer runs
        self._cursor = None  # on that connection
        dialect = engine.dialect
        self._convert = [
            (column.key, column.type.dialect_impl(dialect).bind_processor(dialect))
            for column in _COLUMNS
        ]
        quote = dialect.identifier_preparer.quote  # only where needed, as SQLAlchemy writes
        self._statement = sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
            sql.SQL(quote(_TABLE.name)),
            sql.SQL(", ").join(sql.SQL(quote(column.name)) for column in _COLUMNS),
            sql.SQL(", ").join(
                sql.SQL("{}::" + column.type.compile(dialect=dialect) + "[]").format(
                    sql.Placeholder(format=PyFormat.BINARY)
                )
                for column in _COLUMNS
            ),
        )
        self._text: str | None = None  # composed once, with the first connection

    def write(self, rows: Sequence[dict]) -> None:
        columns = [
            [row[key] for row in rows]
            if convert is None
            else [None if row[key] is None else convert(row[key]) for row in rows]
            for key, convert in self._convert
        ]
        try:
            if self._cursor is None:
                self._connection = self._engine.raw_connection()
                connection = self._connection.driver_connection
                connection.autocommit = True
                if self._text is None:
                    self._text = self._statement.as_string(connection)
                # One cursor for as long as the connection is held: not one made per batch.
                self._cursor = connection.cursor()
            self._cursor.execute(self._text, columns)
        except Exception as exc:
            self.close(broken=True)
            raise LedgerNotRecorded(f"ledger entries not recorded: {type(exc).__name__}") from exc

    def close(self, *, broken: bool = False) -> None:
        """Give the connection back to the pool as the pool lent it (or drop a broken one)."""
        connection, self._connection = self._connection, None
        cursor, self._cursor = self._cursor, None
        if connection is None:
            return
        try:
            if cursor is not None:
                cursor.close()
            if broken:
                connection.invalidate()
            else:
                connection.driver_connection.autocommit = False
            connection.close()
        except Exception:  # noqa: S110 (a connection that will not close is dropped anyway)
            pass


class _Waiting:
    """A request's rows and the request waiting for them: it blocks on a bare lock that the
    committer releases once, when the rows are durable or have failed. (A threading.Event
    woke each request of a batch and then queued it again, for the Event's own lock, behind
    the committer waking the rest: two hand-overs of the GIL per request instead of one.)"""

    __slots__ = ("_unanswered", "answered", "error", "rows")

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.error: BaseException | None = None
        self.answered = False  # read and written by the committer's thread only
        self._unanswered = threading.Lock()
        self._unanswered.acquire()

    def answer(self, error: BaseException | None = None) -> None:
        self.error, self.answered = error, True
        self._unanswered.release()

    def wait(self, seconds: float) -> bool:
        """Whether the committer answered within ``seconds``."""
        return self._unanswered.acquire(timeout=seconds)


class Committer:
    """One process's writer of ledger entries to one database (see the module's docstring)."""

    def __init__(self, engine: Engine, wait_seconds: float) -> None:
        self._writer = _PostgresWriter(engine)
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queue: list[_Waiting] = []
        self._running = False
        self._stopping = False  # stop(): let go of the connection as soon as the queue is empty
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.commits = self.entries = 0  # batches committed, and their entries

    def write(self, rows: list[dict]) -> None:
        waiting = _Waiting(rows)
        with self._queued:
            if self._pid != os.getpid():  # forked: the parent's thread is not ours
                self._pid, self._running, self._queue = os.getpid(), False, []
            self._queue.append(waiting)
            if not self._running:
                self._running = True
                self._thread = threading.Thread(
                    target=self._run, name="ledger-committer", daemon=True
                )
                self._thread.start()
            else:
                self._queued.notify()
        # The database's own timeouts end a hung commit well before this (idp/core/database.py).
        if not waiting.wait(self._wait_seconds):
            raise LedgerNotRecorded("the ledger's committer did not answer in time")
        if waiting.error is not None:
            raise waiting.error

    def _take(self) -> list[_Waiting] | None:
        """The next batch: every request queued, up to MAX_BATCH entries; None when idle."""
        with self._queued:
            self._queued.wait_for(lambda: self._queue or self._stopping, IDLE_SECONDS)
            if not self._queue:
                self._running = False
                self._writer.close()
                return None
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0].rows) <= MAX_BATCH):
                waiting = self._queue.pop(0)
                batch.append(waiting)
                size += len(waiting.rows)
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._commit(batch)
            except BaseException as exc:  # never leave a request waiting
                for waiting in batch:
                    if not waiting.answered:
                        waiting.answer(LedgerNotRecorded(f"ledger committer failed: {exc!r}"))
                if not isinstance(exc, Exception):
                    raise

    def _commit(self, batch: list[_Waiting]) -> None:
        try:
            self._writer.write([row for waiting in batch for row in waiting.rows])
        except LedgerNotRecorded as exc:
            if len(batch) == 1 or not _row_error(exc.__cause__):
                log.error("ledger batch not recorded", extra={"entries": len(batch)})
                for waiting in batch:
                    waiting.answer(exc)
                return
            # A row broke the INSERT: each request on its own, so only that one fails.
            for waiting in batch:
                try:
                    self._writer.write(waiting.rows)
                except LedgerNotRecorded as alone:
                    waiting.answer(alone)
                else:
                    waiting.answer()
            return
        self.commits += 1
        self.entries += sum(len(waiting.rows) for waiting in batch)
        for waiting in batch:
            waiting.answer()

    def stop(self, seconds: float = 10.0) -> None:
        """Answer what is queued, then end the thread and give its connection back to the
        pool now instead of after IDLE_SECONDS idle (before the app's engine is disposed: a
        connection held past that would stay open for nothing). A release after this still
        works, each batch then letting go of the connection at once."""
        with self._queued:
            self._stopping = True
            self._queued.notify()
            thread = self._thread if self._running else None
            if thread is None:
                self._writer.close()
        if thread is not None:
            thread.join(seconds)


def stop(app) -> None:
    """Stop ``app``'s committer in this process, if it has one (Committer.stop)."""
    committer = app.extensions.get(_EXTENSION)
    if committer is not None and committer._pid == os.getpid():
        committer.stop()


def statistics() -> dict:
    """This process's committer so far: batches committed and their entries (none on SQLite,
    where each release commits its own)."""
    committer = current_app.extensions.get(_EXTENSION)
    return {
        "commits": committer.commits if committer else 0,
        "entries": committer.entries if committer else 0,
    }


def _row_error(exc: BaseException | None) -> bool:
    """An error of the rows themselves (a constraint, bad data), not of the database: as
    psycopg raises it on the committer's own connection, or as SQLAlchemy wraps it."""
    return isinstance(exc, _ROW_ERRORS)


def _committer(engine: Engine) -> Committer:
    app = current_app._get_current_object()
    committer = app.extensions.get(_EXTENSION)
    if committer is None:
        with _committers_lock:
            committer = app.extensions.get(_EXTENSION)
            if committer is None:
                config = app.config
                wait = (
                    2 * (config["DATABASE_STATEMENT_TIMEOUT"] or 30)
                    + 2 * config["DATABASE_CONNECT_TIMEOUT"]
                    + 5
                )
                committer = app.extensions[_EXTENSION] = Committer(engine, wait)
    return committer
