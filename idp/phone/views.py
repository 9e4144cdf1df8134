"""Logging in with the phone: pairing (/me/security/phone), the phone app (/app), and the
browser's side of an approval (/login/app).

The browser shows a binding code and waits; the phone app shows the request (which
service, what it will receive and why, where the login comes from, the time left) with
three codes: the citizen picks the one the browser shows and approves with the phone's
fingerprint, face or PIN. The approval's WebAuthn challenge covers the request and the
picked code, so an approval is valid for that one request only.
"""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from clients.models import Client
from consent import release
from idp.auth import assurance, current, sessions
from idp.auth.current import login_required
from idp.auth.forms import ConfirmForm, PhoneLoginForm
from idp.auth.views import source_limit
from idp.authenticators import passkeys
from idp.authenticators.service import clean_name
from idp.authenticators.views import enrolment_guard
from idp.citizens import service as citizens
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db, limiter, source_address_key
from idp.core.problems import problem
from idp.core.web import allow_form_target, json_body
from idp.oidc.server import verified_redirect_uri
from idp.phone import pairing
from idp.phone import requests as phone_requests
from idp.phone.requests import RequestRefused
from idp.templating import device_name

bp = Blueprint("phone", __name__)

_BROWSER_REQUEST = "phone_request"  # the browser's pending approval, in its signed session
_PAIRING_TOKEN = "phone_pairing"  # noqa: S105 (a session key's name) the link the computer is showing, for its QR code


# --- pairing, on the computer --------------------------------------------------------------


def _pairing_link(token: str) -> str:
    return f"{url_for('phone.pair', _external=True)}#{token}"


@bp.post("/me/security/phone")
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


@bp.get("/me/security/phone/qr.svg")
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


# --- the phone app --------------------------------------------------------------------------


@bp.get("/app/pair")
def pair():
    """The page the pairing link opens on the phone (its script reads the link's secret)."""
    return render_template("phone/pair.html", form=ConfirmForm())


@bp.post("/app/api/pair/options")
@source_limit()
def pair_options():
    options = pairing.registration_options(json_body().get("token"))
    if options is None:
        return problem(400, _("This pairing link is used or has expired. Start again."))
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/app/api/pair/verify")
@source_limit()
def pair_verify():
    body = json_body()
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The phone's answer is missing."))
    raw_name = body.get("name") if isinstance(body.get("name"), str) else ""
    try:
        paired = pairing.complete(body.get("token"), credential, clean_name(raw_name, _("Phone")))
    except passkeys.PasskeyRefused as exc:
        return problem(400, str(exc) + " " + _("Start the pairing again on your computer."))
    if paired is None:
        return problem(400, _("This pairing link is used or has expired. Start again."))
    app_key = paired[1]
    response = jsonify(redirect=url_for("phone.app_home"))
    pairing.set_app_cookie(response, app_key)
    return response


def _shown(request: phone_requests.PhoneRequest) -> dict:
    """What the phone shows of a request: the service, what it asks for and why."""
    client = db.session.get(Client, request.client_id) if request.client_id else None
    asked = []
    if client is not None:
        decision = release.decide(client, request.citizen_id, request.scope, request.claims)
        asked = [*decision.granted, *decision.needs_consent]
    return {"request": request, "client": client, "asked": asked}


@bp.get("/app")
def app_home():
    phone = pairing.this_phone()
    if phone is None:
        return render_template("phone/app.html", phone=None)
    pending = phone_requests.pending_for(phone.citizen_id)
    return render_template(
        "phone/app.html",
        phone=phone,
        citizen=db.session.get(Citizen, phone.citizen_id),
        shown=_shown(pending) if pending else None,
        form=ConfirmForm(),
    )


def _phone_or_401():
    phone = pairing.this_phone()
    if phone is None:
        abort(401, _("This phone is not paired with Tillid (or has been removed)."))
    return phone


def _request_for(phone, request_id: str) -> phone_requests.PhoneRequest:
    found = phone_requests.load(request_id)
    if found is None or found.citizen_id != phone.citizen_id:
        abort(404, _("There is no such request for you."))
    return found


@bp.get("/app/api/pending")
def app_pending():
    """For the app's page to notice a new request: its id, or null."""
    phone = _phone_or_401()
    pending = phone_requests.pending_for(phone.citizen_id)
    return jsonify(request=pending.id if pending else None)


@bp.post("/app/api/requests/<request_id>/options")
def approval_options(request_id: str):
    phone = _phone_or_401()
    found = _request_for(phone, request_id)
    code = json_body().get("code")
    if found.channel == "browser" and code not in found.choices():
        return problem(400, _("Pick one of the codes shown."))
    if phone_requests.outcome(found)["status"] != phone_requests.PENDING:
        return problem(409, _("This request has already been answered or has expired."))
    nonce = phone_requests.new_nonce(found)
    return current_app.response_class(
        passkeys.approval_options(phone, phone_requests.challenge(found, code, nonce)),
        mimetype="application/json",
    )


