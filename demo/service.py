"""A relying party as an integrator writes one: Authlib's Flask client, discovery, PKCE, iss check.

It talks to the IdP only through OpenID Connect. Only its looks come from Tillid: the design
system's files (idp/static), the Danish catalogue and the claims' labels (demo/received.py),
so that the demo reads like a Danish public service.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, abort, redirect, render_template, request, session, url_for
from flask_babel import Babel
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc import jws
from joserfc.jwk import KeySet
from werkzeug.exceptions import HTTPException

from clients.claims import CLAIMS
from demo import received as in_words
from demo.backchannel import InvalidLogoutToken, LogoutReceiver

_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = {"da": "Dansk", "en": "English"}
DEFAULT_LANGUAGE = "da"  # Danish services speak Danish until the citizen switches

# What an OAuth error back from the IdP (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6), or one of the
# client's own checks, means to the citizen. Anything else is told by its code.
_LOGIN_ERRORS = {
    "access_denied": _l(
        "The login was cancelled, or you said no to sharing your information."
        " Nothing was shared with the service."
    ),
    "mismatching_state": _l(
        "This login cannot be matched to this browser: it was started in another window,"
        " or it is too old. Start the login again."
    ),
    "wrong_issuer": _l(
        "The answer did not come from the identity provider the login was sent to,"
        " so it was not accepted."
    ),
    "login_required": _l("You need to log in at Tillid to continue."),
    "consent_required": _l("You have not yet agreed to share your information with the service."),
    "temporarily_unavailable": _l("Tillid is busy right now. Try again in a moment."),
    "server_error": _l("Tillid could not complete the login. Try again in a moment."),
}
_STATUS_TITLES = {
    400: _l("The login did not complete"),
    404: _l("Page not found"),
    405: _l("Page not found"),
    502: _l("Tillid does not answer"),
}


def create_service(*, name: str, issuer: str, client_id: str, client_secret: str,
                   scope: str, description: str = "", api_scopes: str = "",
                   ciba: bool = False, ui_locales: str | None = None,
                   kind: str = "private_service") -> Flask:  # fmt: skip
    """The service's web app. ``ui_locales``: the language it speaks until the citizen
    switches (else the browser's), and asks Tillid's login to speak (OIDC ui_locales)."""
    app = Flask(
        f"demo-{name}",
        root_path=str(Path(__file__).parent),
        template_folder="templates",
        # The design system as the IdP serves it (Det Fælles Designsystem, idp/static/dkfds).
        static_folder=str(_ROOT / "idp" / "static"),
    )
    app.secret_key = secrets.token_urlsafe(32)
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    # Cookies are not separated by port: each service on localhost needs its own name.
    app.config.update(SESSION_COOKIE_NAME=f"demo_{slug}", SESSION_COOKIE_SAMESITE="Lax")

    def page_language() -> str:
        chosen = session.get("language")
        if chosen in LANGUAGES:
            return chosen
        if ui_locales in LANGUAGES:
            return ui_locales
        return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE

    Babel(
        app,
        locale_selector=page_language,
        default_translation_directories=str(_ROOT / "idp" / "translations"),
        default_timezone="Europe/Copenhagen",
    )
    oauth = OAuth(app)
    tillid = oauth.register(
        "tillid",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )
    published_keys: list[KeySet] = []

    def tillid_keys(refresh: bool) -> KeySet:
        """Tillid's published signing keys, fetched once, and again when asked to."""
        if refresh or not published_keys:
            answer = requests.get(tillid.load_server_metadata()["jwks_uri"], timeout=10)
            answer.raise_for_status()
            published_keys[:] = [KeySet.import_key_set(answer.json())]
        return published_keys[0]

    logouts = LogoutReceiver(issuer, client_id, tillid_keys)

    def end_local_session() -> None:
        language = session.get("language")
        session.clear()
        if language:
            session["language"] = language  # a choice of language outlives the login

    @app.before_request
    def ended_at_tillid():
        """A session Tillid has said is over (a logout token) is over here too."""
        received = session.get("received")
        if received and logouts.ended(received["id_token"], session.get("logged_in_at", 0)):
            end_local_session()

    @app.post("/backchannel-logout")
    def backchannel_logout():
        """Back-Channel Logout 1.0 2.5: Tillid's POST of a logout token; 200 once the
        session it names is ended, 400 for a token that does not hold up."""
        try:
            logouts.receive(request.form.get("logout_token", ""))
        except InvalidLogoutToken as refused:
            answer = {"error": "invalid_request", "error_description": str(refused)}
            return answer, 400, {"Cache-Control": "no-store"}
        return "", 200, {"Cache-Control": "no-store"}

    # What the service asks for, named as Tillid names it to the citizen: read from its
    # scope, so the page cannot promise less than the registration asks.
    scopes = scope.split()
    asks_for = [claim.label for claim in CLAIMS.values() if claim.scope in scopes]

    @app.context_processor
    def the_service():
        language = page_language()
        return {
            "name": name,
            "theme": "authority" if kind == "public_authority" else "company",
            "language": language,
            "languages": [(code, label) for code, label in LANGUAGES.items() if code != language],
        }

    def render_error(status: int, message: str, code: str | None = None):
        title = _STATUS_TITLES.get(status, _l("Something went wrong"))
        return render_template("demo_error.html", title=title, message=message,
                               code=code, status=status), status  # fmt: skip

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 404 or error.code == 405:
            return render_error(404, _("There is no such page at this service."))
        return render_error(error.code or 500, _("The request could not be handled."))

    @app.errorhandler(requests.RequestException)
    def tillid_unreachable(_error):
        return render_error(502, _("The service could not reach Tillid. Try again in a moment."))

    @app.get("/")
    def home():
        received = session.get("received")
        api_answer = session.get("api_answer")
        return render_template(
            "demo.html",
            description=description,
            asks_for=asks_for,
            received=received,
            id_token=in_words.describe(received["id_token"]) if received else [],
            userinfo=in_words.describe(received["userinfo"]) if received else [],
            uses_apis=bool(api_scopes),
            api_answer=api_answer,
            api_words=in_words.describe_answer(api_answer["body"]) if api_answer else [],
            uses_ciba=ciba,
        )

    @app.get("/language/<language>")
    def switch_language(language: str):
        if language in LANGUAGES:
            session["language"] = language
        return redirect(url_for("home"))

    def service_session() -> OAuth2Session:
        """The authority's own token (client_credentials), for its calls to the APIs."""
        api = OAuth2Session(client_id, client_secret, scope=api_scopes)
        api.fetch_token(tillid.load_server_metadata()["token_endpoint"],
                        grant_type="client_credentials")  # fmt: skip
        return api

    def call_api(call) -> None:
        """Make one API call and keep what came back to show it."""
        received = session.get("received")
        if not api_scopes or not received:
            abort(404)
        response = call(service_session(), received["id_token"]["sub"])
        session["api_answer"] = {"status": response.status_code, "body": response.json()}

    @app.post("/lookup")
    def lookup():
        """Read the citizen's address again later, without them (the attribute API)."""
        call_api(lambda api, sub: api.get(
            f"{issuer}/api/citizens/{quote(sub, safe='')}/attributes",
            params={"claims": "given_name,address"}))  # fmt: skip
        return redirect(url_for("home"))

    @app.post("/report")
    def report():
        """Report a lookup made in our own case system, for the citizen's access log."""
        call_api(lambda api, sub: api.post(f"{issuer}/api/ledger/reports", json={
            "sub": sub,
            "attributes": ["address"],
            "purpose": "Checked your address in our case system for a property tax case",
            "legal_basis": "public_task",
            "looked_up_at": dt.datetime.now(dt.UTC).isoformat(),
            "reference": f"demo-{secrets.token_hex(4)}",
        }))  # fmt: skip
        return redirect(url_for("home"))

    @app.post("/ciba")
    def ask_on_phone():
        """CIBA, poll mode: ask Tillid to have the citizen approve on their phone, and poll
        the token endpoint (at the interval Tillid gave) until they answer."""
        received = session.get("received")
        if not ciba or not received:
            abort(404)
        meta = tillid.load_server_metadata()
        auth = (client_id, client_secret)
        question = {"scope": scope, "login_hint": received["id_token"]["sub"],
                    "binding_message": _("Tax return 2026: approve?")}  # fmt: skip
        answer = requests.post(meta["backchannel_authentication_endpoint"], auth=auth,
                               timeout=10, data=question)  # fmt: skip
        if answer.ok:
            ticket = answer.json()
            interval, deadline = ticket["interval"], time.monotonic() + ticket["expires_in"]
            while time.monotonic() < deadline:
                time.sleep(interval)
                answer = requests.post(meta["token_endpoint"], auth=auth, timeout=10, data={
                    "grant_type": "urn:openid:params:grant-type:ciba",
                    "auth_req_id": ticket["auth_req_id"]})  # fmt: skip
                error = answer.json().get("error")
                if error == "slow_down":
                    interval += 5
                elif error != "authorization_pending":
                    break
        body = answer.json()
        if answer.ok and "access_token" in body:  # show what the tokens bring, not the tokens
            body = tillid.userinfo(token={"access_token": body["access_token"],
                                          "token_type": "Bearer"})  # fmt: skip
        session["api_answer"] = {"status": answer.status_code, "body": dict(body)}
        return redirect(url_for("home"))

    @app.get("/login")
    def login():
        # The service asks the login to speak the language of its own pages (OIDC
        # ui_locales); the citizen can still switch on Tillid's pages.
        return tillid.authorize_redirect(
            url_for("callback", _external=True), ui_locales=page_language()
        )

    @app.get("/callback")
    def callback():
        # RFC 9207: the response must come from the issuer we sent the citizen to (mix-up).
        if request.args.get("iss") != issuer:
            return login_failed("wrong_issuer")
        try:
            token = tillid.authorize_access_token()
        except OAuthError as error:
            return login_failed(error.error)
        header = jws.extract_compact(token["id_token"].encode()).protected
        session["received"] = {
            "signed_with": {"alg": header.get("alg"), "kid": header.get("kid")},
            "id_token": dict(token["userinfo"]),
            "userinfo": dict(tillid.userinfo(token=token)),
        }
        session.pop("api_answer", None)
        session["id_token"] = token["id_token"]  # the hint for logging out at Tillid
        session["logged_in_at"] = time.time()  # a logout token naming only `sub` ends it
        return redirect(url_for("home"))

    def login_failed(code: str | None):
        """The citizen's page for a login that came back without a token: what happened, in
        words, and the error code for whoever looks into it."""
        message = _LOGIN_ERRORS.get(code or "")
        if message is None:
            message = _l("Tillid answered that the login could not be completed.")
        return render_error(400, str(message), code=code or "invalid_request")

    @app.post("/logout")
    def logout():
        """Log out here and at Tillid (RP-initiated logout), then come back home."""
        id_token = session.pop("id_token", None)
        end_local_session()
        end_session = tillid.load_server_metadata().get("end_session_endpoint")
        if not (id_token and end_session):
            return redirect(url_for("home"))
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": url_for("home", _external=True),
        }
        return redirect(f"{end_session}?{urlencode(params)}")

    return app
