"""Token Status Lists (draft-ietf-oauth-status-list): an index for each credential, revocation
as a set bit, the list as a signed `statuslist+jwt`."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import zlib

from flask import current_app
from joserfc import jws
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.keys import service as keys
from idp.wallet.models import CredentialStatus, StatusList
from idp.wallet.sd_jwt_vc import b64url

TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
BITS = 1  # VALID (0) or INVALID (1): revocation only, no suspension yet
VALID, INVALID = 0, 1
# 2^17 entries: 16 KiB before compression, a few hundred bytes after while few are revoked.
# Indexes are drawn at random (the order of issuance must not link a citizen's credentials);
# a list takes new ones until half full, so a draw rarely hits a taken index.
LIST_SIZE = 1 << 17
_FILL = LIST_SIZE // 2
_DRAWS = 20
# A verifier may cache a list this long (the draft's `ttl`): a revocation reaches every
# verifier within it. A list token is valid for an hour, so an old one cannot be replayed
# for long to hide a revocation.
TTL_SECONDS = 5 * 60
TOKEN_SECONDS = 60 * 60


class UnknownStatusList(LookupError):
    pass


def uri(list_id: str) -> str:
    return f"{current_app.config['ISSUER']}/wallet/status/{list_id}"


def allocate(
    citizen_id: str,
    holder_key_thumbprint: str,
    expires_at: dt.datetime,
    *,
    client_id: str | None = None,
    credential_format: str = "dc+sd-jwt",
    attributes: list[str] = (),
) -> CredentialStatus:
    """An unused index in an open list, committed: the first write of an issuance. The
    entry records to which wallet (``client_id``), in which format and with which of the
    citizen's attributes the credential goes."""
    for _ in range(_DRAWS):
        status_list = _open_list()
        taken = db.session.execute(
            update(StatusList)
            .where(StatusList.id == status_list.id, StatusList.allocated < _FILL)
            .values(allocated=StatusList.allocated + 1)
        )
        if taken.rowcount != 1:  # filled by another process since: open the next one
            db.session.rollback()
            continue
        entry = CredentialStatus(
            list_id=status_list.id,
            idx=secrets.randbelow(status_list.size),
            citizen_id=citizen_id,
            holder_key_thumbprint=holder_key_thumbprint,
            client_id=client_id,
            credential_format=credential_format,
            attributes=list(attributes),
            issued_at=utcnow(),
            expires_at=expires_at,
        )
        db.session.add(entry)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            if find(entry.list_id, entry.idx) is None:
                raise  # not a taken index (say an unregistered client_id): no draw helps
            continue  # that index was taken: draw again
        return entry
    raise RuntimeError(f"no free status list index after {_DRAWS} draws")


def _open_list() -> StatusList:
    status_list = db.session.scalar(
        select(StatusList)
        .where(StatusList.allocated < _FILL)
        .order_by(StatusList.created_at.desc())
        .limit(1)
    )
    if status_list is None:
        status_list = StatusList(size=LIST_SIZE, allocated=0, created_at=utcnow())
        db.session.add(status_list)
        db.session.commit()
    return status_list


def revoke(entry: CredentialStatus) -> None:
    """Set the credential's bit; idempotent (the first revocation's time is kept)."""
    if entry.revoked_at is None:
        entry.revoked_at = utcnow()
    db.session.commit()


def find(list_id: str, idx: int) -> CredentialStatus | None:
    return db.session.scalar(
        select(CredentialStatus).where(
            CredentialStatus.list_id == list_id, CredentialStatus.idx == idx
        )
    )


def encoded_bits(size: int, revoked: list[int]) -> str:
    """The draft's `lst`: one bit per index, index 0 the least significant bit of the first
    byte, DEFLATE in the zlib format, base64url."""
    bits = bytearray(size * BITS // 8)
    for idx in revoked:
        bits[idx // 8] |= 1 << (idx % 8)
    return b64url(zlib.compress(bytes(bits), level=9))


def token(list_id: str) -> str:
    """The status list as a signed JWT, signed fresh by the credential key."""
    status_list = db.session.get(StatusList, list_id)
    if status_list is None:
        raise UnknownStatusList(list_id)
    revoked = db.session.scalars(
        select(CredentialStatus.idx).where(
            CredentialStatus.list_id == list_id, CredentialStatus.revoked_at.is_not(None)
        )
    ).all()
    now = int(utcnow().timestamp())
    kid, key = keys.signing_key("ES256", keys.CREDENTIAL)
    claims = {
        "iss": current_app.config["ISSUER"],
        "sub": uri(list_id),
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "ttl": TTL_SECONDS,
        "status_list": {"bits": BITS, "lst": encoded_bits(status_list.size, list(revoked))},
    }
    header = {"alg": "ES256", "typ": TYP, "kid": kid}
    return jws.serialize_compact(header, json.dumps(claims, separators=(",", ":")), key)
