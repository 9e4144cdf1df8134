"""The citizen behind the current request, and the guard for pages that need one."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import g, redirect, request, url_for

from idp.auth import sessions
from idp.citizens.models import Citizen, CitizenStatus
from idp.extensions import db


def sso_session() -> sessions.SSOSession | None:
    if "sso_session" not in g:
        g.sso_session = sessions.current(request)
    return g.sso_session


def citizen() -> Citizen | None:
    if "citizen" not in g:
        session = sso_session()
        found = db.session.get(Citizen, session.citizen_id) if session else None
        g.citizen = found if found is not None and found.status == CitizenStatus.ACTIVE else None
    return g.citizen


def login_required(view):
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if citizen() is None:
            # Only a page can be gone back to: after login a redirect is always a GET.
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=back))
        return view(*args, **kwargs)

    return guarded


MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None, default: str) -> str:
    """A post-login destination on this site only: no scheme, host or backslash tricks."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return default
    # Browsers read a backslash as a slash and drop tabs and newlines: "/\\evil" is "//evil".
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
