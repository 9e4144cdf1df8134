"""The FAPI 2.0 Security Profile for clients registered as `fapi2`: pushed authorization
requests (RFC 9126), DPoP-bound tokens (RFC 9449) with server nonces, private_key_jwt only;
each happy path through HTTP, and each refusal and attack its own test."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from tests.conftest import csp_form_action, csrf_token
from tests.oidc.conftest import BANK_REDIRECT, pkce, redirect_params, register

ISSUER = "http://localhost:5000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
SCOPE = "openid profile"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unverified(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Holder:
    """A DPoP key pair and the proofs a client makes with it."""

    def __init__(self, key=None, alg="ES256"):
        self.key = key or ECKey.generate_key("P-256", private=True)
        self.alg = alg
        self.nonce: str | None = None

    @property
    def public_jwk(self) -> dict:
        return self.key.as_dict(private=False)

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self, method: str, url: str, *, access_token=None, header=None, sign_with=None,
              alg=None, **claims) -> str:  # fmt: skip
        body = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url,
                "iat": int(time.time())}  # fmt: skip
        if self.nonce is not None:
            body["nonce"] = self.nonce
        if access_token is not None:
            body["ath"] = _b64(hashlib.sha256(access_token.encode()).digest())
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        protected = {"typ": "dpop+jwt", "alg": alg or self.alg, "jwk": self.public_jwk,
                     **(header or {})}  # fmt: skip
        protected = {k: v for k, v in protected.items() if v is not None}
        return jwt.encode(protected, body, sign_with or self.key, algorithms=[protected["alg"]])


class FapiClient:
    """A relying party registered as fapi2, driving PAR, the browser step and the token
    endpoint through HTTP; the citizen's browser is ``browser``."""

    def __init__(self, app, browser, client_id: str, key, holder: Holder):
        self.app, self.browser, self.client_id, self.key = app, browser, client_id, key
        self.holder = holder
        self.backend = app.test_client()  # the service's server: no cookies shared
        self.verifier, self.challenge = pkce()
        self.state, self.nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)

    def assertion(self, *, aud=ISSUER, alg="ES256", key=None) -> dict:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": aud, "iat": now,
                  "exp": now + 60, "jti": secrets.token_urlsafe(12)}  # fmt: skip
        signed = jwt.encode({"alg": alg, "kid": "bank-1"}, claims, key or self.key, [alg])
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}

    def request_params(self, **override) -> dict:
        params = {"response_type": "code", "client_id": self.client_id,
                  "redirect_uri": BANK_REDIRECT, "scope": SCOPE, "state": self.state,
                  "nonce": self.nonce, "code_challenge": self.challenge,
                  "code_challenge_method": "S256"}  # fmt: skip
        params.update(override)
        return {k: v for k, v in params.items() if v is not None}

    def push(self, *, auth=None, headers=None, **override):
        data = {**self.request_params(**override), **(self.assertion() if auth is None else auth)}
        return self.backend.post("/par", data=data, headers=headers or {})

    def request_uri(self, **override) -> str:
        response = self.push(**override)
        assert response.status_code == 201, response.json
        return response.json["request_uri"]

    def authorize(self, request_uri: str, browser=None, **extra):
        browser = browser or self.browser
        query = {"client_id": self.client_id, "request_uri": request_uri, **extra}
        response = browser.get("/authorize", query_string=query)
        if response.status_code == 200 and "csrf_token" in response.text:  # notice or consent
            response = browser.post("/authorize", query_string=query,
                                    data={"csrf_token": csrf_token(response),
                                          "decision": "allow"})  # fmt: skip
        return response

    def code(self, **override) -> str:
        params = _redirected(self.authorize(self.request_uri(**override)))
        assert params["state"] == self.state and params["iss"] == ISSUER, params
        return params["code"]

    def exchange(self, code: str, *, proof=True, holder=None, **override):
        holder = holder or self.holder
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": BANK_REDIRECT,
                "code_verifier": self.verifier, **self.assertion()}  # fmt: skip
        data.update(override)
        headers = {}
        if proof is True:
            headers["DPoP"] = holder.proof("POST", f"{ISSUER}/token")
        elif proof:
            headers["DPoP"] = proof
        return self.backend.post("/token", data=data, headers=headers)

    def tokens(self) -> dict:
        response = self.exchange(self.code())
        assert response.status_code == 200, response.json
        return response.json


