"""The browser's side of a login with the phone app (/login/app): ask for the user ID, show
the binding code, wait for the phone's answer, then finish the login."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    abort,
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
from flask_babel import ngettext

from clients.models import Client
from idp.auth import journey
from idp.auth.forms import ConfirmForm, PhoneLoginForm
from idp.auth.views import source_limit, try_again_at
from idp.authenticators import assurance, pairing
from idp.citizens import service as citizens
from idp.citizens.models import CitizenStatus
from idp.core import metrics, redirects
from idp.core.extensions import db, limiter, source_address_key
from idp.core.problems import problem
from idp.core.web import allow_form_target
from idp.phone import requests as phone_requests
from idp.phone.requests import RequestRefused
from idp.sessions import current, sessions
from idp.sessions.destinations import verified_redirect_uri
from idp.templating import device_name

bp = Blueprint("phone_login", __name__)

_BROWSER_REQUEST = "phone_request"  # the browser's pending approval, in its signed session


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
    destination = redirects.form_destination(form, url_for("account.me"))
    journey.begin(destination)
    status = 200
    headers = {}
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
            metrics.count_login("phone_app", "refused")
            form.form_errors.append(_refusal(exc))
            status = 429
            if exc.retry_after:
                headers["Retry-After"] = str(exc.retry_after)
        else:
            session[_BROWSER_REQUEST] = started.id
            return redirect(url_for("phone_login.waiting", next=destination))
    elif request.method == "POST":
        status = 400
    page = make_response(render_template("auth/login_app.html", form=form), status, headers)
    return allow_form_target(page, verified_redirect_uri(destination))


def _refusal(refused: RequestRefused) -> str:
    """Why no request was sent to the phone; when it is a wait, until when."""
    if not refused.retry_after:
        return str(refused)
    when, minutes = try_again_at(refused.retry_after)
    return ngettext(
        "Too many approval requests lately. You can try again at %(time)s, in %(num)d minute.",
        "Too many approval requests lately. You can try again at %(time)s, in %(num)d minutes.",
        minutes,
        time=when,
    )


def _browser_request() -> phone_requests.PhoneRequest | None:
    return phone_requests.load(session.get(_BROWSER_REQUEST))


@bp.get("/login/app/wait")
def waiting():
    found = _browser_request()
    destination = redirects.safe_next(request.args.get("next"), url_for("account.me"))
    if found is None:
        return redirect(url_for("phone_login.login_with_phone", next=destination))
    journey.begin(destination)
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
    destination = redirects.safe_next(request.form.get("next"), url_for("account.me"))
    if found is None:
        return redirect(url_for("phone_login.login_with_phone", next=destination))
    answered = phone_requests.outcome(found)
    if answered["status"] != phone_requests.APPROVED or not phone_requests.use(found):
        return redirect(url_for("phone_login.waiting", next=destination))
    session.pop(_BROWSER_REQUEST, None)
    metrics.count_login("phone_app", "success")
    previous = current.sso_session()
    if previous is not None:
        sessions.end(previous.id_hash)
    g.citizen_id = found.citizen_id
    session_id = sessions.start(found.citizen_id, answered["amr"], request,
                                level=assurance.SUBSTANTIAL)  # fmt: skip
    response = redirect(destination)
    sessions.set_cookie(response, session_id)
    return response
