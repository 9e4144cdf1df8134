"""The citizen's access log: who received which of their attributes, when, why, on which
basis; each entry with its proof from the signed ledger, or shown as pending until the
sequencer signs it into a checkpoint (a read never integrates). A page under /me and its
JSON twin under /api/me, both for the logged-in citizen (SSO session, two factors)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from clients.claims import LOGGED_CLAIMS
from consent import checkpoint, legal_basis
from consent.ledger import proofs, queries
from consent.ledger.models import Channel, LedgerEntry
from idp.account import access_summary
from idp.account import api as me_api
from idp.account.api import citizen_api
from idp.core.problems import problem
from idp.sessions import current
from idp.sessions.current import login_required

bp = Blueprint("access_log", __name__)

PAGE_SIZE = 20


class FilterErrors(ValueError):
    """The filters as a form answers them: each error at its field (its input's id, None for
    one that is no field on the page) with a message that names it in the page's language."""

    def __init__(self, errors: list[tuple[str | None, str]]):
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors

    def by_field(self) -> dict[str | None, list[str]]:
        found: dict[str | None, list[str]] = {}
        for field, message in self.errors:
            found.setdefault(field, []).append(message)
        return found


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(name: str, label: str, errors: list) -> dt.date | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        if not _ISO_DATE.fullmatch(raw):  # fromisoformat also reads 20260101 and 2026-W01-1
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(
            (name, _("“%(field)s” is not a date. Write it as year-month-day, e.g. 2026-03-01.",
                     field=label))
        )  # fmt: skip
        return None


def _start_of(day: dt.date | None) -> dt.datetime | None:
    """Midnight of ``day`` where the citizen reads the times (DISPLAY_TIMEZONE), in UTC: the
    days of the filter are the days the page shows, and the summary's months link to them.
    None for no day, and where midnight falls outside what a datetime holds (year 1 or 9999
    shifted by the zone's offset): no bound is then the same bound."""
    if day is None:
        return None
    zone = zoneinfo.ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    try:
        return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    except OverflowError:
        return None


def _filters() -> dict:
    """The filters and page from the query string; anything unreadable is a FilterErrors
    naming every field in error, as a form does."""
    errors: list[tuple[str | None, str]] = []
    channel = request.args.get("channel") or None
    if channel is not None and channel not in {c.value for c in Channel}:
        errors.append(("channel", _("Choose one of the ways in the list “%(field)s”.",
                                    field=_("How"))))  # fmt: skip
    attribute = request.args.get("attribute") or None
    if attribute is not None and attribute not in LOGGED_CLAIMS:
        errors.append(("attribute", _("Choose one of the pieces of information in the list"
                                      " “%(field)s”.", field=_("Information"))))  # fmt: skip
    page = request.args.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,6}", page) or not 1 <= int(page) <= 100_000:
        errors.append((None, _("The page number must be a whole number from 1.")))
    since = _date("from", _("From"), errors)
    until = _date("to", _("To"), errors)
    if since is not None and until is not None and since > until:
        errors.append(
            ("from", _("“%(from_)s” is after “%(to)s”. Choose a “%(from_)s” date on or before"
                       " the “%(to)s” date.", from_=_("From"), to=_("To")))
        )  # fmt: skip
    if errors:
        raise FilterErrors(errors)
    return {
        "client_id": (request.args.get("service") or None),
        "attribute": attribute,
        "channel": channel,
        "since": _start_of(since),
        # The whole last day; after 9999-12-31 there is no day to stop before.
        "until": _start_of(until + dt.timedelta(days=1)) if until and until < dt.date.max else None,
        "page": int(page),
        "per_page": PAGE_SIZE,
    }


def entry_json(entry: LedgerEntry, verified: bool | None) -> dict:
    """One entry as the citizen reads it; ``verified`` None where no proof was checked (a
    pending entry has none yet)."""
    erased = entry.erased_at is not None
    return {
        "id": entry.id,
        "released_at": entry.released_at.isoformat(),
        "service": {
            "client_id": entry.client_id,
            "name": entry.client_name,
            "kind": entry.client_kind,
        },
        "channel": str(entry.channel),
        "attributes": None if erased else entry.attributes,
        "purpose": None if erased else entry.purpose,
        "legal_basis": None if erased else entry.legal_basis,
        # Received at userinfo with an access token valid until then: the service's repeats
        # of the same release with that token are not written again (consent/repeats.py).
        "token_valid_until": None
        if erased or entry.token_valid_until is None
        else entry.token_valid_until.isoformat(),
        # Released while an agent acted for a principal: whom it names (docs/representation.md).
        "representation": None if erased else entry.representation,
        "erased": erased,
        "pending": entry.pending,
        "verified": verified,
        "proof": url_for("access_log.proof_api", entry_id=entry.id),
    }