def _redirected(response) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = response.headers["Location"]
    assert location.startswith(BANK_REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _register_fapi(app, tmp_path, key, **fields):
    public = {**key.as_dict(private=False), "kid": "bank-1", "use": "sig"}
    registration = {
        "name": "Nordbank", "kind": "private_service", "redirect_uris": [BANK_REDIRECT],
        "scope": SCOPE, "legal_basis": "contract", "purpose": "To serve you",
        "profile": "fapi2", "jwks": {"keys": [public]}, **fields,
    }  # fmt: skip
    path = tmp_path / f"fapi-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps(registration))
    return app.test_cli_runner().invoke(args=["clients", "create", "--from-file", str(path)])


def server_nonce(http, url="/token") -> str:
    """The nonce the server asks for: a proof without one is answered `use_dpop_nonce`."""
    fresh = Holder()
    response = http.post(url, headers={"DPoP": fresh.proof("POST", f"{ISSUER}{url}")},
                         data={"grant_type": "client_credentials"})  # fmt: skip
    assert response.json["error"] == "use_dpop_nonce", response.json
    return response.headers["DPoP-Nonce"]


@pytest.fixture
def fapi(app, client, oidc, tmp_path) -> FapiClient:
    """A FAPI 2.0 client (EC key for its assertions, another for DPoP, holding the server's
    current nonce) and Anna logged in in ``client``."""
    key = ECKey.generate_key("P-256", private=True)
    result = _register_fapi(app, tmp_path, key)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"] is None
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    return FapiClient(app, client, created["client_id"], key, holder)


def _userinfo(app, token: str, holder: Holder | None, *, scheme="DPoP", **proof_claims):
    headers = {"Authorization": f"{scheme} {token}"}
    if holder is not None:
        proof_claims.setdefault("access_token", token)
        headers["DPoP"] = holder.proof("GET", f"{ISSUER}/userinfo", **proof_claims)
    return app.test_client().get("/userinfo", headers=headers)


# --- registration ---------------------------------------------------------------------------


def test_a_fapi_client_is_registered_with_par_dpop_and_private_key_jwt(app, fapi):
    shown = app.test_cli_runner().invoke(args=["clients", "show", fapi.client_id])
    described = json.loads(shown.stdout)
    assert described["profile"] == "fapi2"
    assert described["token_endpoint_auth_method"] == "private_key_jwt"
    assert described["require_pushed_authorization_requests"] is True
    assert described["dpop_bound_access_tokens"] is True
    assert described["id_token_signed_response_alg"] == "ES256"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"require_pushed_authorization_requests": False}, "require_pushed_authorization"),
        ({"dpop_bound_access_tokens": False}, "dpop_bound_access_tokens"),
        ({"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg"),
        ({"access_token_signed_response_alg": "RS256"}, "access_token_signed_response_alg"),
        ({"profile": "fapi1"}, "profile"),
    ],
    ids=[
        "client secret",
        "public",
        "no PAR",
        "no DPoP",
        "RS256 ID token",
        "RS256 access token",
        "unknown profile",
    ],
)
def test_registration_refuses_what_fapi_forbids(app, oidc, tmp_path, fields, message):
    result = _register_fapi(app, tmp_path, ECKey.generate_key("P-256", private=True), **fields)
    assert result.exit_code != 0 and message in result.output


def test_registration_refuses_a_short_rsa_key_for_fapi(app, oidc, tmp_path):
    result = _register_fapi(app, tmp_path, RSAKey.generate_key(1024, private=True))
    assert result.exit_code != 0 and "2048" in result.output


