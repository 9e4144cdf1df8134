"""Citizen and ActivationCode: who a person is and how they first get in."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, Date, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.core import crypto
from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class CitizenStatus(enum.StrEnum):
    PENDING = "pending"  # in the register, no account yet (waiting for the letter)
    ACTIVE = "active"
    LOCKED = "locked"  # temporarily, by an operator (e.g. suspected misuse)
    BLOCKED = "blocked"  # permanently, e.g. identity theft
    DECEASED = "deceased"


STATUS_TYPE = string_enum(CitizenStatus, "citizen_status", length=16)


class Citizen(db.Model):
    __tablename__ = "citizen"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    cpr_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    cpr_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    birthdate: Mapped[dt.date] = mapped_column(Date)
    street: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    # Where the person was born, as the PID rulebook's place_of_birth has it (any of the
    # three may be unknown: the register holds what was recorded at birth or immigration).
    birth_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    birth_region: Mapped[str | None] = mapped_column(String(100))
    birth_locality: Mapped[str | None] = mapped_column(String(100))
    # ISO 3166-1 alpha-2 codes, in the register's order; empty when none is recorded.
    nationalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[CitizenStatus] = mapped_column(STATUS_TYPE, default=CitizenStatus.PENDING)
    # Stored case-folded: the unique constraint then makes usernames case-insensitive.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the activation letter, sent to the registered address, proved who holds the
    # account (NSIS identity proofing): needed for High.
    identity_proofed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The random WebAuthn user handle (never the citizen id: authenticators may show it).
    webauthn_user_handle: Mapped[bytes | None] = mapped_column(LargeBinary(64), unique=True)

    activation_codes: Mapped[list[ActivationCode]] = relationship(
        back_populates="citizen", cascade="all, delete-orphan"
    )

    @property
    def cpr(self) -> str:
        return crypto.decrypt(self.cpr_encrypted, "citizen.cpr").decode()

    @cpr.setter
    def cpr(self, canonical: str) -> None:
        self.cpr_encrypted = crypto.encrypt(canonical.encode(), "citizen.cpr")
        self.cpr_lookup = cpr_lookup(canonical)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def place_of_birth(self) -> dict:
        """The parts of the birth place the register holds (none when nothing is known)."""
        parts = {
            "country": self.birth_country,
            "region": self.birth_region,
            "locality": self.birth_locality,
        }
        return {key: value for key, value in parts.items() if value}

    @property
    def address(self) -> dict:
        return {
            "street": self.street,
            "postcode": self.postcode,
            "city": self.city,
            "municipality_code": self.municipality_code,
        }


def cpr_lookup(canonical: str) -> str:
    return crypto.keyed_hash(canonical, "citizen.cpr")


class ActivationCode(db.Model):
    """A one-time code sent by letter; only its keyed hash is kept."""

    __tablename__ = "activation_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    citizen: Mapped[Citizen] = relationship(back_populates="activation_codes")
