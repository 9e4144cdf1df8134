"""The one decision on every release: which claims a service gets, on which basis, and why.

The OIDC layer (ID token, userinfo) and the authorities' attribute API ask here and
nowhere else, and each release is ledgered: the caller's ``ledger.commit()`` commits its
transaction, then makes the entries durable before the answer is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select

from clients.claims import CLAIMS, LegalBasis, claims_for, for_public_authorities_only
from clients.models import ClaimPolicy, Client, ClientKind
from consent import ledger, repeats
from consent.models import ConsentGrant
from idp.citizens.models import Citizen
from idp.core import database
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


@dataclass(frozen=True)
class Consent:
    """What a citizen agreed to give one service (its consent-based claims) and was told it
    receives on another basis (the notices shown): a consent grant's two columns, read
    fresh for every decision (a withdrawal counts at once)."""

    claims: frozenset[str] = frozenset()
    noticed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, claims: list | None, noticed: list | None) -> Consent:
        return cls(frozenset(claims or ()), frozenset(noticed or ()))


# Built once (building a statement costs about as much as running this one): the values
# are bound per call.
_CONSENT = select(ConsentGrant.claims, ConsentGrant.noticed).where(
    ConsentGrant.citizen_id == bindparam("citizen_id"),
    ConsentGrant.client_id == bindparam("client_id"),
)
# The citizen's columns by attribute name, read without the ORM: a userinfo call only reads
# them (claim values), so building a Citizen from the row costs less than the ORM's loading.
_CITIZEN_COLUMNS = {
    attribute.key: attribute.columns[0] for attribute in Citizen.__mapper__.column_attrs
}
_CITIZEN_WITH_CONSENT = (
    select(
        *(column.label(key) for key, column in _CITIZEN_COLUMNS.items()),
        ConsentGrant.claims.label("consent_claims"),
        ConsentGrant.noticed.label("consent_noticed"),
    )
    .select_from(Citizen.__table__)
    .outerjoin(
        ConsentGrant.__table__,
        (ConsentGrant.citizen_id == Citizen.id)
        & (ConsentGrant.client_id == bindparam("client_id")),
    )
    .where(Citizen.id == bindparam("citizen_id"))
)


def consent_of(citizen_id: str, client_id: str) -> Consent:
    """The citizen's consent to ``client_id`` now (nothing agreed to when there is no grant).
    The two columns only: no ORM object is built for a read."""
    bound = {"citizen_id": citizen_id, "client_id": client_id}
    row = db.session.execute(_CONSENT, bound).first()
    return Consent.of(*row) if row is not None else Consent()


def citizen_with_consent(citizen_id: str, client_id: str) -> tuple[Citizen | None, Consent]:
    """The citizen and their consent to ``client_id``, in one query (a join): what a service
    presenting the citizen's access token needs for a release (idp/oidc/guard.py).

    Read now, on every call (a suspension, a changed attribute or a withdrawn consent counts
    at once), as plain columns on a connection of its own: no ORM session is opened for a
    read. The Citizen returned is built from the row and belongs to no session: for reading
    (its status, its claims), never for a change."""
    row = database.first_row(
        _CITIZEN_WITH_CONSENT, {"citizen_id": citizen_id, "client_id": client_id}
    )
    if row is None:
        return None, Consent()
    values = row._mapping
    citizen = Citizen(**{key: values[key] for key in _CITIZEN_COLUMNS})
    return citizen, Consent.of(values["consent_claims"], values["consent_noticed"])


def decide(
    client: Client,
    citizen_id: str,
    scopes: list[str],
    claims: Iterable[str] = (),
    *,
    consent_applies: bool = True,
    consent: Consent | None = None,
    within: frozenset[str] | None = None,
) -> Release:
    """Split the claims of ``scopes`` (and those asked for by name, ``claims``) into those
    released and those awaiting consent.

    A claim is released only when the client's policy names it; consent-based claims
    only once the citizen has agreed, and never where consent does not apply (an
    authority's lookup, which the citizen takes no part in); a claim for public
    authorities only (the CPR number) never to a private service, whatever the client
    registry says. ``consent``: the citizen's consent to ``client`` when the caller has just
    read it (`citizen_with_consent`); else it is read here. ``within``: while an agent acts
    for the citizen, the claims the mandate and the service's registration both allow
    (idp/mandates/service.py `releasable`); no other is released.
    """
    policy = client.release_policy()
    if consent is None:
        consent = consent_of(citizen_id, client.client_id)
    consented, noticed = consent.claims, consent.noticed
    release = Release()
    for claim in dict.fromkeys([*claims_for(scopes), *claims]):
        rule = policy.get(claim)
        if rule is None or (within is not None and claim not in within):
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


@dataclass(frozen=True)
class Acting:
    """An agent releasing the citizen's data under a mandate (docs/representation.md): only
    ``within`` may go, and each entry is written twice: in the citizen's (the principal's)
    log, naming the agent, and in the agent's own log, naming the principal."""

    agent_id: str
    agent_name: str
    principal_name: str
    mandate_id: str
    origin: str
    within: frozenset[str]

    def entries(self, citizen_id: str) -> list[tuple[str, dict]]:
        """(whose log, the entry's `representation`) for one release."""
        common = {"mandate_id": self.mandate_id, "origin": self.origin}
        return [
            (citizen_id, {"role": "principal", "agent": self.agent_name, **common}),
            (self.agent_id, {"role": "agent", "principal": self.principal_name, **common}),
        ]


