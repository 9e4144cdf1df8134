"""/me/security: the citizen's authenticators (add, rename, remove), recovery codes, pairing a
phone, and confirming it is them again before such a change (a fresh second factor).

Every form that changes something answers with a redirect (303, POST-redirect-GET): a reload
of the page it leads to repeats nothing."""

from __future__ import annotations

import functools
import io
import json
import secrets

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from idp.auth import lockout
from idp.auth.forms import ConfirmForm, SecondFactorForm
from idp.auth.views import source_limit, wait_message
from idp.authenticators import assurance, pairing, passkeys, recovery, service, totp
from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.core import crypto, redirects
from idp.core.extensions import db, store
from idp.core.problems import problem
from idp.core.web import allow_form_target, json_body
from idp.security.forms import EnrolTotpForm, RenameForm
from idp.sessions import current, sessions
from idp.sessions.current import fresh_second_factor_required, login_required, session_required
from idp.sessions.destinations import verified_redirect_uri
from idp.templating import authenticator_name

bp = Blueprint("security", __name__, url_prefix="/me/security")
_PAIRING_TOKEN = "phone_pairing"  # noqa: S105 (a session key's name) the link the computer is showing, for its QR code

_ENROLLING = "enrolling_totp"  # the id of the unconfirmed authenticator being set up
# New recovery codes are held (encrypted, for a few minutes) for the page that shows them,
# under a random name kept in this browser's signed session: a reload shows them again, and
# no other browser of the citizen's can read them.
_SHOWN_CODES = "shown-recovery-codes"
_SHOWN_CODES_NAME = "shown_recovery_codes"
SHOWN_CODES_SECONDS = 10 * 60
# One lockout budget with the login's second step (idp/auth/views.py): confirming again is
# no way round it.
_SECOND_STEP_LOCKOUT = "otp:{}"


def _may_enrol() -> bool:
    """Adding an authenticator needs two factors, except for a first one (after activation)
    and after a recovery code: a password alone must never add an attacker's phone."""
    citizen, sso = current.citizen(), current.sso_session()
    return (
        assurance.meets(sso.level, assurance.SUBSTANTIAL)
        or sso.recovered
        or not service.has_second_factor(citizen.id)
    )


def enrolment_guard(view):
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not _may_enrol():
            return redirect(url_for("auth.second_factor", next=current.back_url()))
        return view(*args, **kwargs)

    return guarded


def binding_level(first: bool) -> str:
    """The level a new authenticator is bound to (NIST SP 800-63B's binding rule): a login
    with it never reaches more than the session that enrolled it proved.

    A first one, set up after activation, is bound by the identity proofing: High for a
    citizen the activation letter proved, else Substantial. One set up after a recovery code
    is Substantial (the code and the password). Otherwise the session's level, and no more
    than the second factor last proved in it reaches."""
    citizen, sso = current.citizen(), current.sso_session()
    if first:
        return assurance.HIGH if citizen.identity_proofed_at is not None else assurance.SUBSTANTIAL
    if sso.recovered:
        return assurance.SUBSTANTIAL
    return assurance.lowest(sso.level, sso.second_factor_level or sso.level)


def _overview(status: int = 200, error: str | None = None):
    citizen = current.citizen()
    page = render_template(
        "security/overview.html",
        authenticators=service.active(citizen.id),
        recovery_codes_left=recovery.remaining(citizen.id),
        rename_form=RenameForm(),
        form=ConfirmForm(),
        error=error,
    )
    return page, status


@bp.get("")
@login_required
def overview():
    return _overview()


# --- confirming it is you again (a fresh second factor) -------------------------------------


def _confirm_destination(raw) -> str:
    return redirects.safe_next(raw, url_for("security.overview"))


def _confirmed(destination: str, level: str):
    sessions.record_second_factor(current.sso_session(), level)
    return redirect(destination, code=303)


