"""Tokens carry only scopes the registration allows (idp/oidc/scopes.py): registered ∩
requested ∩ what the grant allows, for every grant and for PAR, through HTTP. A scope
outside the registration is `invalid_scope`: a redirect from /authorize, JSON elsewhere."""

from __future__ import annotations

import json
import re

import pytest

from clients.models import Client
from idp.core.extensions import db
from tests.conftest import csrf_token
from tests.oidc.conftest import Service, redirect_params, register
from tests.security.conftest import SoftAuthenticator, pair_phone, post_json

CIBA = "urn:openid:params:grant-type:ciba"
TAX_REDIRECT = "https://skat.example/callback"
REFRESHABLE = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]


def _authority(app, *, scope: str, grant_types=("client_credentials",), name="Biblioteket"):
    """A public authority on a basis in law (so it may have the CPR number)."""
    spec = {"name": name, "kind": "public_authority", "scope": scope,
            "grant_types": list(grant_types), "legal_basis": "public_task",
            "purpose": "To lend you books"}  # fmt: skip
    if "authorization_code" in grant_types:
        spec["redirect_uris"] = [TAX_REDIRECT]
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "--from-file", "-"], input=json.dumps(spec)
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return Service(created["client_id"], created["client_secret"], TAX_REDIRECT, scope)


def _auth(service: Service) -> tuple[str, str]:
    return service.client_id, service.client_secret


def _take_away(app, service: Service, *scopes: str) -> None:
    """An operator narrows a registration after tokens were issued (in the database: the
    command line has no edit command)."""
    with app.app_context():
        registered = db.session.get(Client, service.client_id)
        registered.scopes = [name for name in registered.scopes if name not in scopes]
        db.session.commit()


