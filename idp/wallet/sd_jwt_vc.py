"""Issuing an SD-JWT VC (RFC 9901, draft-ietf-oauth-sd-jwt-vc): disclosures, digests, decoys.

Written here rather than with the IETF reference package `sd-jwt` (0.10.4), which the tests
use as an independent verifier: it signs with jwcrypto (a second JOSE library beside
joserfc), adds decoys to every object it walks, including `status` and any other claim that
must stay plain, and takes its `typ` from a process-wide environment variable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

TYP = "dc+sd-jwt"  # draft-ietf-oauth-sd-jwt-vc: the media type of an SD-JWT VC
SD_ALG = "sha-256"
# Claims the SD-JWT VC draft forbids to be selectively disclosable: a verifier must always
# see who issued the credential, its type, validity, holder key and status.
ALWAYS_PLAIN = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "iat"})
_SALT_BYTES = 16  # 128 bits, as RFC 9901 section 9.3 recommends
_DECOYS = (1, 3)  # how many decoy digests each object or array gets, at least and at most


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def digest(disclosure: str) -> str:
    """RFC 9901 section 4.2.3: the hash is over the disclosure's base64url text."""
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


@dataclass(frozen=True)
class Disclosable:
    """A value the holder may choose to show or keep back; inside it, objects and arrays
    are walked again, so their members are disclosable one by one too."""

    value: Any


@dataclass
class _Builder:
    disclosures: list[str] = field(default_factory=list)

    def disclose(self, *parts: Any) -> str:
        salt = b64url(secrets.token_bytes(_SALT_BYTES))
        text = json.dumps([salt, *parts], ensure_ascii=False, separators=(",", ":"))
        encoded = b64url(text.encode("utf-8"))
        self.disclosures.append(encoded)
        return digest(encoded)

    def decoys(self) -> list[str]:
        # RFC 9901 section 4.2.5: a digest of random bytes, indistinguishable from a real one;
        # they hide how many claims (or nationalities) the credential holds.
        count = _DECOYS[0] + secrets.randbelow(_DECOYS[1] - _DECOYS[0] + 1)
        return [b64url(hashlib.sha256(secrets.token_bytes(32)).digest()) for _ in range(count)]

    def walk(self, value: Any) -> Any:
        if isinstance(value, Disclosable):
            raise TypeError("a Disclosable must be an object member or an array element")
        if isinstance(value, dict):
            return self.object(value)
        if isinstance(value, list):
            return self.array(value)
        return value

    def object(self, claims: dict) -> dict:
        plain: dict = {}
        digests: list[str] = []
        for name, value in claims.items():
            if name in ("_sd", "_sd_alg", "..."):
                raise ValueError(f"{name!r} is reserved by RFC 9901")
            if isinstance(value, Disclosable):
                digests.append(self.disclose(name, self.walk(value.value)))
            else:
                plain[name] = self.walk(value)
        if digests:
            # Sorted, so the order says nothing of which claim a digest stands for.
            plain["_sd"] = sorted(digests + self.decoys())
        return plain

    def array(self, elements: list) -> list:
        result = []
        for element in elements:
            if isinstance(element, Disclosable):
                result.append({"...": self.disclose(self.walk(element.value))})
            else:
                result.append(self.walk(element))
        if any(isinstance(element, Disclosable) for element in elements):
            # Decoys at random places among the real elements (whose order is kept).
            for decoy in self.decoys():
                result.insert(secrets.randbelow(len(result) + 1), {"...": decoy})
        return result


def issue(
    claims: dict,
    *,
    plain: dict,
    key: ECKey | RSAKey,
    kid: str,
    alg: str = "ES256",
) -> str:
    """The SD-JWT in its compact form, `<issuer-signed JWT>~<disclosure>~...~`.

    ``claims`` hold the disclosable claims (mark each with Disclosable, at any depth);
    ``plain`` the ones every verifier sees (iss, iat, exp, vct, cnf, status).
    """
    if set(claims) & set(plain):
        raise ValueError(f"claims both plain and disclosable: {sorted(set(claims) & set(plain))}")
    if forbidden := ALWAYS_PLAIN & {
        name for name, value in claims.items() if isinstance(value, Disclosable)
    }:
        raise ValueError(f"never selectively disclosable: {sorted(forbidden)}")
    builder = _Builder()
    payload = {**plain, **builder.object(claims), "_sd_alg": SD_ALG}
    header = {"alg": alg, "typ": TYP, "kid": kid}
    token = jws.serialize_compact(
        header, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), key
    )
    return "~".join([token, *builder.disclosures]) + "~"
