"""CPR numbers (the Danish personal identification number): parsing and the birthdate."""

from __future__ import annotations

import datetime as dt
import re

_CPR_RE = re.compile(r"^([0-9]{2})([0-9]{2})([0-9]{2})-?([0-9]{4})$")


class InvalidCPR(ValueError):
    """The text is not a CPR number with a real date of birth."""


def _century(seventh_digit: int, year: int) -> int:
    # The seventh digit and the two-digit year together give the century (CPR office rules).
    if seventh_digit <= 3:
        return 1900
    if seventh_digit in (4, 9):
        return 2000 if year <= 36 else 1900
    return 2000 if year <= 57 else 1800  # 5–8


def parse(text: str) -> str:
    """Return the canonical 10-digit form of a CPR number, or raise ``InvalidCPR``.

    No modulus-11 check: CPR numbers issued since 2007 need not satisfy it.
    """
    match = _CPR_RE.match(text.strip())
    if not match:
        raise InvalidCPR("a CPR number has 10 digits, written DDMMYYXXXX or DDMMYY-XXXX")
    canonical = "".join(match.groups())
    birthdate(canonical)
    return canonical


def birthdate(canonical: str) -> dt.date:
    day, month, year = int(canonical[0:2]), int(canonical[2:4]), int(canonical[4:6])
    full_year = _century(int(canonical[6]), year) + year
    try:
        return dt.date(full_year, month, day)
    except ValueError:
        raise InvalidCPR("the first six digits of a CPR number are a date, DDMMYY") from None


def masked(canonical: str) -> str:
    """The form shown back to a citizen: the date part only."""
    return f"{canonical[:6]}-XXXX"
