"""Where a page may send the browser next: a path on this site, never another host."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import request

MAX_NEXT_LENGTH = 2048


# A backslash, a control character or DEL: one regular expression, not a Python step per
# character (it ran on every login page's ``next``).
_UNSAFE_CHARACTER = re.compile(r"[\\\x00-\x1f\x7f]")


def form_destination(form, default: str) -> str:
    """Where a page with a ``next`` field goes afterwards: what the form carries (or, on
    first view, the query string), checked to stay on this site. The form is set to it, so
    a re-rendered page carries the checked value, never what was typed in."""
    destination = safe_next(form.next.data or request.args.get("next"), default)
    form.next.data = destination
    return destination


def safe_next(target: object, default: str, *, max_length: int = MAX_NEXT_LENGTH) -> str:
    """A post-login destination on this site only: no scheme, host or backslash tricks."""
    if not isinstance(target, str) or not target or len(target) > max_length:
        return default
    # Browsers read a backslash as a slash and drop tabs and newlines: "/\\evil" is "//evil".
    if _UNSAFE_CHARACTER.search(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
