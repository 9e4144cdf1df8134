"""The OAuth and OpenID Connect endpoints, which discovery describes rather than the OpenAPI
document, fuzzed with arbitrary form requests: any parameters, known or not, repeated or
not, with real values (registered clients and their secrets, a live code, access, refresh
and ID tokens, the citizen's CSRF token) mixed with hostile ones (NUL, huge values, any
Unicode, broken percent-encoding, nested JSON, forged JWTs), any client authentication and
any content type. The back-end endpoints answer never a 5xx and, on a 4xx, an OAuth error
JSON (RFC 6749 5.2); the browser endpoints answer never a 5xx, a readable page on a 4xx,
and redirect only to Tillid itself or to an address the client registered."""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests import log_secrets
from tests.conftest import csrf_token
from tests.consent.test_authority_api import _service_token
from tests.fuzz.conftest import budget
from tests.oidc.conftest import BANK_REDIRECT, Service, register
from tests.oidc.test_client_authentication import (
    ENDPOINTS,
    PUBLIC_ENDPOINTS,
    Attempt,
    Clients,
    assert_invalid_client,
    attempt,
    basic,
    posted,
    send,
)
from tests.oidc.test_private_key_jwt import ISSUER, assertion

CIBA = "urn:openid:params:grant-type:ciba"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OFFLINE = "openid profile offline_access"
AUTHORITY_REDIRECT = "https://skat.example/callback"
PUBLIC_REDIRECT = "https://app.example/callback"
LOGOUT_REDIRECT = "https://bank.example/logged-out"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned_jwt(header: dict | str, claims: dict) -> str:
    head = header if isinstance(header, str) else json.dumps(header)
    return f"{_b64(head.encode())}.{_b64(json.dumps(claims).encode())}."


@dataclass
class World:
    """What the fuzzer may send beside junk: the real values of a live Tillid."""

    values: dict[str, list[str]]
    basic: list[tuple[str, str]]
    bearer: list[str]
    redirect_targets: tuple[str, ...]
    issuer: str
    endpoints: list[str] = field(default_factory=list)