@bp.get("/me/access-log")
@login_required
def page():
    citizen = current.citizen()
    try:
        filters = _filters()
    except FilterErrors as refused:
        # The page with the filters as sent and what is wrong with them, no entries (what
        # they would have been is unknown): a form answered, not an error page.
        return _render(citizen, None, refused.by_field()), 400
    return _render(citizen, filters, {})


_FILTERS = ("client_id", "attribute", "channel", "since", "until")


def _render(citizen, filters: dict | None, filter_errors: dict):
    # The summary, the services of the filter and the log's size: one pass over the log.
    overview = access_summary.overview(citizen.id)
    summary = overview.summary
    if filters is not None:
        # Unfiltered, the page's count is the log's: no second count of the same range.
        filtered = any(filters[name] for name in _FILTERS)
        entries, total = queries.entries_for(citizen.id, **filters, count=filtered)
        total = total if filtered else overview.entries
        verified = proofs.verified(entries)
    else:
        entries, total, verified = [], 0, {}
    return render_template(
        "account/access_log.html",
        summary=summary,
        service_chart=access_summary.chart([(s.name, s.releases) for s in summary.services]),
        attribute_chart=access_summary.attribute_chart(summary),
        summary_links=access_summary.entries_link,
        summary_line_label=access_summary.line_label,
        services_in_words=access_summary.services_in_words(summary),
        attributes_in_words=access_summary.attributes_in_words(summary),
        chart_width=access_summary.CHART_WIDTH,
        bases=legal_basis.explanations(),
        basis_anchor=legal_basis.anchor,
        entries=[(entry, verified[entry.id]) for entry in entries],
        total=total,
        filters=request.args,
        filter_errors=filter_errors,
        page=filters["page"] if filters else 1,
        pages=max(1, -(-total // PAGE_SIZE)),
        services=overview.services,
        attributes=sorted(LOGGED_CLAIMS),
        channels=[c.value for c in Channel],
    )


@bp.get("/api/me/access-log")
@citizen_api()
def list_api():
    try:
        filters = _filters()
    except FilterErrors as refused:
        return problem(
            400,
            str(refused),
            errors=[
                {"parameter": field or "page", "detail": message}
                for field, message in refused.errors
            ],
        )
    entries, total = queries.entries_for(me_api.citizen().id, **filters)
    verified = proofs.verified(entries)
    return jsonify(
        total=total,
        page=filters["page"],
        per_page=PAGE_SIZE,
        entries=[entry_json(entry, verified[entry.id]) for entry in entries],
    )


@bp.get("/api/me/access-log/summary")
@citizen_api()
def summary_api():
    summary = access_summary.last_twelve_months(me_api.citizen().id)
    return jsonify(access_summary.as_json(summary))


@bp.get("/api/me/access-log/<int:entry_id>/proof")
@citizen_api()
def proof_api(entry_id: int):
    # Beyond a database integer no entry can exist (and PostgreSQL would refuse the query).
    # The entry (only if it is the citizen's), the newest checkpoint and its key: one query.
    entry, signed, key = (
        proofs.entry_with_head(entry_id, me_api.citizen().id) if entry_id < 2**63 else (None,) * 3
    )
    if entry is None:
        return problem(404, _("There is no such entry in your log."))
    try:
        document = proofs.proof_for(entry, signed)
    except proofs.NotYetIntegrated:
        # Pending: a read serves only what the sequencer has signed, and never integrates.
        answer = problem(
            409, _("This entry is not yet in the signed log. Try again after the next checkpoint.")
        )
        if (interval := current_app.config["LEDGER_INTEGRATE_SECONDS"]) > 0:
            answer.headers["Retry-After"] = str(interval)
        return answer
    document["verifier_key"] = checkpoint.verifier_key(key.name, key.public_key)
    return jsonify(document)