def test_require_par_and_dpop_from_the_command_line(app, oidc):
    service = register(app, extra=["--require-par", "--dpop"])
    shown = json.loads(app.test_cli_runner().invoke(args=["clients", "show",
                                                          service.client_id]).stdout)  # fmt: skip
    assert shown["require_pushed_authorization_requests"] is True
    assert shown["dpop_bound_access_tokens"] is True
    assert shown["profile"] is None


# --- discovery ------------------------------------------------------------------------------


def test_discovery_advertises_par_dpop_and_the_iss_parameter(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert metadata["require_pushed_authorization_requests"] is False  # per client instead
    assert set(metadata["dpop_signing_alg_values_supported"]) == {"ES256", "PS256", "RS256",
                                                                   "EdDSA"}  # fmt: skip
    assert "none" not in metadata["dpop_signing_alg_values_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert client.get("/.well-known/oauth-authorization-server").json == metadata


# --- the whole flow -------------------------------------------------------------------------


@pytest.mark.cluster
def test_par_dpop_and_private_key_jwt_from_push_to_userinfo(app, fapi):
    pushed = fapi.push()
    assert pushed.status_code == 201 and pushed.headers["Cache-Control"] == "no-store"
    assert pushed.json["expires_in"] == 60
    assert pushed.json["request_uri"].startswith(REQUEST_URI_PREFIX)
    params = _redirected(fapi.authorize(pushed.json["request_uri"]))
    assert params["state"] == fapi.state and params["iss"] == ISSUER

    response = fapi.exchange(params["code"])
    assert response.status_code == 200, response.json
    tokens = response.json
    assert tokens["token_type"] == "DPoP"
    assert _unverified(tokens["access_token"])["cnf"] == {"jkt": fapi.holder.jkt}
    assert response.headers["DPoP-Nonce"]
    id_token = jwt.decode(tokens["id_token"], KeySet.import_key_set(fapi.backend.get("/jwks").json))
    assert id_token.header["alg"] == "ES256" and id_token.claims["nonce"] == fapi.nonce

    userinfo = _userinfo(app, tokens["access_token"], fapi.holder)
    assert userinfo.status_code == 200, userinfo.json
    assert userinfo.headers["DPoP-Nonce"]  # the nonce for the next proof
    assert userinfo.json["sub"] == id_token.claims["sub"] and userinfo.json["name"] == "Anna Jensen"

    introspected = fapi.backend.post("/introspect", data={"token": tokens["access_token"],
                                                          **fapi.assertion()}).json  # fmt: skip
    assert introspected["active"] is True and introspected["token_type"] == "DPoP"
    assert introspected["cnf"] == {"jkt": fapi.holder.jkt}


def test_codes_live_sixty_seconds(app, fapi):
    fapi.code()
    store = app.extensions["tillid_store"]
    prefix = app.config["STORE_KEY_PREFIX"]
    ttls = [store.ttl(key) for key in store.scan_iter(match=f"{prefix}code:*")]
    assert ttls and all(0 < ttl <= 60 for ttl in ttls)


# --- PAR: refusals at the push --------------------------------------------------------------


def _assert_json_error(response, error, status=400):
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.mimetype == "application/json"
    assert response.json["error"] == error


def test_par_refuses_an_unauthenticated_client(fapi):
    response = fapi.push(auth={"client_id": fapi.client_id})
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"redirect_uri": "https://bank.example/callback/../evil"}, "invalid_request"),
        ({"redirect_uri": "https://bank.example/callbackx"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"request_uri": REQUEST_URI_PREFIX + "x"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"prompt": "select_account"}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"dpop_jkt": "short"}, "invalid_request"),
    ],
    ids=[
        "path traversal",
        "prefix",
        "no redirect_uri",
        "no PKCE",
        "plain PKCE",
        "implicit",
        "hybrid",
        "nested request_uri",
        "request object",
        "fragment mode",
        "bad prompt",
        "bad claims",
        "bad dpop_jkt",
    ],
)
def test_par_validates_the_request_when_pushed(fapi, override, error):
    response = fapi.push(**override)
    _assert_json_error(response, error)
    assert "Location" not in response.headers  # answered to the client, never redirected


