"""Logging out: here, or at a service's request (RP-initiated logout 1.0 on Authlib's
end-session endpoint: which service, and where back to)."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Blueprint, make_response, redirect, render_template, request, url_for
from joserfc.errors import JoseError

from idp.auth.forms import ConfirmForm
from idp.core import crypto
from idp.core.web import allow_form_target
from idp.keys import service as keys
from idp.oidc.server import authorization
from idp.sessions import current, sessions

bp = Blueprint("logout", __name__)


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return {"keys": keys.published()}

    def end_session(self, end_session_request):
        """The view ends the SSO session itself: it also has to clear the cookie."""


def _is_access_token(jwt_text: str) -> bool:
    try:
        decoded = crypto.unverified_jwt_part(jwt_text, 0)
    except (ValueError, RecursionError):  # not base64 or JSON, or nested past the parser
        return False
    return isinstance(decoded, dict) and decoded.get("typ") == "at+jwt"


def validate(values) -> EndSessionRequest | None:
    """The checked logout request, or None when the service's parameters do not hold up.

    The same keys sign access tokens, so one passed off as an `id_token_hint` is refused.
    """
    hint = values.get("id_token_hint")
    if hint and _is_access_token(hint):
        return None
    try:
        return authorization.validate_endpoint_request(EndSession.ENDPOINT_NAME)
    except (OAuth2Error, InvalidRequestError, ValueError, JoseError):
        # JoseError: no signing key yet (before `flask keys ensure`) to check the hint with.
        return None


def init_app() -> None:
    authorization.register_endpoint(EndSession)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Log out here, or at a service's request (RP-initiated logout, OIDC end_session)."""
    form = ConfirmForm()
    from_service = bool(request.args)
    end = validate(request.values) if from_service else None
    if from_service and end is None:
        return render_template("auth/logout_refused.html"), 400
    session = current.sso_session()
    back_to_service = end.redirect_uri if end is not None else None
    if request.method == "GET":
        if session is None:
            return redirect(back_to_service or url_for("auth.login"))
        page = render_template("auth/logout.html", form=form, service=end.client if end else None)
        return allow_form_target(make_response(page), back_to_service)
    if not form.validate_on_submit():
        page = render_template("auth/logout.html", form=form, service=end.client if end else None)
        return allow_form_target(make_response(page, 400), back_to_service)
    if session is not None:
        sessions.end(session.id_hash)
    response = redirect(back_to_service or url_for("logout.logged_out"))
    sessions.clear_cookie(response)
    return response


@bp.route("/logged-out")
def logged_out():
    return render_template("auth/logged_out.html")
