"""The citizen's mandate pages under /me/mandates: the mandates they gave (and those others hold
for them: a parent's custody, a guardianship), those they hold for others, giving one to
another citizen (a fresh second factor first), accepting one given to them, and ending one.
docs/representation-portal.md.

Every form that changes a mandate answers with a redirect (303, POST-redirect-GET)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import DateInput

from clients.claims import CITIZEN_CLAIMS, registry_order
from clients.models import Client, ClientKind
from consent import ledger, mandate_events
from idp.auth.forms import ConfirmForm
from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.mandates import service
from idp.mandates.models import EndedBy, Mandate, Origin
from idp.sessions import current
from idp.sessions.current import fresh_second_factor_required, login_required
from idp.templating import claim_label

bp = Blueprint("mandates_portal", __name__, url_prefix="/me/mandates")

# What a granted mandate covers, as the form's choices (ClientKind values, and two of its own).
ALL, CHOSEN = "all", "chosen"
COVERS = (ALL, ClientKind.PUBLIC_AUTHORITY.value, ClientKind.PRIVATE_SERVICE.value, CHOSEN)

# The registry's refusals (idp/mandates/service.py) as the citizen reads them, in their
# language; the form field each one is shown at.
_REFUSALS = {
    "the CPR number is not valid": _l(
        "Enter a CPR number of 10 digits, written DDMMYYXXXX or DDMMYY-XXXX."
    ),
    "the CPR number and the name do not match a person": _l(
        "The CPR number and the name do not match a person. Check both, and write the name as"
        " it is in the CPR register."
    ),
    "you cannot give a mandate to yourself": _l("You cannot give a mandate to yourself."),
    "the end date must be in the future": _l("The end date must be today or later."),
    "a mandate can last five years at the most": _l(
        "A mandate can last five years at the most. Choose an earlier end date."
    ),
    "choose public authorities or private services": _l("Choose what the mandate covers."),
    "a service named does not accept representation": _l(
        "Choose among the services listed: only they let someone act for another."
    ),
    "choose at least one piece of information": _l(
        "Choose at least one piece of information the services may receive."
    ),
    "a piece of information Tillid does not know": _l(
        "Choose among the pieces of information listed."
    ),
}
_FIELDS = {"service_kind": "covers"}


class GrantForm(FlaskForm):
    agent_cpr = StringField(
        _l("Their CPR number"),
        description=_l("10 digits, e.g. 010190-1234."),
        validators=[DataRequired(_l("Enter the CPR number of the person."))],
    )
    agent_name = StringField(
        _l("Their full name"),
        description=_l("As it is in the CPR register: first and last name."),
        validators=[
            DataRequired(_l("Enter the full name of the person.")),
            Length(max=200, message=_l("Use at most 200 characters.")),
        ],
    )
    # Rendered by hand (radio buttons, checkboxes, a date) and checked in the view, so that
    # every refusal is the registry's own, in the citizen's words.
    covers = StringField(_l("What the mandate covers"))
    client_ids = SelectMultipleField(_l("The services"), validate_choice=False)
    attributes = SelectMultipleField(_l("The information"), validate_choice=False)
    valid_until = StringField(_l("End date"), widget=DateInput())


@dataclass
class Shown:
    """A mandate as one of its two people sees it."""

    mandate: Mandate
    other: Citizen | None  # the other person (the agent for the principal, and back)
    as_principal: bool
    status: str  # waiting, in_force, ended, expired
    last_day: dt.date | None  # the last day it holds (Danish time); None: until ended
    clients: list[str]  # the named services' names
    appointed_by: str | None  # the authority's name, for a guardianship

    @property
    def may_accept(self) -> bool:
        return not self.as_principal and self.status == "waiting"

    @property
    def may_end(self) -> bool:
        # A custody ends by the register, a guardianship by its authority: not here.
        return self.mandate.origin == Origin.GRANTED and self.status in ("waiting", "in_force")


def _status(mandate: Mandate, now: dt.datetime) -> str:
    if mandate.ended_at is not None:
        return "ended"
    if mandate.valid_until is not None and mandate.valid_until <= now:
        return "expired"
    if mandate.accepted_at is None:
        return "waiting"
    return "in_force"


def _last_day(until: dt.datetime | None) -> dt.date | None:
    """The last day a mandate holds: the day before the midnight (Danish time) it ends at."""
    if until is None:
        return None
    return (until.astimezone(service.DANISH_TIME) - dt.timedelta(microseconds=1)).date()


def _shown(mandates: list[Mandate], as_principal: bool) -> list[Shown]:
    now = utcnow()
    people = {m.agent_id if as_principal else m.principal_id for m in mandates}
    names = {c.id: c for c in db.session.scalars(select(Citizen).where(Citizen.id.in_(people)))}
    client_ids = {cid for m in mandates for cid in m.client_ids} | {
        m.appointed_by for m in mandates if m.appointed_by
    }
    clients = {
        c.client_id: c.name
        for c in db.session.scalars(select(Client).where(Client.client_id.in_(client_ids)))
    }
    gone = _("A service no longer registered")
    return [
        Shown(
            mandate=m,
            other=names.get(m.agent_id if as_principal else m.principal_id),
            as_principal=as_principal,
            status=_status(m, now),
            last_day=_last_day(m.valid_until),
            clients=[clients.get(cid, gone) for cid in m.client_ids],
            appointed_by=clients.get(m.appointed_by) if m.appointed_by else None,
        )
        for m in mandates
    ]


@bp.get("")
@login_required
def page():
    citizen = current.citizen()
    return render_template(
        "mandates/list.html",
        given=_shown(service.given(citizen.id), as_principal=True),
        held=_shown(service.held(citizen.id), as_principal=False),
    )


# --- giving a mandate -------------------------------------------------------------------------


def _accepting_clients() -> list[Client]:
    """The services a mandate can name: those registered to accept representation."""
    return list(db.session.scalars(
        select(Client).where(Client.accepts_representation.is_(True),
                             Client.disabled_at.is_(None),
                             Client.kind != ClientKind.WALLET)
        .order_by(Client.name)
    ))  # fmt: skip


def _form_page(form: GrantForm, clients: list[Client], status: int = 200):
    today = dt.datetime.now(service.DANISH_TIME).date()
    labels = {
        ALL: _("All services that let someone act for another"),
        ClientKind.PUBLIC_AUTHORITY.value: _("Public authorities only"),
        ClientKind.PRIVATE_SERVICE.value: _("Private services only"),
        CHOSEN: _("Only the services I choose below"),
    }
    page = render_template(
        "mandates/new.html",
        form=form,
        covers=[(c, labels[c]) for c in COVERS if c != CHOSEN or clients],
        clients=[(c.client_id, c.name) for c in clients],
        attributes=[
            (name, claim_label(name)) for name in sorted(CITIZEN_CLAIMS, key=registry_order)
        ],
        today=today,
        latest=_five_years_on(today),
    )
    return page, status


def _five_years_on(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 5)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 5, day=28)


def _read(form: GrantForm, clients: list[Client]) -> dict | None:
    """The scope and end date from the form, for the registry; None (errors on the form's
    fields) when they cannot be read."""
    covers = form.covers.data
    choices = [c for c in COVERS if c != CHOSEN or clients]
    if covers not in choices:
        form.covers.errors.append(_("Choose what the mandate covers."))
    chosen = [c for c in form.client_ids.data or () if c]
    if covers == CHOSEN and not chosen:
        form.client_ids.errors.append(_("Choose at least one service."))
    attributes = [a for a in form.attributes.data or () if a]
    if not attributes:  # said with the other fields' errors, not after them
        form.attributes.errors.append(str(_REFUSALS["choose at least one piece of information"]))
    raw = (form.valid_until.data or "").strip()
    until = None
    if not raw:
        form.valid_until.errors.append(_("Enter the date the mandate ends."))
    else:
        try:
            until = service.end_of_day(dt.date.fromisoformat(raw))
        except (ValueError, OverflowError):
            message = _(
                "“%(date)s” is not a date. Write it as year-month-day, e.g. 2027-03-01.", date=raw
            )
            form.valid_until.errors.append(message)
    fields = (form.covers, form.client_ids, form.attributes, form.valid_until)
    if any(f.errors for f in fields):
        return None
    return {
        "service_kind": covers if covers not in (ALL, CHOSEN) else None,
        "client_ids": chosen if covers == CHOSEN else (),
        "attributes": attributes,
        "valid_until": until,
    }


@bp.get("/new")
@login_required
@fresh_second_factor_required
def new():
    return _form_page(GrantForm(), _accepting_clients())


@bp.post("/new")
@login_required
@fresh_second_factor_required
def grant():
    """Give a mandate: NSIS Substantial (login_required) and a second factor proved within
    the last minutes (fresh_second_factor_required, the confirmation every sensitive change
    asks for); nothing is written unless every field is right."""
    if not current.second_factor_is_fresh():
        # The guard lets a citizen with no second factor through (a first enrolment): a
        # mandate is never given without one proved just now.
        return redirect(url_for("security.confirm", next=url_for(".new")), 303)
    form, clients = GrantForm(), _accepting_clients()
    valid = form.validate_on_submit()
    scope = _read(form, clients)
    if not valid or scope is None:
        return _form_page(form, clients, 400)
    citizen = current.citizen()
    try:
        mandate = service.grant(citizen, form.agent_cpr.data, form.agent_name.data, **scope)
    except service.MandateRefused as refused:
        db.session.rollback()
        field = getattr(form, _FIELDS.get(refused.field, refused.field), None)
        message = str(_REFUSALS.get(refused.message, refused.message))
        (field.errors if field is not None else form.form_errors).append(message)
        return _form_page(form, clients, 400)
    mandate_events.record(mandate, mandate_events.GRANTED)
    ledger.commit()
    agent = db.session.get(Citizen, mandate.agent_id)
    flash(_("You gave %(name)s a mandate. It takes effect when they accept it in their own"
            " Tillid.", name=agent.full_name))  # fmt: skip
    return redirect(url_for(".page"), 303)


# --- accepting and ending -----------------------------------------------------------------------


def _own_or_404(mandate_id: str) -> Shown:
    """A mandate the citizen gave or holds: anyone else's id is the same 404 as none."""
    citizen = current.citizen()
    mandate = service.of_citizen(citizen.id, mandate_id)
    if mandate is None:
        abort(404)
    return _shown([mandate], as_principal=mandate.principal_id == citizen.id)[0]