@bp.route("/confirm", methods=["GET", "POST"])
@source_limit()
@login_required
def confirm():
    """Prove the second factor again (a code from the app, or a passkey; a citizen with only
    a phone logs in again with it), then back to the page that asked for it."""
    form = SecondFactorForm()
    destination = redirects.form_destination(form, url_for("security.overview"))
    citizen = current.citizen()
    if request.method == "GET" and current.second_factor_is_fresh():
        return redirect(destination, code=303)
    usable = [a for a in service.active(citizen.id) if a.suspect_at is None]
    kinds = {a.kind for a in usable}
    authenticators = [a for a in usable if a.kind == AuthenticatorKind.TOTP]
    page = functools.partial(
        _confirm_page,
        form,
        has_totp=bool(authenticators),
        has_passkey=AuthenticatorKind.WEBAUTHN in kinds,
        has_phone=AuthenticatorKind.PHONE in kinds,
    )
    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    subject = _SECOND_STEP_LOCKOUT.format(citizen.id)
    before = lockout.standing(subject)
    if before.wait:
        form.form_errors.append(wait_message(before.wait))
        return page(429, {"Retry-After": str(before.wait)})
    try:
        accepted = any(totp.verify(a, form.otp.data) for a in authenticators)
    except totp.CodeReplayed:
        form.otp.errors.append(_("This code has been used already. Wait for the next one."))
        return page(401)
    if not accepted:
        lockout.record_failure(subject)
        form.otp.errors.append(_("The code is wrong or has expired. Try the newest one."))
        return page(401)
    lockout.clear(subject, before)
    return _confirmed(destination, assurance.SUBSTANTIAL)


def _confirm_page(form, status: int = 200, headers=None, **context):
    page = make_response(
        render_template("security/confirm.html", form=form, **context), status, headers or {}
    )
    return allow_form_target(page, verified_redirect_uri(form.next.data))


@bp.post("/confirm/passkey/options")
@source_limit()
@login_required
def confirm_passkey_options():
    json_body()
    return current_app.response_class(
        passkeys.authentication_options(current.citizen()), mimetype="application/json"
    )


@bp.post("/confirm/passkey/verify")
@source_limit()
@login_required
def confirm_passkey_verify():
    body = json_body()
    destination = _confirm_destination(body.get("next"))
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The passkey's answer is missing."))
    try:
        login = passkeys.authenticate(credential, citizen=current.citizen())
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc))
    sessions.record_second_factor(current.sso_session(), login.level)
    return jsonify(redirect=destination)


# --- adding an authenticator ------------------------------------------------------------------


def _pending_totp(citizen) -> Authenticator:
    pending_id = session.get(_ENROLLING)
    found = service.owned(citizen.id, pending_id) if pending_id else None
    if found is None or found.active:
        found = totp.begin(citizen, _("Authenticator app"))
        session[_ENROLLING] = found.id
    return found


@bp.route("/totp", methods=["GET", "POST"])
@session_required
@enrolment_guard
@fresh_second_factor_required
def enrol_totp():
    citizen = current.citizen()
    form = EnrolTotpForm()
    destination = redirects.form_destination(form, url_for("security.overview"))
    authenticator = _pending_totp(citizen)
    status = 200
    if form.validate_on_submit():
        first = not service.has_second_factor(citizen.id)
        bound_level = binding_level(first)
        try:
            confirmed = totp.verify(authenticator, form.otp.data)
        except totp.CodeReplayed:
            confirmed = False
        if confirmed:
            session.pop(_ENROLLING, None)
            authenticator.name = service.clean_name(form.name.data, authenticator.name)
            authenticator.bound_level = bound_level
            db.session.commit()
            sso = current.sso_session()
            # Password (the session) and this code: two factors, proved just now.
            session_id = None  # a session with two factors already keeps its id
            if not assurance.meets(sso.level, assurance.SUBSTANTIAL):
                session_id = sessions.elevate(sso, assurance.PASSWORD_AND_TOTP, request)
            if first:
                page = redirect(_show_new_codes(citizen.id, destination), code=303)
            else:
                flash(_("Your authenticator app is set up."))
                page = redirect(destination, code=303)
            if session_id is not None:
                sessions.set_cookie(page, session_id)
            return page
        form.otp.errors.append(_("The code does not match. Check the app and try the newest code."))
        status = 400
    elif request.method == "POST":
        status = 400
    page = make_response(
        render_template(
            "security/enrol_totp.html",
            form=form,
            secret=totp.secret_of(authenticator),
            first=not service.has_second_factor(citizen.id),
        ),
        status,
    )
    return allow_form_target(page, verified_redirect_uri(destination))


