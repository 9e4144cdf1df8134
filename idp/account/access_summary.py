"""The summary atop the citizen's access log: over the last twelve calendar months, how often
each service or authority received something, and how often each attribute left and to how
many services. Counted by the database (GROUP BY over one index range of the citizen's
entries), never by loading the entries.

One login counts once. A service that logs the citizen in gets the attributes in the ID token
(an entry on channel `login`) and often fetches the same again at userinfo with the access
token issued beside it (a `userinfo` entry). The log lists both, as both happened; the summary
counts the second as part of the first: a userinfo entry that released the same attributes
for the same purpose on the same basis to the same service as a login entry made when its
access token was issued (the token's expiry less ACCESS_TOKEN_SECONDS, within
PAIRING_SECONDS) adds nothing. Later userinfo calls under that token add no entry at all
(consent/repeats.py); a token from a refresh, or attributes the login did not send, count.

Representation (docs/representation.md): a release made while an agent acted for the
citizen counts among the citizen's releases, and also apart (`by_agents`); a release the
citizen made acting for someone else released that person's information, not the citizen's:
it is in the citizen's log, and counted only as `acted_for`."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass

from flask import current_app, url_for
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from sqlalchemy import (
    Interval,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.orm import aliased

from clients import claims
from clients.claims import LOGGED_CLAIMS, SHARED_LINES
from consent.ledger import Channel, LedgerEntry
from idp.core.extensions import db

MONTHS = 12
# The sides of a release made while an agent acted (consent/release.py `Acting`).
_PRINCIPAL, _AGENT = "principal", "agent"
# How far apart the issuing of an access token and the login entry written with it may be:
# both are made in the one token request, a second or so apart; a minute allows a slow one.
PAIRING_SECONDS = 60
# The line of the page that stands for each claim (the parts of the name are one line).
_LINE_OF = {member: line for line, members in SHARED_LINES.items() for member in members}


@dataclass(frozen=True)
class ServiceCount:
    client_id: str
    name: str
    kind: str
    # Ledger entries, as the log below lists them, less the userinfo entries that repeat the
    # login they came with (one login, one release): one login that released attributes on
    # two legal bases (or for two purposes) is two entries, and counts twice.
    releases: int
    # Entries whose content was erased after the retention period: still releases, but
    # what they released is no longer known, so they count for no attribute.
    erased: int
    # Of ``releases``, those made while an agent acted for the citizen under a mandate.
    by_agents: int = 0


@dataclass(frozen=True)
class AttributeCount:
    attribute: str
    releases: int
    services: int


@dataclass(frozen=True)
class Summary:
    first_day: dt.date  # the first day of the window, in the display time zone
    last_day: dt.date  # its last day (the end of this month), inclusive
    timezone: str
    services: list[ServiceCount]
    attributes: list[AttributeCount]  # per claim (the JSON twin's)
    # Per line the citizen reads (the page's): the parts of the name as one, under the name
    # of the claim that stands for them (clients/claims.py SHARED_LINES).
    lines: list[AttributeCount]
    # Releases of other people's information the citizen made acting for them (not counted
    # above: those are in the other people's summaries).
    acted_for: int = 0

    @property
    def by_agents(self) -> int:
        return sum(service.by_agents for service in self.services)

    @property
    def total(self) -> int:
        return sum(service.releases for service in self.services)

    @property
    def erased(self) -> int:
        return sum(service.erased for service in self.services)


def window(today: dt.date) -> tuple[dt.date, dt.date]:
    """This calendar month and the eleven before it: (first day, first day after)."""
    months_back = today.year * 12 + today.month - 1 - (MONTHS - 1)
    first = dt.date(months_back // 12, months_back % 12 + 1, 1)
    following = today.year * 12 + today.month  # the month after this one, counted from year 0
    return first, dt.date(following // 12, following % 12 + 1, 1)


def _seconds_before(moment, seconds: int):
    """``moment`` (a column) less ``seconds``, in the database's own arithmetic."""
    if db.engine.dialect.name == "postgresql":
        return moment - literal(dt.timedelta(seconds=seconds), Interval())
    # SQLite keeps UTC times as text "YYYY-MM-DD HH:MM:SS.ffffff": datetime() gives the same
    # shape (without the fraction), which compares as text in the right order.
    return func.datetime(moment, f"{-seconds:+d} seconds")


# The login a userinfo entry may repeat. Made once: an alias made per call cost a page more
# than the query it is in (SQLAlchemy sets up its events for each new alias).
_LOGIN = aliased(LedgerEntry, name="login_entry")


def _role():
    """The entry's side of a representation: "principal", "agent" or None (no agent acted)."""
    return LedgerEntry.representation["role"].as_string()


