"""The session-timeout warning (WCAG 2.2.1): when the SSO session ends, and "Stay logged in".

Every page a logged-in citizen sees carries the session's idle and absolute deadlines
(``session_timeout()`` for _session_timeout.html); idp/static/js/session-timeout.js warns
before the first of them and, for the idle one, offers to extend it through ``keep_alive``.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _

from idp.core.problems import problem
from idp.sessions import current, sessions

bp = Blueprint("keepalive", __name__)

# Warn this long before the end, or after half the idle time when that is shorter.
WARN_BEFORE_SECONDS = 120


def _deadlines(session: sessions.SSOSession) -> dict:
    idle, absolute = session.idle_deadline(), session.absolute_deadline()
    now = time.time()
    return {
        "now": now,
        "idle_expires_at": idle,
        "absolute_expires_at": absolute,
        "expires_at": min(idle, absolute),
        "expires_in": max(0, int(min(idle, absolute) - now)),
        # What ends the session: only an idle end can be put off.
        "ends_by": "absolute" if absolute <= idle else "idle",
    }


def warn_before() -> int:
    return min(WARN_BEFORE_SECONDS, current_app.config["SESSION_IDLE_TIMEOUT"] // 2)


@bp.app_template_global()
def session_timeout() -> dict | None:
    """The deadlines of the logged-in citizen's session, for the page's warning; None when
    nobody is logged in."""
    if current.citizen() is None:
        return None
    return {**_deadlines(current.sso_session()), "warn_before": warn_before()}


@bp.app_template_global()
def session_timeout_fixed():
    """The dialog's words and fixed addresses (_session_timeout_fixed.html's variables),
    made once per app, language and mount point: a dozen translations and four addresses
    that every logged-in page would otherwise look up again. Made afresh each time while
    templates reload (development), so an edited template shows."""
    key = (str(get_locale()), request.script_root)
    made = current_app.extensions.setdefault("tillid_session_timeout_fixed", {})
    found = made.get(key)
    if found is None:
        template = current_app.jinja_env.get_template("_session_timeout_fixed.html")
        found = template.make_module()
        if not current_app.jinja_env.auto_reload:
            made[key] = found
    return found


@bp.post("/session/keep-alive")
def keep_alive():
    """ "Stay logged in": reading the session touched it (its idle timer starts again, never
    past the absolute end); the answer says when it ends now. CSRF-protected like any POST."""
    if current.citizen() is None:
        return problem(401, _("You are not logged in, or your session has ended."))
    return jsonify(_deadlines(current.sso_session()))