def test_par_refuses_a_client_id_other_than_the_authenticated_one(app, fapi):
    other = register(app, name="Other")
    _assert_json_error(fapi.push(client_id=other.client_id), "invalid_client", status=401)


def test_par_refuses_a_repeated_parameter(fapi):
    data = [*{**fapi.request_params(), **fapi.assertion()}.items(), ("scope", "openid")]
    body = urlencode(data)
    response = fapi.backend.post("/par", data=body,
                                 content_type="application/x-www-form-urlencoded")  # fmt: skip
    _assert_json_error(response, "invalid_request")


# --- PAR: refusals at /authorize ------------------------------------------------------------


def test_a_fapi_client_cannot_skip_par(fapi):
    response = fapi.browser.get("/authorize", query_string=fapi.request_params())
    params = _redirected(response)
    assert params["error"] == "invalid_request" and "PAR" in params["error_description"]
    assert "code" not in params and params["iss"] == ISSUER


def test_a_client_registered_with_require_par_cannot_skip_it(app, client, oidc):
    service = register(app, extra=["--require-par"])
    flow = oidc(service)
    params = _redirected(flow.authorize())
    assert params["error"] == "invalid_request"


def test_a_client_not_requiring_par_may_push_with_its_secret(app, client, oidc):
    service = register(app, legal_basis="contract")
    flow = oidc(service)
    pushed = app.test_client().post(
        "/par", data=flow.params(), auth=(service.client_id, service.client_secret)
    )
    assert pushed.status_code == 201, pushed.json
    query = {"client_id": service.client_id, "request_uri": pushed.json["request_uri"]}
    page = client.get("/authorize", query_string=query)
    response = client.post("/authorize", query_string=query,
                           data={"csrf_token": csrf_token(page), "decision": "allow"})  # fmt: skip
    code = _redirected(response)["code"]
    assert flow.exchange(code).json["token_type"] == "Bearer"  # no proof: a Bearer token


def test_a_request_uri_works_once(fapi):
    request_uri = fapi.request_uri()
    assert "code" in _redirected(fapi.authorize(request_uri))
    again = fapi.authorize(request_uri)
    assert again.status_code == 400 and "has expired or has been used already" in again.text


@pytest.mark.cluster
def test_a_request_uri_claimed_by_one_browser_is_refused_to_another(app, fapi):
    request_uri = fapi.request_uri()
    first = fapi.browser.get(
        "/authorize", query_string={"client_id": fapi.client_id, "request_uri": request_uri}
    )
    assert first.status_code == 200  # the notice page: the citizen is reading it
    stolen = fapi.authorize(request_uri, browser=app.test_client())
    assert stolen.status_code == 400 and "has expired or has been used already" in stolen.text
    assert "code" in _redirected(fapi.authorize(request_uri))  # the first browser goes on


def test_a_request_uri_with_another_clients_id_is_refused(app, fapi):
    request_uri = fapi.request_uri()
    other = register(app, name="Other")
    response = fapi.browser.get(
        "/authorize", query_string={"client_id": other.client_id, "request_uri": request_uri}
    )
    assert response.status_code == 400 and "has expired or has been used already" in response.text
    # Shown with the wrong client it is spent: the right client cannot use it either now.
    assert fapi.authorize(request_uri).status_code == 400


@pytest.mark.parametrize(
    "request_uri",
    [REQUEST_URI_PREFIX + "made-up", "https://evil.example/request.jwt", REQUEST_URI_PREFIX],
    ids=["unknown", "a URL", "empty reference"],
)
def test_an_unknown_request_uri_is_refused(fapi, request_uri):
    response = fapi.authorize(request_uri)
    assert response.status_code == 400 and "has expired or has been used already" in response.text


