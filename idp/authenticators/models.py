"""Authenticator and RecoveryCode: a citizen's second factors and their way back in."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.authenticators import assurance
from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class AuthenticatorKind(enum.StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"  # passkeys and security keys (their columns come with them)
    PHONE = "phone"  # the phone app: a WebAuthn credential made on the phone, for approvals


class Authenticator(db.Model):
    """One second factor. A TOTP authenticator counts only once confirmed with a code."""

    __tablename__ = "authenticator"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    citizen_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AuthenticatorKind] = mapped_column(
        string_enum(AuthenticatorKind, "authenticator_kind", length=16)
    )
    name: Mapped[str] = mapped_column(String(100))
    # The TOTP seed, AES-GCM under the data key, bound to this column.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # WebAuthn: the credential as registered (py_webauthn), and what it told about itself.
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int | None]
    aaguid: Mapped[str | None] = mapped_column(String(36))
    transports: Mapped[list | None] = mapped_column(JSON)
    backup_eligible: Mapped[bool | None]  # a synced passkey may be copied: never NSIS High
    backup_state: Mapped[bool | None]
    # The phone app's own key (a long-lived cookie on the paired phone), as SHA-256: it lets
    # the app list the requests waiting for it; approving still needs the phone's credential.
    app_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The level of the session that enrolled it (NIST SP 800-63B's binding rule): a login
    # with it never reaches more. Unknown (rows from before it was kept, an operator's
    # enrolment): the stricter Substantial.
    bound_level: Mapped[str] = mapped_column(
        String(64), default=assurance.SUBSTANTIAL, server_default=assurance.SUBSTANTIAL
    )
    # Set when a sign count went backwards (a cloned key?): it no longer logs anyone in.
    suspect_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(db.Model):
    """A single-use code from the list shown once at enrolment; only a keyed hash is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
