"""Pages: /login, /logout and /activate."""

from __future__ import annotations

import math

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from idp.auth import current, sessions
from idp.auth.forms import ActivateForm, ConfirmForm, LoginForm
from idp.auth.service import AccountUnavailable, LockedOut, LoginFailed, check_password
from idp.citizens import service as citizens
from idp.extensions import limiter, source_address_key
from idp.oidc import logout as rp_logout
from idp.oidc.server import verified_redirect_uri
from idp.web import allow_form_target

bp = Blueprint("auth", __name__)


def _rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _rate_limited_message() -> str:
    return _(
        "There have been too many attempts from your internet connection. "
        "Wait a few minutes and try again."
    )


def _source_limit():
    """Attempts per source address; only POST counts, reading the page is free."""
    return limiter.limit(
        _rate_limit,
        methods=["POST"],
        key_func=source_address_key,
        error_message=_rate_limited_message,
    )


def _wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed attempts. Wait %(num)d minute and try again.",
        "Too many failed attempts. Wait %(num)d minutes and try again.",
        minutes,
    )


@bp.get("/")
def index():
    return redirect(url_for("account.me"))


@bp.route("/login", methods=["GET", "POST"])
@_source_limit()
def login():
    form = LoginForm()
    destination = current.safe_next(
        form.next.data or request.args.get("next"), url_for("account.me")
    )
    # Re-rendered pages carry the checked destination, never what was typed in.
    form.next.data = destination
    if request.method == "GET":
        # force=1: a service asked for a fresh login (prompt=login, max_age), so show the form
        # even to a citizen who is logged in.
        if current.citizen() is not None and request.args.get("force") != "1":
            return redirect(destination)
        form.username.data = (request.args.get("username") or "")[:256] or None
    status = 200
    headers = {}
    if form.validate_on_submit():
        try:
            citizen = check_password(form.username.data, form.password.data)
        except LoginFailed:
            # Shown at the password field, with the same words whichever part was wrong.
            form.password.errors.append(_("The user ID or password is wrong."))
            status = 401
        except LockedOut as exc:
            form.form_errors.append(_wait_message(exc.retry_after))
            headers["Retry-After"] = str(exc.retry_after)
            status = 429
        except AccountUnavailable:
            form.form_errors.append(
                _("You cannot log in with this account. Contact citizen support.")
            )
            status = 403
        else:
            previous = current.sso_session()
            if previous is not None:
                sessions.end(previous.id_hash)
            session_id = sessions.start(citizen.id, ["pwd"], request)
            g.citizen_id = citizen.id
            response = redirect(destination)
            sessions.set_cookie(response, session_id)
            return response
    elif request.method == "POST":
        status = 400
    page = make_response(render_template("auth/login.html", form=form), status, headers)
    # Logging in for a service ends, after redirects, at that service.
    return allow_form_target(page, verified_redirect_uri(destination))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Log out here, or at a service's request (RP-initiated logout, OIDC end_session)."""
    form = ConfirmForm()
    from_service = bool(request.args)
    end = rp_logout.validate(request.values) if from_service else None
    if from_service and end is None:
        return render_template("auth/logout_refused.html"), 400
    session = current.sso_session()
    back_to_service = end.redirect_uri if end is not None else None
    if request.method == "GET":
        if session is None:
            return redirect(back_to_service or url_for("auth.login"))
        page = render_template("auth/logout.html", form=form, service=end.client if end else None)
        return allow_form_target(make_response(page), back_to_service)
    if not form.validate_on_submit():
        return render_template("auth/logout.html", form=form), 400
    if session is not None:
        sessions.end(session.id_hash)
    response = redirect(back_to_service or url_for("auth.logged_out"))
    sessions.clear_cookie(response)
    return response


@bp.route("/logged-out")
def logged_out():
    return render_template("auth/logged_out.html")


@bp.route("/activate", methods=["GET", "POST"])
@_source_limit()
def activate():
    form = ActivateForm()
    status = 200
    if form.validate_on_submit():
        try:
            citizens.activate(
                form.cpr.data, form.activation_code.data, form.username.data, form.password.data
            )
        except citizens.ActivationFailed:
            form.activation_code.errors.append(
                _(
                    "The CPR number and activation code do not match, or the code has "
                    "expired or been used. Check the letter, or ask for a new one."
                )
            )
            status = 400
        except citizens.UsernameTaken:
            form.username.errors.append(_("This user ID is taken. Choose another."))
            status = 409
        except citizens.InvalidCitizenData as exc:
            target = getattr(form, exc.field, None)
            (target.errors if target is not None else form.form_errors).append(exc.message)
            status = 400
        else:
            flash(_("Your account is active. Log in with your new user ID and password."))
            return redirect(url_for("auth.login"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/activate.html", form=form), status
