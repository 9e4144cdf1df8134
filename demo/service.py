"""A relying party as an integrator writes one: Authlib's Flask client, discovery, PKCE, iss check.

Nothing here imports Tillid: it talks to the IdP only through OpenID Connect.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import time
from urllib.parse import quote, urlencode

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, abort, redirect, render_template, request, session, url_for
from joserfc import jws


def create_service(*, name: str, issuer: str, client_id: str, client_secret: str,
                   scope: str, description: str = "", api_scopes: str = "",
                   ciba: bool = False, ui_locales: str | None = None) -> Flask:  # fmt: skip
    app = Flask(f"demo-{name}", root_path=os.path.dirname(__file__), template_folder="templates")
    app.secret_key = secrets.token_urlsafe(32)
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    # Cookies are not separated by port: each service on localhost needs its own name.
    app.config.update(SESSION_COOKIE_NAME=f"demo_{slug}", SESSION_COOKIE_SAMESITE="Lax")
    oauth = OAuth(app)
    tillid = oauth.register(
        "tillid",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )

    @app.get("/")
    def home():
        return render_template(
            "demo.html",
            name=name,
            description=description,
            received=session.get("received"),
            uses_apis=bool(api_scopes),
            api_answer=session.get("api_answer"),
            uses_ciba=ciba,
        )

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
        answer = requests.post(meta["backchannel_authentication_endpoint"], auth=auth, timeout=10,
                               data={"scope": scope, "login_hint": received["id_token"]["sub"],
                                     "binding_message": "Tax return 2026: approve?"})  # fmt: skip
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
        # A service that speaks one language asks the login to speak it too (OIDC ui_locales);
        # the citizen can still switch on Tillid's pages.
        extra = {"ui_locales": ui_locales} if ui_locales else {}
        return tillid.authorize_redirect(url_for("callback", _external=True), **extra)

    @app.get("/callback")
    def callback():
        # RFC 9207: the response must come from the issuer we sent the citizen to (mix-up).
        if request.args.get("iss") != issuer:
            abort(400, "The response does not come from the expected identity provider.")
        try:
            token = tillid.authorize_access_token()
        except OAuthError as error:
            return render_template("demo.html", name=name, error=error.error), 400
        header = jws.extract_compact(token["id_token"].encode()).protected
        session["received"] = {
            "signed_with": {"alg": header.get("alg"), "kid": header.get("kid")},
            "id_token": dict(token["userinfo"]),
            "userinfo": dict(tillid.userinfo(token=token)),
        }
        session["id_token"] = token["id_token"]  # the hint for logging out at Tillid
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout():
        """Log out here and at Tillid (RP-initiated logout), then come back home."""
        id_token = session.pop("id_token", None)
        session.clear()
        end_session = tillid.load_server_metadata().get("end_session_endpoint")
        if not (id_token and end_session):
            return redirect(url_for("home"))
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": url_for("home", _external=True),
        }
        return redirect(f"{end_session}?{urlencode(params)}")

    return app
