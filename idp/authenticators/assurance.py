"""NSIS assurance levels, what a login reached, and what a request asks for.

Levels are ordered: Low (one factor) < Substantial (two factors) < High (a device-bound key
with user verification, for a citizen proofed by the activation letter). `amr` values are
RFC 8176's.
"""

from __future__ import annotations

from collections.abc import Sequence

_NSIS = "https://data.gov.dk/concept/core/nsis/loa/"
LOW = _NSIS + "Low"
SUBSTANTIAL = _NSIS + "Substantial"
HIGH = _NSIS + "High"
LEVELS = (LOW, SUBSTANTIAL, HIGH)
# What a login must reach unless a service asks for something else: two factors.
DEFAULT_LEVEL = SUBSTANTIAL

PASSWORD = ["pwd"]
PASSWORD_AND_TOTP = ["pwd", "otp", "mfa"]


def rank(level: str) -> int:
    return LEVELS.index(level)


def level_of(amr: list[str]) -> str:
    """The level a login with these methods reached."""
    return SUBSTANTIAL if "mfa" in amr else LOW


def meets(reached: str, required: str) -> bool:
    return rank(reached) >= rank(required)


def lowest(*levels: str) -> str:
    """The lowest of these levels: what holds when each of them must."""
    return min(levels, key=rank)


def lowest_known(requested: Sequence[str]) -> str | None:
    """Of levels a request accepts (any will do), the lowest Tillid knows; None if none."""
    known = [value for value in requested if value in LEVELS]
    return min(known, key=rank) if known else None
