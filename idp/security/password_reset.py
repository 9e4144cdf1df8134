"""A forgotten password (/login/forgot): the citizen names their user ID, proves the account
is theirs with a recovery code, a passkey or their paired phone, and chooses a new password;
without any of those, a new letter by post (/login/forgot/letter).

Nothing here tells whether a user ID exists: every user ID gets the same pages, the same
answers and the same work, and the proofs count against the same lockout and rate limits as
the login's. A reset ends every session of the citizen and starts one on this browser
with what was proved.
"""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from idp.auth import lockout
from idp.auth.forms import ConfirmForm, RecoveryCodeForm
from idp.auth.views import source_limit, wait_message
from idp.authenticators import assurance, pairing, passkeys
from idp.authenticators import recovery as recovery_codes
from idp.citizens import service as citizens
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db, limiter
from idp.core.problems import problem
from idp.core.web import json_body
from idp.phone import requests as phone_requests
from idp.phone.requests import RequestRefused
from idp.security import possession
from idp.security.password_forms import ForgotPasswordForm, NewPasswordForm, RecoveryLetterForm
from idp.sessions import sessions
from idp.templating import device_name

log = logging.getLogger(__name__)

bp = Blueprint("password_reset", __name__, url_prefix="/login/forgot")

PURPOSE = "password-reset"  # of the proof held between proving and choosing (possession.py)
_USER_ID = "reset_user_id"  # the user ID typed at the first step, canonical
_PHONE_REQUEST = "reset_phone_request"  # this browser's approval request, as at /login/app


def _typed_user_id() -> str | None:
    typed = session.get(_USER_ID)
    return typed if isinstance(typed, str) and typed else None


def _usable(user_id: str) -> Citizen | None:
    """The active citizen with this user ID, else None (unknown, pending, locked ...)."""
    citizen = citizens.find_by_username(user_id)
    return citizen if citizen is not None and citizen.status == CitizenStatus.ACTIVE else None


def _proof_lockout(citizen: Citizen | None, user_id: str) -> str:
    """Guesses at a recovery code share the citizen's budget with the login's second step
    (/login/code, /login/recovery): a reset is no fresh supply of guesses. A user ID of no
    account gets a budget of its own that behaves the same."""
    return f"otp:{citizen.id}" if citizen is not None else f"otp-unknown:{user_id}"


@bp.route("", methods=["GET", "POST"])
@source_limit()
def start():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        possession.take(PURPOSE)  # a proof for an earlier user ID does not carry over
        session[_USER_ID] = citizens.canonical_username(form.username.data)
        return redirect(url_for("password_reset.prove"))
    if request.method == "GET" and _typed_user_id():
        form.username.data = _typed_user_id()
    return render_template("auth/forgot.html", form=form), 400 if form.errors else 200


def _proof_page(recovery_form: RecoveryCodeForm, status: int = 200, headers=None):
    page = render_template(
        "auth/forgot_prove.html",
        user_id=_typed_user_id(),
        recovery_form=recovery_form,
        form=ConfirmForm(),
    )
    return page, status, headers or {}


@bp.get("/prove")
def prove():
    """The same three ways for every user ID: which of them an account has is not told."""
    if _typed_user_id() is None:
        return redirect(url_for("password_reset.start"))
    return _proof_page(RecoveryCodeForm())


@bp.post("/recovery-code")
@source_limit()
def with_recovery_code():
    user_id = _typed_user_id()
    if user_id is None:
        return redirect(url_for("password_reset.start"))
    form = RecoveryCodeForm()
    if not form.validate_on_submit():
        return _proof_page(form, 400)
    citizen = _usable(user_id)
    subject = _proof_lockout(citizen, user_id)
    before = lockout.standing(subject)
    if before.wait:
        form.form_errors.append(wait_message(before.wait))
        return _proof_page(form, 429, {"Retry-After": str(before.wait)})
    # An unknown user ID spends the same statement on nobody's codes: the same work.
    if not recovery_codes.use(citizen.id if citizen else "", form.recovery_code.data):
        wait = lockout.record_failure(subject)
        form.recovery_code.errors.append(_("This recovery code is wrong or has been used."))
        if wait:
            return _proof_page(form, 429, {"Retry-After": str(wait)})
        return _proof_page(form, 401)
    lockout.clear(subject, before)
    possession.hold(PURPOSE, possession.Proof(citizen.id, "recovery_code", assurance.PASSWORD,
                                              recovered=True))  # fmt: skip
    return redirect(url_for("password_reset.new_password"))