def test_an_expired_request_uri_is_refused(app, fapi):
    request_uri = fapi.request_uri()
    store = app.extensions["tillid_store"]
    for key in store.scan_iter(match=f"{app.config['STORE_KEY_PREFIX']}par:*"):
        store.delete(key)  # what the 60-second TTL does
    response = fapi.authorize(request_uri)
    assert response.status_code == 400 and "has expired or has been used already" in response.text


def test_the_login_page_of_a_pushed_request_may_lead_back_to_its_service_only(app, fapi):
    """Browsers apply form-action to the redirects after a form: the login page for a
    pushed request names the pushed redirect_uri's origin, and only for its own browser."""
    request_uri = fapi.request_uri()
    query = {"client_id": fapi.client_id, "request_uri": request_uri}
    browser = app.test_client()  # not logged in
    to_login = browser.get("/authorize", query_string=query)
    assert to_login.status_code == 302 and "/login" in to_login.headers["Location"]
    assert (
        csp_form_action(browser.get(to_login.headers["Location"])) == "'self' https://bank.example"
    )
    other = app.test_client()  # another browser, handed the same login link
    assert csp_form_action(other.get(to_login.headers["Location"])) == "'self'"


def test_parameters_in_the_url_beside_request_uri_are_ignored(fapi):
    request_uri = fapi.request_uri()
    response = fapi.authorize(request_uri, redirect_uri="https://evil.example/cb",
                              scope="openid cpr", state="forged")  # fmt: skip
    params = _redirected(response)  # back to the pushed redirect_uri, with the pushed state
    assert params["state"] == fapi.state and "code" in params


# --- DPoP at the token endpoint -------------------------------------------------------------


def test_a_fapi_client_without_a_dpop_proof_gets_no_token(fapi):
    response = fapi.exchange(fapi.code(), proof=False)
    _assert_json_error(response, "invalid_request")
    assert "DPoP" in response.json["error_description"]


def test_the_dpop_nonce_flow(app, fapi):
    fapi.holder.nonce = None
    code = fapi.code()
    first = fapi.exchange(code)
    _assert_json_error(first, "use_dpop_nonce")
    nonce = first.headers["DPoP-Nonce"]
    fapi.holder.nonce = nonce
    retried = fapi.exchange(code)  # the code was not spent by the refused try
    assert retried.status_code == 200, retried.json
    assert retried.json["token_type"] == "DPoP"


def test_a_made_up_dpop_nonce_is_refused(fapi):
    fapi.holder.nonce = "0.forged"
    _assert_json_error(fapi.exchange(fapi.code()), "use_dpop_nonce")


def _none_proof(holder: Holder) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": holder.public_jwk}
    claims = {"jti": secrets.token_urlsafe(8), "htm": "POST", "htu": f"{ISSUER}/token",
              "iat": int(time.time()), "nonce": holder.nonce}  # fmt: skip
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def test_attack_dpop_proof_with_alg_none(fapi):
    _assert_json_error(fapi.exchange(fapi.code(), proof=_none_proof(fapi.holder)),
                       "invalid_dpop_proof")  # fmt: skip


def test_attack_dpop_proof_hs256_signed_with_the_public_key(fapi):
    public_json = json.dumps(fapi.holder.public_jwk).encode()
    forged = fapi.holder.proof("POST", f"{ISSUER}/token", alg="HS256",
                               sign_with=OctKey.import_key(public_json))  # fmt: skip
    _assert_json_error(fapi.exchange(fapi.code(), proof=forged), "invalid_dpop_proof")


@pytest.mark.parametrize(
    "change",
    [
        {"method": "GET"},
        {"url": f"{ISSUER}/userinfo"},
        {"url": "https://other-idp.example/token"},
        {"iat": -600},
        {"iat": +600},
        {"header": {"typ": "JWT"}},
        {"jti": None},
        {"header": {"jwk": None}},
    ],
    ids=[
        "wrong htm",
        "wrong htu",
        "another server's htu",
        "stale iat",
        "future iat",
        "wrong typ",
        "no jti",
        "no jwk",
    ],
)
def test_bad_dpop_proofs_are_refused(fapi, change):
    change = dict(change)
    method, url = change.pop("method", "POST"), change.pop("url", f"{ISSUER}/token")
    if "iat" in change:  # seconds from now
        change["iat"] += int(time.time())
    proof = fapi.holder.proof(method, url, **change)
    _assert_json_error(fapi.exchange(fapi.code(), proof=proof), "invalid_dpop_proof")