@bp.get("/<mandate_id>/accept")
@login_required
def confirm_acceptance(mandate_id: str):
    """What the agent takes on, before they accept it."""
    shown = _own_or_404(mandate_id)
    if shown.as_principal:
        abort(404)
    if not shown.may_accept:
        return redirect(url_for(".page"), 303)
    return render_template("mandates/accept.html", shown=shown, form=ConfirmForm())


@bp.post("/<mandate_id>/accept")
@login_required
def accept(mandate_id: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    shown = _own_or_404(mandate_id)
    if shown.as_principal:  # only the agent accepts: the principal's own id acts on nothing
        abort(404)
    if shown.status == "in_force":
        flash(_("You had accepted this mandate already."))
    elif shown.status != "waiting":
        flash(_("This mandate has ended: it can no longer be accepted."))
    else:
        citizen = current.citizen()
        try:
            mandate_events.record(service.accept(citizen, mandate_id), mandate_events.ACCEPTED)
            ledger.commit()
        except service.MandateRefused:  # ended in the meantime (the other side, another tab)
            db.session.rollback()
            flash(_("This mandate has ended: it can no longer be accepted."))
        else:
            flash(_("You accepted the mandate. You can now act for %(name)s at the services it"
                    " covers.", name=shown.other.full_name))  # fmt: skip
    return redirect(url_for(".page"), 303)


@bp.get("/<mandate_id>/end")
@login_required
def confirm_ending(mandate_id: str):
    """Ending asks first: it cannot be undone."""
    shown = _own_or_404(mandate_id)
    if not shown.may_end:
        return redirect(url_for(".page"), 303)
    return render_template("mandates/end.html", shown=shown, form=ConfirmForm())


@bp.post("/<mandate_id>/end")
@login_required
def end(mandate_id: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    shown = _own_or_404(mandate_id)
    mandate = shown.mandate
    if mandate.origin != Origin.GRANTED:
        abort(409, _("A parent's custody ends by the population register, and a guardianship by"
                     " the authority that appointed it: neither can be ended here."))  # fmt: skip
    by = EndedBy.PRINCIPAL if shown.as_principal else EndedBy.AGENT
    if service.end(mandate, by):
        mandate_events.record(mandate, mandate_events.ENDED)
        ledger.commit()
        if shown.as_principal:
            flash(_("The mandate has ended. %(name)s can no longer act for you under it.",
                    name=shown.other.full_name))  # fmt: skip
        else:
            flash(_("The mandate has ended. You can no longer act for %(name)s under it.",
                    name=shown.other.full_name))  # fmt: skip
    else:  # ended already (the other side, another tab): nothing more to do
        flash(_("The mandate had ended already."))
    return redirect(url_for(".page"), 303)
