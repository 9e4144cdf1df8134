"""Forged and misused tokens: every JWT Tillid accepts, forged as `alg: none`, as HS256 keyed
with Tillid's own public key, or re-signed with the attacker's key; tokens passed off as
another kind; tokens used after revocation and after logout.

Client assertions (private_key_jwt) have their own attacks in tests/oidc/test_private_key_jwt.py,
request objects in tests/oidc/test_code_flow.py, DPoP proofs with the DPoP tests."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import CitizenActions, csrf_token
from tests.oidc.conftest import BANK_REDIRECT, Service, redirect_params, register
from tests.oidc.test_private_key_jwt import register_key_client
from tests.security.conftest import forgeries, own_key_forgeries

ISSUER = "http://localhost:5000"
BYE = "https://bank.example/goodbye"
TAX_REDIRECT = "https://skat.example/callback"


@pytest.fixture
def bank(app, oidc):
    """A service Anna has logged in to: its flow, and the tokens of that login."""
    flow = oidc(register(app, extra=["--post-logout-redirect-uri", BYE]))
    return flow, flow.tokens()


@pytest.fixture
def published(client, bank) -> list[dict]:
    return client.get("/jwks").json["keys"]


def _select(made: dict[str, str], prefix: str) -> dict[str, str]:
    chosen = {name: token for name, token in made.items() if name.startswith(prefix)}
    assert chosen, prefix
    return chosen


def _authorize_with_hint(flow, hint: str) -> dict:
    flow.new_nonce()
    return redirect_params(flow.authorize(prompt="none", id_token_hint=hint))


def _assert_hints_refused_at_authorize(flow, made: dict[str, str]) -> None:
    for name, forged in made.items():
        params = _authorize_with_hint(flow, forged)
        assert params.get("error") == "invalid_request" and "code" not in params, name


def _logout_with_hint(client, hint: str):
    url = "/logout?" + urlencode(
        {"id_token_hint": hint, "post_logout_redirect_uri": BYE, "state": "s"}
    )
    page = client.get(url)
    token = csrf_token(client.get("/logout"))  # the plain confirmation page has a token
    return page, client.post(url, data={"csrf_token": token})


def _assert_hints_refused_at_logout(client, made: dict[str, str]) -> None:
    for name, forged in made.items():
        page, sent = _logout_with_hint(client, forged)
        assert page.status_code == 400, name
        assert sent.status_code == 400 and "Location" not in sent.headers, name
        assert client.get("/me").status_code == 200, f"{name}: logged out"


def test_the_genuine_hint_is_what_the_forgeries_imitate(client, bank):
    """The control: the real ID token as hint gives a code at once, and takes the citizen
    back to the service at logout, so a refused forgery is refused for its signature."""
    flow, tokens = bank
    assert "code" in _authorize_with_hint(flow, tokens["id_token"])
    _, sent = _logout_with_hint(client, tokens["id_token"])
    assert sent.headers["Location"] == f"{BYE}?state=s"


def _unsigned_forgeries(token: str, published: list[dict]) -> dict[str, str]:
    made = forgeries(token, published)
    return {**_select(made, "alg"), **_select(made, "no alg")}


def _hs256_forgeries(token: str, published: list[dict]) -> dict[str, str]:
    return _select(forgeries(token, published), "HS256")


def test_attack_alg_none_id_token_hint_at_authorize(bank, published):
    flow, tokens = bank
    _assert_hints_refused_at_authorize(flow, _unsigned_forgeries(tokens["id_token"], published))


def test_attack_hs256_id_token_hint_signed_with_the_public_key_at_authorize(bank, published):
    flow, tokens = bank
    _assert_hints_refused_at_authorize(flow, _hs256_forgeries(tokens["id_token"], published))


def test_attack_id_token_hint_signed_with_the_attackers_own_key_at_authorize(bank):
    flow, tokens = bank
    _assert_hints_refused_at_authorize(flow, own_key_forgeries(tokens["id_token"]))


def test_attack_alg_none_id_token_hint_at_logout(client, bank, published):
    _, tokens = bank
    _assert_hints_refused_at_logout(client, _unsigned_forgeries(tokens["id_token"], published))


def test_attack_hs256_id_token_hint_signed_with_the_public_key_at_logout(client, bank, published):
    _, tokens = bank
    _assert_hints_refused_at_logout(client, _hs256_forgeries(tokens["id_token"], published))


def test_attack_id_token_hint_signed_with_the_attackers_own_key_at_logout(client, bank):
    _, tokens = bank
    _assert_hints_refused_at_logout(client, own_key_forgeries(tokens["id_token"]))


# --- access tokens: userinfo, introspection, the authorities' API ------------------------------


def _introspect(client, service: Service, token: str) -> dict:
    response = client.post("/introspect", data={"token": token},
                           auth=(service.client_id, service.client_secret))  # fmt: skip
    assert response.status_code == 200, response.json
    return response.json


def _assert_access_tokens_refused(client, service: Service, made: dict[str, str]) -> None:
    for name, forged in made.items():
        answer = client.get("/userinfo", headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401, name
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"], name
        assert _introspect(client, service, forged) == {"active": False}, name


def test_attack_alg_none_access_token(client, bank, published):
    """The forgeries copy a live token, its `jti` included: only the signature is missing."""
    flow, tokens = bank
    made = _unsigned_forgeries(tokens["access_token"], published)
    _assert_access_tokens_refused(client, flow.service, made)
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                      ).status_code == 200  # fmt: skip


def test_attack_hs256_access_token_signed_with_the_public_key(client, bank, published):
    flow, tokens = bank
    made = _hs256_forgeries(tokens["access_token"], published)
    _assert_access_tokens_refused(client, flow.service, made)


def test_attack_access_token_signed_with_the_attackers_own_key(client, bank):
    flow, tokens = bank
    _assert_access_tokens_refused(client, flow.service, own_key_forgeries(tokens["access_token"]))


def test_attack_id_token_presented_as_an_access_token(client, bank):
    """Same keys, same issuer: the ID token must still not open userinfo (RFC 9068 `typ`)."""
    flow, tokens = bank
    _assert_access_tokens_refused(client, flow.service, {"id token": tokens["id_token"]})


def test_attack_access_token_with_a_widened_scope_or_another_subject(client, bank, published):
    """A token edited to carry more (scope, another `sub`, a later `exp`) is a forgery too."""
    flow, tokens = bank
    for change in ({"scope": "openid profile cpr me"}, {"sub": "someone-else"},
                   {"exp": 4102444800}):  # fmt: skip
        made = forgeries(tokens["access_token"], published, **change)
        _assert_access_tokens_refused(client, flow.service, _select(made, "alg none"))


def _authority(app) -> Service:
    spec = {
        "name": "Skattestyrelsen", "kind": "public_authority", "redirect_uris": [TAX_REDIRECT],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": "openid profile attributes:read ledger:report", "legal_basis": "public_task",
        "purpose": "To assess your tax",
    }  # fmt: skip
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", "-"],
                                          input=json.dumps(spec))  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return Service(created["client_id"], created["client_secret"], TAX_REDIRECT, spec["scope"])


def test_attack_forged_service_token_at_the_authorities_api(app, client, oidc):
    tax = _authority(app)
    flow = oidc(tax)
    sub = flow.id_token(flow.tokens())["sub"]
    real = client.post("/token", data={"grant_type": "client_credentials",
                                       "scope": "attributes:read ledger:report"},
                       auth=(tax.client_id, tax.client_secret)).json["access_token"]  # fmt: skip
    path = f"/api/citizens/{sub}/attributes?claims=given_name"
    assert client.get(path, headers={"Authorization": f"Bearer {real}"}).status_code == 200
    published = client.get("/jwks").json["keys"]
    made = {**forgeries(real, published), **own_key_forgeries(real)}
    for name, forged in made.items():
        headers = {"Authorization": f"Bearer {forged}"}
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401 and answer.mimetype == "application/problem+json", name
        report = client.post("/api/ledger/reports", headers=headers, json={
            "sub": sub, "attributes": ["name"], "purpose": "x", "legal_basis": "public_task",
            "looked_up_at": "2026-01-01T00:00:00Z"})  # fmt: skip
        assert report.status_code == 401, name


# --- tokens after revocation and after logout --------------------------------------------------


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.cluster
def test_attack_access_token_after_logout(client, citizens, bank):
    """The citizen logs out of Tillid: what the services got at that login stops working."""
    flow, tokens = bank
    assert client.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
    assert citizens.logout().status_code == 302
    assert client.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
    assert _introspect(client, flow.service, tokens["access_token"]) == {"active": False}


@pytest.mark.cluster
def test_attack_access_token_after_rp_initiated_logout(client, bank):
    flow, tokens = bank
    _, sent = _logout_with_hint(client, tokens["id_token"])
    assert sent.headers["Location"] == f"{BYE}?state=s"
    assert client.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
    assert _introspect(client, flow.service, tokens["access_token"]) == {"active": False}


@pytest.mark.cluster
def test_attack_access_token_after_log_out_everywhere(app, client, citizens, bank):
    flow, tokens = bank
    page = client.get("/me/sessions")
    assert client.post("/me/sessions/end-all",
                       data={"csrf_token": csrf_token(page)}).status_code == 302  # fmt: skip
    assert client.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
    assert _introspect(client, flow.service, tokens["access_token"]) == {"active": False}


def test_attack_access_token_of_another_session_survives_a_logout_elsewhere(app, client, bank):
    """The other side of the rule: logging out on one device ends that login's tokens only."""
    _, tokens = bank
    laptop = CitizenActions(app, app.test_client())
    assert laptop.login().status_code == 302
    assert laptop.logout().status_code == 302
    assert client.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200