@bp.get("/passkey")
@login_required
@fresh_second_factor_required
def enrol_passkey():
    """The page with the button that adds a passkey (the ceremony runs in its script)."""
    return render_template("security/enrol_passkey.html")


@bp.post("/passkey/options")
@session_required
@enrolment_guard
@fresh_second_factor_required
def passkey_options():
    json_body()
    return current_app.response_class(
        passkeys.registration_options(current.citizen()), mimetype="application/json"
    )


@bp.post("/passkey/verify")
@session_required
@enrolment_guard
@fresh_second_factor_required
def passkey_verify():
    body = json_body()
    citizen, sso = current.citizen(), current.sso_session()
    destination = redirects.safe_next(body.get("next"), url_for("security.overview"))
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The passkey's answer is missing."))
    first = not service.has_second_factor(citizen.id)
    name = service.clean_name(body.get("name") if isinstance(body.get("name"), str) else "",
                              _("Passkey"))  # fmt: skip
    try:
        passkey = passkeys.register(citizen, credential, name, bound_level=binding_level(first))
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc))
    session_id = None
    if not assurance.meets(sso.level, assurance.SUBSTANTIAL):
        # The password (the session) and a verified passkey, just now: two factors.
        _level, methods = passkeys.login_level(passkey, citizen)
        session_id = sessions.elevate(sso, list(dict.fromkeys([*sso.amr, *methods])), request,
                                      level=assurance.SUBSTANTIAL)  # fmt: skip
    if first:
        destination = _show_new_codes(citizen.id, destination)
    response = jsonify(redirect=destination)
    if session_id is not None:
        sessions.set_cookie(response, session_id)
    flash(_("Your passkey “%(name)s” is set up.", name=authenticator_name(passkey)))
    return response


