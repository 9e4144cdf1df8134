"""The phone app (/app): a mobile web page that pairs the phone and lists, approves or rejects
the citizen's requests.

It shows a request (which service, what it will receive and why, where the login comes from,
the time left) with three codes: the citizen picks the one the browser shows and approves
with the phone's fingerprint, face or PIN. The approval's WebAuthn challenge covers the
request and the picked code, so an approval is valid for that one request only.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    url_for,
)
from flask_babel import gettext as _

from clients.models import Client
from consent import release
from idp.auth.forms import ConfirmForm
from idp.auth.views import source_limit
from idp.authenticators import pairing, passkeys
from idp.authenticators.service import clean_name
from idp.citizens.models import Citizen
from idp.core.extensions import db
from idp.core.problems import problem
from idp.core.web import json_body
from idp.phone import requests as phone_requests
from idp.phone.requests import RequestRefused

bp = Blueprint("phone", __name__)


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
