"""Key lifecycle: ensure, rotate, the signing key per purpose and algorithm, the published set."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

from flask import current_app
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import func, or_, select

from idp.core import crypto
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.core.problems import TemporarilyUnavailable
from idp.keys.models import SigningKey

ALGORITHMS = ("RS256", "ES256")
TOKEN = "token"  # noqa: S105 (a key purpose, no secret): ID and access tokens, at /jwks
CREDENTIAL = "credential"  # wallet credentials and status lists (idp/wallet/)
# Which algorithms each purpose signs with: credentials ES256 only, as HAIP 1.0 asks.
PURPOSES = {TOKEN: ALGORITHMS, CREDENTIAL: ("ES256",)}


class UnknownAlgorithm(ValueError):
    pass


class NoSigningKey(TemporarilyUnavailable, LookupError):
    """No key for this algorithm signs yet: run `flask keys ensure`."""

    detail = "No key signs tokens for this client at the moment."
    retry_after = 30  # an operator must act: polling faster would not help
    backend = "signing_keys"


def _check_alg(alg: str, purpose: str = TOKEN) -> None:
    if purpose not in PURPOSES:
        raise UnknownAlgorithm(f"unknown key purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    if alg not in PURPOSES[purpose]:
        raise UnknownAlgorithm(
            f"unknown algorithm {alg!r} for {purpose} keys; use {', '.join(PURPOSES[purpose])}"
        )


def _generate(alg: str) -> RSAKey | ECKey:
    _check_alg(alg)
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    return ECKey.generate_key("P-256", private=True)


def _context(kid: str) -> str:
    return f"signing-key:{kid}"


def _new_key(alg: str, activates_at: dt.datetime, purpose: str = TOKEN) -> SigningKey:
    key = _generate(alg)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(
        kid=kid,
        alg=alg,
        purpose=purpose,
        public_jwk=json.dumps(public, sort_keys=True),
        private_key_encrypted=crypto.encrypt(key.as_pem(private=True), _context(kid)),
        created_at=utcnow(),
        activates_at=activates_at,
    )


def _retention(purpose: str = TOKEN) -> dt.timedelta:
    tokens = dt.timedelta(seconds=current_app.config["KEY_RETIRED_PUBLISH_SECONDS"])
    if purpose == CREDENTIAL:
        # A credential lives far longer than a token: its key stays published until the
        # last credential it signed has expired.
        return max(tokens, dt.timedelta(days=current_app.config["PID_VALIDITY_DAYS"]))
    return tokens


def _signing_now(alg: str, now: dt.datetime, purpose: str = TOKEN) -> SigningKey | None:
    return db.session.scalar(
        select(SigningKey)
        .where(
            SigningKey.purpose == purpose,
            SigningKey.alg == alg,
            SigningKey.activates_at <= now,
            or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
        )
        .order_by(SigningKey.activates_at.desc())
        .limit(1)
    )


def ensure() -> list[SigningKey]:
    """Create an immediately active key for every purpose and algorithm that has none
    (first start)."""
    now = utcnow()
    created = []
    for purpose, algs in PURPOSES.items():
        for alg in algs:
            has_key = db.session.scalar(
                select(SigningKey.kid).where(
                    SigningKey.purpose == purpose,
                    SigningKey.alg == alg,
                    or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
                )
            )
            if has_key is None:
                key = _new_key(alg, activates_at=now, purpose=purpose)
                db.session.add(key)
                created.append(key)
    db.session.commit()
    forget_cached_keys()
    return created


def rotate(algs: tuple[str, ...], grace_seconds: int, purpose: str = TOKEN) -> list[SigningKey]:
    """Publish a new key per algorithm of ``purpose`` now; it signs after the grace period.

    The key it replaces stops signing at that moment and stays published for
    KEY_RETIRED_PUBLISH_SECONDS more (a credential key: PID_VALIDITY_DAYS), so what it
    signed still verifies. Keys of the other purpose are left alone.
    """
    if grace_seconds < 0:
        raise ValueError("the grace period cannot be negative")
    now = utcnow()
    switch_at = now + dt.timedelta(seconds=grace_seconds)
    for alg in algs:
        _check_alg(alg, purpose)
    created = []
    for alg in algs:
        for older in db.session.scalars(
            select(SigningKey).where(
                SigningKey.purpose == purpose,
                SigningKey.alg == alg,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > switch_at),
            )
        ):
            older.retired_at = switch_at
        key = _new_key(alg, activates_at=switch_at, purpose=purpose)
        db.session.add(key)
        created.append(key)
    db.session.commit()
    forget_cached_keys()
    return created


# Parsing a private key (RSA above all: it is validated) costs far more than signing with
# it, so each process keeps the few it uses. The cache key is bound to this app's data key
# (a keyed hash), so an app that could not decrypt the key never gets it from here.
_LOADED: dict[tuple[str, str], RSAKey | ECKey] = {}
_LOADED_MAX = 16


# Which key signs, and the published set, were a query on every token. Now each process
# keeps them until the key schedule says they change (an activation, a retirement, the end
# of a retired key's publication), and at most _CACHE_SECONDS: a rotation made here is seen
# at once, one made by another process within that time (by default a new key is published
# an hour before it signs, so nobody meets a kid they do not know).
_CACHE_SECONDS = 10


@dataclass
class _Cached:
    value: object
    loaded_at: float  # time.monotonic()
    valid_until: dt.datetime | None  # from the key schedule, on the database's clock


def _cached(name: tuple, load):
    """``load()`` gives (value, valid_until); kept per app, as explained above."""
    cache = current_app.extensions.setdefault("tillid_key_cache", {})
    hit = cache.get(name)
    if (
        hit is not None
        and time.monotonic() - hit.loaded_at < _CACHE_SECONDS
        and (hit.valid_until is None or utcnow() < hit.valid_until)
    ):
        return hit.value
    value, valid_until = load()
    cache[name] = _Cached(value, time.monotonic(), valid_until)
    return value


def verifying_keys(token) -> KeySet:
    """For joserfc's decode: the published keys, looked up by the token's own `kid` (the
    header is parsed once, by the decode itself)."""
    return published_key_set(token.headers().get("kid"))


def _cache_of(name: tuple) -> _Cached:
    return current_app.extensions["tillid_key_cache"][name]


def forget_cached_keys() -> None:
    current_app.extensions.pop("tillid_key_cache", None)


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def signing_key(alg: str, purpose: str = TOKEN) -> tuple[str, RSAKey | ECKey]:
    """The kid and private key that sign for ``alg`` now (tokens, unless ``purpose`` says)."""
    return _cached(("signing", purpose, alg), lambda: _load_signing_key(alg, purpose))


def without_signing_key(algs) -> list[str]:
    """Those of ``algs`` that no key signs for now (cached as ``signing_key`` is)."""
    return sorted(set(algs) - _cached(("signing-algorithms",), _load_signing_algorithms))


def require_signing_keys(algs) -> None:
    """Raise NoSigningKey unless a key signs now for each of ``algs``: checked before a
    request spends anything (a code, a refresh token) on tokens that could not be signed."""
    missing = without_signing_key(algs)
    if missing:
        raise NoSigningKey(f"no {' or '.join(missing)} signing key is active; "
                           "run `flask keys ensure`")  # fmt: skip


def _load_signing_algorithms():
    now = utcnow()
    schedule = db.session.execute(
        select(SigningKey.alg, SigningKey.activates_at, SigningKey.retired_at).where(
            SigningKey.purpose == TOKEN,
            or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
        )
    ).all()
    signing = frozenset(alg for alg, activates_at, _ in schedule if activates_at <= now)
    # Kept until the next activation or retirement changes the answer.
    changes = [moment for row in schedule for moment in row[1:] if moment and moment > now]
    return signing, _earliest(*changes)


def _load_signing_key(alg: str, purpose: str):
    now = utcnow()
    key = _signing_now(alg, now, purpose)
    if key is None:
        raise NoSigningKey(f"no {alg} {purpose} key is active; run `flask keys ensure`")
    cache_key = (crypto.keyed_hash(key.kid, "loaded-signing-key"),
                 hashlib.sha256(key.private_key_encrypted).hexdigest())  # fmt: skip
    loaded = _LOADED.get(cache_key)
    if loaded is None:
        pem = crypto.decrypt(key.private_key_encrypted, _context(key.kid))
        loaded = RSAKey.import_key(pem) if alg == "RS256" else ECKey.import_key(pem)
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[cache_key] = loaded
    next_activation = db.session.scalar(
        select(func.min(SigningKey.activates_at)).where(
            SigningKey.purpose == purpose, SigningKey.alg == alg, SigningKey.activates_at > now
        )
    )
    return (key.kid, loaded), _earliest(next_activation, key.retired_at)


def published(purpose: str = TOKEN) -> list[dict]:
    """The public JWKs of ``purpose`` verifiers may see: upcoming, active and recently
    retired (the token keys at /jwks, the credential keys at /.well-known/jwt-vc-issuer)."""
    if purpose == TOKEN:  # the name every token path already caches under
        return _cached(("published",), lambda: _load_published(TOKEN))
    return _cached(("published", purpose), lambda: _load_published(purpose))


def _load_published(purpose: str):
    cutoff = utcnow() - _retention(purpose)
    keys = list(
        db.session.scalars(
            select(SigningKey)
            .where(
                SigningKey.purpose == purpose,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff),
            )
            .order_by(SigningKey.alg, SigningKey.activates_at)
        )
    )
    unpublished_at = [key.retired_at + _retention(purpose) for key in keys if key.retired_at]
    return [json.loads(key.public_jwk) for key in keys], _earliest(*unpublished_at)


def published_key_set(kid: str | None = None) -> KeySet:
    """The published keys, ready to verify what Tillid signed (tokens, hints). A ``kid``
    not among them (another process just rotated) looks again, at most once a second, so
    tokens with made-up kids cannot turn every call into a query."""

    def load():
        keys = published()  # the set changes when the published keys do
        return KeySet.import_key_set({"keys": keys}), _cache_of(("published",)).valid_until

    key_set = _cached(("key-set",), load)
    # Without a kid (a token verified before, idp/oidc/tokens.py) just the cached set.
    if (
        isinstance(kid, str)
        and all(key.kid != kid for key in key_set.keys)
        and time.monotonic() - _cache_of(("key-set",)).loaded_at > 1
    ):
        forget_cached_keys()
        key_set = _cached(("key-set",), load)
    return key_set


def state(key: SigningKey, now: dt.datetime) -> str:
    if key.retired_at is not None and key.retired_at + _retention(key.purpose) <= now:
        return "expired"
    if key.retired_at is not None and key.retired_at <= now:
        return "retired"
    if key.activates_at > now:
        return "upcoming"
    return "active" if _signing_now(key.alg, now, key.purpose) is key else "superseded"


def describe_all() -> list[dict]:
    now = utcnow()
    keys = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at))
    return [
        {
            "kid": key.kid,
            "alg": key.alg,
            "purpose": key.purpose,
            "state": state(key, now),
            "created_at": key.created_at.isoformat(),
            "signs_from": key.activates_at.isoformat(),
            "signs_until": key.retired_at.isoformat() if key.retired_at else None,
            "published_until": (key.retired_at + _retention(key.purpose)).isoformat()
            if key.retired_at
            else None,
        }
        for key in keys
    ]