def test_attack_dpop_proof_carrying_a_private_key(fapi):
    private = fapi.holder.key.as_dict(private=True)
    proof = fapi.holder.proof("POST", f"{ISSUER}/token", header={"jwk": private})
    _assert_json_error(fapi.exchange(fapi.code(), proof=proof), "invalid_dpop_proof")


@pytest.mark.cluster
def test_attack_dpop_proof_replayed(fapi):
    proof = fapi.holder.proof("POST", f"{ISSUER}/token")
    assert fapi.exchange(fapi.code(), proof=proof).status_code == 200
    fapi.nonce = secrets.token_urlsafe(12)
    _assert_json_error(fapi.exchange(fapi.code(), proof=proof), "invalid_dpop_proof")


def test_a_fapi_client_may_not_sign_proofs_rs256(app, fapi):
    rsa = Holder(RSAKey.generate_key(2048, private=True), alg="RS256")
    rsa.nonce = fapi.holder.nonce
    _assert_json_error(fapi.exchange(fapi.code(), holder=rsa), "invalid_dpop_proof")


def test_a_ps256_proof_is_fine_for_a_fapi_client(app, fapi):
    ps = Holder(RSAKey.generate_key(2048, private=True), alg="PS256")
    ps.nonce = fapi.holder.nonce
    response = fapi.exchange(fapi.code(), holder=ps)
    assert response.status_code == 200, response.json
    assert _unverified(response.json["access_token"])["cnf"]["jkt"] == ps.jkt


def test_dpop_jkt_binds_the_code_to_a_key(fapi):
    other = Holder()
    other.nonce = fapi.holder.nonce
    code = fapi.code(dpop_jkt=other.jkt)
    _assert_json_error(fapi.exchange(code), "invalid_grant")  # proof by the client's usual key


def test_dpop_jkt_code_redeemed_with_its_key(fapi):
    code = fapi.code(dpop_jkt=fapi.holder.jkt)
    assert fapi.exchange(code).status_code == 200


def test_a_dpop_proof_at_par_binds_the_code(fapi):
    proof = fapi.holder.proof("POST", f"{ISSUER}/par")
    pushed = fapi.push(headers={"DPoP": proof})
    assert pushed.status_code == 201, pushed.json
    code = _redirected(fapi.authorize(pushed.json["request_uri"]))["code"]
    thief = Holder()
    thief.nonce = fapi.holder.nonce
    _assert_json_error(fapi.exchange(code, holder=thief), "invalid_grant")


def test_par_refuses_dpop_jkt_that_is_not_the_proofs_key(fapi):
    proof = fapi.holder.proof("POST", f"{ISSUER}/par")
    response = fapi.push(headers={"DPoP": proof}, dpop_jkt=Holder().jkt)
    _assert_json_error(response, "invalid_request")


# --- private_key_jwt under FAPI -------------------------------------------------------------


def test_a_fapi_client_assertion_must_name_the_issuer_alone(fapi):
    code = fapi.code()
    response = fapi.exchange(code, **fapi.assertion(aud=f"{ISSUER}/token"))
    assert response.json["error"] == "invalid_client"


def test_a_fapi_client_assertion_may_not_be_rs256(app, oidc, tmp_path):
    key = RSAKey.generate_key(2048, private=True)
    created = json.loads(_register_fapi(app, tmp_path, key).stdout)
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    rp = FapiClient(app, app.test_client(), created["client_id"], key, holder)
    refused = rp.push(auth=rp.assertion(alg="RS256"))
    assert refused.json["error"] == "invalid_client"
    assert rp.push(auth=rp.assertion(alg="PS256")).status_code == 201