@bp.get("/totp/qr.svg")
@session_required
@enrolment_guard
def totp_qr():
    """The QR code of the authenticator being set up, as an image (no script needed)."""
    citizen = current.citizen()
    pending_id = session.get(_ENROLLING)
    authenticator = service.owned(citizen.id, pending_id) if pending_id else None
    if authenticator is None or authenticator.active:
        abort(404)
    uri = totp.provisioning_uri(authenticator, citizen.username)
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=6, border=2, title=_("QR code"))
    response = current_app.response_class(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


# --- renaming and removing --------------------------------------------------------------------


def _own_or_404(authenticator_id: str) -> Authenticator:
    found = service.owned(current.citizen().id, authenticator_id)
    if found is None or not found.active:
        abort(404)
    return found


@bp.post("/<authenticator_id>/rename")
@login_required
def rename(authenticator_id: str):
    """Renaming changes only the label the citizen reads: no fresh second factor needed."""
    authenticator = _own_or_404(authenticator_id)
    form = RenameForm()
    if not form.validate_on_submit():
        abort(400, form.name.errors[0] if form.name.errors else None)
    service.rename(authenticator, form.name.data)
    flash(_("Renamed to “%(name)s”.", name=authenticator_name(authenticator)))
    return redirect(url_for("security.overview"), code=303)


@bp.post("/<authenticator_id>/remove")
@login_required
@fresh_second_factor_required
def remove(authenticator_id: str):
    authenticator = _own_or_404(authenticator_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.remove(authenticator)
    except service.LastSecondFactor:
        return _overview(409, _("You cannot remove your only second factor. Add another first."))
    flash(_("“%(name)s” is removed.", name=authenticator_name(authenticator)))
    return redirect(url_for("security.overview"), code=303)


# --- recovery codes ---------------------------------------------------------------------------


def _shown_codes_key(citizen_id: str, create: bool = False) -> str | None:
    name = session.get(_SHOWN_CODES_NAME)
    if name is None and create:
        name = session[_SHOWN_CODES_NAME] = secrets.token_urlsafe(16)
    return store.key(_SHOWN_CODES, citizen_id, name) if name else None


def _show_new_codes(citizen_id: str, destination: str) -> str:
    """Make a new set of recovery codes (the old ones stop working), hold them for the page
    that shows them, and return that page's address."""
    codes = recovery.replace(citizen_id)
    # Encrypted, as every secret at rest; held only for the minutes it takes to save them.
    sealed = crypto.encrypt(json.dumps(codes).encode(), _SHOWN_CODES)
    store.redis.set(_shown_codes_key(citizen_id, create=True), sealed, ex=SHOWN_CODES_SECONDS)
    return url_for("security.recovery_codes", next=destination)


def _held_codes(citizen_id: str) -> list[str] | None:
    key = _shown_codes_key(citizen_id)
    sealed = store.redis.get(key) if key else None
    return json.loads(crypto.decrypt(sealed, _SHOWN_CODES)) if sealed is not None else None


@bp.get("/recovery-codes/new")
@login_required
@fresh_second_factor_required
def new_recovery_codes():
    """Asks first: new codes void the ones the citizen has."""
    return render_template(
        "security/new_recovery_codes.html",
        form=ConfirmForm(),
        recovery_codes_left=recovery.remaining(current.citizen().id),
    )


@bp.post("/recovery-codes/new")
@login_required
@fresh_second_factor_required
def make_recovery_codes():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    citizen_id = current.citizen().id
    return redirect(_show_new_codes(citizen_id, url_for("security.overview")), code=303)


@bp.get("/recovery-codes")
@login_required
def recovery_codes():
    """The codes just made, while they are held (a reload shows the same ones, and never
    makes new ones); afterwards, that they were shown."""
    destination = redirects.safe_next(request.args.get("next"), url_for("security.overview"))
    codes = _held_codes(current.citizen().id)
    response = make_response(
        render_template(
            "security/recovery_codes.html",
            codes=codes,
            destination=destination,
            form=ConfirmForm(),
            minutes=SHOWN_CODES_SECONDS // 60,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/recovery-codes.txt")
@login_required
def download_recovery_codes():
    codes = _held_codes(current.citizen().id)
    if codes is None:
        return redirect(url_for("security.recovery_codes"), code=303)
    lines = [
        _("Tillid recovery codes for %(username)s", username=current.citizen().username),
        _("Each code works once. Keep them somewhere safe."),
        "",
        *codes,
        "",
    ]
    response = current_app.response_class("\n".join(lines), mimetype="text/plain")
    response.headers["Content-Disposition"] = 'attachment; filename="tillid-recovery-codes.txt"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/recovery-codes/saved")
@login_required
def recovery_codes_saved():
    """The citizen has saved them: they are no longer held, nor shown again."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    key = _shown_codes_key(current.citizen().id)
    if key is not None:
        store.redis.delete(key)
    session.pop(_SHOWN_CODES_NAME, None)
    destination = redirects.safe_next(request.form.get("next"), url_for("security.overview"))
    return redirect(destination, code=303)


# --- pairing, on the computer --------------------------------------------------------------


def _pairing_link(token: str) -> str:
    return f"{url_for('phone.pair', _external=True)}#{token}"


@bp.post("/phone")
@login_required
@enrolment_guard
@fresh_second_factor_required
def start_pairing():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    session[_PAIRING_TOKEN] = pairing.start(current.citizen(), binding_level(first=False))
    return redirect(url_for("security.pairing_page"), code=303)


@bp.get("/phone")
@login_required
def pairing_page():
    """The pairing link started from this browser, while it can still be used."""
    token = session.get(_PAIRING_TOKEN)
    if not token or not pairing.pending(token):
        session.pop(_PAIRING_TOKEN, None)
        return redirect(url_for("security.overview"), code=303)
    response = make_response(
        render_template(
            "security/pair_phone.html",
            link=_pairing_link(token),
            minutes=pairing.PAIRING_SECONDS // 60,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/phone/qr.svg")
@login_required
def pairing_qr():
    token = session.get(_PAIRING_TOKEN)
    if not token:
        abort(404)
    out = io.BytesIO()
    segno.make(_pairing_link(token), error="m").save(out, kind="svg", scale=5, border=2)
    response = make_response(out.getvalue())
    response.mimetype = "image/svg+xml"
    return response