@pytest.fixture
def world(app, client, oidc) -> World:
    bank = register(
        app,
        scope=OFFLINE,
        extra=[
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--post-logout-redirect-uri",
            LOGOUT_REDIRECT,
        ],
    )
    spec = {
        "name": "Skattestyrelsen",
        "kind": "public_authority",
        "redirect_uris": [AUTHORITY_REDIRECT],
        "grant_types": ["authorization_code", "client_credentials", CIBA],
        "scope": "openid profile cpr attributes:read ledger:report",
        "legal_basis": "public_task",
        "purpose": "To assess your tax",
    }
    created = app.test_cli_runner().invoke(
        args=["clients", "create", "--from-file", "-"], input=json.dumps(spec)
    )
    assert created.exit_code == 0, created.output
    authority = json.loads(created.stdout)
    public = register(
        app, name="Browser app", redirect_uri=PUBLIC_REDIRECT, extra=["--auth-method", "none"]
    )

    flow = oidc(bank)
    tokens = flow.tokens()
    sub = flow.id_token(tokens)["sub"]
    unused_code = oidc(bank).code()  # the fuzzer may be the first to redeem it
    flow.new_nonce()
    authority_service = Service(
        authority["client_id"], authority["client_secret"], AUTHORITY_REDIRECT, spec["scope"]
    )
    service_token = _service_token(app, authority_service, "attributes:read")
    service_token = service_token["Authorization"].split(" ", 1)[1]
    consent_page = client.get("/authorize", query_string=oidc(bank).params(prompt="consent"))
    client_ids = [bank.client_id, authority["client_id"], public.client_id]
    forged = [
        _unsigned_jwt({"alg": "none"}, {"iss": bank.client_id, "sub": bank.client_id}),
        _unsigned_jwt({"alg": "HS256", "typ": "at+jwt"}, {"sub": sub}),
        _unsigned_jwt("[" * 300, {}),
        _unsigned_jwt({"alg": "RS256", "kid": "../../etc/passwd"}, {}),
        tokens["id_token"][:-5] + "AAAAA",
    ]
    values = {
        "client_id": client_ids,
        "client_secret": [bank.client_secret, authority["client_secret"]],
        "grant_type": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            CIBA,
            "password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
        "code": [unused_code, flow.code()],
        "redirect_uri": [
            BANK_REDIRECT,
            AUTHORITY_REDIRECT,
            PUBLIC_REDIRECT,
            BANK_REDIRECT + "/../evil",
            "https://evil.example/cb",
        ],
        "code_verifier": [flow.verifier, "a" * 43, "a" * 129],
        "refresh_token": [tokens["refresh_token"]],
        "token": [
            tokens["access_token"],
            tokens["refresh_token"],
            tokens["id_token"],
            service_token,
            *forged,
        ],
        "token_type_hint": ["access_token", "refresh_token", "id_token"],
        "access_token": [tokens["access_token"], service_token, *forged],
        "scope": [
            "openid",
            OFFLINE,
            "openid profile age",
            "attributes:read",
            "openid me",
            "openid cpr",
        ],
        "response_type": ["code", "token", "id_token", "code id_token", "none"],
        "response_mode": ["query", "form_post", "fragment", "jwt"],
        "state": ["s"],
        "nonce": ["n"],
        "code_challenge": [flow.challenge, "short"],
        "code_challenge_method": ["S256", "plain", "S512"],
        "prompt": ["none", "login", "consent", "select_account", "none login"],
        "max_age": ["0", "60", "-1", "1e3", "99999999999999999999999"],
        "acr_values": [
            "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            "https://data.gov.dk/concept/core/nsis/loa/High",
            "urn:unknown",
        ],
        "claims": [
            '{"userinfo": {"email": null}}',
            '{"id_token": {"acr": {"essential": true}}}',
            json.dumps({"id_token": {"sub": {"value": sub}}}),
            "[" * 3000,
            "{",
        ],
        "id_token_hint": [tokens["id_token"], tokens["access_token"], *forged],
        "login_hint": [sub, "0101901234", "010190-1234", "anna"],
        "binding_message": ["A1B2", "x" * 100, "\u202eevil"],
        "auth_req_id": ["x"],
        "client_assertion_type": [JWT_BEARER],
        "client_assertion": forged,
        "post_logout_redirect_uri": [LOGOUT_REDIRECT, "https://evil.example/"],
        "csrf_token": [csrf_token(consent_page)],
        "decision": ["allow", "deny"],
        "request": [forged[0]],
        "request_uri": ["urn:ietf:params:oauth:request_uri:x", "https://evil.example/r"],
        "ui_locales": ["da", "en", "xx"],
    }
    basic = [
        (bank.client_id, bank.client_secret),
        (authority["client_id"], authority["client_secret"]),
        (public.client_id, ""),
        (bank.client_id, "wrong"),
    ]
    endpoints = ["/token", "/introspect", "/revoke", "/bc-authorize", "/userinfo"]
    endpoints += [rule.rule for rule in app.url_map.iter_rules() if rule.rule == "/par"]
    return World(
        values=values,
        basic=basic,
        bearer=[tokens["access_token"], service_token, *forged],
        redirect_targets=(BANK_REDIRECT, AUTHORITY_REDIRECT, PUBLIC_REDIRECT, LOGOUT_REDIRECT),
        issuer=app.config["ISSUER"],
        endpoints=endpoints,
    )


junk = st.one_of(
    st.text(max_size=30),  # any Unicode, NUL included
    st.text(st.characters(codec="ascii"), max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "null",
            "[]",
            "{}",
            "%00",
            "%",
            "\ufeff",
            "\u202e",
            "\U0001f600",
            "é" * 3000,
            "x" * 5000,
            "x" * 70_000,  # past the form size limit
            "[" * 3000,
            "' OR 1=1 --",
            "<script>",
            "../../",
            "https://evil.example/cb",
        ]
    ),
)
parameter_names = st.sampled_from(
    [
        "client_id",
        "client_secret",
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "token",
        "token_type_hint",
        "access_token",
        "scope",
        "response_type",
        "response_mode",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "acr_values",
        "claims",
        "id_token_hint",
        "login_hint",
        "binding_message",
        "auth_req_id",
        "client_assertion_type",
        "client_assertion",
        "post_logout_redirect_uri",
        "csrf_token",
        "decision",
        "request",
        "request_uri",
        "ui_locales",
    ]
)
raw_tails = st.sampled_from(
    [
        b"",
        b"&%FF=%FE",
        b"&code=%ZZ",
        b"&&&",
        b"&=",
        b"&a",
        b"&scope=%C3",
        b"&client_id=%00",
        b"&grant_type",
    ]
)


