"""The resource-server guard (idp/oidc/guard.py): what every endpoint that takes an access
token checks the same way. Each endpoint's own refusals are tested beside it (tests/oidc,
tests/consent/test_authority_api.py, tests/oidc/test_fapi.py, tests/oidc/test_rate_limits.py)."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt

from clients.models import Client, ClientKind
from idp.core.extensions import db
from idp.keys import service as keys
from tests.conftest import sql
from tests.consent.test_authority_api import _authority, _service_token
from tests.oidc.conftest import register

INVALID = (
    'Bearer error="invalid_token", error_description="The access token is invalid or expired."'
)


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _part(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _resigned(app, token: str, **changed) -> str:
    """``token`` with some claims changed and signed again with Tillid's own key (what only
    a holder of that key could make); the store still holds it, under its `jti`."""
    header_part, payload_part, _ = token.split(".")
    header = _part(header_part)
    with app.app_context():
        kid, key = keys.signing_key(header["alg"])
        return jwt.encode({**header, "kid": kid}, {**_part(payload_part), **changed}, key,
                          [header["alg"]])  # fmt: skip


@pytest.fixture
def guarded(app, client, oidc):
    """One endpoint of each kind the guard stands before, each with a token that opens it."""
    skat = _authority(app)
    flow = oidc(skat)
    tokens = flow.tokens()
    citizen_token, sub = tokens["access_token"], flow.id_token(tokens)["sub"]
    service_token = _service_token(app, skat, "attributes:read ledger:report")[
        "Authorization"
    ].split()[1]
    reader = register(app, name="Mit Overblik", scope="openid me")
    app_token = oidc(reader).tokens()["access_token"]
    return {
        "/userinfo": citizen_token,
        f"/api/citizens/{sub}/attributes?claims=given_name": service_token,
        "/api/me": app_token,
    }


def test_every_guarded_endpoint_refuses_a_bad_token_with_the_same_challenge(app, guarded):
    for path in guarded:
        refused = app.test_client().get(path, headers=_bearer("not-a-token"))
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"] == INVALID, path
        assert refused.json["error"] == "invalid_token", path
        expected = "application/json" if path == "/userinfo" else "application/problem+json"
        assert refused.mimetype == expected, path


def test_a_token_whose_signed_audience_is_not_its_client_opens_nothing(app, guarded):
    """Tillid's access tokens name their client as `aud`; the store holds each for that
    client. A token whose signed audience names another client is refused everywhere."""
    other = register(app, name="Anden tjeneste", redirect_uri="https://other.example/cb")
    before = sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"]
    for path, token in guarded.items():
        assert app.test_client().get(path, headers=_bearer(token)).status_code == 200, path
        elsewhere = _resigned(app, token, aud=other.client_id)
        refused = app.test_client().get(path, headers=_bearer(elsewhere))
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"] == INVALID, path
        assert app.test_client().get(path, headers=_bearer(token)).status_code == 200, path
    # Only the good calls were ledgered (`/api/me` releases nothing): both of the attribute
    # API's, and userinfo's first (its second is a repeat under the same token: no entry).
    assert sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"] == before + 3


def test_a_service_that_is_no_longer_a_public_authority_loses_the_authority_apis(app, guarded):
    """Registration refuses the API scopes to a private service; should one still hold
    them (a registry changed behind the validation's back), its token opens nothing there."""
    path, token = next((p, t) for p, t in guarded.items() if p.startswith("/api/citizens"))
    with app.app_context():
        client_id = jwt.decode(token, keys.verifying_keys).claims["client_id"]
        db.session.get(Client, client_id).kind = ClientKind.PRIVATE_SERVICE
        db.session.commit()
    before = sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"]
    for refused in (
        app.test_client().get(path, headers=_bearer(token)),
        app.test_client().post("/api/ledger/reports", headers=_bearer(token), json={}),
    ):
        assert refused.status_code == 403
        assert refused.mimetype == "application/problem+json"
        assert refused.json["detail"] == "Only public authorities use this API."
        # Not the token's fault in OAuth's terms: no challenge to get another one.
        assert "WWW-Authenticate" not in refused.headers and "error" not in refused.json
    assert sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"] == before