def _repeats_its_login():
    """A userinfo entry that repeats the login it came with (see the module's docstring)."""
    login = _LOGIN
    issued = current_app.config["ACCESS_TOKEN_SECONDS"]
    return and_(
        LedgerEntry.channel == Channel.USERINFO,
        LedgerEntry.token_valid_until.is_not(None),
        LedgerEntry.erased_at.is_(None),
        exists().where(
            login.citizen_id == LedgerEntry.citizen_id,
            login.channel == Channel.LOGIN,
            login.client_id == LedgerEntry.client_id,
            login.erased_at.is_(None),
            login.released_at
            >= _seconds_before(LedgerEntry.token_valid_until, issued + PAIRING_SECONDS),
            login.released_at
            <= _seconds_before(LedgerEntry.token_valid_until, issued - PAIRING_SECONDS),
            login.released_at <= LedgerEntry.released_at,
            login.legal_basis == LedgerEntry.legal_basis,
            login.purpose == LedgerEntry.purpose,
            # Both written by consent/release.py from the same decision: the same list in
            # the same order (the JSON column has no equality on PostgreSQL; its text does).
            cast(login.attributes, Text) == cast(LedgerEntry.attributes, Text),
            # And on the same side: the citizen's own login, or the one an agent made.
            func.coalesce(login.representation["role"].as_string(), "")
            == func.coalesce(_role(), ""),
        ),
    )


def _repeats(in_window) -> dict[tuple[str, str], list[int]]:
    """Of the window's userinfo entries, those that repeat their login, counted by service and
    list of attributes (as text): [all of them, those while an agent acted for the citizen,
    those the citizen made acting for someone else]. Only the userinfo entries' rows are
    read: their ids from the index first (a materialised CTE), so the test, which needs
    columns the index does not carry, does not read the row of every entry in the log."""
    candidates = (
        select(LedgerEntry.id, LedgerEntry.released_at)
        .where(*in_window, LedgerEntry.channel == Channel.USERINFO, LedgerEntry.erased_at.is_(None))
        .cte("userinfo")
        .prefix_with("MATERIALIZED")
    )
    released = cast(LedgerEntry.attributes, Text)
    role = _role()
    rows = db.session.execute(
        select(LedgerEntry.client_id, released, role, func.count())
        .join(candidates, and_(LedgerEntry.id == candidates.c.id,
                               LedgerEntry.released_at == candidates.c.released_at))
        .where(_repeats_its_login())
        .group_by(LedgerEntry.client_id, released, role)
    ).all()  # fmt: skip
    counted: dict[tuple[str, str], list[int]] = {}
    for client_id, attributes, role_of, count in rows:
        row = counted.setdefault((client_id, attributes), [0, 0, 0])
        if role_of == _AGENT:
            row[2] += count
            continue
        row[0] += count
        row[1] += count if role_of == _PRINCIPAL else 0
    return counted


def _acting(in_window, whole_log: bool) -> dict[tuple, list[int]]:
    """The entries made while an agent acted (either side), by the main query's group (service,
    its name, list of attributes, in the window) and side: {group: [principal's entries,
    agent's entries]}. From migration 0022's partial index, which holds only these entries
    (few), index-only on PostgreSQL. An erased entry no longer names the other person
    (consent/ledger/erasure.py): it counts as any erased release."""
    released = case((LedgerEntry.erased_at.is_(None), cast(LedgerEntry.attributes, Text)))
    role = _role()
    inside = [and_(*in_window[1:])] if whole_log else []
    rows = db.session.execute(
        select(
            LedgerEntry.client_id,
            LedgerEntry.client_name,
            released,
            *inside or [true()],
            role,
            func.count(),
        )
        .where(
            *(in_window[:1] if whole_log else in_window),
            LedgerEntry.representation.is_not(None),
            # A mandate given, accepted or ended releases nothing (left out below anyway).
            LedgerEntry.channel != Channel.MANDATE,
        )
        .group_by(LedgerEntry.client_id, LedgerEntry.client_name, released, role, *inside)
    ).all()
    acting: dict[tuple, list[int]] = {}
    for client_id, name, attributes, inside_window, role_of, count in rows:
        row = acting.setdefault((client_id, name, attributes, bool(inside_window)), [0, 0])
        row[0 if role_of == _PRINCIPAL else 1] += count
    return acting


@dataclass(frozen=True)
class Overview:
    """What the log page shows around its entries, from one pass over the citizen's log."""

    summary: Summary
    services: list[tuple[str, str]]  # (client id, name) of every service in the log, by name
    entries: int  # every entry in the log


def last_twelve_months(citizen_id: str, *, now: dt.datetime | None = None) -> Summary:
    """The citizen's summary for the calendar months of the display time zone
    (``DISPLAY_TIMEZONE``) up to and including the current one."""
    return _summarised(citizen_id, now, whole_log=False).summary


