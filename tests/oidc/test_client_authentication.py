"""Client authentication at every endpoint that authenticates clients: the token endpoint (each
grant), introspection, revocation, PAR and CIBA.

A client registered for `client_secret_basic` or `client_secret_post` may use either (what RP
libraries send by default); `private_key_jwt`, `none` and FAPI 2.0 clients use only what they
registered. Every way of authenticating that does not fit the client is `401 invalid_client`
with `WWW-Authenticate` (RFC 6749 5.2), at every endpoint, never a 5xx."""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass

import pytest
from joserfc.jwk import ECKey

from tests.oidc.conftest import BANK_REDIRECT, Service, pkce, register
from tests.oidc.test_fapi import _register_fapi
from tests.oidc.test_private_key_jwt import ASSERTION_TYPE, ISSUER, assertion, register_key_client

CIBA = "urn:openid:params:grant-type:ciba"
PUBLIC_REDIRECT = "https://app.example/callback"

# Each endpoint, and each grant at the token endpoint, with a request that is fine but for
# the client authentication under test (what it names is unknown, so nothing is spent).
ENDPOINTS = {
    "token, code": ("/token", {"grant_type": "authorization_code", "code": "unknown",
                               "redirect_uri": BANK_REDIRECT, "code_verifier": "v" * 43}),
    "token, refresh": ("/token", {"grant_type": "refresh_token", "refresh_token": "unknown"}),
    "token, client_credentials": ("/token", {"grant_type": "client_credentials"}),
    "token, ciba": ("/token", {"grant_type": CIBA, "auth_req_id": "unknown"}),
    "token, a grant not served": ("/token", {"grant_type": "password"}),
    "introspection": ("/introspect", {"token": "unknown"}),
    "revocation": ("/revoke", {"token": "unknown"}),
    "par": ("/par", {"response_type": "code", "redirect_uri": BANK_REDIRECT, "scope": "openid",
                     "code_challenge": pkce()[1], "code_challenge_method": "S256"}),
    "ciba": ("/bc-authorize", {"login_hint": "unknown", "scope": "openid"}),
}  # fmt: skip
# Where a public client may come with its client_id alone.
PUBLIC_ENDPOINTS = {"token, code", "token, refresh", "token, a grant not served", "revocation",
                    "par"}  # fmt: skip


@dataclass
class Clients:
    """One registration of each kind, as `flask clients create` makes them."""

    secret: Service  # the default method: client_secret_basic
    post: Service  # registered for client_secret_post
    disabled: Service
    public: Service  # none
    key_id: str  # private_key_jwt
    key: ECKey
    other_key_id: str  # another private_key_jwt client, with a key of its own
    other_key: ECKey
    fapi_id: str  # the fapi2 profile (private_key_jwt)
    fapi_key: ECKey


def _key_client(app, tmp_path) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": "bank-1", "use": "sig"}
    return register_key_client(app, tmp_path, public), key


@pytest.fixture
def clients(app, tmp_path) -> Clients:
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    grants = ["--grant-type", "authorization_code", "--grant-type", "refresh_token",
              "--grant-type", "client_credentials", "--grant-type", CIBA]  # fmt: skip
    secret = register(app, scope="openid profile offline_access", extra=grants)
    post = register(app, name="Postbank", extra=[*grants, "--auth-method", "client_secret_post"])
    disabled = register(app, name="Gone", extra=grants)
    result = app.test_cli_runner().invoke(args=["clients", "disable", disabled.client_id])
    assert result.exit_code == 0, result.output
    public = register(app, name="Browser app", redirect_uri=PUBLIC_REDIRECT,
                      extra=["--auth-method", "none"])  # fmt: skip
    key_id, key = _key_client(app, tmp_path)
    other_key_id, other_key = _key_client(app, tmp_path)
    fapi_key = ECKey.generate_key("P-256", private=True)
    created = _register_fapi(app, tmp_path, fapi_key)
    assert created.exit_code == 0, created.output
    fapi_id = json.loads(created.stdout)["client_id"]
    return Clients(secret, post, disabled, public, key_id, key, other_key_id, other_key,
                   fapi_id, fapi_key)  # fmt: skip


@dataclass
class Attempt:
    form: dict
    headers: dict
    query: dict

    @property
    def basic(self) -> bool:
        return self.headers.get("Authorization", "").lower().startswith("basic")


def basic_header(raw: bytes | str) -> dict:
    raw = raw.encode() if isinstance(raw, str) else raw
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def basic(client_id: str, secret: str | None) -> dict:
    return basic_header(f"{client_id}:{secret}")


def posted(client_id: str, secret: str | None) -> dict:
    return {"client_id": client_id, "client_secret": secret}


