"""The citizen behind the current request, and the guard for pages that need one."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import g, redirect, request, url_for

from idp.auth import assurance, sessions
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db


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


def back_url() -> str | None:
    # Only a page can be gone back to: after login a redirect is always a GET.
    return request.full_path.rstrip("?") if request.method == "GET" else None


def login_required(view):
    """Tillid's own pages need the default level (Substantial): a password-only session is
    sent on to the second factor (or to enrol one) first."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if citizen() is None:
            return redirect(url_for("auth.login", next=back_url()))
        if not assurance.meets(sso_session().level, assurance.DEFAULT_LEVEL):
            return redirect(url_for("auth.second_factor", next=back_url()))
        return view(*args, **kwargs)

    return guarded


def session_required(view):
    """Any logged-in session, whatever its level (enrolling a first second factor)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if citizen() is None:
            return redirect(url_for("auth.login", next=back_url()))
        return view(*args, **kwargs)

    return guarded


MAX_NEXT_LENGTH = 2048


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
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
