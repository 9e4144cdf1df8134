"""/me/security: the citizen's authenticators (add, rename, remove) and recovery codes."""

from __future__ import annotations

import functools
import io
import json

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

from idp.auth.forms import ConfirmForm
from idp.authenticators import assurance, pairing, passkeys, recovery, service, totp
from idp.authenticators.models import Authenticator
from idp.core import crypto, redirects
from idp.core.extensions import db, store
from idp.core.problems import problem
from idp.core.web import allow_form_target, json_body
from idp.security.forms import EnrolTotpForm, RenameForm
from idp.sessions import current, sessions
from idp.sessions.current import login_required, session_required
from idp.sessions.destinations import verified_redirect_uri
from idp.templating import authenticator_name

bp = Blueprint("security", __name__, url_prefix="/me/security")
_PAIRING_TOKEN = "phone_pairing"  # noqa: S105 (a session key's name) the link the computer is showing, for its QR code

_ENROLLING = "enrolling_totp"  # the id of the unconfirmed authenticator being set up
_FRESH_CODES = "fresh-recovery-codes"
_FRESH_CODES_SECONDS = 5 * 60


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
def enrol_totp():
    citizen = current.citizen()
    form = EnrolTotpForm()
    destination = redirects.form_destination(form, url_for("security.overview"))
    authenticator = _pending_totp(citizen)
    status = 200
    if form.validate_on_submit():
        first = not service.has_second_factor(citizen.id)
        try:
            confirmed = totp.verify(authenticator, form.otp.data)
        except totp.CodeReplayed:
            confirmed = False
        if confirmed:
            session.pop(_ENROLLING, None)
            authenticator.name = service.clean_name(form.name.data, authenticator.name)
            db.session.commit()
            sso = current.sso_session()
            # Password (the session) and this code: two factors, proved just now.
            session_id = None  # a session with two factors already keeps its id
            if not assurance.meets(sso.level, assurance.SUBSTANTIAL):
                session_id = sessions.elevate(sso, assurance.PASSWORD_AND_TOTP, request)
            if first:
                page = make_response(
                    render_template(
                        "security/recovery_codes.html",
                        codes=recovery.replace(citizen.id),
                        destination=destination,
                    )
                )
            else:
                flash(_("Your authenticator app is set up."))
                page = redirect(destination)
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


@bp.post("/passkey/options")
@session_required
@enrolment_guard
def passkey_options():
    json_body()
    return current_app.response_class(
        passkeys.registration_options(current.citizen()), mimetype="application/json"
    )


@bp.post("/passkey/verify")
@session_required
@enrolment_guard
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
        passkey = passkeys.register(citizen, credential, name)
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc))
    session_id = None
    if not assurance.meets(sso.level, assurance.SUBSTANTIAL):
        # The password (the session) and a verified passkey, just now: two factors.
        _level, methods = passkeys.login_level(passkey, citizen)
        session_id = sessions.elevate(sso, list(dict.fromkeys([*sso.amr, *methods])), request,
                                      level=assurance.SUBSTANTIAL)  # fmt: skip
    if first:
        # The codes are shown once, on the next page: held in the store for a moment.
        # Encrypted, as every secret at rest; five minutes to show them.
        sealed = crypto.encrypt(json.dumps(recovery.replace(citizen.id)).encode(), _FRESH_CODES)
        store.redis.set(store.key(_FRESH_CODES, citizen.id), sealed, ex=_FRESH_CODES_SECONDS)
        destination = url_for("security.fresh_recovery_codes", next=destination)
    response = jsonify(redirect=destination)
    if session_id is not None:
        sessions.set_cookie(response, session_id)
    flash(_("Your passkey “%(name)s” is set up.", name=authenticator_name(passkey)))
    return response


@bp.get("/recovery-codes/new")
@login_required
def fresh_recovery_codes():
    """The recovery codes made with a first passkey, shown once."""
    sealed = store.redis.getdel(store.key(_FRESH_CODES, current.citizen().id))
    destination = redirects.safe_next(request.args.get("next"), url_for("security.overview"))
    if sealed is None:
        return redirect(url_for("security.overview"))
    codes = json.loads(crypto.decrypt(sealed, _FRESH_CODES))
    return render_template("security/recovery_codes.html", codes=codes, destination=destination)


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


def _own_or_404(authenticator_id: str) -> Authenticator:
    found = service.owned(current.citizen().id, authenticator_id)
    if found is None or not found.active:
        abort(404)
    return found


@bp.post("/<authenticator_id>/rename")
@login_required
def rename(authenticator_id: str):
    authenticator = _own_or_404(authenticator_id)
    form = RenameForm()
    if not form.validate_on_submit():
        abort(400, form.name.errors[0] if form.name.errors else None)
    service.rename(authenticator, form.name.data)
    flash(_("Renamed to “%(name)s”.", name=authenticator_name(authenticator)))
    return redirect(url_for("security.overview"))


@bp.post("/<authenticator_id>/remove")
@login_required
def remove(authenticator_id: str):
    authenticator = _own_or_404(authenticator_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.remove(authenticator)
    except service.LastSecondFactor:
        return _overview(409, _("You cannot remove your only second factor. Add another first."))
    flash(_("“%(name)s” is removed.", name=authenticator_name(authenticator)))
    return redirect(url_for("security.overview"))


@bp.post("/recovery-codes")
@login_required
def new_recovery_codes():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    codes = recovery.replace(current.citizen().id)
    return render_template(
        "security/recovery_codes.html", codes=codes, destination=url_for("security.overview")
    )


# --- pairing, on the computer --------------------------------------------------------------


def _pairing_link(token: str) -> str:
    return f"{url_for('phone.pair', _external=True)}#{token}"


@bp.post("/phone")
@login_required
@enrolment_guard
def start_pairing():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    token = pairing.start(current.citizen())
    session[_PAIRING_TOKEN] = token
    return render_template(
        "security/pair_phone.html",
        link=_pairing_link(token),
        minutes=pairing.PAIRING_SECONDS // 60,
    )


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
