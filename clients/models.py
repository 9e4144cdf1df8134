"""Client and ClaimPolicy: a registered relying party and what it may receive, and why."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clients.claims import CPR_CLAIM, LegalBasis
from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class ClientKind(enum.StrEnum):
    PUBLIC_AUTHORITY = "public_authority"
    PRIVATE_SERVICE = "private_service"
    # A wallet provider's app (the EU Digital Identity Wallet): it receives the citizen's own
    # credentials (idp/wallet/), never claims in tokens.
    WALLET = "wallet"
    # Tillid itself, as the other party of the ledger entries it writes about a citizen's
    # own mandates (consent/mandate_events.py): one built-in row, disabled (never an OAuth
    # client), never registered by an operator.
    TILLID = "tillid"


# The client authentication method of a public client (it holds no secret, e.g. a browser app).
PUBLIC_CLIENT_AUTH = "none"
# A security profile a client may be registered under: the FAPI 2.0 Security Profile.
FAPI2_PROFILE = "fapi2"


class Client(db.Model):
    __tablename__ = "client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ClientKind] = mapped_column(string_enum(ClientKind, "client_kind"))
    # Pairwise subjects are per sector: services in one sector see the same `sub`.
    sector_identifier: Mapped[str] = mapped_column(String(255))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    # RFC 9068 access tokens: ES256 unless the resource servers it calls need RS256.
    access_token_signed_response_alg: Mapped[str] = mapped_column(
        String(10), default="ES256", server_default="ES256"
    )
    # SHA-256 of a 256-bit random secret: as strong as a slow hash, and cheap to check.
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    jwks: Mapped[dict | None] = mapped_column(JSON)  # for private_key_jwt
    # None, or FAPI2_PROFILE: PAR, DPoP, private_key_jwt and the FAPI algorithms enforced.
    profile: Mapped[str | None] = mapped_column(String(16))
    # RFC 9126 5: authorization requests only by reference to a pushed one.
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # RFC 9449 5.2: every token request carries a DPoP proof; access tokens are bound to it.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # It lets a citizen log in for someone they hold a mandate for (docs/representation.md),
    # and receives, while an agent acts, only these of the principal's claims (each also
    # registered in its claim policies, whose legal basis and purpose apply).
    accepts_representation: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    representation_claims: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # OpenID Connect Back-Channel Logout 1.0: where Tillid POSTs a logout token when a
    # citizen's SSO session ends (none: the service is not told), and whether that token
    # must carry `sid` (Tillid's always does; the flag is the service's registered need).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    claim_policies: Mapped[list[ClaimPolicy]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="ClaimPolicy.claim"
    )

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @property
    def is_fapi(self) -> bool:
        return self.profile == FAPI2_PROFILE

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_CLIENT_AUTH

    @property
    def signing_algorithms(self) -> tuple[str, str]:
        """The algorithms its tokens are signed with: its ID tokens', its access tokens'."""
        return self.id_token_signed_response_alg, self.access_token_signed_response_alg

    def release_policy(self) -> dict[str, ClaimPolicy]:
        return {policy.claim: policy for policy in self.claim_policies}

    def may_name_citizens_by_cpr(self) -> bool:
        """A public authority registered for the CPR number on a basis in law (not consent)
        may name a citizen by it (attribute and report APIs, a CIBA login_hint)."""
        rule = self.release_policy().get(CPR_CLAIM)
        return (
            self.kind == ClientKind.PUBLIC_AUTHORITY
            and rule is not None
            and rule.legal_basis != LegalBasis.CONSENT
        )


class ClaimPolicy(db.Model):
    """For one client and one claim: the GDPR legal basis and the purpose in plain words."""

    __tablename__ = "claim_policy"
    __table_args__ = (UniqueConstraint("client_id", "claim"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.client_id", ondelete="CASCADE"))
    claim: Mapped[str] = mapped_column(String(100))
    legal_basis: Mapped[LegalBasis] = mapped_column(string_enum(LegalBasis, "legal_basis"))
    purpose: Mapped[str] = mapped_column(Text)

    client: Mapped[Client] = relationship(back_populates="claim_policies")
