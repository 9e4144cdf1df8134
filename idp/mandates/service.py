"""The mandate registry: granting, accepting and ending mandates, custody and guardianship, and
which mandates an agent holds at a service now (docs/representation.md).

Every function that changes a mandate commits; the flows above it ledger the change.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from clients.claims import CITIZEN_CLAIMS
from clients.models import Client, ClientKind
from idp.citizens import cpr as cpr_numbers
from idp.citizens.models import Citizen
from idp.citizens.service import find_by_cpr
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.mandates.models import EndedBy, Mandate, Origin

# The age of majority: custody ends on the child's 18th birthday by itself.
MAJORITY = 18
# A mandate's dates are Danish: a birthday, or a mandate "until 31 March", begins and ends
# at midnight there.
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
# How far ahead a granted mandate may end: a power of attorney is renewed, not forever.
MAX_GRANT_DAYS = 5 * 366


class MandateRefused(ValueError):
    """A mandate that cannot be made or changed: the field, and why in plain words."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _name(text: str) -> str:
    """A name as people type it: case, accents' composition and spacing do not matter."""
    return " ".join(unicodedata.normalize("NFC", text or "").casefold().split())


def coming_of_age(birthdate: dt.date) -> dt.datetime:
    """The start (Danish time) of the 18th birthday, as UTC; 29 February counts from 1 March."""
    try:
        day = birthdate.replace(year=birthdate.year + MAJORITY)
    except ValueError:
        day = dt.date(birthdate.year + MAJORITY, 3, 1)
    start = dt.datetime.combine(day, dt.time(), tzinfo=DANISH_TIME)
    return start.astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """The end of ``day`` in Danish time (the start of the next), as UTC: a mandate "until"
    a date is in force all that day."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=DANISH_TIME)
    return start.astimezone(dt.UTC)


def _scope(service_kind: str | None, client_ids, attributes) -> tuple[str | None, list, list]:
    if service_kind is not None and service_kind not in (
        ClientKind.PUBLIC_AUTHORITY, ClientKind.PRIVATE_SERVICE
    ):  # fmt: skip
        raise MandateRefused("service_kind", "choose public authorities or private services")
    client_ids = list(dict.fromkeys(client_ids or ()))
    for client_id in client_ids:
        client = db.session.get(Client, client_id) if isinstance(client_id, str) else None
        if client is None or not client.accepts_representation:
            raise MandateRefused("client_ids", "a service named does not accept representation")
    attributes = list(dict.fromkeys(attributes or ()))
    if not attributes:
        raise MandateRefused("attributes", "choose at least one piece of information")
    unknown = [name for name in attributes if name not in CITIZEN_CLAIMS]
    if unknown:
        raise MandateRefused("attributes", "a piece of information Tillid does not know")
    return service_kind, client_ids, attributes


def grant(
    principal: Citizen,
    agent_cpr: str,
    agent_name: str,
    *,
    attributes,
    valid_until: dt.datetime,
    service_kind: str | None = None,
    client_ids=(),
) -> Mandate:
    """The principal gives another citizen, named by CPR number and full name (both must
    match the register), a mandate that waits for the agent to accept it."""
    try:
        canonical = cpr_numbers.parse(agent_cpr or "")
    except cpr_numbers.InvalidCPR:
        raise MandateRefused("agent_cpr", "the CPR number is not valid") from None
    agent = find_by_cpr(canonical)
    # One message for a CPR number Tillid does not know and a name that does not match it:
    # the form must not tell who is registered under a number.
    if agent is None or _name(agent.full_name) != _name(agent_name):
        raise MandateRefused("agent_name", "the CPR number and the name do not match a person")
    if agent.id == principal.id:
        raise MandateRefused("agent_cpr", "you cannot give a mandate to yourself")
    now = utcnow()
    if valid_until <= now:
        raise MandateRefused("valid_until", "the end date must be in the future")
    if valid_until > now + dt.timedelta(days=MAX_GRANT_DAYS):
        raise MandateRefused("valid_until", "a mandate can last five years at the most")
    kind, client_ids, attributes = _scope(service_kind, client_ids, attributes)
    mandate = Mandate(principal_id=principal.id, agent_id=agent.id, origin=Origin.GRANTED,
                      service_kind=kind, client_ids=client_ids, attributes=attributes,
                      valid_from=now, valid_until=valid_until)  # fmt: skip
    db.session.add(mandate)
    db.session.commit()
    return mandate


def accept(agent: Citizen, mandate_id: str) -> Mandate:
    """The agent takes on a mandate given to them: it is in force from now."""
    mandate = held_by(agent.id, mandate_id)
    expired = (
        mandate is not None and mandate.valid_until is not None and mandate.valid_until <= utcnow()
    )
    if mandate is None or mandate.ended_at is not None or expired:
        raise MandateRefused("mandate", "there is no such mandate waiting for you")
    if mandate.accepted_at is None:
        mandate.accepted_at = utcnow()
        db.session.commit()
    return mandate


def end(mandate: Mandate, by: EndedBy) -> bool:
    """End it now (False if it had ended already); refresh tokens and userinfo under it stop
    at once, since both check the mandate on every use."""
    if mandate.ended_at is not None:
        return False
    mandate.ended_at, mandate.ended_by = utcnow(), by
    db.session.commit()
    return True


def custody(parent: Citizen, child: Citizen, *, attributes) -> Mandate:
    """A parent's custody of a child as the population register shows it: in force at once,
    ending on the child's 18th birthday; one per parent and child (an existing one is kept)."""
    existing = db.session.scalar(
        select(Mandate).where(
            Mandate.principal_id == child.id,
            Mandate.agent_id == parent.id,
            Mandate.origin == Origin.CUSTODY,
            Mandate.ended_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    until = coming_of_age(child.birthdate)
    if until <= utcnow():
        raise MandateRefused("child", "the child is 18 or older: custody has ended")
    _kind, _ids, attributes = _scope(None, (), attributes)
    now = utcnow()
    mandate = Mandate(principal_id=child.id, agent_id=parent.id, origin=Origin.CUSTODY,
                      attributes=attributes, valid_from=now, valid_until=until,
                      accepted_at=now)  # fmt: skip
    db.session.add(mandate)
    db.session.commit()
    return mandate


def appoint(
    principal: Citizen,
    agent: Citizen,
    *,
    attributes,
    valid_until: dt.datetime | None = None,
    service_kind: str | None = None,
    client_ids=(),
    appointed_by: str | None = None,
) -> Mandate:
    """A guardian appointed by an authority (``appointed_by``: its client id; None from the
    operator's CLI): in force at once."""
    if agent.id == principal.id:
        raise MandateRefused("agent", "a person cannot be their own guardian")
    now = utcnow()
    if valid_until is not None and valid_until <= now:
        raise MandateRefused("valid_until", "the end date must be in the future")
    kind, client_ids, attributes = _scope(service_kind, client_ids, attributes)
    mandate = Mandate(principal_id=principal.id, agent_id=agent.id,
                      origin=Origin.GUARDIANSHIP, service_kind=kind, client_ids=client_ids,
                      attributes=attributes, valid_from=now, valid_until=valid_until,
                      accepted_at=now, appointed_by=appointed_by)  # fmt: skip
    db.session.add(mandate)
    db.session.commit()
    return mandate


def get(mandate_id) -> Mandate | None:
    if not isinstance(mandate_id, str) or len(mandate_id) != 32:
        return None
    return db.session.get(Mandate, mandate_id)


def held_by(agent_id: str, mandate_id) -> Mandate | None:
    mandate = get(mandate_id)
    return mandate if mandate is not None and mandate.agent_id == agent_id else None


def of_citizen(citizen_id: str, mandate_id) -> Mandate | None:
    """A mandate the citizen gave or holds (None for anyone else's)."""
    mandate = get(mandate_id)
    if mandate is None or citizen_id not in (mandate.principal_id, mandate.agent_id):
        return None
    return mandate


def given(principal_id: str) -> list[Mandate]:
    """Every mandate the citizen gave (or that others hold for them), newest first."""
    return list(db.session.scalars(
        select(Mandate).where(Mandate.principal_id == principal_id)
        .order_by(Mandate.created_at.desc())
    ))  # fmt: skip


def held(agent_id: str) -> list[Mandate]:
    """Every mandate the citizen holds for others, newest first."""
    return list(db.session.scalars(
        select(Mandate).where(Mandate.agent_id == agent_id).order_by(Mandate.created_at.desc())
    ))  # fmt: skip


def in_force_at(agent_id: str, client: Client) -> list[tuple[Mandate, Citizen]]:
    """The mandates the agent may use at ``client`` now, each with its principal: none at a
    service that does not accept representation."""
    if not client.accepts_representation:
        return []
    now = utcnow()
    rows = db.session.execute(
        select(Mandate, Citizen)
        .join(Citizen, Citizen.id == Mandate.principal_id)
        .where(
            Mandate.agent_id == agent_id,
            Mandate.accepted_at.is_not(None),
            Mandate.ended_at.is_(None),
            Mandate.valid_from <= now,
            or_(Mandate.valid_until.is_(None), Mandate.valid_until > now),
        )
        .order_by(Citizen.given_name, Citizen.family_name)
    ).all()
    return [(mandate, principal) for mandate, principal in rows
            if mandate.covers(client.client_id, str(client.kind))]  # fmt: skip


def releasable(mandate: Mandate, client: Client) -> frozenset[str]:
    """What ``client`` may receive of the principal while the agent acts under ``mandate``:
    what the mandate covers and the service registered for representation, both."""
    return frozenset(mandate.attributes) & frozenset(client.representation_claims)


def in_force_for(mandate_id, agent_id: str, principal_id: str, client: Client) -> Mandate | None:
    """The mandate a token or refresh token was issued under, if it still lets this agent act
    for this principal at this service: checked on every use, so an ended one stops them."""
    mandate = get(mandate_id)
    if (
        mandate is None
        or mandate.agent_id != agent_id
        or mandate.principal_id != principal_id
        or not mandate.in_force()
        or not client.accepts_representation
        or not mandate.covers(client.client_id, str(client.kind))
    ):
        return None
    return mandate


def representation(mandate: Mandate, client: Client) -> dict:
    """The `representation` claim of an ID token issued while an agent acts: which mandate,
    of what origin, what it lets the service receive, and until when."""
    return {
        "mandate_id": mandate.id,
        "origin": str(mandate.origin),
        "attributes": sorted(releasable(mandate, client)),
        "valid_until": int(mandate.valid_until.timestamp()) if mandate.valid_until else None,
    }
