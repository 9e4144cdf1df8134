"""The citizen behind the current request, and the guard for pages that need one."""

from __future__ import annotations

import functools
import time

from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from idp.authenticators import assurance
from idp.authenticators import service as second_factors
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db
from idp.core.problems import problem, wants_json
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


def second_factor_is_fresh() -> bool:
    """The session proved a second factor within FRESH_SECOND_FACTOR_SECONDS."""
    proved_at = sso_session().second_factor_at
    window = current_app.config["FRESH_SECOND_FACTOR_SECONDS"]
    return proved_at is not None and time.time() - proved_at <= window


def _return_after_confirming() -> str:
    """Where the confirmation leads back to: this page for a GET; for a form sent without a
    fresh second factor, the page this address shows (the form is sent again from there,
    never replayed), or the security page when the address answers POST only."""
    if request.method == "GET":
        return back_url()
    pages = current_app.url_map.bind_to_environ(request.environ)
    if pages.test(request.path, method="GET"):
        return request.path
    return url_for("security.overview")


def fresh_second_factor_required(view):
    """A sensitive change (adding or removing an authenticator, pairing a phone, new recovery
    codes, the password) needs the second factor proved within FRESH_SECOND_FACTOR_SECONDS:
    a session older than that is sent to /me/security/confirm first, which returns here.

    Put it under ``login_required`` (or ``session_required``): it needs a citizen. A request
    without a fresh proof never reaches the view, whatever its method; a JSON request (the
    passkey ceremonies) is answered 403 in problem details, with where to confirm.

    A citizen with no second factor yet (a first enrolment after activation) has nothing to
    prove again, and a session below two factors that used a recovery code is there to enrol
    a new one: both pass. Views that allow them keep their own checks on who may enrol."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        session = sso_session()
        if session is None or citizen() is None:
            return redirect(url_for("auth.login", next=back_url()))
        # Nothing to prove again: no second factor yet (a first enrolment), or lost them all
        # and in with a recovery code (a session below two factors: it may only enrol).
        exempt = not second_factors.has_second_factor(session.citizen_id) or (
            session.recovered and not assurance.meets(session.level, assurance.SUBSTANTIAL)
        )
        if exempt or second_factor_is_fresh():
            return view(*args, **kwargs)
        confirm = url_for("security.confirm", next=_return_after_confirming())
        if request.method != "GET" and (request.is_json or wants_json()):
            return problem(
                403,
                _("For your safety, confirm it is you again before this change."),
                confirm=confirm,
            )
        return redirect(confirm, code=303)

    return guarded
