"""A citizen's authenticators as a whole: which count, naming, and never losing the last."""

from __future__ import annotations

from sqlalchemy import select

from idp.authenticators.models import Authenticator
from idp.core.extensions import db

NAME_MAX = 100


class LastSecondFactor(Exception):
    """Removing this authenticator would leave the citizen with no second factor."""


def active(citizen_id: str) -> list[Authenticator]:
    return list(
        db.session.scalars(
            select(Authenticator)
            .where(Authenticator.citizen_id == citizen_id, Authenticator.confirmed_at.is_not(None))
            .order_by(Authenticator.created_at)
        )
    )


def has_second_factor(citizen_id: str) -> bool:
    return bool(active(citizen_id))


def owned(citizen_id: str, authenticator_id: str) -> Authenticator | None:
    """The citizen's own authenticator by id, else None (never someone else's)."""
    found = db.session.get(Authenticator, authenticator_id)
    return found if found is not None and found.citizen_id == citizen_id else None


def clean_name(raw: str | None, default: str) -> str:
    name = " ".join((raw or "").split())[:NAME_MAX]
    return name if name.isprintable() and name else default


def rename(authenticator: Authenticator, raw_name: str) -> None:
    authenticator.name = clean_name(raw_name, authenticator.name)
    db.session.commit()


def remove(authenticator: Authenticator) -> None:
    others = [a for a in active(authenticator.citizen_id) if a.id != authenticator.id]
    if authenticator.active and not others:
        raise LastSecondFactor()
    db.session.delete(authenticator)
    db.session.commit()