def _logs(citizen_id: str, acting: Acting | None) -> list[tuple[str, dict | None]]:
    return acting.entries(citizen_id) if acting is not None else [(citizen_id, None)]


def _ledger_groups(release: Release, values: dict) -> dict[tuple[str, str], list[str]]:
    """The released claims that had a value, per (legal basis, purpose): one entry each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for rule in release.granted:
        if rule.claim in values:
            groups.setdefault((str(rule.legal_basis), rule.purpose), []).append(rule.claim)
    return groups


def release(
    client: Client,
    citizen: Citizen,
    scopes: list[str],
    claims: Iterable[str],
    channel: ledger.Channel,
    acting: Acting | None = None,
) -> dict:
    """Decide, take the values, and ledger them: the one way claims leave Tillid.

    The ledger entries wait for the caller's ``ledger.commit()`` once the response is built:
    it commits the caller's transaction, then the entries (with those of concurrent
    releases, consent/ledger/group_commit.py), and returns once they are durable; so
    nothing is released without its entry, and a release whose writes failed leaves none.
    One entry per legal basis and purpose; with ``acting``, only what the mandate allows,
    and each entry in both the principal's and the agent's log.
    """
    consent_applies = channel in (ledger.Channel.LOGIN, ledger.Channel.USERINFO)
    decision = decide(client, citizen.id, scopes, claims, consent_applies=consent_applies,
                      within=acting.within if acting else None)  # fmt: skip
    values = claim_values(citizen, decision)
    for (legal_basis, purpose), attributes in _ledger_groups(decision, values).items():
        for whose, representation in _logs(citizen.id, acting):
            ledger.append(citizen_id=whose, client=client, channel=channel,
                          attributes=attributes, purpose=purpose, legal_basis=legal_basis,
                          representation=representation)  # fmt: skip
    return values


@dataclass
class TokenRelease:
    """What `release_under_token` released: the values, and the entries it added to the
    caller's transaction (``pending.marks``), to be remembered once that has committed."""

    values: dict
    pending: repeats.Pending

    @property
    def ledgered(self) -> bool:
        """Whether the caller's transaction holds new entries (then it must commit them)."""
        return bool(self.pending.marks)


def release_under_token(
    client: Client,
    citizen: Citizen,
    scopes: list[str],
    claims: Iterable[str],
    channel: ledger.Channel,
    token: repeats.Token,
    consent: Consent | None = None,
    acting: Acting | None = None,
) -> TokenRelease:
    """`release` for a service that presents an access token (userinfo): the same decision
    and values, but a release identical to one already ledgered under ``token`` (the same
    attributes, purpose and legal basis for the same client and citizen) adds no entry; the
    entry of the first says until when the token was valid (consent/repeats.py).

    Every other release is ledgered in the caller's transaction, as by `release`. The
    caller commits when ``ledgered`` and only then calls ``pending.remember()``.
    ``consent`` as for `decide`.
    """
    decision = decide(client, citizen.id, scopes, claims, consent_applies=True, consent=consent,
                      within=acting.within if acting else None)  # fmt: skip
    values = claim_values(citizen, decision)
    pending = repeats.Pending(token)
    marks = {
        repeats.mark(token, citizen.id, client.client_id, str(channel), attributes, purpose,
                     legal_basis): (legal_basis, purpose, attributes)
        for (legal_basis, purpose), attributes in _ledger_groups(decision, values).items()
    }  # fmt: skip
    if marks:
        already = repeats.ledgered(token, marks)
        for mark, (legal_basis, purpose, attributes) in marks.items():
            if mark in already:
                continue
            for whose, representation in _logs(citizen.id, acting):
                ledger.append(citizen_id=whose, client=client, channel=channel,
                              attributes=attributes, purpose=purpose, legal_basis=legal_basis,
                              token_valid_until=token.valid_until,
                              representation=representation)  # fmt: skip
            pending.marks.append(mark)
    return TokenRelease(values, pending)


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