@bp.post("/passkey/options")
@source_limit()
def passkey_options():
    """A challenge for any of the citizen's passkeys: the same for every user ID (the typed
    one is not looked up, so the options tell nothing about it)."""
    json_body()
    if _typed_user_id() is None:
        return problem(400, _("Start again: enter your user ID."))
    return current_app.response_class(
        passkeys.authentication_options(None), mimetype="application/json"
    )


@bp.post("/passkey/verify")
@source_limit()
def passkey_verify():
    body = json_body()
    user_id = _typed_user_id()
    if user_id is None:
        return problem(400, _("Start again: enter your user ID."))
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The passkey's answer is missing."))
    try:
        proved = passkeys.authenticate(credential)
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc))
    if proved.username != user_id:
        return problem(400, _("This passkey is not for the user ID you typed."))
    if proved.status != CitizenStatus.ACTIVE:
        return problem(403, _("You cannot log in with this account. Contact citizen support."))
    possession.hold(PURPOSE, possession.Proof(proved.citizen_id, "passkey", proved.amr,
                                              level=proved.level))  # fmt: skip
    return jsonify(redirect=url_for("password_reset.new_password"))


# --- the phone: as a login with the phone app (idp/phone/login.py), for a reset -------------


def _phone_request() -> phone_requests.PhoneRequest | None:
    found = phone_requests.load(session.get(_PHONE_REQUEST))
    return found if found is not None and found.purpose == phone_requests.PASSWORD_RESET else None


@bp.post("/phone")
@source_limit()
def with_phone():
    user_id = _typed_user_id()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if user_id is None:
        return redirect(url_for("password_reset.start"))
    citizen = _usable(user_id)
    # Without a phone (or an account) the browser waits just the same and the request
    # expires: the page tells nobody whether the user ID exists or has a phone.
    owner = citizen.id if citizen is not None and pairing.phones_of(citizen.id) else None
    earlier = _phone_request()
    if earlier is not None and earlier.citizen_id is not None and earlier.citizen_id == owner:
        phone_requests.cancel(earlier)  # this browser tries again: its own request gives way
    try:
        started = phone_requests.create(
            owner,
            channel="browser",
            purpose=phone_requests.PASSWORD_RESET,
            source_ip=request.remote_addr or "",
            source_device=device_name(request.user_agent.string),
        )
    except RequestRefused as exc:
        flash(str(exc))
        return redirect(url_for("password_reset.prove"))
    session[_PHONE_REQUEST] = started.id
    return redirect(url_for("password_reset.phone_wait"))


@bp.get("/phone")
def phone_wait():
    found = _phone_request()
    if found is None:
        return redirect(url_for("password_reset.prove"))
    return render_template(
        "auth/phone_wait.html",
        request_=found,
        outcome=phone_requests.outcome(found),
        form=ConfirmForm(),
        complete_url=url_for("password_reset.phone_complete"),
        status_url=url_for("password_reset.phone_status"),
        retry_url=url_for("password_reset.with_phone"),
        other_way_url=url_for("password_reset.prove"),
    )


@bp.get("/phone/status")
@limiter.exempt
def phone_status():
    found = _phone_request()
    if found is None:
        return problem(404, _("No request is waiting for your phone."))
    return jsonify(status=phone_requests.outcome(found)["status"], seconds_left=found.seconds_left)


@bp.post("/phone/complete")
def phone_complete():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    found = _phone_request()
    if found is None:
        return redirect(url_for("password_reset.prove"))
    answered = phone_requests.outcome(found)
    if answered["status"] != phone_requests.APPROVED or not phone_requests.use(found):
        return redirect(url_for("password_reset.phone_wait"))
    session.pop(_PHONE_REQUEST, None)
    possession.hold(PURPOSE, possession.Proof(found.citizen_id, "phone", answered["amr"],
                                              level=assurance.SUBSTANTIAL))  # fmt: skip
    return redirect(url_for("password_reset.new_password"))