@st.composite
def pairs(draw, world: World) -> list[tuple[str, str]]:
    """Form parameters in order, names repeated at will, each value real or junk."""
    names = draw(st.lists(parameter_names | st.text(max_size=10), max_size=12))
    chosen = []
    for name in names:
        real = world.values.get(name)
        value = draw(st.sampled_from(real) | junk if real else junk)
        chosen.append((name, value))
    return chosen


def form_body(chosen: list[tuple[str, str]], tail: bytes) -> bytes:
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in chosen)
    return encoded.encode() + tail


@st.composite
def client_authentication(draw, world: World) -> dict[str, str]:
    kind = draw(st.sampled_from(["none", "basic", "bearer", "junk"]))
    if kind == "basic":
        user, password = draw(st.sampled_from(world.basic) | st.tuples(junk, junk))
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
    if kind == "bearer":
        return {
            "Authorization": "Bearer " + on_the_wire(draw(st.sampled_from(world.bearer) | junk))
        }
    if kind == "junk":
        raw = draw(
            st.sampled_from(
                [
                    "Basic",
                    "Basic !!!",
                    "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
                    "Basic " + base64.b64encode(b"nocolon").decode(),
                    "Bearer",
                    "Bearer  ",
                    "DPoP x",
                    "Digest x",
                ]
            )
        )
        return {"Authorization": raw}
    return {}


def on_the_wire(value: str) -> str:
    """A header value as a client's bytes reach WSGI: UTF-8 read as Latin-1, one line."""
    return value.encode().decode("latin-1").replace("\r", " ").replace("\n", " ")