# --- client assertions at every endpoint that takes them -----------------------------------------

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def signing_client(app, tmp_path):
    """A service that authenticates with private_key_jwt: its id, key and public JWK."""
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": "bank-1", "use": "sig", "alg": "ES256"}
    return register_key_client(app, tmp_path, public), key, public


def _assertion(client_id: str, key) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(12)}  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": "bank-1"}, claims, key)


def test_attack_forged_client_assertion_at_every_endpoint_that_takes_one(client, signing_client):
    """The token endpoint's own attacks are tests/oidc/test_private_key_jwt.py; the same
    forgeries at introspection, revocation, CIBA and PAR."""
    client_id, key, public = signing_client
    pkce_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    bodies = {
        "/introspect": {"token": "x"},
        "/revoke": {"token": "x"},
        "/bc-authorize": {"login_hint": "x", "scope": "openid"},
        "/par": {"response_type": "code", "client_id": client_id, "redirect_uri": BANK_REDIRECT,
                 "scope": "openid", "code_challenge": pkce_challenge,
                 "code_challenge_method": "S256"},
        "/token": {"grant_type": "client_credentials"},
    }  # fmt: skip
    for path, body in bodies.items():
        real = _assertion(client_id, key)
        made = {**forgeries(real, [public]), **own_key_forgeries(real)}
        for name, forged in made.items():
            data = {**body, "client_assertion_type": ASSERTION_TYPE, "client_assertion": forged}
            refused = client.post(path, data=data)
            assert refused.status_code in (400, 401), (path, name, refused.status_code)
            assert refused.json["error"] == "invalid_client", (path, name, refused.json)
        # The control: the genuine assertion gets past client authentication.
        data = {**body, "client_assertion_type": ASSERTION_TYPE, "client_assertion": real}
        answer = client.post(path, data=data)
        assert (answer.json or {}).get("error") != "invalid_client", (path, answer.json)


