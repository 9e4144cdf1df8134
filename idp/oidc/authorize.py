"""The authorization endpoint, /authorize: the service's request checked, the citizen sent to
log in (or step up) and to consent, the code sent back. Its blueprint `oidc` carries the
endpoints services call too (idp/oidc/service_endpoints.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError

from clients import cache as client_cache
from clients.claims import CREDENTIAL_SCOPES
from clients.models import ClientKind
from consent import disclosure, release
from idp import i18n
from idp.auth import journey as login_journey
from idp.auth.forms import ConfirmForm, ConsentForm
from idp.authenticators import assurance, passkeys
from idp.citizens.models import Citizen
from idp.core import crypto
from idp.core.web import allow_form_target
from idp.keys import service as keys
from idp.keys.service import ALGORITHMS
from idp.mandates import service as mandates
from idp.oidc import claims_request, par, subjects
from idp.oidc.server import authorization
from idp.sessions import current, pushed_requests

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)

_REAUTH_KEY = "oidc_reauth_after"
# Whom the citizen chose to log in as for this authorization request: [its path, a mandate
# id or None for themselves] (docs/representation.md).
_ACTING_KEY = "oidc_acting"


def _param(name: str, default=None):
    """A parameter of this authorization request: the pushed one's (RFC 9126), else the
    query's or form's."""
    return g.get("authorization_params", request.values).get(name, default)


def _to_client(response):
    """Every authorization response names its issuer (RFC 9207, mix-up defence) and goes
    back the way the client asked: a redirect, or with response_mode=form_post a page that
    POSTs the parameters to the redirect URI (OAuth 2.0 Form Post Response Mode)."""
    location = response.headers.get("Location")
    if response.status_code != 302 or not location:
        return response
    if g.get("pushed_request_uri"):
        pushed_requests.finish(g.pushed_request_uri)  # answered: the pushed request is spent
    session.pop(_ACTING_KEY, None)
    i18n.end_login_language()  # the service's ui_locales held for this login only
    target = urlsplit(location)
    params = [*parse_qsl(target.query), ("iss", current_app.config["ISSUER"])]
    if _param("response_mode") != "form_post":
        response.headers["Location"] = urlunsplit(target._replace(query=urlencode(params)))
        return response
    redirect_uri = urlunsplit(target._replace(query=""))
    page = current_app.make_response(
        render_template("oidc/form_post.html", action=redirect_uri, params=params)
    )
    return allow_form_target(page, redirect_uri)  # already verified against the registry


def _error(error: OAuth2Error, redirect_uri: str | None = None, state: str | None = None):
    """To the client when its redirect URI is verified; else a page for the citizen."""
    if redirect_uri is not None:
        error.redirect_uri = redirect_uri
    if state is not None:
        error.state = state
    if error.redirect_uri:
        return _to_client(authorization.handle_error_response(None, error))
    return _refused_page(error)


def _refused_page(error: OAuth2Error):
    """The request cannot go back to the service (which one it is, or where to send the
    citizen, is not known for sure): a page in the citizen's language that says, in plain
    words, what is wrong and that the service must fix its link. The OAuth error code and
    description are for the service's developers: they go to the log, never on the page,
    which a citizen reads (and which must not echo what the link carried)."""
    log.info(
        "authorization request refused",
        extra={"event": "authorize_refused", "error": error.error},
    )
    client_id = _param("client_id")
    readable = isinstance(client_id, str) and client_id != "" and "\x00" not in client_id
    client = client_cache.get(client_id) if readable else None
    if isinstance(error, par.InvalidRequestUriError):
        what = _(
            "The login request from the service has expired or has been used already. This"
            " happens if you wait a long time or use the browser's back button."
        )
        fix = _("Go back to the service and start the login again.")
    else:
        if client is None or not client.enabled:
            what = _(
                "The link that sent you here does not say which service you came from, or it"
                " names a service that cannot use Tillid."
            )
        elif _param("redirect_uri") not in client.redirect_uris:
            what = _(
                "The link that sent you here asks Tillid to send you back to an address the"
                " service has not registered, so Tillid cannot send you back safely."
            )
        else:
            what = _("The link that sent you here is incomplete or has a mistake in it.")
        fix = _(
            "You have done nothing wrong. Go back to the service and try again; if it happens"
            " again, the service must fix its link to Tillid."
        )
    page = render_template(
        "errors/authorize_refused.html",
        title=_("The login cannot start"),
        what=what,
        fix=fix,
    )
    return page, 400


def _auth_time() -> int:
    return int(current.sso_session().auth_time)


def _just_logged_in() -> bool:
    """The citizen has logged in again since this request sent them to (prompt=login,
    max_age, another citizen asked for)."""
    required_after = session.get(_REAUTH_KEY)
    return required_after is not None and _auth_time() >= required_after


def _needs_fresh_login(prompts: list[str]) -> bool:
    """prompt=login or an exceeded max_age, unless the citizen just logged in for it."""
    if _just_logged_in():
        return False
    max_age = _param("max_age")
    if max_age is not None:
        if not max_age.isdigit():
            raise InvalidRequestError("max_age must be a whole number of seconds.")
        if time.time() - _auth_time() > int(max_age):
            return True
    return "login" in prompts


def _send_to_login(two_factors_needed: bool):
    session[_REAUTH_KEY] = int(time.time())
    # Known now, so the password step can go on to the second without coming back here first.
    login_journey.needs_two_factors(request.full_path if two_factors_needed else None)
    params = {"next": request.full_path, "force": "1"}
    if _param("login_hint"):
        params["username"] = _param("login_hint")[:256]
    return redirect(url_for("auth.login", **params))


def _hinted_subject(client) -> str | None:
    """The `sub` of an `id_token_hint`: an ID token we issued to this client (expired is
    fine: it only says whom the service expects)."""
    hint = _param("id_token_hint")
    if not hint:
        return None
    refused = InvalidRequestError("id_token_hint is not an ID token Tillid issued to you.")
    try:
        verified = jwt.decode(hint, keys.verifying_keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError):
        raise refused from None
    audience = verified.claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if (
        verified.header.get("typ") == "at+jwt"  # the same keys sign access tokens
        or verified.claims.get("iss") != current_app.config["ISSUER"]
        or client.client_id not in audiences
        or not isinstance(verified.claims.get("sub"), str)
    ):
        raise refused
    return verified.claims["sub"]


def _unmet(description: str) -> OAuth2Error:
    # OpenID Connect Unmet Authentication Requirements 1.0.
    return OAuth2Error(error="unmet_authentication_requirements", description=description)


def required_level(asked: claims_request.ClaimsRequest) -> str:
    """The level this request needs: what `acr_values` or an essential `acr` claim demand
    (any listed level will do, so the lowest we know), else the default, Substantial.
    Tillid never answers with less than was asked for (no silent downgrade)."""
    acr_values = (_param("acr_values") or "").split()
    demands = []
    if acr_values:
        demands.append(assurance.lowest_known(acr_values))
    if asked.acr_values and asked.acr_essential:
        demands.append(assurance.lowest_known(asked.acr_values))
    elif asked.acr_values and not acr_values:  # a voluntary wish: honoured if we know it
        demands.append(assurance.lowest_known(asked.acr_values) or assurance.DEFAULT_LEVEL)
    if None in demands:
        raise _unmet("None of the requested assurance levels is one Tillid knows.")
    return max(demands, key=assurance.rank, default=assurance.DEFAULT_LEVEL)


CREDENTIAL_DETAILS_TYPE = "openid_credential"  # OpenID4VCI 1.0 5.1.1
_MAX_DETAILS = 10


class InvalidAuthorizationDetails(OAuth2Error):
    error = "invalid_authorization_details"  # RFC 9396 5


def credential_details(client) -> list[dict]:
    """The credentials a wallet asks for in `authorization_details` (RFC 9396, of type
    openid_credential), each by a credential configuration its registration holds; [] when
    the parameter is absent. Raises InvalidAuthorizationDetails. A wallet must ask for a
    credential, this way or by its scope (HAIP 1.0)."""
    raw = _param("authorization_details")
    if raw is None:
        details = []
    else:
        try:
            details = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidAuthorizationDetails("authorization_details is not JSON.") from None
        if not isinstance(details, list) or not details or len(details) > _MAX_DETAILS:
            raise InvalidAuthorizationDetails("authorization_details must be a JSON array.")
    asked = []
    for detail in details:
        if not isinstance(detail, dict) or detail.get("type") != CREDENTIAL_DETAILS_TYPE:
            raise InvalidAuthorizationDetails(
                f"Tillid knows authorization_details of type {CREDENTIAL_DETAILS_TYPE} only."
            )
        configuration = detail.get("credential_configuration_id")
        if configuration not in CREDENTIAL_SCOPES:
            raise InvalidAuthorizationDetails("Unknown credential_configuration_id.")
        if configuration not in client.scopes:
            raise InvalidAuthorizationDetails(f"Not registered for this client: {configuration}.")
        asked.append(
            {"type": CREDENTIAL_DETAILS_TYPE, "credential_configuration_id": configuration}
        )
    scopes = (_param("scope") or "").split()
    if client.kind == ClientKind.WALLET and not asked and not set(scopes) & set(CREDENTIAL_SCOPES):
        raise InvalidRequestError("Ask for a credential: by authorization_details or its scope.")
    return asked


def check_request(prompts: list[str], client) -> claims_request.ClaimsRequest:
    """Refuse what we do not support; return the parsed `claims` parameter, with the
    subject the service expects (from it or from `id_token_hint`)."""
    if _param("request"):
        raise OAuth2Error(error="request_not_supported")
    if _param("response_mode", "query") not in ("query", "form_post"):
        raise InvalidRequestError("response_mode must be query or form_post.")
    if set(prompts) - {"none", "login", "consent"}:
        raise InvalidRequestError("Unsupported prompt value.")
    dpop_jkt = _param("dpop_jkt")
    if dpop_jkt is not None and not _JWK_THUMBPRINT.fullmatch(dpop_jkt):
        raise InvalidRequestError("dpop_jkt must be a JWK SHA-256 thumbprint (RFC 7638).")
    credential_details(client)
    asked = claims_request.parse(_param("claims"))
    hinted = _hinted_subject(client)
    if hinted is not None and asked.sub not in (None, hinted):
        raise InvalidRequestError("id_token_hint and the claims parameter name two subjects.")
    return dataclasses.replace(asked, sub=hinted or asked.sub)


_PROTOCOL_PARAMETERS = frozenset((
    *("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt"),
    *("code_challenge", "code_challenge_method", "max_age", "acr_values", "response_mode"),
    *("code", "code_verifier", "grant_type", "token", "token_type_hint", "request_uri"),
    *("dpop_jkt", "authorization_details", "pre-authorized_code", "tx_code"),
))  # fmt: skip
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
_JWK_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
UNREADABLE = "A parameter holds characters OAuth does not allow."


def malformed_protocol_parameters() -> bool:
    """OAuth parameters are printable ASCII (RFC 6749 A); anything else is refused early.
    (One pass over what was sent, a compiled pattern per value: it runs on every call.)"""
    return any(
        name in _PROTOCOL_PARAMETERS and not _PRINTABLE_ASCII.fullmatch(value)
        for name, value in request.values.items(multi=True)
    )


def _another_citizen(client, citizen: Citizen, sub: str) -> bool:
    """The service asked for one subject (claims `sub` value) and someone else is logged in.
    Once the citizen has just logged in again, it is a refusal rather than a loop."""
    if sub == subjects.pairwise_sub(client.sector_identifier, citizen.id):
        return False
    if _just_logged_in():
        raise AccessDeniedError("The logged-in citizen is not the one the service asked for.")
    return True


def _consent_page(client, decision: release.Release, redirect_uri: str, acting_for=None):
    login_journey.begin(request.full_path)  # its last step: the same steps, no account links
    page = current_app.make_response(
        render_template(
            "oidc/consent.html",
            client=client,
            public_authority=client.kind == ClientKind.PUBLIC_AUTHORITY,
            decision=decision,
            # Asked by purpose; told by basis, then purpose (consent/disclosure.py).
            asked=disclosure.by_purpose(decision.needs_consent),
            told=disclosure.by_basis(decision.notices),
            form=ConsentForm(),
            acting_for=acting_for,
        )
    )
    return allow_form_target(page, redirect_uri)


def _acting_for(client, citizen: Citizen, prompts: list[str]):
    """Whom the citizen logs in as at a service that accepts representation, when they hold
    mandates it covers: (a response, None) while the choice is being made (the page, or the
    redirect after it), else (None, None) for themselves or (None, (mandate, principal))."""
    held = mandates.in_force_at(citizen.id, client)
    if not held:
        return None, None
    if request.method == "POST" and "act_for" in request.form:
        if not ConfirmForm().validate_on_submit():
            abort(400)
        chosen = request.form["act_for"]
        if chosen != "self" and chosen not in {mandate.id for mandate, _principal in held}:
            abort(400)
        session[_ACTING_KEY] = [request.full_path, None if chosen == "self" else chosen]
        return redirect(request.full_path, 303), None
    remembered = session.get(_ACTING_KEY)
    if isinstance(remembered, list) and remembered[0] == request.full_path:
        if remembered[1] is None:
            return None, None
        for mandate, principal in held:
            if mandate.id == remembered[1]:
                return None, (mandate, principal)
        # That mandate ended since the choice: ask again.
    if "none" in prompts:
        return None, None  # no page may be shown: the citizen logs in as themselves
    page = current_app.make_response(render_template(
        "oidc/act_for.html", client=client, citizen=citizen, held=held, form=ConfirmForm()
    ))  # fmt: skip
    return page, None


def _pushed_request() -> dict | None:
    """The pushed request this one names by `request_uri` (RFC 9126 4), for this browser."""
    request_uri = request.values.get("request_uri")
    if request_uri is None:
        return None
    pushed = pushed_requests.claim(request_uri, request.values.get("client_id"))
    if pushed is None:
        raise par.InvalidRequestUriError("The request_uri is unknown, expired or used.")
    g.pushed_request_uri = request_uri
    return pushed


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    if malformed_protocol_parameters():
        return _error(InvalidRequestError(UNREADABLE))
    try:
        pushed = _pushed_request()
    except OAuth2Error as error:
        return _error(error)
    if pushed is not None:
        g.authorization_params = pushed  # only what was pushed counts, nothing in the URL
    citizen = current.citizen()
    prompts = (_param("prompt") or "").split()
    try:
        grant = authorization.get_consent_grant(request=pushed, end_user=citizen)
    except OAuth2Error as error:
        return _error(error)
    except ValueError:  # Authlib cannot quote a `"` or `\` of ours into its error description
        return _error(InvalidRequestError(UNREADABLE))
    redirect_uri, state = grant.redirect_uri, grant.request.payload.state
    client = grant.client.client
    i18n.remember_ui_locales(_param("ui_locales"))
    if pushed is None and client.require_pushed_authorization_requests:
        refused = InvalidRequestError("This client sends its requests by PAR (RFC 9126).")
        return _error(refused, redirect_uri, state)
    if request.method == "POST" and request.form.get("decision") == "deny":
        # The citizen turned back, at any step of the login or at the consent screen: the
        # service hears access_denied (RFC 6749 4.1.2.1), logged in or not.
        if not ConsentForm().validate_on_submit():
            abort(400)
        return _error(AccessDeniedError(), redirect_uri, state)
    # Before the citizen logs in: the service could not redeem the code for tokens.
    keys.require_signing_keys(client.signing_algorithms)
    try:
        asked = check_request(prompts, client)
        required = required_level(asked)
        if client.kind == ClientKind.WALLET:
            # A credential is issued after a login at High only (PID provider, ARF PID_02).
            required = assurance.HIGH
        fresh_login_needed = citizen is None or _needs_fresh_login(prompts)
        if not fresh_login_needed and asked.sub is not None:
            fresh_login_needed = _another_citizen(client, citizen, asked.sub)
    except OAuth2Error as error:
        return _error(error, redirect_uri, state)
    if fresh_login_needed:
        if "none" in prompts:
            return _error(LoginRequiredError(), redirect_uri, state)
        # Both factors, for certain, at the default level (High has its own checks here; a
        # request naming its subject may be refused once the password says who logged in).
        return _send_to_login(
            request.method == "GET" and required == assurance.SUBSTANTIAL and asked.sub is None
        )
    session.pop(_REAUTH_KEY, None)
    login_journey.needs_two_factors(None)
    if not assurance.meets(current.sso_session().level, required):
        if required == assurance.HIGH and not passkeys.can_reach_high(citizen):
            return _error(
                _unmet("High needs a passkey bound to one device and a proofed identity."),
                redirect_uri,
                state,
            )
        if "none" in prompts:
            return _error(InteractionRequiredError(), redirect_uri, state)
        # Step-up: the missing factor (or enrolling one), then back here.
        need = "high" if required == assurance.HIGH else None
        return redirect(url_for("auth.second_factor", next=request.full_path, need=need))

    choosing, acting = _acting_for(client, citizen, prompts)
    if choosing is not None:
        return allow_form_target(choosing, redirect_uri)
    subject, within = citizen, None
    if acting is not None:  # the principal's data, as far as the mandate and the service allow
        subject, within = acting[1], mandates.releasable(acting[0], client)
    decision = release.decide(client, subject.id, grant.request.scope.split(), asked.all_claims,
                              within=within)  # fmt: skip
    if request.method == "POST" and "act_for" not in request.form:
        form = ConsentForm()
        if not form.validate_on_submit():
            abort(400)
        if form.decision.data != "allow":
            return _error(AccessDeniedError(), redirect_uri, state)
        release.record_decision(subject.id, client, decision)
    elif decision.needs_consent or "consent" in prompts:
        if "none" in prompts:
            return _error(ConsentRequiredError(), redirect_uri, state)
        return _consent_page(client, decision, redirect_uri, acting and acting[1])
    elif decision.unseen_notices and "none" not in prompts:
        # Not a question (the basis is not consent), but the citizen is told once per
        # service what it receives and why, before it receives it.
        return _consent_page(client, decision, redirect_uri, acting and acting[1])

    sso = current.sso_session()
    grant.request.authentication_context = {
        # Who: the session's citizen, the one `citizen` was read for (its attributes expired
        # by the commit of a consent above: reading them again would cost a query).
        "citizen_id": subject.id if acting is not None else sso.citizen_id,
        # While the agent acts: under which mandate, and who the agent is (RFC 8693 `act`).
        "acting": {"mandate_id": acting[0].id, "agent_id": citizen.id} if acting else None,
        "auth_time": int(sso.auth_time),
        "acr": sso.level,
        "amr": sso.amr,
        "sid": crypto.keyed_hash(sso.id_hash, "oidc-sid")[:32],
        "claims": asked,
        "authorization_details": credential_details(client),
    }
    return _to_client(authorization.create_authorization_response(grant_user=citizen, grant=grant))
