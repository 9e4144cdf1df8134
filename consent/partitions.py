"""Monthly partitions of the access ledger on PostgreSQL (native RANGE partitioning on
``released_at``; migration 0013 made the table).

New months are made ahead of time (`flask ledger partitions ensure`, and hourly by the
integrator), so a release always lands in its month; a default partition catches anything
else and its rows move into their month when that month is made. Months past the retention
period are archived by detaching them (`flask ledger archive`): the detached table stays in
the database, outside the ledger, for the operator to dump and drop. Their leaves stay in
the tree (the Merkle nodes are kept), so every checkpoint and every other proof still holds,
and `ledger verify` counts them as archived.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import BigInteger, String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db, store

MONTHS_AHEAD = 3
DEFAULT = "ledger_entry_default"
_MONTH_NAME = re.compile(r"ledger_entry_y(\d{4})m(\d{2})")
_ENSURE_EVERY_SECONDS = 3600


class NotPartitioned(RuntimeError):
    """The database has no partitions (SQLite): the ledger is one table there."""


class Refused(RuntimeError):
    pass


class LedgerArchive(db.Model):
    """A month detached from the ledger: which, how many entries, when."""

    __tablename__ = "ledger_archive"

    partition: Mapped[str] = mapped_column(String(63), primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(BigInteger)
    # The leaves its entries had: `ledger verify` accepts a missing entry only in such a range.
    first_leaf: Mapped[int | None] = mapped_column(BigInteger)
    last_leaf: Mapped[int | None] = mapped_column(BigInteger)
    detached_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def is_partition(table_name: str) -> bool:
    """Partitions and detached months are the ledger's, not tables of the models."""
    return table_name == DEFAULT or _MONTH_NAME.fullmatch(table_name) is not None


@dataclass(frozen=True)
class Month:
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime

    @classmethod
    def of(cls, moment: dt.datetime | dt.date) -> Month:
        start = dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        return cls(f"ledger_entry_y{start.year:04d}m{start.month:02d}", start, end)

    def next(self) -> Month:
        return Month.of(self.ends_at)


def _require_postgres() -> None:
    if db.engine.dialect.name != "postgresql":
        raise NotPartitioned("the ledger is partitioned on PostgreSQL only")


def attached() -> list[Month]:
    """The monthly partitions now in the ledger, oldest first."""
    _require_postgres()
    names = db.session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ledger_entry'::regclass"
        )
    ).all()
    months = []
    for name in names:
        match = _MONTH_NAME.fullmatch(name)
        if match:
            months.append(Month.of(dt.date(int(match[1]), int(match[2]), 1)))
    return sorted(months, key=lambda month: month.starts_at)


def ensure(months_ahead: int = MONTHS_AHEAD, since: dt.date | None = None) -> list[str]:
    """Make the partitions from ``since``'s month (default this month) to ``months_ahead``
    months after this one; returns the names made. Rows the default partition caught for a
    month being made move into it."""
    _require_postgres()
    have = {month.name for month in attached()}
    this_month = Month.of(utcnow())
    month = Month.of(since) if since else this_month
    last = this_month
    for _ in range(months_ahead):
        last = last.next()
    made = []
    while month.starts_at <= last.starts_at:
        if month.name not in have:
            _make(month)
            made.append(month.name)
        month = month.next()
    db.session.commit()
    return made


def _make(month: Month) -> None:
    bounds = {"start": month.starts_at, "end": month.ends_at}
    caught = db.session.scalar(
        text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} "  # noqa: S608 (a fixed name)
             "WHERE released_at >= :start AND released_at < :end)"),
        bounds,
    )  # fmt: skip
    create = (
        f"CREATE TABLE {month.name} PARTITION OF ledger_entry "
        f"FOR VALUES FROM ('{month.starts_at.isoformat()}') TO ('{month.ends_at.isoformat()}')"
    )
    if not caught:
        db.session.execute(text(create))
        return
    # PostgreSQL refuses a new month while the default holds its rows: take the default out,
    # make the month, move the rows, put the default back; all in this one transaction.
    db.session.execute(text(f"ALTER TABLE ledger_entry DETACH PARTITION {DEFAULT}"))
    db.session.execute(text(create))
    db.session.execute(
        text(f"INSERT INTO ledger_entry SELECT * FROM {DEFAULT} "  # noqa: S608
             "WHERE released_at >= :start AND released_at < :end"),
        bounds,
    )  # fmt: skip
    db.session.execute(
        text(f"DELETE FROM {DEFAULT} WHERE released_at >= :start AND released_at < :end"),  # noqa: S608
        bounds,
    )
    db.session.execute(text(f"ALTER TABLE ledger_entry ATTACH PARTITION {DEFAULT} DEFAULT"))


def ensure_now_and_then() -> list[str]:
    """`ensure`, at most once an hour across every worker (a lock in the store)."""
    if db.engine.dialect.name != "postgresql":
        return []
    if not store.redis.set(store.key("ledger-partitions"), 1, nx=True, ex=_ENSURE_EVERY_SECONDS):
        return []
    return ensure()


def archive(before: dt.date, retention: dt.timedelta, now: dt.datetime | None = None) -> list[dict]:
    """Detach every month that ends on or before ``before``. Only months wholly past the
    retention period, and only when all their entries are in the tree."""
    _require_postgres()
    cutoff = (now or utcnow()) - retention
    limit = dt.datetime(before.year, before.month, before.day, tzinfo=dt.UTC)
    if limit > cutoff:
        raise Refused(
            f"entries are kept {retention.days} days: archive only months ending on or "
            f"before {cutoff.date().isoformat()}"
        )
    done = []
    for month in attached():
        if month.ends_at > limit:
            continue
        entries, pending, first_leaf, last_leaf = db.session.execute(
            text(f"SELECT count(*), count(*) FILTER (WHERE leaf_index IS NULL), "  # noqa: S608
                 f"min(leaf_index), max(leaf_index) FROM {month.name}")
        ).one()  # fmt: skip
        if pending:
            raise Refused(
                f"{month.name} has {pending} entries not in the tree yet: integrate first"
            )
        db.session.execute(text(f"ALTER TABLE ledger_entry DETACH PARTITION {month.name}"))
        db.session.add(
            LedgerArchive(partition=month.name, starts_at=month.starts_at, ends_at=month.ends_at,
                          entries=entries, first_leaf=first_leaf, last_leaf=last_leaf)
        )  # fmt: skip
        db.session.commit()
        done.append({"partition": month.name, "entries": entries})
    return done


class ArchivedLeaves:
    """Tells `ledger verify` whether a leaf without an entry was archived: only as many as the
    archives took out, each within the leaf range of a month that was archived."""

    def __init__(self) -> None:
        self.archives = [
            [archive.first_leaf, archive.last_leaf, archive.entries]
            for archive in db.session.scalars(select(LedgerArchive)).all()
            if archive.entries
        ]
        self.counted = 0

    def take(self, leaf_index: int) -> bool:
        for archive in self.archives:
            first, last, left = archive
            if left and first <= leaf_index <= last:
                archive[2] -= 1
                self.counted += 1
                return True
        return False
