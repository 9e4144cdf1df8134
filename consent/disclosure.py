"""What a citizen reads about what a service receives: the consent and notice page
(idp/templates/oidc/consent.html) and the consents page (idp/templates/account/consents.html)
build it here, so both say it the same way and in the same order.

Attributes that share a purpose are listed under that purpose, which is stated once; claims
that say one thing to the citizen (the first, last and full name) are one line ("your name",
clients/claims.py); the order is the claim registry's, so a purpose comes where its first
attribute does on either page. What a service receives on a basis other than consent is
grouped by that basis, with why the citizen cannot withdraw it (consent/legal_basis.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from clients import claims
from clients.claims import LegalBasis
from clients.models import Client
from consent import legal_basis
from consent.models import ConsentGrant
from idp.core.extensions import db


class Rule(Protocol):
    """A claim with its purpose and basis: a client's ClaimPolicy, or what a grant names."""

    claim: str
    purpose: str | None
    legal_basis: str


@dataclass(frozen=True)
class _Named:
    claim: str
    purpose: str | None
    legal_basis: str


@dataclass(frozen=True)
class Purpose:
    """One purpose, stated once, with the attributes it is given for."""

    text: str | None  # in the service's words; None when the registration no longer says
    attributes: list  # what the citizen reads, one line each (lazy: in the page's language)
    claims: list[str]


@dataclass(frozen=True)
class Basis:
    """What a service receives on one basis other than consent: told, not asked."""

    basis: str
    label: str  # the basis inside a sentence ("a legal obligation")
    why_not_withdrawable: str
    purposes: list[Purpose]


def by_purpose(rules: Iterable[Rule]) -> list[Purpose]:
    """``rules`` grouped by purpose, in the claim registry's order."""
    grouped: dict[str | None, list[str]] = {}
    for rule in sorted(rules, key=lambda rule: claims.registry_order(rule.claim)):
        grouped.setdefault(rule.purpose, []).append(rule.claim)
    return [Purpose(text, claims.labels(names), names) for text, names in grouped.items()]


def by_basis(rules: Iterable[Rule]) -> list[Basis]:
    """Rules on bases other than consent, grouped by basis (in the registry's order of their
    first claim), each by purpose."""
    grouped: dict[str, list[Rule]] = {}
    for rule in sorted(rules, key=lambda rule: claims.registry_order(rule.claim)):
        if not legal_basis.withdrawable(rule.legal_basis):
            grouped.setdefault(str(rule.legal_basis), []).append(rule)
    return [
        Basis(basis, legal_basis.label(basis), legal_basis.why_not_withdrawable(basis),
              by_purpose(named))
        for basis, named in grouped.items()
    ]  # fmt: skip


@dataclass(frozen=True)
class ServiceConsent:
    """One service on the consents page: what the citizen agreed to give it (which they may
    withdraw) and what it receives on another basis (which they may not)."""

    client_id: str
    name: str
    grant: ConsentGrant
    consented: list[Purpose]
    notices: list[Basis]

    @property
    def withdrawable(self) -> bool:
        return bool(self.consented)


def _consented_rules(grant: ConsentGrant, client: Client | None) -> list[Rule]:
    """The claims the citizen agreed to, with the purpose the service gives now."""
    policy = client.release_policy() if client is not None else {}
    rules: list[Rule] = []
    for claim in grant.claims or ():
        rule = policy.get(claim)
        purpose = rule.purpose if rule is not None else None
        rules.append(_Named(claim, purpose, LegalBasis.CONSENT))
    return rules


def _noticed_rules(grant: ConsentGrant, client: Client | None) -> list[Rule]:
    """The claims the citizen was told the service receives on another basis, as its
    registration still says (a claim it no longer receives that way is not shown)."""
    policy = client.release_policy() if client is not None else {}
    return [
        policy[claim]
        for claim in grant.noticed or ()
        if claim in policy and not legal_basis.withdrawable(policy[claim].legal_basis)
    ]


def of_grant(grant: ConsentGrant, client: Client | None) -> ServiceConsent:
    return ServiceConsent(
        client_id=grant.client_id,
        name=client.name if client is not None else grant.client_id,
        grant=grant,
        consented=by_purpose(_consented_rules(grant, client)),
        notices=by_basis(_noticed_rules(grant, client)),
    )


def services_of(citizen_id: str) -> list[ServiceConsent]:
    """Every service the citizen has agreed to give something or been told it receives
    something, newest first."""
    rows = db.session.execute(
        select(ConsentGrant, Client)
        .outerjoin(Client, Client.client_id == ConsentGrant.client_id)
        .where(ConsentGrant.citizen_id == citizen_id)
        .order_by(ConsentGrant.granted_at.desc(), ConsentGrant.id.desc())
    ).all()
    shown = [of_grant(grant, client) for grant, client in rows]
    return [service for service in shown if service.consented or service.notices]


def service_of(citizen_id: str, client_id: str) -> ServiceConsent | None:
    """The one service's entry on the citizen's consents page, else None."""
    row = db.session.execute(
        select(ConsentGrant, Client)
        .outerjoin(Client, Client.client_id == ConsentGrant.client_id)
        .where(ConsentGrant.citizen_id == citizen_id, ConsentGrant.client_id == client_id)
    ).first()
    return of_grant(*row) if row is not None else None
