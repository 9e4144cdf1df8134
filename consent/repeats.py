"""Releases already ledgered under an access token, so that a repeat adds no ledger entry.

A service that holds a citizen's access token may ask userinfo for the same claims as often
as it likes until the token expires. The first release is ledgered (in the transaction that
answers it, as every release) with the time the token is valid until; a release identical
to it under the same token (the same client, citizen, channel, attributes, purpose and legal
basis) adds nothing the log does not already say: that the service received those
attributes with a token valid until then. Anything else (another token, other claims, a
changed purpose or basis, a consent withdrawn and given again to other claims) is a release
of its own and gets its own entry.

What is remembered, and where: one set per token in the short-lived store, holding a keyed
hash of each release ledgered under it, kept until the token expires. It is written only
after the entry committed, so a release whose transaction failed leaves no mark and is
ledgered at the next call; two concurrent first calls may both ledger (twice, never zero
times). A revoked or expired token never reaches a release (idp/oidc/guard.py refuses it
first). Keys and members are keyed hashes (idp/core/crypto.py): the store holds no token,
no citizen id and no claim names. If the store cannot be written after the commit, the next
call ledgers again: a repeat entry is harmless, a missing one is not possible.

Each process also keeps the marks it has seen in the store or written itself, until the
token expires, so a service's repeats on the same worker cost no round trip. That is safe
because a mark, once there, stays true: it is only ever written after its entry committed,
and nothing takes it back before the token expires (a revocation stops the token at the
guard, before any release). At most _MAX_KEPT tokens per process; past that it starts afresh.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from flask import current_app, g

from idp.core import crypto
from idp.core.extensions import store

log = logging.getLogger(__name__)

_MAX_KEPT = 4096  # tokens whose marks a process keeps (a few hundred bytes each)


@dataclass(frozen=True)
class Token:
    """The access token a release is made under: its `jti` (the store's name for it) and
    until when it is valid (its `exp`)."""

    jti: str
    valid_until: dt.datetime

    @classmethod
    def from_claims(cls, claims: dict) -> Token:
        return cls(str(claims["jti"]), dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC))

    @functools.cached_property
    def store_key(self) -> str:
        """The store's key of its marks (a keyed hash: made only when the store is asked, and
        then once per request)."""
        return store.key("ledgered", crypto.keyed_hash(self.jti, "ledgered-token"))


def _key(token: Token) -> str:
    return token.store_key


def mark(token: Token, citizen_id: str, client_id: str, channel: str, attributes: Iterable[str],
         purpose: str, legal_basis: str) -> str:  # fmt: skip
    """What names one release under ``token``: a keyed hash of everything its entry says."""
    described = "\n".join([token.jti, citizen_id, client_id, channel, legal_basis, purpose,
                           *sorted(attributes)])  # fmt: skip
    return crypto.keyed_hash(described, "ledgered-release")


def _kept() -> dict[str, tuple[float, frozenset[str]]]:
    """This process's marks per token (its `jti`: a repeat needs no keyed hash to find them),
    with the token's expiry (per app)."""
    return current_app.extensions.setdefault("tillid_ledgered_marks", {})


def _keep(token: Token, marks: frozenset[str]) -> None:
    kept = _kept()
    if len(kept) >= _MAX_KEPT and token.jti not in kept:
        kept.clear()
    known = kept.get(token.jti)
    kept[token.jti] = (token.valid_until.timestamp(), marks | known[1] if known else marks)


def read_along(token: Token) -> tuple | None:
    """The store read of ``token``'s marks (name, key), for the request's round trip to the
    store before its release (idp/oidc/guard.py sends it with the token's record and budget),
    then given to `read_with_token`; None when this process keeps marks of the token already
    (`ledgered` asks the store only if they do not cover a release)."""
    known = _kept().get(token.jti)
    if known is not None and known[0] > time.time():
        return None
    return ("SMEMBERS", _key(token))


def read_with_token(token: Token, members: Iterable[bytes] | None) -> None:
    """What the store held for `read_along` in this request: `ledgered` takes it rather than
    asking again (a mark is only ever added, after its entry committed)."""
    marks = frozenset(member.decode() for member in members or ())
    g.ledgered_marks_read = (token.jti, marks)
    if marks:
        _keep(token, marks)


def ledgered(token: Token, wanted: Iterable[str] = ()) -> frozenset[str]:
    """Marks of releases already ledgered (and committed) under ``token``: all of ``wanted``
    from what this process has seen, else everything the store holds for the token (read in
    this request's round trip before, `read_with_token`, or now)."""
    read = g.get("ledgered_marks_read")
    if read is not None and read[0] == token.jti:
        return read[1]
    known = _kept().get(token.jti)
    if known is not None and known[0] > time.time() and known[1].issuperset(wanted):
        return known[1]
    marks = frozenset(member.decode() for member in store.redis.smembers(_key(token)))
    if marks:
        _keep(token, marks)
    return marks


@dataclass
class Pending:
    """Releases ledgered in the current transaction, to remember once it has committed."""

    token: Token
    marks: list[str] = field(default_factory=list)

    def remember(self) -> None:
        """Call only after the commit: from now on a repeat of these adds no entry."""
        if not self.marks:
            return
        key = _key(self.token)
        try:
            with store.redis.pipeline(transaction=True) as pipe:  # one key: one slot
                pipe.sadd(key, *self.marks)
                pipe.expireat(key, self.token.valid_until)
                pipe.execute()
        except redis.RedisError as exc:
            # The entries are committed; without the mark the next repeat is ledgered again.
            log.warning("ledgered releases not remembered (%s): a repeat will be ledgered", exc)
            return
        _keep(self.token, frozenset(self.marks))