def _client_credentials(client, service: Service, scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return client.post("/token", data=data, auth=_auth(service))


def _bearer(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['access_token']}"}


def _invalid_scope(response) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_scope"


# --- client_credentials -------------------------------------------------------------------------


def test_attack_client_credentials_for_an_api_scope_not_registered(app, client, oidc):
    """An authority registered to read attributes asks for `ledger:report` as well: it gets
    no token at all, so it cannot write to citizens' access logs."""
    reader = _authority(app, scope="attributes:read")
    _invalid_scope(_client_credentials(client, reader, "ledger:report"))
    _invalid_scope(_client_credentials(client, reader, "attributes:read ledger:report"))
    _invalid_scope(_client_credentials(client, reader, "admin"))  # not a scope at all
    granted = _client_credentials(client, reader, "attributes:read")
    assert granted.status_code == 200 and granted.json["scope"] == "attributes:read"
    report = client.post("/api/ledger/reports", headers=_bearer(granted.json), json={})
    assert report.status_code == 403 and report.json["error"] == "insufficient_scope"


def test_client_credentials_without_a_scope_gets_the_registered_api_scopes(app, client, oidc):
    authority = _authority(app, scope="openid profile attributes:read ledger:report",
                           grant_types=("authorization_code", "client_credentials"))  # fmt: skip
    for asked in (None, "", "  "):
        response = _client_credentials(client, authority, asked)
        assert response.status_code == 200, response.json
        assert response.json["scope"] == "attributes:read ledger:report"
    nothing_registered = _authority(app, scope="", name="Arkivet")
    assert _client_credentials(client, nothing_registered).json["scope"] == ""


def test_client_credentials_refuses_a_registered_citizen_scope(app, client, oidc):
    authority = _authority(app, scope="openid profile attributes:read",
                           grant_types=("authorization_code", "client_credentials"))  # fmt: skip
    _invalid_scope(_client_credentials(client, authority, "openid attributes:read"))
    _invalid_scope(_client_credentials(client, authority, "profile"))


def test_attack_api_token_after_the_registration_lost_its_scope(app, client, oidc):
    """A service token issued before the operator took `ledger:report` away no longer
    writes to the ledger; the scope the registration kept still works."""
    authority = _authority(app, scope="attributes:read ledger:report")
    token = _client_credentials(client, authority).json
    _take_away(app, authority, "ledger:report")
    report = client.post("/api/ledger/reports", headers=_bearer(token), json={})
    assert report.status_code == 403 and report.json["error"] == "insufficient_scope"
    lookup = client.get("/api/citizens/nobody/attributes?claims=name", headers=_bearer(token))
    assert lookup.json["not_allowed"] == ["name"]  # past the scope check, at the policy
    _invalid_scope(_client_credentials(client, authority, "ledger:report"))
    assert _client_credentials(client, authority).json["scope"] == "attributes:read"


MADE_UP = ['openid "quoted', "openid back\\slash", "openid " + "x" * 3000]


@pytest.mark.parametrize("scope", MADE_UP, ids=["quote", "backslash", "long"])
def test_a_made_up_scope_is_invalid_scope_and_never_echoed(app, client, oidc, scope):
    """An error description may hold no `"` or `\\` (RFC 6749 5.2): a made-up name is
    counted, never repeated, so it cannot turn the refusal into a 500."""
    bank = register(app)
    flow = oidc(bank)
    at_authorize = redirect_params(flow.authorize(scope=scope))
    assert at_authorize["error"] == "invalid_scope" and at_authorize["state"] == flow.state
    assert at_authorize["error_description"] == "Not registered for this client: (1 unknown)."
    pushed = app.test_client().post("/par", data=flow.params(scope=scope), auth=_auth(bank))
    _invalid_scope(pushed)
    service = _client_credentials(client, _authority(app, scope="attributes:read"), scope)
    _invalid_scope(service)
    described = service.json["error_description"]
    assert described == "Not registered for this client: openid (1 unknown)."


# --- authorization code -------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["openid profile email", "openid admin", "openid offline_access"])
def test_attack_authorization_request_for_a_scope_not_registered(app, client, oidc, scope):
    """The bank is registered for `openid profile age`: asking for more is answered at its
    registered redirect URI with invalid_scope, state and iss (never dropped in silence)."""
    flow = oidc(register(app))
    params = redirect_params(flow.authorize(scope=scope))
    assert params["error"] == "invalid_scope" and "code" not in params
    assert params["state"] == flow.state and params["iss"] == "http://localhost:5000"
    location = flow.authorize(scope=scope).headers["Location"]
    assert location.startswith(flow.service.redirect_uri + "?")


def test_an_authority_login_leaves_its_api_scopes_out(app, client, oidc):
    authority = _authority(app, scope="openid profile attributes:read",
                           grant_types=("authorization_code", "client_credentials"))  # fmt: skip
    tokens = oidc(authority).tokens()
    assert tokens["scope"] == "openid profile"
    sub = oidc(authority).id_token(tokens)["sub"]
    as_citizen = client.get(f"/api/citizens/{sub}/attributes?claims=name", headers=_bearer(tokens))
    assert as_citizen.status_code == 403


def test_a_code_redeemed_after_the_registration_lost_a_scope_leaves_it_out(app, client, oidc):
    bank = register(app)
    flow = oidc(bank)
    code = flow.code()
    _take_away(app, bank, "profile")
    tokens = flow.exchange(code).json
    assert tokens["scope"] == "openid age"
    assert "name" not in client.get("/userinfo", headers=_bearer(tokens)).json


def test_userinfo_after_the_registration_lost_a_scope_leaves_its_claims_out(app, client, oidc):
    bank = register(app)
    tokens = oidc(bank).tokens()
    assert client.get("/userinfo", headers=_bearer(tokens)).json["name"] == "Anna Jensen"
    _take_away(app, bank, "profile")
    assert "name" not in client.get("/userinfo", headers=_bearer(tokens)).json
    _take_away(app, bank, "openid")
    refused = client.get("/userinfo", headers=_bearer(tokens))
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"


# --- refresh ------------------------------------------------------------------------------------


@pytest.fixture
def offline(app, oidc):
    """A bank registered for `openid profile age email offline_access`, and a login that
    was granted only `openid profile offline_access`."""
    bank = register(app, scope="openid profile age email offline_access", extra=REFRESHABLE)
    flow = oidc(bank)
    flow.service = Service(bank.client_id, bank.client_secret, bank.redirect_uri,
                           "openid profile offline_access")  # fmt: skip
    return flow


def _refresh(flow, refresh_token, scope=None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope is not None:
        data["scope"] = scope
    return flow.client.post("/token", data=data, auth=_auth(flow.service))


@pytest.mark.parametrize("scope", ["openid profile email", "openid age", "openid admin"])
def test_attack_refresh_for_more_than_the_original_grant(offline, scope):
    """`email` and `age` are registered but were not granted at this login (RFC 6749 6);
    `admin` is not registered. The refusal does not spend the refresh token."""
    refresh_token = offline.tokens()["refresh_token"]
    _invalid_scope(_refresh(offline, refresh_token, scope))
    renewed = _refresh(offline, refresh_token)
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["scope"] == "openid profile offline_access"


def test_a_refresh_after_the_registration_lost_a_scope_leaves_it_out(app, offline):
    refresh_token = offline.tokens()["refresh_token"]
    _take_away(app, offline.service, "profile")
    _invalid_scope(_refresh(offline, refresh_token, "openid profile"))
    renewed = _refresh(offline, refresh_token)
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["scope"] == "openid offline_access"


# --- CIBA ---------------------------------------------------------------------------------------


@pytest.fixture
def ciba(app, client, oidc):
    """An authority registered for CIBA (and its own API), Anna's CPR number, and her paired
    phone: ``ask(scope)`` starts a request, ``approve()`` answers it on the phone."""
    authority = _authority(app, name="Udbetaling Danmark",
                           scope="openid profile cpr attributes:read",
                           grant_types=(CIBA, "client_credentials"))  # fmt: skip
    export = client.get("/me/export.json").json
    cpr = {item["name"]: item["value"] for item in export["data"]["attributes"]}["cpr"]
    phone_key = SoftAuthenticator()
    phone = pair_phone(app, client, phone_key)

    def ask(scope: str):
        data = {"scope": scope, "login_hint": cpr, "binding_message": "Sag 4711"}
        return client.post("/bc-authorize", data=data, auth=_auth(authority))

    def approve(auth_req_id: str) -> None:
        token = re.search(r'data-csrf-token="([^"]+)"', phone.get("/app").text).group(1)
        path = f"/app/api/requests/{auth_req_id}"
        options = post_json(phone, f"{path}/options", {}, token)
        assert options.status_code == 200, options.json
        credential = phone_key.assertion(options.json["challenge"])
        approved = post_json(phone, f"{path}/approve", {"credential": credential}, token)
        assert approved.status_code == 200, approved.json

    def poll(auth_req_id: str):
        data = {"grant_type": CIBA, "auth_req_id": auth_req_id}
        return client.post("/token", data=data, auth=_auth(authority))

    return authority, ask, approve, poll


@pytest.mark.parametrize("scope", ["openid profile email", "openid admin"])
def test_attack_ciba_request_for_a_scope_not_registered(ciba, scope):
    _, ask, _, _ = ciba
    _invalid_scope(ask(scope))


def test_a_ciba_token_carries_the_registered_citizen_scopes_asked_for(ciba):
    _, ask, approve, poll = ciba
    started = ask("openid profile attributes:read")
    assert started.status_code == 200, started.json
    approve(started.json["auth_req_id"])
    token = poll(started.json["auth_req_id"])
    assert token.status_code == 200, token.json
    assert token.json["scope"] == "openid profile"


def test_a_ciba_token_after_the_registration_lost_a_scope_leaves_it_out(app, ciba):
    authority, ask, approve, poll = ciba
    started = ask("openid profile cpr")
    approve(started.json["auth_req_id"])
    _take_away(app, authority, "cpr")
    token = poll(started.json["auth_req_id"])
    assert token.status_code == 200, token.json
    assert token.json["scope"] == "openid profile"


# --- PAR ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["openid profile email", "openid admin"])
def test_attack_pushed_request_for_a_scope_not_registered(app, oidc, scope):
    """Refused when pushed, as JSON to the client (RFC 9126 2.3): no request_uri to use."""
    bank = register(app)
    flow = oidc(bank)
    pushed = app.test_client().post("/par", data=flow.params(scope=scope), auth=_auth(bank))
    _invalid_scope(pushed)
    assert "request_uri" not in pushed.json and "Location" not in pushed.headers


def test_a_pushed_authority_login_leaves_its_api_scopes_out(app, client, oidc):
    authority = _authority(app, scope="openid profile attributes:read",
                           grant_types=("authorization_code", "client_credentials"))  # fmt: skip
    flow = oidc(authority)
    pushed = app.test_client().post("/par", data=flow.params(), auth=_auth(authority))
    assert pushed.status_code == 201, pushed.json
    query = {"client_id": authority.client_id, "request_uri": pushed.json["request_uri"]}
    response = client.get("/authorize", query_string=query)
    if response.status_code == 200:  # the notice of what it receives, shown once
        allow = {"csrf_token": csrf_token(response), "decision": "allow"}
        response = client.post("/authorize", query_string=query, data=allow)
    tokens = flow.exchange(redirect_params(response)["code"]).json
    assert tokens["scope"] == "openid profile"
