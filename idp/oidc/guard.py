"""The resource-server guard: the one way an endpoint takes an access token.

`token_required` lets a request in with a live access token, Bearer (RFC 6750) or DPoP-bound
(RFC 9449 7, with a proof of its key for each request): it checks the token's audience, its
scope and whether it is a citizen's token or a service's own, charges its holder's rate
limit, and answers a refusal as an OAuth error or as problem details, with the same
WWW-Authenticate (and DPoP-Nonce) challenge. Userinfo (idp/oidc/service_endpoints.py),
the authorities' APIs (idp/api/authority.py) and /api/me (idp/account/api.py, which also
lets the citizen's own browser in: the ``session`` option and `session_required`) all use
it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _

from clients.models import Client
from clients.service import FAPI_ALGS
from consent import release, repeats
from idp.authenticators import assurance
from idp.citizens.models import Citizen, CitizenStatus
from idp.core import rate_limits
from idp.core.extensions import csrf, db
from idp.core.problems import problem
from idp.mandates import service as mandates
from idp.mandates.models import Mandate
from idp.oidc import dpop, tokens
from idp.oidc.id_tokens import acting_release
from idp.oidc.scopes import honoured_scopes
from idp.oidc.server import query_client
from idp.sessions import current

# How a refusal is answered: as an OAuth endpoint answers, or as Tillid's APIs do.
OAUTH, PROBLEM = "oauth", "problem"


def _scheme_and_token() -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if scheme.lower() in ("bearer", "dpop") and value.strip():
        return scheme.lower(), value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return "bearer", request.form.get("access_token")
    return None, None


def _presented() -> str | None:
    """The token in the Authorization header (Bearer or DPoP), or (RFC 6750 2.2) in a form."""
    return _scheme_and_token()[1]


class Rejected(Exception):
    """A token that does not let this request through: the status, the RFC 6750 error code
    (or RFC 9449's, with ``dpop``: then the challenge is `DPoP` and carries a nonce); or,
    with ``retry_after``, a 429: a rate limit's budget is spent. Without an error code, a
    good token that the endpoint's own rule refuses (a ``check``): a plain 403, no challenge."""

    def __init__(self, status: int, error: str | None, description: str,
                 client: Client | None = None, *, dpop: bool = False,
                 retry_after: int | None = None):  # fmt: skip
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.client = client  # known when the token was good but not good enough (CORS)
        self.dpop = dpop
        self.retry_after = retry_after

    def _challenge(self) -> str:
        if self.dpop:
            return dpop.challenge(self.error, self.description)
        if self.error == "invalid_request" and self.status == 401:
            # No token at all: no error code (RFC 6750 3.1), and both schemes offered.
            return f"Bearer, {dpop.challenge()}"
        return f'Bearer error="{self.error}", error_description="{self.description}"'

    def _headers(self, response):
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        elif self.error is not None:
            response.headers["WWW-Authenticate"] = self._challenge()
        if self.dpop and dpop.nonce_required():
            response.headers["DPoP-Nonce"] = dpop.current_nonce()
        return response

    def oauth_response(self):
        """As an OAuth endpoint answers: {"error", "error_description"}."""
        response = jsonify(error=self.error or "access_denied", error_description=self.description)
        response.status_code = self.status
        return self._headers(response)

    def problem_response(self):
        """As Tillid's APIs answer: RFC 9457 problem details, with the same challenge."""
        extra = {"error": self.error} if self.error is not None else {}
        return self._headers(problem(self.status, self.description, **extra))


def _check_proof(token: str, scheme: str, bound_to, client: Client) -> None:
    """A DPoP-bound token goes with the DPoP scheme and a proof by its key, made for this
    request and this token (`ath`); a Bearer token is never presented as DPoP."""
    if bound_to is None:
        if scheme == "dpop":
            raise Rejected(401, "invalid_token", "This token is not DPoP-bound.", dpop=True)
        return
    if scheme != "dpop":
        bearer_use = "This token is DPoP-bound: send it as DPoP."
        raise Rejected(401, "invalid_token", bearer_use, dpop=True)
    algorithms = FAPI_ALGS if client.is_fapi else dpop.PROOF_ALGORITHMS
    try:
        proof = dpop.from_request(access_token=token, algorithms=algorithms)
    except dpop.ProofError as failed:
        raise Rejected(401, failed.error, failed.description, dpop=True) from None
    if proof is None:
        raise Rejected(401, "invalid_dpop_proof", "A DPoP proof is required.", dpop=True)
    if not isinstance(bound_to, str) or proof.jkt != bound_to:
        raise Rejected(401, "invalid_dpop_proof", "The proof is not by its key.", dpop=True)


@dataclass
class Token:
    """A verified access token: what let the request in."""

    record: dict  # what the store keeps for the token: client_id, citizen_id, scope, ...
    client: Client
    citizen: Citizen | None
    # The token's scopes that its client's registration still allows.
    scopes: list[str]
    # With ``with_consent``: the citizen's consent to the client, read with the citizen, and
    # the token as a release under it names it (consent/repeats.py).
    consent: release.Consent | None = None
    under: repeats.Token | None = None
    # While an agent acts for the token's citizen (the principal): the mandate, in force.
    mandate: Mandate | None = None

    @property
    def acting(self) -> release.Acting | None:
        """A release under the token while its agent acts (None: the usual rules)."""
        if self.mandate is None:
            return None
        return acting_release(self.mandate, self.client, self.mandate.agent_id, self.citizen)


_EXPIRED = "The access token is invalid or expired."


def _verified() -> tuple[dict, Client, str]:
    """The claims of this request's token (signed by us, unexpired, naming its client as
    audience), with a proof of its key if it is bound to one, its client and the scheme it
    came with; Rejected otherwise. Whether it was revoked is for `_live_record`."""
    scheme, token = _scheme_and_token()
    if not token:
        raise Rejected(401, "invalid_request", "An access token is required.")
    claims = tokens.access_token_claims(token)
    if claims is None:
        raise Rejected(401, "invalid_token", _EXPIRED, dpop=scheme == "dpop")
    if claims.get("aud") != claims.get("client_id"):
        # Tillid's tokens name their client as the audience (Tillid is their only resource
        # server: no resource indicators), so a token's signed `aud` and the client it was
        # issued to must agree (and the store's record says the same: `_live_record`).
        raise Rejected(401, "invalid_token", _EXPIRED, dpop=scheme == "dpop")
    found = query_client(claims.get("client_id"))
    if found is None:
        raise Rejected(401, "invalid_token", "The client is no longer registered.")
    confirmation = claims.get("cnf")
    bound_to = confirmation.get("jkt", "") if isinstance(confirmation, dict) else None
    _check_proof(token, scheme, bound_to, found.client)
    return claims, found.client, scheme


def _spend(spend, client: Client | None = None):
    try:
        return spend()
    except rate_limits.Exhausted as spent:
        raise Rejected(429, "invalid_request", spent.description, client,
                       retry_after=spent.retry_after) from None  # fmt: skip


def _live_record(claims: dict, client: Client, scheme: str, budget: str,
                 along: tuple = ()) -> tuple[dict, object]:  # fmt: skip
    """The store's record of a token that checked out (`_verified`): Rejected once it was
    revoked (or expired there). Its holder spends ``budget``, only for a live token: the
    service, for a token kept on its own server (a confidential client), in the same round
    trip as the record's read, with the read ``along`` (its answer is the second returned;
    None when it was not made); for one on a citizen's device (a public client, the
    citizen's app), that citizen at that app, so that no citizen can spend everyone's: the
    citizen is known from the record, so that is a second round trip."""
    also = None
    if client.is_public:
        record = tokens.record_of(claims)
    else:
        record, also = _spend(lambda: tokens.record_with_budget(claims, budget, along), client)
    if record is None or record["client_id"] != claims["client_id"]:
        _spend(rate_limits.spend_for_source)  # no credential vouches for this request
        raise Rejected(401, "invalid_token", _EXPIRED, dpop=scheme == "dpop")
    if client.is_public:
        _spend(lambda: rate_limits.spend_for_client(budget, client.client_id,
                                                    record["citizen_id"]), client)  # fmt: skip
    return record, also


def _citizen_of(record: dict, client: Client, with_consent: bool):
    """The token's citizen (None for a service's own token), and with ``with_consent`` the
    citizen's consent to the token's client, read in the same query."""
    if not record["citizen_id"]:
        return None, None
    if with_consent:
        return release.citizen_with_consent(record["citizen_id"], client.client_id)
    return db.session.get(Citizen, record["citizen_id"]), None


def _authenticated(scope: str | None, *, for_citizen: bool | None, budget: str,
                   with_consent: bool = False) -> Token:  # fmt: skip
    """The live token of this request, carrying ``scope``; a citizen's token when
    ``for_citizen`` is True, a service's own (client_credentials) when False.
    Raises Rejected otherwise.

    The request spends the rate limit ``budget`` (a configuration name, idp/core/rate_limits.py)
    of the token's holder once the token and its proof checked out; before that, what no
    credential vouches for spends its source address's. Spent: Rejected with 429."""
    try:
        claims, client, scheme = _verified()
    except Rejected:
        _spend(rate_limits.spend_for_source)
        raise
    # A release under the token needs the marks of those already ledgered under it
    # (consent/repeats.py): read in the same round trip, unless this worker knows them.
    under = repeats.Token.from_claims(claims) if with_consent else None
    along = repeats.read_along(under) if under is not None else None
    record, marks = _live_record(claims, client, scheme, budget, along or ())
    if along is not None and not client.is_public:
        repeats.read_with_token(under, marks)
    citizen, consent = _citizen_of(record, client, with_consent)
    mandate = None
    acting = record.get("acting")
    if acting is not None:
        # Checked on every use: a mandate ended since the token was issued stops it at once.
        mandate = mandates.in_force_for(acting.get("mandate_id"), acting.get("agent_id"),
                                        record["citizen_id"], client)  # fmt: skip
        if mandate is None:
            raise Rejected(401, "invalid_token", "The mandate the token was issued under ended.")
    # The principal an agent acts for may have no account of their own (a child).
    usable = (CitizenStatus.ACTIVE, CitizenStatus.PENDING) if mandate else (CitizenStatus.ACTIVE,)
    if record["citizen_id"] and (citizen is None or citizen.status not in usable):
        raise Rejected(401, "invalid_token", "The citizen's account is not active.")
    scopes = honoured_scopes(client, record["scope"], for_citizen=citizen is not None)
    token = Token(record=record, client=client, citizen=citizen, scopes=scopes, consent=consent,
                  under=under, mandate=mandate)  # fmt: skip
    if scope is not None and scope not in token.scopes:
        problem = f"The token does not carry the {scope} scope."
    elif for_citizen is True and citizen is None:
        problem = "This needs a token issued for a citizen."
    elif for_citizen is False and citizen is not None:
        problem = "This needs the service's own token."
    else:
        return token
    raise Rejected(403, "insufficient_scope", problem, client=client)


@dataclass(frozen=True)
class _Rules:
    """What one guarded endpoint asks (see `token_required`)."""

    budget: str
    scope: str | None = None
    for_citizen: bool | None = None
    errors: str = PROBLEM
    check: Callable[[Token], None] | None = None
    session: bool = False  # no token: the citizen's own browser may come in instead
    tokens: bool = True  # False: only that browser (session_required)
    with_consent: bool = False


def _by_token(rules: _Rules):
    """None once this request's token passed ``rules`` (and is kept on flask.g), else the
    refusal."""
    try:
        found = _authenticated(rules.scope, for_citizen=rules.for_citizen, budget=rules.budget,
                               with_consent=rules.with_consent)  # fmt: skip
        if rules.check is not None:
            rules.check(found)
    except Rejected as rejected:
        g.guard_client = rejected.client
        return rejected.oauth_response() if rules.errors == OAUTH else rejected.problem_response()
    g.guard_token, g.guard_client, g.guard_citizen = found, found.client, found.citizen
    return None


def _by_session(budget: str):
    """None once the citizen's own browser, logged in at the default level, spent their
    ``budget`` and, for a change, showed its CSRF token; else a 401 problem, never a
    redirect to a login page."""
    found, session = current.citizen(), current.sso_session()
    if found is None or not assurance.meets(session.level, assurance.DEFAULT_LEVEL):
        rate_limits.spend_for_source()
        return problem(401, _("Log in to Tillid (with two factors) first."))
    rate_limits.spend_for_citizen(budget, found.id)
    if request.method in current_app.config["WTF_CSRF_METHODS"]:
        csrf.protect()
    g.guard_token, g.guard_citizen = None, found
    return None


def _guard(view, rules: _Rules):
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if rules.session and not _presented():
            refused = _by_session(rules.budget)
        elif not rules.tokens:
            rate_limits.spend_for_source()
            refused = problem(403, _("Only you, logged in to Tillid, can do this."))
        else:
            refused = _by_token(rules)
        return refused if refused is not None else view(*args, **kwargs)

    # A token is no cookie, so it needs no CSRF token; a session shows one (_by_session).
    return csrf.exempt(guarded)


def token_required(scope: str | None = None, *, for_citizen: bool | None = None, budget: str,
                   errors: str = PROBLEM, check: Callable[[Token], None] | None = None,
                   session: bool = False, with_consent: bool = False):  # fmt: skip
    """Let a view in only with a live access token carrying ``scope`` (of those its
    client's registration still allows) and naming its client as audience: a citizen's
    token when ``for_citizen`` is True, a service's own (client_credentials) when False,
    either when None. The view reads it from `token()`, its citizen from `citizen()`.

    - ``budget``: the rate limit (a configuration name, idp/core/rate_limits.py) the
      token's holder spends once the token and its proof checked out: the service, or for
      a token on a citizen's device (a public client) that citizen at that app. Before
      that, what no credential vouches for spends its source address's. Spent: 429.
    - ``errors``: a refusal as an OAuth endpoint answers (OAUTH: {"error",
      "error_description"}) or as Tillid's APIs do (PROBLEM: RFC 9457 problem details),
      with the same WWW-Authenticate challenge (and DPoP-Nonce) either way.
    - ``check(token)``: a rule of the endpoint's own for a token that passed all that; it
      refuses by raising Rejected.
    - ``session``: with no token presented, the citizen's own browser is let in instead,
      by its SSO session at the default level, spending that citizen's ``budget``; a
      change (a method CSRF protects) needs its CSRF token too. `token()` is then None and
      `citizen()` the logged-in citizen.
    - ``with_consent``: for an endpoint that decides a release to the token's client: the
      citizen is read together with their consent to that client, in one query, and the
      token carries it (``consent``, for consent/release.py's ``decide``); the marks of the
      releases already ledgered under the token (consent/repeats.py) are read with the
      token's record.
    """
    if errors not in (OAUTH, PROBLEM):
        raise ValueError(f"errors must be {OAUTH!r} or {PROBLEM!r}")
    rules = _Rules(budget, scope, for_citizen, errors, check, session, with_consent=with_consent)
    return functools.partial(_guard, rules=rules)


def session_required(*, budget: str):
    """The same guard for what only the citizen's own browser may do (a change to their
    account): `token_required` with ``session`` and no token; a token presented gets a
    clear 403 problem, and spends its source address's budget."""
    return functools.partial(_guard, rules=_Rules(budget, session=True, tokens=False))


def token() -> Token | None:
    """The verified token that let this request in; None when the citizen's session did."""
    return g.get("guard_token")


def citizen() -> Citizen | None:
    """The citizen this request acts for: its token's, or the one logged in (``session``)."""
    return g.get("guard_citizen")


def client_of_request() -> Client | None:
    """The client of this request's token once the token checked out, even if it then fell
    short of scope or budget: for CORS on every answer (idp/oidc/cors.py)."""
    return g.get("guard_client")