# --- the access tokens of a refresh-token family -------------------------------------------------

OFFLINE = "openid profile offline_access"
REFRESHABLE = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]


def _refresh(client, service: Service, refresh_token: str):
    return client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": refresh_token},
                       auth=(service.client_id, service.client_secret))  # fmt: skip


def _assert_dead(client, service: Service, access_tokens: list[str]) -> None:
    for token in access_tokens:
        assert client.get("/userinfo", headers=_bearer(token)).status_code == 401
        assert _introspect(client, service, token) == {"active": False}


@pytest.fixture
def offline(app, oidc):
    service = register(app, name="Andenbank", redirect_uri="https://other.example/cb",
                       scope=OFFLINE, extra=REFRESHABLE)  # fmt: skip
    return service, oidc(service).tokens()


def test_attack_refresh_token_reuse_ends_the_familys_access_tokens(client, offline):
    """A rotated refresh token comes back (a thief, or the client, holds a copy): its family
    is revoked (tests/oidc/test_refresh_tokens.py), and so are the access tokens it bought."""
    service, first = offline
    second = _refresh(client, service, first["refresh_token"]).json
    assert client.get("/userinfo", headers=_bearer(second["access_token"])).status_code == 200
    reuse = _refresh(client, service, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json["error"] == "invalid_grant"
    _assert_dead(client, service, [first["access_token"], second["access_token"]])


def test_attack_access_token_after_its_refresh_token_is_revoked(client, offline):
    """RFC 7009 2.1: revoking a refresh token ends the access tokens of the same grant."""
    service, first = offline
    second = _refresh(client, service, first["refresh_token"]).json
    revoked = client.post("/revoke", data={"token": second["refresh_token"]},
                          auth=(service.client_id, service.client_secret))  # fmt: skip
    assert revoked.status_code == 200
    _assert_dead(client, service, [first["access_token"], second["access_token"]])
