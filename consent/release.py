"""The one decision on every release: which claims a service gets, on which basis, and why.

The OIDC layer (ID token, userinfo) and the authorities' attribute API ask here and
nowhere else, and each release is ledgered: the caller's ``ledger.commit()`` commits its
transaction, then makes the entries durable before the answer is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from clients.claims import CLAIMS, LegalBasis, claims_for, for_public_authorities_only
from clients.models import ClaimPolicy, Client, ClientKind
from consent import ledger
from consent.models import ConsentGrant
from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.core.extensions import db


@dataclass
class Release:
    """What ``client`` may receive of one citizen for the requested scopes."""

    granted: list[ClaimPolicy] = field(default_factory=list)
    needs_consent: list[ClaimPolicy] = field(default_factory=list)
    # Claims on another basis whose notice the citizen has not yet been shown for this service.
    unseen_notices: list[ClaimPolicy] = field(default_factory=list)

    @property
    def needs_the_citizen(self) -> bool:
        """Whether the citizen must see the page: to agree, or to be told, before release."""
        return bool(self.needs_consent or self.unseen_notices)

    @property
    def notices(self) -> list[ClaimPolicy]:
        """Claims released on a basis other than consent: the citizen is told, not asked."""
        return [p for p in self.granted if p.legal_basis != LegalBasis.CONSENT]

    @property
    def consented(self) -> list[ClaimPolicy]:
        return [p for p in self.granted if p.legal_basis == LegalBasis.CONSENT]


def _grant(citizen_id: str, client_id: str) -> ConsentGrant | None:
    return db.session.scalar(
        select(ConsentGrant).where(
            ConsentGrant.citizen_id == citizen_id, ConsentGrant.client_id == client_id
        )
    )


def decide(
    client: Client,
    citizen_id: str,
    scopes: list[str],
    claims: Iterable[str] = (),
    *,
    consent_applies: bool = True,
) -> Release:
    """Split the claims of ``scopes`` (and those asked for by name, ``claims``) into those
    released and those awaiting consent.

    A claim is released only when the client's policy names it; consent-based claims
    only once the citizen has agreed, and never where consent does not apply (an
    authority's lookup, which the citizen takes no part in); a claim for public
    authorities only (the CPR number) never to a private service, whatever the client
    registry says.
    """
    policy = client.release_policy()
    grant = _grant(citizen_id, client.client_id)
    consented = set(grant.claims) if grant else set()
    noticed = set(grant.noticed) if grant else set()
    release = Release()
    for claim in dict.fromkeys([*claims_for(scopes), *claims]):
        rule = policy.get(claim)
        if rule is None:
            continue
        if for_public_authorities_only(claim) and client.kind != ClientKind.PUBLIC_AUTHORITY:
            continue
        if rule.legal_basis == LegalBasis.CONSENT and not consent_applies:
            continue
        if rule.legal_basis == LegalBasis.CONSENT and claim not in consented:
            release.needs_consent.append(rule)
            continue
        release.granted.append(rule)
        if rule.legal_basis != LegalBasis.CONSENT and claim not in noticed:
            release.unseen_notices.append(rule)
    return release


def record_decision(citizen_id: str, client: Client, release: Release) -> None:
    """The citizen agreed to what ``release`` asked and was shown what it told: remember
    both for ``client``, so the page is not shown again for the same claims."""
    grant = _grant(citizen_id, client.client_id)
    if grant is None:
        grant = ConsentGrant(
            citizen_id=citizen_id, client_id=client.client_id, claims=[], noticed=[]
        )
        db.session.add(grant)
    grant.claims = sorted(set(grant.claims) | {p.claim for p in release.needs_consent})
    grant.noticed = sorted(set(grant.noticed) | {p.claim for p in release.notices})
    grant.granted_at = utcnow()
    db.session.commit()


def release(
    client: Client,
    citizen: Citizen,
    scopes: list[str],
    claims: Iterable[str],
    channel: ledger.Channel,
) -> dict:
    """Decide, take the values, and ledger them: the one way claims leave Tillid.

    The ledger entries wait for the caller's ``ledger.commit()`` once the response is built:
    it commits the caller's transaction, then the entries (with those of concurrent
    releases, consent/ledger/group_commit.py), and returns once they are durable; so
    nothing is released without its entry, and a release whose writes failed leaves none.
    One entry per legal basis and purpose.
    """
    consent_applies = channel in (ledger.Channel.LOGIN, ledger.Channel.USERINFO)
    decision = decide(client, citizen.id, scopes, claims, consent_applies=consent_applies)
    values = claim_values(citizen, decision)
    groups: dict[tuple[str, str], list[str]] = {}
    for rule in decision.granted:
        if rule.claim in values:
            groups.setdefault((str(rule.legal_basis), rule.purpose), []).append(rule.claim)
    for (legal_basis, purpose), attributes in groups.items():
        ledger.append(citizen_id=citizen.id, client=client, channel=channel,
                      attributes=attributes, purpose=purpose, legal_basis=legal_basis)  # fmt: skip
    return values


def grants_of(citizen_id: str) -> list[ConsentGrant]:
    """What the citizen has agreed to, per service, newest first."""
    grants = db.session.scalars(
        select(ConsentGrant)
        .where(ConsentGrant.citizen_id == citizen_id)
        .order_by(ConsentGrant.granted_at.desc())
    )
    return [grant for grant in grants if grant.claims]


def withdraw(citizen_id: str, client_id: str) -> bool:
    """Withdraw the citizen's consent to ``client_id`` (GDPR Art. 7(3)): the service gets
    none of the consent-based claims again until the citizen agrees anew. The caller also
    ends what the service holds (its refresh tokens). False if there was nothing to withdraw."""
    grant = _grant(citizen_id, client_id)
    if grant is None or not grant.claims:
        return False
    grant.claims = []
    db.session.commit()
    return True


def claim_values(citizen: Citizen, release: Release) -> dict:
    """The values of the released claims, in OpenID Connect's shapes, each read as the claim
    registry says; a claim the citizen has no value for is left out."""
    values = {}
    for rule in release.granted:
        claim = CLAIMS.get(rule.claim)
        value = claim.read(citizen) if claim is not None else None
        if value is not None:
            values[rule.claim] = value
    return values