content_types = st.sampled_from(
    ["application/x-www-form-urlencoded"] * 4
    + [
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)


def assert_oauth_answer(endpoint: str, response) -> None:
    assert response.status_code < 500, (endpoint, response.status_code, response.get_data())
    if endpoint == "/revoke" and response.status_code == 200 and not response.get_data():
        return  # RFC 7009: 200, the body is not specified
    assert response.mimetype == "application/json", (endpoint, response.mimetype)
    body = response.get_json()
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"], body
        assert set(body) <= {"error", "error_description", "error_uri", "state"}, body


@contextlib.contextmanager
def sending_drawn(world: World, chosen: list[tuple[str, str]], headers: dict):
    """Send what was drawn: its real values are secrets to look for in the logs, its junk is
    not (a drawn word in a token's field, say a scope, is no secret: its next mention in a log
    would be a false leak)."""
    registry = log_secrets.CHECK.registry
    for name, value in chosen:
        if value in world.values.get(name, ()):
            registry.add_fields({name: value})
    registry.add_authorization(headers.get("Authorization"))
    with registry.made_up_requests():
        yield


@settings(max_examples=budget(120))
@given(data=st.data())
def test_the_back_end_endpoints_answer_any_form_with_json_and_never_a_5xx(app, world, data):
    endpoint = data.draw(st.sampled_from(world.endpoints), label="endpoint")
    chosen = data.draw(pairs(world), label="form")
    tail = data.draw(raw_tails, label="raw tail")
    headers = data.draw(client_authentication(world), label="authentication")
    content_type = data.draw(content_types, label="content type")
    if content_type:
        headers["Content-Type"] = content_type
    method = "POST"
    if endpoint == "/userinfo":
        method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    api = app.test_client()
    with sending_drawn(world, chosen, headers):
        if method == "GET":
            response = api.get(f"{endpoint}?{urlencode(chosen)}", headers=headers)
        else:
            response = api.post(endpoint, data=form_body(chosen, tail), headers=headers)
    assert_oauth_answer(endpoint, response)


def assert_browser_answer(world: World, response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data())
    if response.status_code in (301, 302, 303, 307, 308):
        target = response.headers["Location"]
        parts = urlsplit(target)
        local = not parts.scheme and not parts.netloc and target.startswith("/")
        assert (
            local
            or target.startswith(world.issuer + "/")
            or any(target == uri or target.startswith(uri + "?") for uri in world.redirect_targets)
        ), target
    elif response.status_code >= 400:
        assert response.mimetype == "text/html", response.mimetype
        assert "<h1" in response.get_data(as_text=True)


@settings(max_examples=budget(80))
@given(data=st.data())
def test_the_browser_endpoints_answer_any_request_with_a_page_or_a_registered_redirect(
    client, world, data
):
    endpoint = data.draw(st.sampled_from(["/authorize", "/logout"]), label="endpoint")
    method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    query = data.draw(pairs(world), label="query")
    form = data.draw(pairs(world), label="form") if method == "POST" else []
    tail = data.draw(raw_tails, label="raw tail")
    # The logged-in citizen's browser authorizes; logout is tried from a fresh browser,
    # so that the citizen stays logged in for the examples that follow.
    browser = client if endpoint == "/authorize" else client.application.test_client()
    url = f"{endpoint}?{urlencode(query)}" if query else endpoint
    with sending_drawn(world, query + form, {}):
        if method == "GET":
            response = browser.get(url)
        else:
            response = browser.post(
                url,
                data=form_body(form, tail),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
    assert_browser_answer(world, response)


# --- client authentication: every combination, with an oracle ----------------------------------

# Who a credential names, and how each registration may authenticate (the rule of
# idp/oidc/client_auth.py): the two secret methods are one, the rest strict; a disabled or
# unknown client not at all.
WHO = ("secret", "post", "disabled", "public", "key", "other_key", "fapi", "unknown")
ACCEPTS = {
    "secret": {"client_secret_basic", "client_secret_post"},
    "post": {"client_secret_basic", "client_secret_post"},
    "public": {"none"},
    "key": {"private_key_jwt"},
    "other_key": {"private_key_jwt"},
    "fapi": {"private_key_jwt"},
}
who = st.sampled_from(WHO)
secret_kinds = st.sampled_from(["own", "another's", "wrong", "empty"])
assertion_kinds = st.sampled_from(["own key", "another client's key", "unsigned", "junk"])
garbled_basic = st.one_of(
    st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
    st.text(max_size=40).map(lambda text: "Basic " + on_the_wire(text)),
    st.sampled_from(["Basic", "Basic ", "Basic =", "basic Og==", "Bearer x", "Digest x"]),
)


@dataclass
class AuthPieces:
    """One request's client authentication, as drawn: each credential may be absent."""

    endpoint: str
    basic: tuple[str, str] | str | None  # (who, secret kind) or a garbled header
    post: tuple[str, str] | None  # (who, secret kind)
    assertion: tuple[str, str] | None  # (who, how it is signed)
    client_id: str | None  # who the body's client_id names, beside the credential
    twice: str | None  # a credential parameter sent twice
    in_url: bool  # the credentials in the query string


@st.composite
def any_auth_pieces(draw) -> AuthPieces:
    """Each credential present or not, naming anyone, made any way."""
    return AuthPieces(
        endpoint=draw(st.sampled_from(sorted(ENDPOINTS)), label="endpoint"),
        basic=draw(st.none() | st.tuples(who, secret_kinds) | garbled_basic, label="basic"),
        post=draw(st.none() | st.tuples(who, secret_kinds), label="client_secret_post"),
        assertion=draw(st.none() | st.tuples(who, assertion_kinds), label="assertion"),
        client_id=draw(st.none() | who, label="client_id"),
        twice=draw(st.none() | st.sampled_from(["client_id", "client_secret"]), label="twice"),
        in_url=draw(st.booleans(), label="in the URL"),
    )


@st.composite
def fitting_auth_pieces(draw) -> AuthPieces:
    """One method a registration accepts, with its own credential (a public client's
    client_id alone fits only where a public client may come): the oracle's other side."""
    method = draw(st.sampled_from(["basic", "post", "assertion", "none"]), label="method")
    named = {"basic": ("secret", "post"), "post": ("secret", "post"),
             "assertion": ("key", "other_key", "fapi"), "none": ("public",)}[method]  # fmt: skip
    name = draw(st.sampled_from(named), label="client")
    credential = (name, "own key" if method == "assertion" else "own")
    return AuthPieces(
        endpoint=draw(st.sampled_from(sorted(ENDPOINTS)), label="endpoint"),
        basic=credential if method == "basic" else None,
        post=credential if method == "post" else None,
        assertion=credential if method == "assertion" else None,
        client_id=name if method == "none" else draw(st.sampled_from([None, name])),
        twice=None,
        in_url=False,
    )


auth_pieces = any_auth_pieces() | fitting_auth_pieces()


def secret_owner(name: str, kind: str) -> str | None:
    """Whose secret a drawn secret is (``_secret`` makes them so): None for a made-up one."""
    if kind == "own" and name in ("secret", "post", "disabled"):
        return name
    if kind in ("own", "another's"):  # a client with no secret of its own gets another's
        return "post" if name == "secret" else "secret"
    return None


def fits(pieces: AuthPieces) -> bool:
    """Whether the drawn authentication is one method the named client may use, whole."""
    if pieces.twice or (pieces.in_url and (pieces.post or pieces.assertion)):
        return False  # a client_id alone may come in the URL (as at /authorize)
    credentials = [p for p in (pieces.basic, pieces.post, pieces.assertion) if p is not None]
    if len(credentials) > 1 or isinstance(pieces.basic, str):
        return False
    if not credentials:
        return (
            pieces.client_id is not None
            and "none" in ACCEPTS.get(pieces.client_id, ())
            and pieces.endpoint in PUBLIC_ENDPOINTS
        )
    named, kind = credentials[0]
    if pieces.post is not None:  # the body's client_id, if drawn, is the one it names
        named = pieces.client_id or named
        return secret_owner(pieces.post[0], kind) == named and named in ACCEPTS
    if pieces.client_id not in (None, named):
        return False
    if pieces.assertion is not None:
        return kind == "own key" and "private_key_jwt" in ACCEPTS.get(named, ())
    return secret_owner(named, kind) == named and named in ACCEPTS


def _client_id(registered: Clients, name: str) -> str:
    services = {"secret": registered.secret, "post": registered.post,
                "disabled": registered.disabled, "public": registered.public}  # fmt: skip
    if name in services:
        return services[name].client_id
    ids = {"key": registered.key_id, "other_key": registered.other_key_id,
           "fapi": registered.fapi_id}  # fmt: skip
    return ids.get(name, "nobody")


def _secret(registered: Clients, name: str, kind: str) -> str:
    own = {"secret": registered.secret, "post": registered.post, "disabled": registered.disabled}
    if kind == "own" and name in own:
        return own[name].client_secret
    if kind == "own" or kind == "another's":  # a client with no secret, or another's secret
        return (registered.post if name == "secret" else registered.secret).client_secret
    return "" if kind == "empty" else "wrong"


def _assertion(registered: Clients, name: str, kind: str) -> str:
    client_id = _client_id(registered, name)
    keys = {"key": registered.key, "other_key": registered.other_key, "fapi": registered.fapi_key}
    own = keys.get(name, registered.key)  # the clients with no keys sign with someone's
    if kind == "own key":
        return assertion(client_id, own, aud=ISSUER)
    if kind == "another client's key":
        other = registered.other_key if own is not registered.other_key else registered.key
        return assertion(client_id, other, aud=ISSUER)
    if kind == "unsigned":
        return _unsigned_jwt({"alg": "none"}, {"iss": client_id, "sub": client_id,
                                               "aud": ISSUER, "exp": 2**31})  # fmt: skip
    return "not.a.jwt"


def auth_request(registered: Clients, pieces: AuthPieces) -> Attempt:
    form, headers = {}, {}
    if isinstance(pieces.basic, str):
        headers["Authorization"] = pieces.basic
    elif pieces.basic is not None:
        named, kind = pieces.basic
        headers.update(basic(_client_id(registered, named), _secret(registered, named, kind)))
    if pieces.post is not None:
        named, kind = pieces.post
        form.update(posted(_client_id(registered, named), _secret(registered, named, kind)))
    if pieces.assertion is not None:
        named, kind = pieces.assertion
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = _assertion(registered, named, kind)
    if pieces.client_id is not None:
        form["client_id"] = _client_id(registered, pieces.client_id)
    if pieces.twice is not None:
        form[pieces.twice] = [form.get(pieces.twice, "x"), "x"]
    if pieces.in_url:
        return attempt(headers=headers, query=form)
    return attempt(form, headers)


@settings(max_examples=budget(200))
@given(data=st.data())
def test_client_authentication_that_does_not_fit_is_invalid_client_and_never_a_5xx(
    client, clients, data
):
    """Any mix of Basic (real, wrong, garbled), a posted secret, an assertion (signed by the
    client's key, another's, unsigned, junk), client_id, repeated or in the URL, at every
    endpoint that authenticates clients: 401 invalid_client unless it is exactly one method
    the named client may use with its own credential."""
    pieces = data.draw(auth_pieces)
    sent = auth_request(clients, pieces)
    response = send(client, pieces.endpoint, sent)
    assert response.status_code < 500, (pieces, response.status_code, response.get_data())
    event("fits" if fits(pieces) else "does not fit")
    if fits(pieces):
        assert response.json.get("error") != "invalid_client", (pieces, response.json)
    else:
        assert_invalid_client(response, sent, pieces)
