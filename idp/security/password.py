"""/me/security/password: changing the password.

It takes the current password and a fresh second factor (a code from the app, or a passkey
or the phone confirmed on this page), both counted against the login's lockouts, so a
session left open is no way to test passwords or codes. A change ends every other session
of the citizen and renews this one's id; the next page says how many were ended.
"""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    after_this_request,
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
from idp.auth.forms import ConfirmForm
from idp.auth.views import source_limit, wait_message
from idp.authenticators import pairing, passkeys, totp
from idp.authenticators import service as second_factors
from idp.authenticators.models import AuthenticatorKind
from idp.citizens import service as citizens
from idp.core import passwords
from idp.core.extensions import limiter
from idp.core.problems import problem
from idp.core.web import json_body
from idp.phone import requests as phone_requests
from idp.phone.requests import RequestRefused
from idp.security import possession
from idp.security.password_forms import ChangePasswordForm
from idp.sessions import current, sessions
from idp.sessions.current import login_required
from idp.templating import device_name

log = logging.getLogger(__name__)

bp = Blueprint("password", __name__, url_prefix="/me/security/password")

PURPOSE = "password-change"  # of a passkey's or the phone's answer, held until the form is sent
_PHONE_REQUEST = "change_phone_request"  # this browser's approval request for the change


def _fresh_confirmation(citizen_id: str) -> possession.Proof | None:
    proof = possession.peek(PURPOSE)
    return proof if proof is not None and proof.citizen_id == citizen_id else None


def _second_factors(citizen_id: str) -> tuple[list, bool, bool]:
    """The citizen's authenticator apps, and whether they have a usable passkey, a phone."""
    enrolled = [a for a in second_factors.active(citizen_id) if not a.suspect_at]
    apps = [a for a in enrolled if a.kind == AuthenticatorKind.TOTP]
    has_passkey = any(a.kind == AuthenticatorKind.WEBAUTHN for a in enrolled)
    has_phone = any(a.kind == AuthenticatorKind.PHONE for a in enrolled)
    return apps, has_passkey, has_phone


@bp.route("", methods=["GET", "POST"])
@source_limit()
@login_required
def change():
    citizen, sso = current.citizen(), current.sso_session()
    apps, has_passkey, has_phone = _second_factors(citizen.id)
    confirmed = _fresh_confirmation(citizen.id)
    form = ChangePasswordForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        status, headers = _check_and_change(form, citizen, sso, apps, confirmed is not None)
        if status == 302:
            return redirect(url_for("security.overview"))
    elif request.method == "POST":
        status = 400
    page = render_template(
        "security/change_password.html",
        form=form,
        has_totp=bool(apps),
        has_passkey=has_passkey,
        has_phone=has_phone,
        confirmed=confirmed,
        confirm_form=ConfirmForm(),
    )
    return page, status, headers


def _check_and_change(form, citizen, sso, apps, confirmed: bool) -> tuple[int, dict]:
    """Check both factors and change the password: (302, {}) when done, else the status and
    headers of the page that shows the errors the form now carries."""
    password_subject, code_subject = citizen.username, f"otp:{citizen.id}"
    standing = {s: lockout.standing(s) for s in (password_subject, code_subject)}
    wait = max(s.wait for s in standing.values())
    if wait:
        form.form_errors.append(wait_message(wait))
        return 429, {"Retry-After": str(wait)}
    try:
        # The policy first: a weak new password costs no code and counts as no guess. (Whether
        # it equals the current one is told only after both factors: it would be an oracle.)
        passwords.check_policy(form.password.data, username=citizen.username)
    except passwords.WeakPassword as exc:
        form.password.errors.append(str(exc))
        return 400, {}
    # Both factors are checked, and each failure counted, whatever the other did.
    password_ok = passwords.verify_password(citizen.password_hash, form.current_password.data)
    code_ok, code_error = confirmed, None
    if not confirmed:
        if not apps or not form.otp.data:
            code_error = (
                _("Enter the code from your authenticator app.")
                if apps
                else _("Confirm with a passkey or your phone first.")
            )
        else:
            try:
                code_ok = any(totp.verify(a, form.otp.data) for a in apps)
            except totp.CodeReplayed:
                code_error = _("This code has been used already. Wait for the next one.")
            if not code_ok and code_error is None:
                code_error = _("The code is wrong or has expired. Try the newest one.")
    waits = []
    if not password_ok:
        waits.append(lockout.record_failure(password_subject))
        form.current_password.errors.append(_("The password is wrong."))
    if code_error is not None:
        if form.otp.data:  # a wrong code is a guess; a missing one is not
            waits.append(lockout.record_failure(code_subject))
        (form.otp.errors if apps else form.form_errors).append(code_error)
    if not (password_ok and code_ok):
        wait = max(waits, default=0)
        return (429, {"Retry-After": str(wait)}) if wait else (401, {})
    for subject, before in standing.items():
        lockout.clear(subject, before)
    if passwords.verify_password(citizen.password_hash, form.password.data):
        form.password.errors.append(_("Choose a password that differs from your current one."))
        return 400, {}
    try:
        citizens.change_password(citizen, form.password.data)
    except citizens.InvalidCitizenData as exc:
        form.password.errors.append(exc.message)
        return 400, {}
    possession.take(PURPOSE)  # the passkey's or phone's answer served this change, no other
    ended = _end_other_sessions(citizen.id, sso)
    log.info("password changed", extra={"event": "password_changed", "citizen_id": citizen.id,
                                        "sessions_ended": ended})  # fmt: skip
    flash(
        ngettext(
            "Your password is changed. %(num)d other session was logged out.",
            "Your password is changed. %(num)d other sessions were logged out.",
            ended,
        )
    )
    return 302, {}


