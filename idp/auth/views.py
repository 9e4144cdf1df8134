"""Pages: /login, /logout and /activate."""

from __future__ import annotations

import datetime as dt
import functools
import math

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, format_time, ngettext, to_user_timezone
from flask_babel import gettext as _

from idp.auth import journey, lockout
from idp.auth.forms import (
    ActivateForm,
    LoginForm,
    RecoveryCodeForm,
    SecondFactorForm,
)
from idp.auth.service import AccountUnavailable, LockedOut, LoginFailed, check_password
from idp.authenticators import assurance, passkeys, totp
from idp.authenticators import recovery as recovery_codes
from idp.authenticators import service as second_factors
from idp.authenticators.models import AuthenticatorKind
from idp.citizens import service as citizens
from idp.citizens.models import CitizenStatus
from idp.core import metrics, redirects
from idp.core.extensions import limiter, source_address_key
from idp.core.problems import problem
from idp.core.web import allow_form_target, json_body
from idp.sessions import current, sessions
from idp.sessions.destinations import verified_redirect_uri

bp = Blueprint("auth", __name__)


@bp.app_context_processor
def _journey_context() -> dict:
    # For every page's header (base.html) and the login pages' service name and steps.
    return {
        "login_journey": journey.current,
        "account_navigation_shown": journey.account_navigation_shown,
    }


def _rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _rate_limited_message() -> str:
    return _(
        "There have been too many attempts from your internet connection. "
        "Wait a few minutes and try again."
    )


def source_limit():
    """Attempts per source address at a login step; only POST counts, reading is free."""
    return limiter.limit(
        _rate_limit,
        methods=["POST"],
        key_func=source_address_key,
        error_message=_rate_limited_message,
        on_breach=_count_refusal,
    )


def _count_refusal(_limit) -> None:
    metrics.count_rate_limit_refusal("LOGIN_RATE_LIMIT")  # None: the limiter's own 429


def try_again_at(seconds: int) -> tuple[str, int]:
    """When a wait of ``seconds`` ends, as the citizen reads the clock (the display time zone,
    Europe/Copenhagen unless the operator says otherwise, in their language): the time, with
    the date when it is not today; and the whole minutes until then. The time is rounded up
    to the minute, so trying at the time said always works."""
    now = dt.datetime.now(dt.UTC)
    ends = now + dt.timedelta(seconds=seconds)
    if ends.second or ends.microsecond:
        ends = ends.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    minutes = max(1, math.ceil(seconds / 60))
    same_day = to_user_timezone(ends).date() == to_user_timezone(now).date()
    return (format_time(ends, "short") if same_day else format_datetime(ends, "short")), minutes


def wait_message(seconds: int) -> str:
    """Locked after too many failed attempts: when the citizen may try again."""
    when, minutes = try_again_at(seconds)
    return ngettext(
        "Too many failed attempts. You can try again at %(time)s, in %(num)d minute.",
        "Too many failed attempts. You can try again at %(time)s, in %(num)d minutes.",
        minutes,
        time=when,
    )


@bp.get("/")
def index():
    return redirect(url_for("account.me"))


@bp.route("/login", methods=["GET", "POST"])
@source_limit()
def login():
    form = LoginForm()
    destination = redirects.form_destination(form, url_for("account.me"))
    journey.begin(destination)
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
            metrics.count_login("password", "wrong_password")
            # Shown at the password field, with the same words whichever part was wrong.
            form.password.errors.append(_("The user ID or password is wrong."))
            status = 401
        except LockedOut as exc:
            metrics.count_login("password", "locked")
            form.form_errors.append(wait_message(exc.retry_after))
            headers["Retry-After"] = str(exc.retry_after)
            status = 429
        except AccountUnavailable:
            metrics.count_login("password", "account_unavailable")
            form.form_errors.append(
                _("You cannot log in with this account. Contact citizen support.")
            )
            status = 403
        else:
            metrics.count_login("password", "success")
            previous = current.sso_session()
            if previous is not None:
                sessions.end(previous.id_hash)
            # A password alone reaches Low: the destination asks for more if it needs it
            # (Tillid's pages and most services: the second factor, or enrolling one).
            session_id = sessions.start(citizen.id, assurance.PASSWORD, request)
            g.citizen_id = citizen.id
            response = redirect(journey.after_password(destination))
            sessions.set_cookie(response, session_id)
            return response
    elif request.method == "POST":
        status = 400
    page = make_response(render_template("auth/login.html", form=form), status, headers)
    # Logging in for a service ends, after redirects, at that service.
    return allow_form_target(page, verified_redirect_uri(destination))


def _second_factor_lockout(citizen_id: str) -> str:
    """The lockout counter for guesses at a citizen's second step (codes, recovery codes)."""
    return f"otp:{citizen_id}"


def _second_step_page(template: str, form, status: int = 200, headers=None, **context):
    page = make_response(render_template(template, form=form, **context), status, headers or {})
    return allow_form_target(page, verified_redirect_uri(form.next.data))


def _after_second_step(session_id: str, destination: str):
    response = redirect(destination)
    sessions.set_cookie(response, session_id)
    return response