# --- the new password --------------------------------------------------------------------------


def _finish_reset(citizen_id: str, proof: possession.Proof):
    """End every session of the citizen (whoever had the old password is out), then log this
    browser in with what was proved: a recovery code or a letter only far enough to set up a
    new authenticator, a passkey or the phone as their login would."""
    ended = sessions.end_all(citizen_id)
    # The password itself was just chosen: it counts, beside what was proved.
    amr = list(dict.fromkeys([*assurance.PASSWORD, *proof.amr]))
    session_id = sessions.start(citizen_id, amr, request, recovered=proof.recovered,
                                level=proof.level)  # fmt: skip
    if proof.recovered:
        destination = url_for("security.enrol_totp")
    else:
        destination = url_for("security.overview")
    response = redirect(destination)
    sessions.set_cookie(response, session_id)
    log.info("password reset", extra={"event": "password_reset", "citizen_id": citizen_id,
                                      "proof": proof.method, "sessions_ended": ended})  # fmt: skip
    _tell(proof, ended)
    return response


@bp.route("/new-password", methods=["GET", "POST"])
@source_limit()
def new_password():
    proof = possession.peek(PURPOSE)
    if proof is None:
        flash(_("Show that it is you first. That counts for ten minutes."))
        return redirect(url_for("password_reset.prove"))
    citizen = db.session.get(Citizen, proof.citizen_id)
    if citizen is None or citizen.status != CitizenStatus.ACTIVE:
        possession.take(PURPOSE)
        abort(403, _("You cannot log in with this account. Contact citizen support."))
    form = NewPasswordForm()
    if form.validate_on_submit():
        # Taken before the password changes, so two tabs cannot both finish on one proof.
        if possession.take(PURPOSE) is None:
            return redirect(url_for("password_reset.prove"))
        try:
            citizens.change_password(citizen, form.password.data)
        except citizens.InvalidCitizenData as exc:
            possession.hold(PURPOSE, proof)  # a weak first try keeps the proof
            form.password.errors.append(exc.message)
        else:
            session.pop(_USER_ID, None)
            lockout.clear(citizen.username)  # the password guesses were at the old one
            return _finish_reset(citizen.id, proof)
    status = 400 if form.errors else 200
    return render_template("auth/forgot_new_password.html", form=form,
                           user_id=citizen.username), status  # fmt: skip


def _tell(proof: possession.Proof, ended: int) -> None:
    flash(
        ngettext(
            "Your password is changed. %(num)d session was logged out.",
            "Your password is changed. %(num)d sessions were logged out.",
            ended,
        )
    )
    if proof.recovered:
        flash(_("Set up a new authenticator now. Then remove the one you lost under Security."))


# --- the letter: no other proof ------------------------------------------------------------


@bp.route("/letter", methods=["GET", "POST"])
@source_limit()
def letter():
    """A recovery letter (`flask citizens reissue-letter`): the CPR number, its code and a
    new password; then a new authenticator, as after a recovery code."""
    form = RecoveryLetterForm()
    status = 200
    if form.validate_on_submit():
        try:
            citizen = citizens.redeem_recovery_letter(
                form.cpr.data, form.activation_code.data, form.password.data
            )
        except citizens.ActivationFailed:
            form.activation_code.errors.append(
                _(
                    "The CPR number and code do not match, or the code has expired or been "
                    "used. Check the letter, or ask for a new one."
                )
            )
            status = 400
        except citizens.InvalidCitizenData as exc:
            form.password.errors.append(exc.message)
            status = 400
        else:
            lockout.clear(citizen.username)
            proof = possession.Proof(citizen.id, "letter", [], recovered=True)
            return _finish_reset(citizen.id, proof)
    elif request.method == "POST":
        status = 400
    return render_template("auth/forgot_letter.html", form=form), status