# --- DPoP at userinfo and the APIs ----------------------------------------------------------


def test_attack_dpop_token_presented_as_bearer(app, fapi):
    token = fapi.tokens()["access_token"]
    response = _userinfo(app, token, None, scheme="Bearer")
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")


def test_a_dpop_token_without_a_proof_is_refused(app, fapi):
    response = _userinfo(app, fapi.tokens()["access_token"], None)
    assert response.status_code == 401 and response.json["error"] == "invalid_dpop_proof"
    assert 'algs="' in response.headers["WWW-Authenticate"]


def test_attack_proof_without_ath(app, fapi):
    token = fapi.tokens()["access_token"]
    response = _userinfo(app, token, fapi.holder, access_token=None)
    assert response.status_code == 401 and response.json["error"] == "invalid_dpop_proof"
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_attack_proof_with_another_tokens_ath(app, fapi):
    token = fapi.tokens()["access_token"]
    response = _userinfo(app, token, fapi.holder, access_token=token[:-4] + "AAAA")
    assert response.status_code == 401 and response.json["error"] == "invalid_dpop_proof"


def test_attack_token_bound_to_one_key_with_another_keys_proof(app, fapi):
    token = fapi.tokens()["access_token"]
    thief = Holder()
    thief.nonce = fapi.holder.nonce
    response = _userinfo(app, token, thief)
    assert response.status_code == 401 and response.json["error"] == "invalid_dpop_proof"


