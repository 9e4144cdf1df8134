"""Key proofs (OpenID4VCI 1.0 section 8.2.1 and appendix F.1): each a JWT of type
`openid4vci-proof+jwt` by which the wallet shows it holds the key a credential is to be bound
to. Signed by the public key in its own header (`jwk`; Tillid binds credentials to keys, not
to DIDs or certificates), for this issuer (`aud`), now (`iat`), with a fresh `c_nonce`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app

from idp.oidc import dpop
from idp.wallet import pid

TYP = "openid4vci-proof+jwt"
# HAIP 1.0: ES256 (the wallet's keys are P-256 keys in its secure hardware).
ALGORITHMS = ("ES256",)
# How old a proof may be (the nonce's own life bounds it too), and how far ahead of our clock.
MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 30
# Header members that name a key some other way than `jwk`: Tillid does not resolve them.
_OTHER_KEY_REFERENCES = ("kid", "x5c", "trust_chain", "key_attestation")


class InvalidProof(ValueError):
    """A proof that does not hold (`invalid_proof`)."""


@dataclass(frozen=True)
class Proven:
    jwk: dict  # the public key to bind the credential to
    thumbprint: str
    nonce: str


def verify(proof, *, client_id: str) -> Proven:
    """One key proof checked, all but whether its nonce is fresh (the caller spends it once
    for every proof of the request). Raises InvalidProof."""
    try:
        header, claims, _key = dpop.signed_by_header_key(
            proof, typ=TYP, algorithms=ALGORITHMS, what="key proof"
        )
    except dpop.ProofError as refused:
        raise InvalidProof(refused.description) from None
    if any(name in header for name in _OTHER_KEY_REFERENCES):
        raise InvalidProof("The proof names its key by jwk only (no kid, x5c or attestation).")
    audience = claims.get("aud")
    issuer = current_app.config["ISSUER"]
    if audience != issuer and not (isinstance(audience, list) and audience == [issuer]):
        raise InvalidProof("The proof's aud must be the credential issuer.")
    issued_at = claims.get("iat")
    now = time.time()
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise InvalidProof("The proof needs iat.")
    if issued_at > now + CLOCK_SKEW_SECONDS or issued_at < now - MAX_AGE_SECONDS:
        raise InvalidProof("The proof's iat is not now.")
    # iss is the wallet's client_id, or left out (OpenID4VCI 1.0 F.1); never another's.
    if "iss" in claims and claims["iss"] != client_id:
        raise InvalidProof("The proof's iss is not the wallet the token was issued to.")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidProof("The proof needs the c_nonce from the nonce endpoint.")
    try:
        jwk, thumbprint = pid.holder_key(header["jwk"])
    except pid.InvalidHolderKey as refused:
        raise InvalidProof(str(refused)) from None
    return Proven(jwk=jwk, thumbprint=thumbprint, nonce=nonce)