def overview(citizen_id: str, *, now: dt.datetime | None = None) -> Overview:
    """The summary (as `last_twelve_months`), every service in the whole log (the page's
    filter) and how many entries it holds (an unfiltered page's count), in one pass over the
    citizen's index: the count and the services were two more scans of it, each as long as
    the summary's (bench/results/profiles/2026-12-03-eve/ledgerread/)."""
    return _summarised(citizen_id, now, whole_log=True)


def _summarised(citizen_id: str, now: dt.datetime | None, *, whole_log: bool) -> Overview:
    zone = zoneinfo.ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    first, following = window(today)
    # Midnight where the citizen lives, as UTC: the index on (citizen_id, released_at) and
    # PostgreSQL's monthly partitions see a plain range (the partitions are UTC months, so
    # the window touches at most one partition more than twelve).
    since = dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    until = dt.datetime.combine(following, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    in_window = (
        LedgerEntry.citizen_id == citizen_id,
        LedgerEntry.released_at >= since,
        LedgerEntry.released_at < until,
    )

    # One pass over an index range of the citizen's (the window's, or with ``whole_log`` the
    # whole log's, each group then marked in or out of the window), index-only on PostgreSQL
    # (migration 0017's index carries what it reads): the entries counted by service, its
    # name and the list of attributes they released (a citizen's log has few distinct
    # lists), then split into services, attributes and lines here. Three aggregates that
    # each expanded every entry's JSON list, and read every entry's row for the repeats'
    # test, took seconds at 5,000 entries (bench/results/profiles/2026-12-03-pm/ledger-read/).
    released = case((LedgerEntry.erased_at.is_(None), cast(LedgerEntry.attributes, Text)))
    userinfo = and_(LedgerEntry.channel == Channel.USERINFO, LedgerEntry.erased_at.is_(None))
    # A revocation in the citizen's wallet, and a mandate given, accepted or ended, are in the
    # log (and the page's count of entries) but release nothing: the summary leaves them out
    # (the issuance a revocation undoes was the release).
    revocation = LedgerEntry.channel.in_((Channel.WALLET_REVOCATION, Channel.MANDATE))
    # Without ``whole_log`` every group is in the window (a constant in GROUP BY would be
    # read as a column's position).
    inside = [and_(*in_window[1:])] if whole_log else []
    groups = db.session.execute(
        select(
            LedgerEntry.client_id,
            LedgerEntry.client_name,
            func.max(LedgerEntry.client_kind),
            released,
            *inside or [true()],
            func.count(),
            func.count(LedgerEntry.erased_at),
            func.count(case((userinfo, 1))),
            func.count(case((revocation, 1))),
            func.count(case((and_(revocation, LedgerEntry.erased_at.is_not(None)), 1))),
        )
        .where(*(in_window[:1] if whole_log else in_window))
        .group_by(LedgerEntry.client_id, LedgerEntry.client_name, released, *inside)
    ).all()
    in_log = sorted({(group[0], group[1]) for group in groups}, key=lambda s: (s[1], s[0]))
    entries = sum(group[5] for group in groups)
    acting = _acting(in_window, whole_log)
    acted_for = 0
    # The window's groups by service and list of attributes (a renamed service keeps its
    # client_id; one name and kind stand for it, the greatest).
    # [name, kind, count, erased, userinfo, by agents]
    merged: dict[tuple[str, str | None], list] = {}
    for (client_id, name, kind, attributes, inside_window, count, erased, userinfo_count,
         revocations, erased_revocations) in groups:  # fmt: skip
        if not inside_window:
            continue
        by_agents, as_agent = acting.get((client_id, name, attributes, True), (0, 0))
        acted_for += as_agent
        count -= revocations + as_agent
        if count == 0:
            continue
        row = merged.setdefault((client_id, attributes), [name, kind, 0, 0, 0, 0])
        row[0], row[1] = max(row[0], name), max(row[1], kind)
        row[2] += count
        row[3] += erased - erased_revocations
        row[4] += userinfo_count
        row[5] += by_agents
    need_repeats = acted_for or any(row[4] for row in merged.values())
    repeats = _repeats(in_window) if need_repeats else {}
    acted_for -= sum(as_agent for _all, _by_agents, as_agent in repeats.values())
    services: dict[str, list] = {}  # client_id: [name, kind, releases, erased, by agents]
    by_attribute: dict[str, list] = {}  # attribute: [releases, {client_id}]
    by_line: dict[str, list] = {}
    for (client_id, attributes), row in merged.items():
        name, kind, count, erased, _userinfo, by_agents = row
        repeated, repeated_by_agents, _as_agent = repeats.get((client_id, attributes), (0, 0, 0))
        count -= repeated
        if count == 0:
            continue
        service = services.setdefault(client_id, [name, kind, 0, 0, 0])
        service[0], service[1] = max(service[0], name), max(service[1], kind)
        service[2] += count
        service[3] += erased
        service[4] += by_agents - repeated_by_agents
        names = {n for n in (json.loads(attributes) if attributes else None) or () if n is not None}
        for counted, keys in (
            (by_attribute, names),
            (by_line, {_LINE_OF.get(n, n) for n in names}),
        ):
            for key in keys:  # an entry counts once per attribute, and once per line
                row = counted.setdefault(key, [0, set()])
                row[0] += count
                row[1].add(client_id)

    def counts(counted: dict[str, list]) -> list[AttributeCount]:
        rows = [AttributeCount(key, releases, len(clients))
                for key, (releases, clients) in counted.items()]  # fmt: skip
        return sorted(rows, key=lambda row: (-row.releases, row.attribute))

    summary = Summary(
        first_day=first,
        last_day=following - dt.timedelta(days=1),
        timezone=zone.key,
        services=sorted(
            (ServiceCount(client_id, *row) for client_id, row in services.items()),
            key=lambda service: (-service.releases, service.name, service.client_id),
        ),
        attributes=counts(by_attribute),
        lines=counts(by_line),
        acted_for=acted_for,
    )
    return Overview(summary=summary, services=in_log, entries=entries)


# --- for the page and the API ------------------------------------------------------------


def as_json(summary: Summary) -> dict:
    return {
        "from": summary.first_day.isoformat(),
        "to": summary.last_day.isoformat(),
        "timezone": summary.timezone,
        "total": summary.total,
        "erased": summary.erased,
        "by_agents": summary.by_agents,
        "acted_for": summary.acted_for,
        "services": [
            {
                "client_id": s.client_id,
                "name": s.name,
                "kind": s.kind,
                "releases": s.releases,
                "erased": s.erased,
                "by_agents": s.by_agents,
            }
            for s in summary.services
        ],
        "attributes": [
            {"attribute": a.attribute, "releases": a.releases, "services": a.services}
            for a in summary.attributes
        ],
    }


# The chart's geometry in SVG user units; the viewBox scales it to the width it is given.
CHART_WIDTH = 320
ROW_HEIGHT = 48
_BAR_ROOM = CHART_WIDTH - 80  # the longest bar leaves room for its number
_LABEL_CHARACTERS = 34  # what fits on a row at font-size 16; the table has the whole name


@dataclass(frozen=True)
class Bar:
    label: str  # shortened to fit
    number: str  # formatted for the locale
    width: int
    y: int  # the top of the row


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARACTERS else label[: _LABEL_CHARACTERS - 1] + "…"


def chart(rows: list[tuple[str, int]]) -> Chart:
    """Horizontal bars, one a row, each as long as its count relative to the largest."""
    largest = max((count for _, count in rows), default=0) or 1
    bars = [
        Bar(
            label=_short(label),
            number=format_number(count),
            # Never invisible: a single release still shows.
            width=max(3, round(_BAR_ROOM * count / largest)),
            y=index * ROW_HEIGHT,
        )
        for index, (label, count) in enumerate(rows)
    ]
    return Chart(bars=bars, height=len(bars) * ROW_HEIGHT + 4)


def _times(count: int) -> str:
    # Not %(num)s: that is ngettext's own argument, unformatted.
    return ngettext("%(count)s time", "%(count)s times", count, count=format_number(count))


def services_in_words(summary: Summary) -> str:
    """The chart's description: every number it shows, in a sentence."""
    parts = [
        _("%(name)s: %(times)s", name=s.name, times=_times(s.releases)) for s in summary.services
    ]
    return "; ".join(parts) + "."


def line_label(line: str) -> str:
    """A row of the page's attribute table and chart, as the citizen reads it."""
    return str(claims.labels([line])[0])


def attribute_chart(summary: Summary) -> Chart:
    return chart([(line_label(a.attribute), a.releases) for a in summary.lines])


def attributes_in_words(summary: Summary) -> str:
    parts = [
        _(
            "%(attribute)s: %(times)s, to %(services)s",
            attribute=line_label(a.attribute),
            times=_times(a.releases),
            services=ngettext(
                "%(count)s service or authority",
                "%(count)s services and authorities",
                a.services,
                count=format_number(a.services),
            ),
        )
        for a in summary.lines
    ]
    return "; ".join(parts) + "."


def entries_link(summary: Summary, **filters: str) -> str | None:
    """The access log filtered to the window (and a service or an attribute); None for an
    attribute the log's filter does not offer (it would refuse it)."""
    attribute = filters.get("attribute")
    if attribute is not None and attribute not in LOGGED_CLAIMS:
        return None
    return url_for(
        "access_log.page",
        **{"from": summary.first_day.isoformat(), "to": summary.last_day.isoformat()},
        **filters,
    )
