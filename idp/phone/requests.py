"""Approval requests for the phone app: a login in a browser, or a service's backchannel
(CIBA) request, waiting for the citizen to approve or reject it on a paired phone.

A request lives for PHONE_REQUEST_SECONDS (two minutes), its outcome a little longer, so
the browser or service can still be told. Every change is one atomic step: the first answer wins
(SET NX), a request is used once (SET NX), and a citizen has at most one pending request at
a time, which is what keeps a flood of prompts (MFA fatigue) off their phone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import secrets
import string
import time

from flask import current_app
from flask_babel import lazy_gettext as _l

from idp.core import metrics
from idp.core.extensions import store

log = logging.getLogger("tillid.phone")

_KEEP_OUTCOME_SECONDS = 300  # how long after expiry the outcome can still be read
_CODE_LETTERS = "".join(ch for ch in string.ascii_uppercase if ch not in "IO")  # no 1/0 lookalikes
_SUSPICIOUS_REJECTIONS = 3
_REJECTION_WINDOW_SECONDS = 3600

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
CANCELLED = "cancelled"  # the browser that started it started another
# What approving a browser's request does: log in, let a forgotten password be replaced, or
# confirm a change of password.
LOGIN, PASSWORD_RESET, PASSWORD_CHANGE = "login", "password_reset", "password_change"


class RequestRefused(Exception):
    """The request cannot be made or answered; the message (lazy: read it in the person's
    language) is for the person; ``retry_after``: seconds until a new one may be made, when
    that is known."""

    def __init__(self, message, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclasses.dataclass
class PhoneRequest:
    id: str
    citizen_id: str | None  # None: a user ID without a phone, answered as if it had one
    channel: str  # "browser" (a login at Tillid) or "ciba" (a service's backchannel request)
    created_at: float
    expires_at: float
    code: str | None = None  # the binding code the browser shows (browser logins)
    binding_message: str | None = None  # what the service shows (CIBA)
    client_id: str | None = None  # the service the login is for, if any
    scope: list[str] = dataclasses.field(default_factory=list)
    claims: list[str] = dataclasses.field(default_factory=list)
    source_ip: str = ""
    source_device: str = ""
    purpose: str = LOGIN

    @property
    def seconds_left(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def choices(self) -> list[str]:
        """The true binding code among two others, in an order fixed per request: the
        citizen picks the one the browser shows, so approving needs a look at both."""
        chooser = random.Random(self.id)  # noqa: S311 (order only; the codes are secret-random)
        others = {_code(chooser) for _ in range(4)} - {self.code}
        options = [self.code, *sorted(others)[:2]]
        chooser.shuffle(options)
        return options


def _code(source=secrets) -> str:
    letters = "".join(source.choice(_CODE_LETTERS) for _ in range(2))
    return f"{letters}-{source.choice(range(10))}{source.choice(range(10))}"


def _lifetime() -> int:
    return current_app.config["PHONE_REQUEST_SECONDS"]


def _key(request_id: str, *parts: str) -> str:
    # A request's keys (itself, answer, nonce, used; CIBA's poll mark) share its hash tag.
    return store.key("phone-request", store.tag(request_id), *parts)


def _citizen_key(kind: str, citizen_id: str) -> str:
    # A citizen's keys (pending request, recent starts, rejections) share theirs.
    return store.key(kind, store.tag(citizen_id))


def _pending_key(citizen_id: str) -> str:
    return _citizen_key("phone-pending", citizen_id)


def create(citizen_id: str | None, *, channel: str, **details) -> PhoneRequest:
    """A new pending request. Refused while the citizen has one pending, and when they
    have started too many lately (the limit is PHONE_REQUEST_RATE_LIMIT per 10 minutes)."""
    now = time.time()
    request = PhoneRequest(
        id=secrets.token_urlsafe(16),
        citizen_id=citizen_id,
        channel=channel,
        created_at=now,
        expires_at=now + _lifetime(),
        **details,
    )
    if channel == "browser":
        request.code = _code()
    redis = store.redis
    if citizen_id is not None:
        started_key = _citizen_key("phone-started", citizen_id)
        count = _count(started_key, 600)
        if count > current_app.config["PHONE_REQUEST_RATE_LIMIT"]:
            metrics.count_rate_limit_refusal("PHONE_REQUEST_RATE_LIMIT")
            raise RequestRefused(
                _l("Too many approval requests lately. Wait a few minutes."),
                retry_after=max(1, redis.ttl(started_key)),  # when the window ends
            )
        if not redis.set(_pending_key(citizen_id), request.id, nx=True, ex=_lifetime()):
            raise RequestRefused(
                _l(
                    "Another request is already waiting on the phone. Answer it there, or wait "
                    "until it expires (at most two minutes)."
                )
            )
    payload = json.dumps(dataclasses.asdict(request))
    redis.set(_key(request.id), payload, ex=_lifetime() + _KEEP_OUTCOME_SECONDS)
    return request


def load(request_id) -> PhoneRequest | None:
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
        return None
    raw = store.redis.get(_key(request_id))
    return PhoneRequest(**json.loads(raw)) if raw else None


def outcome(request: PhoneRequest) -> dict:
    """{"status": pending|approved|rejected|expired, ...} as the answer left it."""
    raw = store.redis.get(_key(request.id, "answer"))
    if raw is not None:
        return json.loads(raw)
    if time.time() >= request.expires_at:
        return {"status": EXPIRED}
    return {"status": PENDING}


def pending_for(citizen_id: str) -> PhoneRequest | None:
    request_id = store.redis.get(_pending_key(citizen_id))
    request = load(request_id.decode()) if request_id else None
    if request is None or outcome(request)["status"] != PENDING:
        return None
    return request


def challenge(request: PhoneRequest, code: str | None, nonce: bytes) -> bytes:
    """The WebAuthn challenge of an approval: it covers this request, the binding code the
    citizen picked (or the service's binding message) and a fresh nonce."""
    bound = code if request.channel == "browser" else (request.binding_message or "")
    return hashlib.sha256(b"\n".join([request.id.encode(), bound.encode(), nonce])).digest()


def new_nonce(request: PhoneRequest) -> bytes:
    nonce = secrets.token_bytes(32)
    store.redis.set(_key(request.id, "nonce"), nonce, ex=_lifetime())
    return nonce


def take_nonce(request: PhoneRequest) -> bytes | None:
    return store.redis.getdel(_key(request.id, "nonce"))


def answer(request: PhoneRequest, status: str, **details) -> None:
    """Record the first answer; a second (or one after expiry) is refused."""
    if outcome(request)["status"] != PENDING:
        raise RequestRefused(_l("This request has already been answered or has expired."))
    record = json.dumps({"status": status, **details})
    if not store.redis.set(_key(request.id, "answer"), record, nx=True,
                           ex=_KEEP_OUTCOME_SECONDS + _lifetime()):  # fmt: skip
        raise RequestRefused(_l("This request has already been answered."))
    if request.citizen_id is not None:
        store.redis.delete(_pending_key(request.citizen_id))
        if status == REJECTED:
            _count_rejection(request)


def cancel(request: PhoneRequest) -> None:
    """Withdraw a still pending request (its browser starts a new one): it leaves the phone
    and frees the citizen's one pending place. Not a rejection: nothing is counted."""
    if outcome(request)["status"] != PENDING:
        return
    if store.redis.set(_key(request.id, "answer"), json.dumps({"status": CANCELLED}), nx=True,
                       ex=_KEEP_OUTCOME_SECONDS + _lifetime()):  # fmt: skip
        store.redis.delete(_pending_key(request.citizen_id))


def _count(key: str, window_seconds: int) -> int:
    """Count one more in a window that starts with the first: the count and its expiry in
    one transaction (one key, so one slot on a cluster), so a counter never outlives it."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_seconds, nx=True)
    count, _ = pipe.execute()
    return count


def _count_rejection(request: PhoneRequest) -> None:
    count = _count(_citizen_key("phone-rejections", request.citizen_id), _REJECTION_WINDOW_SECONDS)
    if count >= _SUSPICIOUS_REJECTIONS:
        # Someone who knows the user ID keeps trying: the operator's alerts pick this up.
        log.warning(
            "suspicious: repeated rejections on the phone",
            extra={
                "event": "phone_rejections",
                "citizen_id": request.citizen_id,
                "rejections": count,
                "source_ip": request.source_ip,
            },
        )


def use(request: PhoneRequest) -> bool:
    """Spend an approved request, once: True for the first caller only."""
    return bool(store.redis.set(_key(request.id, "used"), "1", nx=True,
                                ex=_KEEP_OUTCOME_SECONDS + _lifetime()))  # fmt: skip
