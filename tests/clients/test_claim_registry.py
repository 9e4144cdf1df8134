"""The claim registry (clients/claims.py): every claim is complete, and every reader lists
exactly its claims: the release, my data, the OpenAPI document, discovery and the client
registry's validation. A new claim is one entry there; these tests walk it."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale

from clients.claims import (
    ACCOUNT_ACCESS,
    API_SCOPES,
    CLAIMS,
    CPR_CLAIM,
    CREDENTIAL_SCOPES,
    ME,
    SCOPE_CLAIMS,
    SOURCES,
    label,
)
from demo.citizens import DEMO_CPR
from idp.citizens.models import Citizen
from idp.citizens.service import find_by_cpr

# What services can receive: every claim with a scope (the others only a wallet credential
# carries, idp/wallet/pid.py).
RELEASABLE = {name: claim for name, claim in CLAIMS.items() if claim.scope is not None}
WALLET_ONLY = set(CLAIMS) - set(RELEASABLE)
EVERY_CLAIM_SCOPE = " ".join(dict.fromkeys(claim.scope for claim in RELEASABLE.values()))


def _labels(app, text) -> dict[str, str]:
    """``text`` (a lazy label) in Danish, from the catalogue, and in English."""
    said = {}
    with app.test_request_context():
        for language in ("da", "en"):
            with force_locale(language):
                said[language] = str(text)
    return said


@pytest.fixture
def demo_citizen(app, runner):
    for args in (["keys", "ensure"], ["demo", "load", "--citizens", "0"]):
        assert runner.invoke(args=args).exit_code == 0
    with app.app_context():
        yield find_by_cpr(DEMO_CPR)


def test_every_claim_has_a_scope_a_value_labels_a_source_and_a_noun(app, demo_citizen):
    assert CLAIMS, "an empty registry proves nothing"
    for name, claim in CLAIMS.items():
        assert claim.name == name
        assert claim.scope is None or name in SCOPE_CLAIMS[claim.scope], name
        value = claim.read(demo_citizen)
        assert value is not None and value != "", name
        json.dumps(value)  # a value goes into tokens and JSON answers as it is
        said = _labels(app, claim.label)
        assert said["da"] and said["en"] and said["da"] != said["en"], (name, said)
        assert name not in said.values(), name
        assert claim.source in SOURCES, name
        assert claim.noun.strip(), name
        assert claim.fields and all(hasattr(Citizen, field) for field in claim.fields), name


def test_the_account_access_is_brought_by_scope_me_and_labelled_in_both_languages(app):
    assert SCOPE_CLAIMS[ME] == (ACCOUNT_ACCESS,)
    said = _labels(app, label(ACCOUNT_ACCESS))
    assert said["da"] != said["en"] and ACCOUNT_ACCESS not in said.values()
    assert label("no_such_claim") is None


def test_only_the_cpr_number_is_for_public_authorities_only():
    restricted = {name for name, claim in CLAIMS.items() if claim.public_authorities_only}
    assert restricted == {CPR_CLAIM}


def _every_claim_authority(runner) -> tuple[str, str]:
    created = runner.invoke(args=[
        "clients", "create", "--name", "Alle oplysninger", "--kind", "public_authority",
        "--grant-type", "client_credentials",
        "--scope", f"{EVERY_CLAIM_SCOPE} attributes:read",
        "--legal-basis", "public_task", "--purpose", "To test the registry",
    ])  # fmt: skip
    assert created.exit_code == 0, created.output
    registered = json.loads(created.stdout)
    return registered["client_id"], registered["client_secret"]


def test_a_release_of_every_scope_gives_exactly_the_registrys_claims(app, runner, demo_citizen):
    client_id, secret = _every_claim_authority(runner)
    http = app.test_client()
    token = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "attributes:read"},
        auth=(client_id, secret),
    )
    assert token.status_code == 200, token.json
    answer = http.post(
        "/api/citizens/by-cpr/attributes",
        json={"cpr": DEMO_CPR, "claims": sorted(RELEASABLE)},
        headers={"Authorization": f"Bearer {token.json['access_token']}"},
    )
    assert answer.status_code == 200, answer.json
    released = answer.json["attributes"]
    assert set(released) == set(RELEASABLE)
    for name, claim in RELEASABLE.items():
        assert released[name] == claim.read(demo_citizen), name


def test_my_data_shows_every_field_a_claim_is_read_from_with_the_claims_source(client, citizens):
    citizens.create(email="anna@example.org", phone="+45 12345678", address_json=json.dumps(
        {"street": "Vesterbrogade 1", "postcode": "1620", "city": "København V"}),
        birth_country="DK", birth_region="Region Hovedstaden", birth_locality="København",
        nationality="DK")  # fmt: skip
    assert citizens.login().status_code == 302
    held = {item["name"]: item for item in client.get("/api/me").json["attributes"]}
    for name, claim in CLAIMS.items():
        for field in claim.fields:
            assert field in held, (name, field)
            assert held[field]["value"], (name, field)
            assert held[field]["source"] == str(claim.source), (name, field)
    # Where a field holds a claim's value as it is, my data names it as the consent page does.
    assert held["given_name"]["label"] == "Your first name"
    assert held["cpr"]["label"] == "Your CPR number"
    page = client.get("/me", headers={"Accept-Language": "en"}).text
    assert "Your first name" in page and "Your phone number" in page


def test_the_openapi_document_names_exactly_the_registrys_claims_and_api_scopes(client):
    spec = client.get("/api/openapi.json").json
    assert spec["components"]["schemas"]["AttributeName"]["enum"] == sorted(RELEASABLE)
    flows = spec["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == set(API_SCOPES)
    assert set(flows["authorizationCode"]["scopes"]) == {ME}
    asked = {
        scope
        for operations in spec["paths"].values()
        for operation in operations.values()
        for requirement in operation.get("security", [])
        for scope in requirement.get("oauth2", [])
    }
    assert asked == {*API_SCOPES, ME}


def test_discovery_offers_the_registrys_scopes_and_claims(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["scopes_supported"] == [*SCOPE_CLAIMS, *CREDENTIAL_SCOPES]
    assert set(RELEASABLE) <= set(metadata["claims_supported"])
    assert ACCOUNT_ACCESS not in metadata["claims_supported"]


def test_the_wallet_only_attributes_are_offered_to_no_service(client):
    """The PID's place of birth and nationalities have labels (the access log names them
    when a PID is issued) but no scope: discovery, the claims parameter and the attribute
    API never offer them."""
    assert {"place_of_birth", "nationalities"} == WALLET_ONLY
    metadata = client.get("/.well-known/openid-configuration").json
    assert not WALLET_ONLY & set(metadata["claims_supported"])
    assert not any(WALLET_ONLY & set(claims) for claims in SCOPE_CLAIMS.values())


@pytest.mark.parametrize(
    "claim", [claim for claim in CLAIMS.values() if claim.public_authorities_only]
)
def test_attack_a_private_service_asking_for_a_claim_for_authorities_only_is_refused(runner, claim):
    refused = runner.invoke(args=[
        "clients", "create", "--name", "Nordbank", "--kind", "private_service",
        "--redirect-uri", "https://bank.example/cb", "--scope", f"openid {claim.scope}",
        "--legal-basis", "contract", "--purpose", "To know you",
    ])  # fmt: skip
    assert refused.exit_code != 0
    assert f"a private service may not receive {claim.noun}" in refused.output