def asserted(client_id: str, key) -> dict:
    return {"client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client_id, key, aud=ISSUER)}  # fmt: skip


def attempt(form=None, headers=None, query=None) -> Attempt:
    return Attempt(form or {}, headers or {}, query or {})


# Every way of authenticating that does not fit: what is sent, given the registrations.
MISFITS = {
    "an assertion for a client with no keys":
        lambda c: attempt(asserted(c.secret.client_id, c.key)),
    "an assertion for a public client": lambda c: attempt(asserted(c.public.client_id, c.key)),
    "a Basic secret for a key-only client": lambda c: attempt(headers=basic(c.key_id, "guess")),
    "a posted secret for a key-only client": lambda c: attempt(posted(c.key_id, "guess")),
    "a Basic secret for a FAPI client": lambda c: attempt(headers=basic(c.fapi_id, "guess")),
    "a posted secret for a FAPI client": lambda c: attempt(posted(c.fapi_id, "guess")),
    "a public client presenting a Basic secret":
        lambda c: attempt(headers=basic(c.public.client_id, "made-up")),
    "a public client presenting a posted secret":
        lambda c: attempt(posted(c.public.client_id, "made-up")),
    "an unknown client, Basic": lambda c: attempt(headers=basic("nobody", "secret")),
    "an unknown client, posted secret": lambda c: attempt(posted("nobody", "secret")),
    "an unknown client, assertion": lambda c: attempt(asserted("nobody", c.key)),
    "an unknown client, client_id alone": lambda c: attempt({"client_id": "nobody"}),
    "a disabled client with its own secret":
        lambda c: attempt(headers=basic(c.disabled.client_id, c.disabled.client_secret)),
    "a wrong secret, Basic": lambda c: attempt(headers=basic(c.secret.client_id, "wrong")),
    "a wrong secret, posted": lambda c: attempt(posted(c.secret.client_id, "wrong")),
    "a confidential client's client_id alone": lambda c: attempt({"client_id": c.secret.client_id}),
    "no client authentication at all": lambda c: attempt(),
    "Basic and client_secret_post at once": lambda c: attempt(
        posted(c.secret.client_id, c.secret.client_secret),
        basic(c.secret.client_id, c.secret.client_secret)),
    "a posted secret and an assertion at once": lambda c: attempt(
        {**asserted(c.key_id, c.key), **posted(c.key_id, "guess")}),
    "Basic and an assertion at once": lambda c: attempt(
        asserted(c.key_id, c.key), basic(c.secret.client_id, c.secret.client_secret)),
    "Basic, bad base64": lambda c: attempt(headers={"Authorization": "Basic !!!"}),
    "Basic, no colon": lambda c: attempt(headers=basic_header(c.secret.client_id)),
    "Basic, not UTF-8": lambda c: attempt(headers=basic_header(b"\xff\xfe:\xfd")),
    "Basic, broken percent-encoding": lambda c: attempt(headers=basic_header("%ff%fe:%fd")),
    "Basic, NUL in the client_id": lambda c: attempt(
        headers=basic_header(f"{c.secret.client_id}\x00:{c.secret.client_secret}")),
    "Basic, percent-encoded NUL": lambda c: attempt(
        headers=basic_header(f"{c.secret.client_id}%00:{c.secret.client_secret}")),
    "Basic, the scheme alone": lambda c: attempt(headers={"Authorization": "Basic"}),
    "Basic, empty credentials": lambda c: attempt(headers=basic_header(":")),
    "Basic, empty secret": lambda c: attempt(headers=basic(c.secret.client_id, "")),
    "Basic, empty client_id": lambda c: attempt(headers=basic("", c.secret.client_secret)),
    "a scheme that is no client authentication": lambda c: attempt(
        {"client_id": c.public.client_id}, {"Authorization": "Bearer x"}),
    "an assertion signed with another client's key":
        lambda c: attempt(asserted(c.key_id, c.other_key)),
    "an assertion of one client with the client_id of another": lambda c: attempt(
        {**asserted(c.key_id, c.key), "client_id": c.other_key_id}),
    "Basic of one client with the client_id of another": lambda c: attempt(
        {"client_id": c.post.client_id}, basic(c.secret.client_id, c.secret.client_secret)),
    "an assertion type without an assertion":
        lambda c: attempt({"client_assertion_type": ASSERTION_TYPE}),
    "an assertion without its type": lambda c: attempt(
        {"client_assertion": asserted(c.key_id, c.key)["client_assertion"]}),
    "an assertion of another type": lambda c: attempt(
        {**asserted(c.key_id, c.key), "client_assertion_type": "urn:x:saml2-bearer"}),
    "the secret sent twice": lambda c: attempt(
        {"client_id": c.secret.client_id, "client_secret": [c.secret.client_secret, "wrong"]}),
    "the secret in the URL": lambda c: attempt(
        query=posted(c.secret.client_id, c.secret.client_secret)),
}  # fmt: skip


def send(client, endpoint: str, sent: Attempt):
    path, body = ENDPOINTS[endpoint]
    return client.post(path, query_string=sent.query, data={**body, **sent.form},
                       headers=sent.headers)  # fmt: skip


def assert_invalid_client(response, sent: Attempt, label) -> None:
    assert response.status_code == 401, (label, response.status_code, response.get_data()[:300])
    assert response.json["error"] == "invalid_client", (label, response.json)
    assert response.headers["Cache-Control"] == "no-store", label
    challenge = response.headers.get("WWW-Authenticate", "")  # RFC 6749 5.2, RFC 9110 11.6.1
    assert challenge.startswith("Basic "), (label, challenge)


@pytest.mark.parametrize("misfit", MISFITS)
def test_attack_client_authentication_that_does_not_fit_is_invalid_client_everywhere(
    client, clients, misfit
):
    for endpoint in ENDPOINTS:
        sent = MISFITS[misfit](clients)  # anew for each endpoint: an assertion works once
        assert_invalid_client(send(client, endpoint, sent), sent, endpoint)


def test_a_public_client_cannot_use_what_needs_an_authenticated_client(client, clients):
    for endpoint in ENDPOINTS:
        sent = attempt({"client_id": clients.public.client_id})
        response = send(client, endpoint, sent)
        if endpoint in PUBLIC_ENDPOINTS:
            assert response.json.get("error") != "invalid_client", (endpoint, response.json)
        else:
            assert_invalid_client(response, sent, endpoint)


FITS = {
    "default registration, Basic":
        lambda c: attempt(headers=basic(c.secret.client_id, c.secret.client_secret)),
    "default registration, client_secret_post":
        lambda c: attempt(posted(c.secret.client_id, c.secret.client_secret)),
    "client_secret_post registration, Basic":
        lambda c: attempt(headers=basic(c.post.client_id, c.post.client_secret)),
    "client_secret_post registration, client_secret_post":
        lambda c: attempt(posted(c.post.client_id, c.post.client_secret)),
    "Basic, client_id in the body too": lambda c: attempt(
        {"client_id": c.secret.client_id}, basic(c.secret.client_id, c.secret.client_secret)),
    "private_key_jwt": lambda c: attempt(asserted(c.key_id, c.key)),
    "private_key_jwt, client_id in the body too":
        lambda c: attempt({**asserted(c.key_id, c.key), "client_id": c.key_id}),
    "fapi2": lambda c: attempt(asserted(c.fapi_id, c.fapi_key)),
}  # fmt: skip


@pytest.mark.parametrize("fit", FITS)
def test_what_fits_the_registration_authenticates_everywhere(client, clients, fit):
    """The control for the attacks above: each registration's own way gets past client
    authentication at every endpoint (what follows is the endpoint's own answer)."""
    for endpoint in ENDPOINTS:
        response = send(client, endpoint, FITS[fit](clients))
        assert response.status_code < 500, (endpoint, response.status_code)
        assert response.json.get("error") != "invalid_client", (endpoint, response.json)


def test_either_secret_method_gets_a_token(client, clients):
    for service in (clients.secret, clients.post):
        data = {"grant_type": "client_credentials"}
        by_basic = client.post("/token", data=data, auth=(service.client_id, service.client_secret))
        assert by_basic.status_code == 200, by_basic.json
        by_post = client.post("/token", data={**data, **posted(service.client_id,
                                                               service.client_secret)})  # fmt: skip
        assert by_post.status_code == 200, by_post.json


def test_the_code_flow_with_client_secret_post_on_a_default_registration(app, oidc):
    registered = register(app)  # client_secret_basic, the default
    flow = oidc(dataclasses.replace(registered, client_secret=None))  # so no Basic header
    secret = posted(registered.client_id, registered.client_secret)
    response = flow.exchange(flow.code(), **secret)
    assert response.status_code == 200, response.json
    assert flow.id_token(response.json)["aud"] == registered.client_id


@pytest.mark.parametrize(
    ("misfit", "expected"),
    [
        ("a Basic secret for a key-only client", "This client is registered for private_key_jwt."),
        ("a posted secret for a FAPI client", "This client is registered for private_key_jwt."),
        ("an assertion for a client with no keys",
         "This client is registered for client_secret_basic (client_secret_post works too)."),
        ("a public client presenting a posted secret",
         "This client is registered for none: a public client sends its client_id alone."),
        ("a confidential client's client_id alone",
         "This client is registered for client_secret_basic (client_secret_post works too)."),
        ("Basic and client_secret_post at once",
         "Use one client authentication method per request (RFC 6749 2.3)."),
        ("Basic, not UTF-8", "The client credentials are not readable."),
    ],
)  # fmt: skip
def test_a_refusal_says_what_the_registration_expects(client, clients, misfit, expected):
    sent = MISFITS[misfit](clients)
    response = send(client, "token, code", sent)
    assert response.json["error_description"] == expected