@bp.post("/app/api/requests/<request_id>/approve")
def approve(request_id: str):
    phone = _phone_or_401()
    found = _request_for(phone, request_id)
    body = json_body()
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return problem(400, _("The phone's answer is missing."))
    nonce = phone_requests.take_nonce(found)
    try:
        if nonce is None:
            raise RequestRefused(_("Start the approval again."))
        if found.channel == "browser" and body.get("code") != found.code:
            # The wrong code: perhaps not the citizen's own login. It ends here.
            phone_requests.answer(found, phone_requests.REJECTED, reason="wrong_code")
            return problem(400, _("That is not the code your browser shows. The login is stopped."))
        # The assertion must be over the request's true code: a body that names the right
        # code with a signature over another is refused here.
        expected = phone_requests.challenge(found, found.code, nonce)
        passkeys.check_assertion(phone, credential, expected)
        phone_requests.answer(found, phone_requests.APPROVED, authenticator_id=phone.id,
                              amr=pairing.approval_methods(phone), at=int(time.time()))  # fmt: skip
        if found.client_id:  # what the phone showed, the citizen has now agreed to
            client = db.session.get(Client, found.client_id)
            decision = release.decide(client, found.citizen_id, found.scope, found.claims)
            release.record_decision(found.citizen_id, client, decision)
    except (RequestRefused, passkeys.PasskeyRefused) as exc:
        return problem(400, str(exc))
    return jsonify(status=phone_requests.APPROVED)


@bp.post("/app/api/requests/<request_id>/reject")
def reject(request_id: str):
    phone = _phone_or_401()
    found = _request_for(phone, request_id)
    json_body()
    try:
        phone_requests.answer(found, phone_requests.REJECTED, reason="rejected")
    except RequestRefused as exc:
        return problem(409, str(exc))
    return jsonify(status=phone_requests.REJECTED)


# --- the browser's side of a login ----------------------------------------------------------


def _service_of(destination: str) -> tuple[str | None, list[str]]:
    """The service and scopes of the authorization request the login is for."""
    parts = urlsplit(destination)
    if parts.path != url_for("oidc.authorize"):
        return None, []
    query = parse_qs(parts.query)
    client_id = (query.get("client_id") or [None])[0]
    client = db.session.get(Client, client_id) if isinstance(client_id, str) else None
    if client is None or not client.enabled:
        return None, []
    scopes = [s for s in (query.get("scope") or [""])[0].split() if s in client.scopes]
    return client.client_id, scopes


@bp.route("/login/app", methods=["GET", "POST"])
@source_limit()
def login_with_phone():
    form = PhoneLoginForm()
    destination = current.form_destination(form, url_for("account.me"))
    status = 200
    if form.validate_on_submit():
        citizen = citizens.find_by_username(form.username.data)
        usable = citizen is not None and citizen.status == CitizenStatus.ACTIVE
        # Without a phone (or an account) the browser waits just the same and the request
        # expires: the page tells nobody whether the user ID exists.
        owner = citizen.id if usable and pairing.phones_of(citizen.id) else None
        earlier = _browser_request()
        if earlier is not None and earlier.citizen_id is not None and earlier.citizen_id == owner:
            # This browser tries again (back button, a new tab): its own earlier request
            # gives way, rather than block the citizen until it expires.
            phone_requests.cancel(earlier)
        client_id, scopes = _service_of(destination)
        try:
            started = phone_requests.create(
                owner,
                channel="browser",
                client_id=client_id,
                scope=scopes,
                source_ip=source_address_key(),
                source_device=device_name(request.user_agent.string),
            )
        except RequestRefused as exc:
            form.form_errors.append(str(exc))
            status = 429
        else:
            session[_BROWSER_REQUEST] = started.id
            return redirect(url_for("phone.waiting", next=destination))
    elif request.method == "POST":
        status = 400
    page = make_response(render_template("auth/login_app.html", form=form), status)
    return allow_form_target(page, verified_redirect_uri(destination))


def _browser_request() -> phone_requests.PhoneRequest | None:
    return phone_requests.load(session.get(_BROWSER_REQUEST))


@bp.get("/login/app/wait")
def waiting():
    found = _browser_request()
    destination = current.safe_next(request.args.get("next"), url_for("account.me"))
    if found is None:
        return redirect(url_for("phone.login_with_phone", next=destination))
    page = make_response(render_template(
        "auth/login_app_wait.html", request_=found, outcome=phone_requests.outcome(found),
        next=destination, form=ConfirmForm(),
    ))  # fmt: skip
    return allow_form_target(page, verified_redirect_uri(destination))


@bp.get("/login/app/status")
@limiter.exempt
def status():
    found = _browser_request()
    if found is None:
        return problem(404, _("No login is waiting for your phone."))
    return jsonify(status=phone_requests.outcome(found)["status"], seconds_left=found.seconds_left)


@bp.post("/login/app/complete")
def complete():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    found = _browser_request()
    destination = current.safe_next(request.form.get("next"), url_for("account.me"))
    if found is None:
        return redirect(url_for("phone.login_with_phone", next=destination))
    answered = phone_requests.outcome(found)
    if answered["status"] != phone_requests.APPROVED or not phone_requests.use(found):
        return redirect(url_for("phone.waiting", next=destination))
    session.pop(_BROWSER_REQUEST, None)
    previous = current.sso_session()
    if previous is not None:
        sessions.end(previous.id_hash)
    g.citizen_id = found.citizen_id
    session_id = sessions.start(found.citizen_id, answered["amr"], request,
                                level=assurance.SUBSTANTIAL)  # fmt: skip
    response = redirect(destination)
    sessions.set_cookie(response, session_id)
    return response