def test_attack_userinfo_proof_replayed(app, fapi):
    token = fapi.tokens()["access_token"]
    proof = fapi.holder.proof("GET", f"{ISSUER}/userinfo", access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert app.test_client().get("/userinfo", headers=headers).status_code == 200
    replayed = app.test_client().get("/userinfo", headers=headers)
    assert replayed.status_code == 401 and replayed.json["error"] == "invalid_dpop_proof"


def test_a_proof_for_the_token_endpoint_does_not_open_userinfo(app, fapi):
    token = fapi.tokens()["access_token"]
    proof = fapi.holder.proof("POST", f"{ISSUER}/token", access_token=token)
    response = app.test_client().post(
        "/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )
    assert response.status_code == 401 and response.json["error"] == "invalid_dpop_proof"


def test_userinfo_asks_for_the_dpop_nonce(app, fapi):
    token = fapi.tokens()["access_token"]
    fapi.holder.nonce = None
    response = _userinfo(app, token, fapi.holder)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    fapi.holder.nonce = response.headers["DPoP-Nonce"]
    assert _userinfo(app, token, fapi.holder).status_code == 200


def test_a_bearer_token_is_not_accepted_as_dpop(app, client, oidc):
    token = oidc(register(app)).tokens()["access_token"]
    response = _userinfo(app, token, Holder())
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_no_token_offers_both_schemes(client):
    challenge = client.get("/userinfo").headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and 'DPoP algs="' in challenge


def test_an_authoritys_dpop_token_needs_its_proof_at_the_attribute_api(app, client, oidc):
    spec = {"name": "Skattestyrelsen", "kind": "public_authority",
            "redirect_uris": ["https://skat.example/callback"],
            "grant_types": ["authorization_code", "client_credentials"],
            "scope": "openid profile attributes:read", "legal_basis": "public_task",
            "purpose": "To assess your tax"}  # fmt: skip
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", "-"],
                                          input=json.dumps(spec))  # fmt: skip
    created = json.loads(result.stdout)
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    response = app.test_client().post(
        "/token", data={"grant_type": "client_credentials", "scope": "attributes:read"},
        auth=(created["client_id"], created["client_secret"]),
        headers={"DPoP": holder.proof("POST", f"{ISSUER}/token")},
    )  # fmt: skip
    assert response.json["token_type"] == "DPoP", response.json
    token = response.json["access_token"]
    url = "/api/citizens/nobody/attributes"
    as_bearer = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and as_bearer.mimetype == "application/problem+json"
    assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP ")
    proof = holder.proof("GET", f"{ISSUER}{url}", access_token=token)
    with_proof = app.test_client().get(
        url + "?claims=name", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )
    assert with_proof.status_code == 404, with_proof.json  # through the check: no such sub


def test_an_apps_dpop_token_reads_the_citizens_account_only_with_its_proof(app, client, oidc):
    reader = register(app, name="Mit Overblik", scope="openid me")
    flow = oidc(reader)
    code = redirect_params(flow.decide(flow.authorize()))["code"]
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    response = app.test_client().post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": reader.redirect_uri,
        "code_verifier": flow.verifier,
    }, auth=(reader.client_id, reader.client_secret),
        headers={"DPoP": holder.proof("POST", f"{ISSUER}/token")})  # fmt: skip
    assert response.json["token_type"] == "DPoP", response.json
    token = response.json["access_token"]
    reading = app.test_client()  # the app's own server: no citizen cookie
    as_bearer = reading.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and as_bearer.mimetype == "application/problem+json"
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    proof = holder.proof("GET", f"{ISSUER}/api/me", access_token=token)
    mine = reading.get("/api/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert mine.status_code == 200 and mine.json["attributes"][1]["value"] == "Anna"


# --- refresh tokens -------------------------------------------------------------------------


def test_a_fapi_clients_refresh_token_is_not_rotated_and_revocation_ends_it(
    app, client, oidc, tmp_path
):
    key = ECKey.generate_key("P-256", private=True)
    grants = {"grant_types": ["authorization_code", "refresh_token"],
              "scope": "openid profile offline_access"}  # fmt: skip
    created = json.loads(_register_fapi(app, tmp_path, key, **grants).stdout)
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    rp = FapiClient(app, client, created["client_id"], key, holder)
    tokens = rp.exchange(rp.code(scope="openid profile offline_access")).json
    refresh_token = tokens["refresh_token"]

    def refresh(proof=True):
        headers = {"DPoP": holder.proof("POST", f"{ISSUER}/token")} if proof else {}
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **rp.assertion()}
        return rp.backend.post("/token", data=data, headers=headers)

    _assert_json_error(refresh(proof=False), "invalid_request")  # DPoP, always
    for _ in range(2):  # FAPI 2.0 5.3.2.1: the same refresh token again and again
        refreshed = refresh()
        assert refreshed.status_code == 200, refreshed.json
        assert "refresh_token" not in refreshed.json
        assert refreshed.json["token_type"] == "DPoP"
    revoked = rp.backend.post("/revoke", data={"token": refresh_token, **rp.assertion()})
    assert revoked.status_code == 200
    _assert_json_error(refresh(), "invalid_grant")


# --- public clients: refresh tokens bound to the key -----------------------------------------


def test_a_public_clients_refresh_token_is_bound_to_its_dpop_key(app, client, oidc):
    service = register(app, scope="openid profile offline_access", legal_basis="contract",
                       extra=["--auth-method", "none", "--grant-type", "authorization_code",
                              "--grant-type", "refresh_token"])  # fmt: skip
    flow = oidc(service)
    holder = Holder()
    holder.nonce = server_nonce(app.test_client())
    code = flow.code()
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": BANK_REDIRECT,
        "code_verifier": flow.verifier, "client_id": service.client_id,
    }, headers={"DPoP": holder.proof("POST", f"{ISSUER}/token")})  # fmt: skip
    assert response.status_code == 200, response.json
    refresh_token = response.json["refresh_token"]

    def refresh(with_holder):
        return client.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": service.client_id,
        }, headers={"DPoP": with_holder.proof("POST", f"{ISSUER}/token")})  # fmt: skip

    thief = Holder()
    thief.nonce = holder.nonce
    _assert_json_error(refresh(thief), "invalid_grant")
    refreshed = refresh(holder)  # the thief's try did not spend it
    assert refreshed.status_code == 200, refreshed.json
    assert _unverified(refreshed.json["access_token"])["cnf"]["jkt"] == holder.jkt