@bp.route("/login/code", methods=["GET", "POST"])
@source_limit()
@current.session_required
def second_factor():
    """The second step of a login, or a step-up: a code from the app, or a passkey (which
    the page's script sends to /login/passkey/verify). High takes the passkey only."""
    form = SecondFactorForm()
    destination = redirects.form_destination(form, url_for("account.me"))
    journey.begin(destination)
    citizen, session = current.citizen(), current.sso_session()
    need_high = request.args.get("need") == "high"
    if assurance.meets(session.level, assurance.HIGH if need_high else assurance.SUBSTANTIAL):
        return redirect(destination)
    enrolled = second_factors.active(citizen.id)
    if not enrolled:
        return redirect(url_for("security.enrol_totp", next=destination))
    authenticators = [a for a in enrolled if a.kind == AuthenticatorKind.TOTP]
    page = functools.partial(
        _second_step_page,
        "auth/second_factor.html",
        form,
        need_high=need_high,
        has_totp=bool(authenticators),
        has_passkey=any(
            a.kind == AuthenticatorKind.WEBAUTHN and not a.suspect_at for a in enrolled
        ),
    )
    if need_high or not form.validate_on_submit():
        return page(400 if form.errors and not need_high else 200)
    subject = _second_factor_lockout(citizen.id)
    before = lockout.standing(subject)
    if before.wait:
        metrics.count_login("totp", "locked")
        form.form_errors.append(wait_message(before.wait))
        return page(429, {"Retry-After": str(before.wait)})
    try:
        accepted = any(totp.verify(a, form.otp.data) for a in authenticators)
    except totp.CodeReplayed:
        metrics.count_login("totp", "code_replayed")
        form.otp.errors.append(_("This code has been used already. Wait for the next one."))
        return page(401)
    if not accepted:
        metrics.count_login("totp", "wrong_code")
        lockout.record_failure(subject)
        form.otp.errors.append(_("The code is wrong or has expired. Try the newest one."))
        return page(401)
    lockout.clear(subject, before)
    metrics.count_login("totp", "success")
    session_id = sessions.elevate(session, assurance.PASSWORD_AND_TOTP, request)
    return _after_second_step(session_id, destination)


# --- passkeys (WebAuthn): login, usernameless or username-first, and step-up ----------------


def _json_redirect(destination: str, session_id: str):
    response = jsonify(redirect=destination)
    sessions.set_cookie(response, session_id)
    return response


@bp.post("/login/passkey/options")
@source_limit()
def passkey_options():
    """A challenge for a passkey login; for a logged-in citizen (step-up), their passkeys
    only. A typed user ID is not looked up here, so the answer tells nothing about it."""
    stepping_up = current.citizen()
    json_body()
    return current_app.response_class(
        passkeys.authentication_options(stepping_up), mimetype="application/json"
    )


@bp.post("/login/passkey/verify")
@source_limit()
def passkey_verify():
    body = json_body()
    destination = redirects.safe_next(body.get("next"), url_for("account.me"))
    sso = current.sso_session() if current.citizen() is not None else None
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The passkey's answer is missing."))
    try:
        login = passkeys.authenticate(credential, citizen=current.citizen())
    except passkeys.PasskeyRefused as exc:
        metrics.count_login("passkey", "refused")
        return problem(400, str(exc))
    typed = body.get("username")
    typed_another = isinstance(typed, str) and typed.strip() != ""
    if typed_another and citizens.canonical_username(typed) != login.username:
        metrics.count_login("passkey", "wrong_user")
        return problem(400, _("This passkey is not for the user ID you typed."))
    if login.status != CitizenStatus.ACTIVE:
        metrics.count_login("passkey", "account_unavailable")
        return problem(403, _("You cannot log in with this account. Contact citizen support."))
    metrics.count_login("passkey", "success")
    level, amr = login.level, login.amr
    if sso is not None:
        # Step-up: what the session proved before, and the passkey now.
        methods = list(dict.fromkeys([*sso.amr, *amr]))
        if assurance.rank(sso.level) > assurance.rank(level):
            level = sso.level
        return _json_redirect(destination, sessions.elevate(sso, methods, request, level=level))
    g.citizen_id = login.citizen_id
    return _json_redirect(destination, sessions.start(login.citizen_id, amr, request, level=level))


@bp.route("/login/recovery", methods=["GET", "POST"])
@source_limit()
@current.session_required
def recovery():
    """Lost the authenticator: one recovery code lets the citizen enrol a new one."""
    form = RecoveryCodeForm()
    destination = redirects.form_destination(form, url_for("account.me"))
    journey.begin(destination)
    citizen, session = current.citizen(), current.sso_session()
    if not form.validate_on_submit():
        return _second_step_page("auth/recovery.html", form, 400 if form.errors else 200)
    subject = _second_factor_lockout(citizen.id)  # one budget with the app's codes
    before = lockout.standing(subject)
    if before.wait:
        metrics.count_login("recovery_code", "locked")
        form.form_errors.append(wait_message(before.wait))
        return _second_step_page("auth/recovery.html", form, 429, {"Retry-After": str(before.wait)})
    if not recovery_codes.use(citizen.id, form.recovery_code.data):
        metrics.count_login("recovery_code", "wrong_code")
        lockout.record_failure(subject)
        form.recovery_code.errors.append(_("This recovery code is wrong or has been used."))
        return _second_step_page("auth/recovery.html", form, 401)
    lockout.clear(subject, before)
    metrics.count_login("recovery_code", "success")
    session_id = sessions.elevate(session, session.amr, request, recovered=True)
    flash(
        ngettext(
            "You used a recovery code; %(num)d is left. Set up a new authenticator now.",
            "You used a recovery code; %(num)d are left. Set up a new authenticator now.",
            recovery_codes.remaining(citizen.id),
        )
    )
    return _after_second_step(session_id, url_for("security.enrol_totp", next=destination))


@bp.route("/activate", methods=["GET", "POST"])
@source_limit()
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
