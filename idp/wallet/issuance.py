"""The credential endpoint's work (OpenID4VCI 1.0 section 8): read the wallet's request, check
its key proofs and their nonce, issue one credential per proven key, ledger the issuance.

Refusals are `CredentialError`s with OpenID4VCI's error codes (section 8.3.1.2), answered
as JSON with status 400; nothing is issued or ledgered for a refused request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clients.models import Client, ClientKind
from consent import ledger
from idp.citizens.models import Citizen
from idp.wallet import configurations, ledgering, mdoc, nonces, pid, proofs
from idp.wallet.metadata import BATCH_SIZE


class CredentialError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class _Issuer:
    issue: Callable[..., str]  # (citizen, holder_jwk, *, client_id) -> the credential
    attributes: Callable[[Citizen], list[str]]  # what it carries, for the ledger


# What each credential configuration is issued by: the same PID claims either way.
ISSUERS: dict[str, _Issuer] = {
    configurations.PID_SD_JWT: _Issuer(pid.issue, pid.attributes_of),
    configurations.PID_MDOC: _Issuer(mdoc.issue, pid.attributes_of),
}


def _configuration(body: dict, granted: list[str]) -> str:
    """The credential configuration asked for, by its id or by the identifier the token
    response gave (Tillid's identifiers are the configuration ids), one of the two only."""
    by_id = body.get("credential_configuration_id")
    by_identifier = body.get("credential_identifier")
    if (by_id is None) == (by_identifier is None):
        raise CredentialError(
            "invalid_credential_request",
            "Name the credential by credential_configuration_id or credential_identifier.",
        )
    if by_identifier is not None:
        if not isinstance(by_identifier, str) or by_identifier not in granted:
            raise CredentialError(
                "unknown_credential_identifier",
                "That credential_identifier was not given with this access token.",
            )
        return by_identifier
    if not isinstance(by_id, str) or by_id not in ISSUERS:
        raise CredentialError(
            "unknown_credential_configuration", "Tillid issues no credential of that id."
        )
    if by_id not in granted:
        raise CredentialError(
            "invalid_credential_request", "The access token was not granted for that credential."
        )
    return by_id


def _proofs(body: dict) -> list[str]:
    if "proof" in body:
        raise CredentialError(
            "invalid_credential_request", "Send key proofs as proofs (OpenID4VCI 1.0), not proof."
        )
    given = body.get("proofs")
    if not isinstance(given, dict) or list(given) != ["jwt"]:
        raise CredentialError("invalid_credential_request", "Send proofs with one proof type: jwt.")
    jwts = given["jwt"]
    if not isinstance(jwts, list) or not jwts:
        raise CredentialError("invalid_credential_request", "proofs.jwt must list key proofs.")
    if len(jwts) > BATCH_SIZE:
        raise CredentialError(
            "invalid_credential_request", f"At most {BATCH_SIZE} key proofs per request."
        )
    return jwts


def issue(body, *, citizen: Citizen, wallet: Client, granted: list[str]) -> list[str]:
    """The credentials for one credential request, in the order of its key proofs. Each is
    bound to its own key (a batch with one key twice is refused: the point of several
    credentials is that no two presentations share a key). The caller commits the ledger."""
    if wallet.kind != ClientKind.WALLET:
        raise CredentialError("invalid_token", "Credentials are issued to wallets only.", 401)
    if not isinstance(body, dict):
        raise CredentialError("invalid_credential_request", "The request must be a JSON object.")
    configuration = _configuration(body, granted)
    if "credential_response_encryption" in body:
        raise CredentialError(
            "invalid_encryption_parameters", "Tillid does not encrypt credential responses."
        )
    proven = []
    for proof in _proofs(body):
        try:
            proven.append(proofs.verify(proof, client_id=wallet.client_id))
        except proofs.InvalidProof as refused:
            raise CredentialError("invalid_proof", str(refused)) from None
    if len({p.thumbprint for p in proven}) != len(proven):
        raise CredentialError("invalid_proof", "Each key proof must be by a key of its own.")
    if len({p.nonce for p in proven}) != 1 or not nonces.spend(proven[0].nonce):
        raise CredentialError(
            "invalid_nonce", "The proofs' nonce is not a fresh c_nonce: get one from the nonce"
            " endpoint."
        )  # fmt: skip
    # Every proven key is a P-256 key (proofs.ALGORITHMS is ES256 alone), which both formats
    # bind: no credential of a batch can be refused for its key after another was issued.
    issuer = ISSUERS[configuration]
    try:
        attributes = issuer.attributes(citizen)
        credentials = [issuer.issue(citizen, p.jwk, client_id=wallet.client_id) for p in proven]
    except pid.IncompletePID as missing:
        raise CredentialError(
            "credential_request_denied",
            f"The citizen registry holds no {missing.attribute} for you, which the PID needs;"
            " your municipality can correct the CPR register.",
        ) from None
    ledgering.issued(citizen.id, wallet, attributes)
    ledger.commit()
    return credentials
