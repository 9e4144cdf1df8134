"""The citizen behind the current request, and the guard for pages that need one."""

from __future__ import annotations

import functools

from flask import g, redirect, request, url_for

from idp.authenticators import assurance
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db
from idp.sessions import sessions


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
