"""Credential offers for OpenID4VCI 1.0's pre-authorized code flow (§4.1.1, §3.5), started from
the citizen's portal ("Add to your wallet"): a pre-authorized code in the store, bound to a
six-digit transaction code the citizen types into the wallet.

Only a hash of the code is a key, so a store dump redeems nothing, and the transaction
code is kept only as an HMAC keyed by the pre-authorized code (a dump cannot test the million
transaction codes against it either). Everything about one offer is one key (a Redis hash),
so every operation on it is in one slot on a cluster, and redeeming needs no Lua: each try
is counted atomically before its transaction code is compared (MULTI/EXEC over the one key),
so at most ``MAX_TX_TRIES`` codes are ever compared, however many requests race; the one
that is right spends the offer by removing its record (HDEL), which only one caller can win.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app

from idp.core.extensions import store

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_SCHEME = "openid-credential-offer://"
TX_CODE_LENGTH = 6
# Wrong transaction codes an offer survives: the third wrong one kills it (a guesser has
# three chances in a million; the citizen starts a new offer).
MAX_TX_TRIES = 3
TX_CODE_DESCRIPTION = (
    "Enter the 6-digit code shown on the Tillid page where you chose to add your identity"
    " to your wallet."
)


class InvalidCode(ValueError):
    """The pre-authorized code is unknown, expired, already redeemed or dead after too many
    wrong transaction codes (OAuth's invalid_grant)."""


class WrongTxCode(ValueError):
    """The transaction code is missing or wrong; the offer stays redeemable until
    ``MAX_TX_TRIES`` wrong ones (OpenID4VCI 1.0 §6.3: invalid_grant)."""

    def __init__(self, message: str, tries_left: int = 0):
        super().__init__(message)
        self.tries_left = tries_left


@dataclass(frozen=True)
class Offer:
    pre_authorized_code: str
    tx_code: str
    offer: dict  # the credential offer object (§4.1.1)
    uri: str  # openid-credential-offer://?credential_offer=… (§4.1)
    expires_in: int


@dataclass(frozen=True)
class Redeemed:
    citizen_id: str
    configuration_ids: list[str]
    level: str
    auth_time: int


def lifetime() -> int:
    """How long an offer can be redeemed (WALLET_OFFER_SECONDS, five minutes by default): long
    enough to open the wallet and scan, short enough that a photographed screen is soon
    worth nothing."""
    return int(current_app.config["WALLET_OFFER_SECONDS"])


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _key(code: str) -> str:
    return store.key("wallet-offer", _hash(code))


def _tx_mac(code: str, tx_code: str) -> str:
    return hmac.new(code.encode(), tx_code.encode(), hashlib.sha256).hexdigest()


def offer_uri(offer: dict) -> str:
    """The offer by value in the custom scheme (§4.1): compact JSON, every reserved
    character percent-encoded."""
    compact = json.dumps(offer, separators=(",", ":"), ensure_ascii=False)
    return f"{OFFER_SCHEME}?credential_offer={quote(compact, safe='')}"


def create(citizen_id: str, configuration_ids: list[str], *, level: str, auth_time: int) -> Offer:
    """A new offer of ``configuration_ids`` to the citizen's wallet, redeemable once within
    ``lifetime()`` seconds with its transaction code; ``level`` and ``auth_time`` are the
    login's, for the tokens the redemption buys."""
    code = secrets.token_urlsafe(32)  # 256 bits
    tx_code = f"{secrets.randbelow(10**TX_CODE_LENGTH):0{TX_CODE_LENGTH}d}"
    seconds = lifetime()
    record = {
        "citizen_id": citizen_id,
        "configuration_ids": list(configuration_ids),
        "level": level,
        "auth_time": int(auth_time),
    }
    key = _key(code)
    pipe = store.redis.pipeline(transaction=True)  # one key: one slot, on a cluster too
    pipe.hset(key, mapping={"record": json.dumps(record), "tx": _tx_mac(code, tx_code),
                            "tries": 0})  # fmt: skip
    pipe.expire(key, seconds)
    pipe.execute()
    offer = {
        "credential_issuer": current_app.config["ISSUER"],
        "credential_configuration_ids": list(configuration_ids),
        "grants": {
            GRANT_TYPE: {
                "pre-authorized_code": code,
                "tx_code": {
                    "input_mode": "numeric",
                    "length": TX_CODE_LENGTH,
                    "description": TX_CODE_DESCRIPTION,
                },
            }
        },
    }
    return Offer(
        pre_authorized_code=code,
        tx_code=tx_code,
        offer=offer,
        uri=offer_uri(offer),
        expires_in=seconds,
    )


def redeem(pre_authorized_code: str, tx_code: str | None) -> Redeemed:
    """Spend the offer: once, with its transaction code. Raises InvalidCode for an unknown,
    expired, spent or dead code, WrongTxCode for a missing or wrong transaction code (which
    does not spend it, until the ``MAX_TX_TRIES``-th)."""
    if not isinstance(pre_authorized_code, str) or not pre_authorized_code:
        raise InvalidCode("the pre-authorized code is missing")
    key = _key(pre_authorized_code)
    if not tx_code:
        # Not a guess: nothing is counted. Unknown codes are told apart from live ones only
        # to whoever holds the code itself.
        if not store.redis.exists(key):
            raise InvalidCode("the pre-authorized code is unknown, expired or already used")
        raise WrongTxCode("the transaction code (tx_code) is missing", MAX_TX_TRIES)
    # Count the try before comparing (a key that was gone is created by HINCRBY without an
    # expiry: EXPIRE NX gives it one, and it is deleted below as it holds no record).
    pipe = store.redis.pipeline(transaction=True)  # one key: one slot, on a cluster too
    pipe.hincrby(key, "tries", 1)
    pipe.expire(key, lifetime(), nx=True)
    pipe.hgetall(key)
    tries, _, stored = pipe.execute()
    stored = {name.decode(): value for name, value in stored.items()}
    if "record" not in stored:  # none (any more): the key is only this try's count
        store.redis.delete(key)
        raise InvalidCode("the pre-authorized code is unknown, expired or already used")
    if tries > MAX_TX_TRIES:
        # Dead: the count never goes down, so no code is compared again. Not deleted here:
        # a right code counted among the first tries may still be on its way to spend it
        # (one burst of right tries must leave one winner); it expires with the offer.
        raise InvalidCode("the pre-authorized code is unknown, expired or already used")
    expected = stored["tx"].decode()
    if not hmac.compare_digest(expected, _tx_mac(pre_authorized_code, str(tx_code))):
        if tries >= MAX_TX_TRIES:
            store.redis.delete(key)
        raise WrongTxCode("the transaction code is wrong", MAX_TX_TRIES - tries)
    # Spend it: only one caller removes the record. (Not DEL's answer: a try that came after
    # another spent the offer re-creates the key, holding a count and no record, and a DEL
    # would count that as a win.)
    if not store.redis.hdel(key, "record"):  # another request spent (or killed) it first
        raise InvalidCode("the pre-authorized code is unknown, expired or already used")
    store.redis.delete(key)
    record = json.loads(stored["record"])
    return Redeemed(
        citizen_id=record["citizen_id"],
        configuration_ids=record["configuration_ids"],
        level=record["level"],
        auth_time=record["auth_time"],
    )