def _end_other_sessions(citizen_id: str, this: sessions.SSOSession) -> int:
    """Every other session ends (whoever had the old password is out); this one goes on under
    a new id, so a copy of its cookie from before the change opens nothing either."""
    others = [s for s in sessions.list_for(citizen_id) if s.id_hash != this.id_hash]
    for other in others:
        sessions.end(other.id_hash)
    renewed = sessions.elevate(this, this.amr, request, recovered=this.recovered, level=this.acr)

    @after_this_request
    def set_cookie(response):  # on the redirect the view returns
        sessions.set_cookie(response, renewed)
        return response

    return len(others)


@bp.post("/passkey/options")
@source_limit()
@login_required
def passkey_options():
    """A challenge for the citizen's own passkeys, to confirm the change with one."""
    json_body()
    return current_app.response_class(
        passkeys.authentication_options(current.citizen()), mimetype="application/json"
    )


@bp.post("/passkey/verify")
@source_limit()
@login_required
def passkey_verify():
    body = json_body()
    citizen = current.citizen()
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The passkey's answer is missing."))
    try:
        proved = passkeys.authenticate(credential, citizen=citizen)
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc))
    possession.hold(PURPOSE, possession.Proof(proved.citizen_id, "passkey", proved.amr,
                                              level=proved.level))  # fmt: skip
    return jsonify(redirect=url_for("password.change"))


# --- confirming on the phone: a request to the citizen's own paired phone ---------------------


def _phone_request() -> phone_requests.PhoneRequest | None:
    found = phone_requests.load(session.get(_PHONE_REQUEST))
    if found is None or found.purpose != phone_requests.PASSWORD_CHANGE:
        return None
    return found if found.citizen_id == current.citizen().id else None


@bp.post("/phone")
@source_limit()
@login_required
def with_phone():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    citizen = current.citizen()
    if not pairing.phones_of(citizen.id):
        return redirect(url_for("password.change"))
    earlier = _phone_request()
    if earlier is not None:
        phone_requests.cancel(earlier)  # this browser tries again: its own request gives way
    try:
        started = phone_requests.create(
            citizen.id,
            channel="browser",
            purpose=phone_requests.PASSWORD_CHANGE,
            source_ip=request.remote_addr or "",
            source_device=device_name(request.user_agent.string),
        )
    except RequestRefused as exc:
        flash(str(exc))
        return redirect(url_for("password.change"))
    session[_PHONE_REQUEST] = started.id
    return redirect(url_for("password.phone_wait"))


@bp.get("/phone")
@login_required
def phone_wait():
    found = _phone_request()
    if found is None:
        return redirect(url_for("password.change"))
    return render_template(
        "auth/phone_wait.html",
        request_=found,
        outcome=phone_requests.outcome(found),
        form=ConfirmForm(),
        complete_url=url_for("password.phone_complete"),
        status_url=url_for("password.phone_status"),
        retry_url=url_for("password.with_phone"),
        other_way_url=url_for("password.change"),
    )


@bp.get("/phone/status")
@limiter.exempt
@login_required
def phone_status():
    found = _phone_request()
    if found is None:
        return problem(404, _("No request is waiting for your phone."))
    return jsonify(status=phone_requests.outcome(found)["status"], seconds_left=found.seconds_left)


@bp.post("/phone/complete")
@login_required
def phone_complete():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    found = _phone_request()
    if found is None:
        return redirect(url_for("password.change"))
    answered = phone_requests.outcome(found)
    if answered["status"] != phone_requests.APPROVED or not phone_requests.use(found):
        return redirect(url_for("password.phone_wait"))
    session.pop(_PHONE_REQUEST, None)
    possession.hold(PURPOSE, possession.Proof(found.citizen_id, "phone", answered["amr"]))
    return redirect(url_for("password.change"))
