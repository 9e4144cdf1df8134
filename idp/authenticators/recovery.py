"""Recovery codes: ten single-use codes shown once, kept only as keyed hashes.

A recovery code is a way back into the account, not a second factor for services: a login
with one reaches only the level of the password and leads to enrolling a new authenticator.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import delete, func, select, update

from idp.authenticators.models import RecoveryCode
from idp.core import crypto
from idp.core.dbtypes import utcnow
from idp.core.extensions import db

COUNT = 10
_PURPOSE = "recovery-code"
_CODE_RE = re.compile(r"[0-9a-f]{16}")


def _normalise(raw: str) -> str | None:
    code = re.sub(r"[\s-]", "", raw or "").lower()
    return code if _CODE_RE.fullmatch(code) else None


def _hash(code: str) -> str:
    # Keyed with the data key: a database dump alone cannot test guesses.
    return crypto.keyed_hash(code, _PURPOSE)


def replace(citizen_id: str) -> list[str]:
    """A fresh list (the old codes stop working); the only time the codes are seen."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.citizen_id == citizen_id))
    codes = [secrets.token_hex(8) for _ in range(COUNT)]  # 64 bits each
    db.session.add_all(RecoveryCode(citizen_id=citizen_id, code_hash=_hash(c)) for c in codes)
    db.session.commit()
    return ["-".join(code[i : i + 4] for i in range(0, 16, 4)) for code in codes]


def use(citizen_id: str, raw: str) -> bool:
    """Spend one code. The check and the mark are one statement: a code works once."""
    code = _normalise(raw)
    if code is None:
        return False
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.citizen_id == citizen_id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    db.session.commit()
    return spent.rowcount == 1


def remaining(citizen_id: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.citizen_id == citizen_id, RecoveryCode.used_at.is_(None))
    )
