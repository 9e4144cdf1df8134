"""OpenID4VCI 1.0 issuance through HTTP: the wallet's authorization code flow (PAR, PKCE, DPoP,
authorization_details, a login at High), the nonce and credential endpoints, batch issuance,
the ledger entry; and every refusal. The third-party wallet's run is
tests/interop/test_openid4vci_wallet.py."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import unquote

import cbor2
import pytest
from pymdoccbor.mdoc.verifier import MdocCbor

from clients.service import PRE_AUTHORIZED_GRANT
from idp.wallet.configurations import PID_MDOC, PID_SD_JWT
from tests.conftest import csrf_token, login
from tests.wallet.helpers import payload
from tests.wallet.issuance import (
    PASSWORD,
    Wallet,
    citizen_at_high,
    key_proof,
    new_key,
    register_wallet,
)
from tests.wallet.test_mdoc import b64, decoded, device_response


@pytest.fixture
def wallet(app, runner, citizens) -> Wallet:
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    browser, _passkey = citizen_at_high(app, citizens)
    return Wallet(app, browser, register_wallet(runner))


def _issue(wallet: Wallet, keys, token: str | None = None):
    token = token or wallet.access_token()["access_token"]
    nonce = wallet.c_nonce()
    body = {"credential_configuration_id": PID_SD_JWT,
            "proofs": {"jwt": [key_proof(key, nonce) for key in keys]}}  # fmt: skip
    return wallet.credential_request(token, body)


def test_metadata_names_the_endpoints_and_the_pid_with_danish_and_english_names(client):
    metadata = client.get("/.well-known/openid-credential-issuer").json
    assert metadata["credential_issuer"] == "http://localhost:5000"
    assert metadata["credential_endpoint"] == "http://localhost:5000/wallet/credential"
    assert metadata["nonce_endpoint"] == "http://localhost:5000/wallet/nonce"
    pid = metadata["credential_configurations_supported"][PID_SD_JWT]
    assert pid["format"] == "dc+sd-jwt" and pid["vct"] == "urn:eudi:pid:1"
    assert pid["scope"] == PID_SD_JWT
    assert pid["cryptographic_binding_methods_supported"] == ["jwk"]
    assert pid["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"] == ["ES256"]
    claims = {tuple(c["path"]): c for c in pid["credential_metadata"]["claims"]}
    names = {d["locale"]: d["name"] for d in claims[("family_name",)]["display"]}
    assert names == {"da": "Efternavn", "en": "Last name"}
    assert claims[("nationalities",)]["mandatory"] is True
    assert ("personal_administrative_number",) not in claims
    server = client.get("/.well-known/oauth-authorization-server").json
    assert server["authorization_details_types_supported"] == ["openid_credential"]
    assert server["pre-authorized_grant_anonymous_access_supported"] is False
    assert PID_SD_JWT in server["scopes_supported"]


def test_the_code_flow_issues_a_batch_of_pids_each_bound_to_its_own_key(app, wallet):
    tokens = wallet.access_token()
    assert tokens["token_type"] == "DPoP"
    assert tokens["authorization_details"] == [{
        "type": "openid_credential", "credential_configuration_id": PID_SD_JWT,
        "credential_identifiers": [PID_SD_JWT],
    }]  # fmt: skip
    assert "id_token" not in tokens and "refresh_token" not in tokens
    keys = [new_key(), new_key(), new_key()]
    issued = _issue(wallet, keys, tokens["access_token"])
    assert issued.status_code == 200, issued.json
    assert issued.headers["Cache-Control"] == "no-store"
    credentials = [c["credential"] for c in issued.json["credentials"]]
    assert len(credentials) == 3
    bodies = [payload(c) for c in credentials]
    assert [b["cnf"]["jwk"]["x"] for b in bodies] == [k.as_dict()["x"] for k in keys]
    statuses = {(b["status"]["status_list"]["uri"], b["status"]["status_list"]["idx"])
                for b in bodies}  # fmt: skip
    assert len(statuses) == 3, "each credential its own status index"
    # Asked by identifier, as the token response named it.
    again = wallet.credential_request(tokens["access_token"], {
        "credential_identifier": PID_SD_JWT,
        "proofs": {"jwt": [key_proof(new_key(), wallet.c_nonce())]},
    })  # fmt: skip
    assert again.status_code == 200, again.json


def test_an_issuance_is_in_the_citizens_access_log(app, wallet):
    assert _issue(wallet, [new_key(), new_key()]).status_code == 200
    log = wallet.browser.get("/api/me/access-log").json
    entries = [e for e in log["entries"] if e["channel"] == "wallet_issuance"]
    assert len(entries) == 1, log
    entry = entries[0]
    assert entry["service"]["name"] == "Testpung" and entry["service"]["kind"] == "wallet"
    assert set(entry["attributes"]) == {
        "given_name",
        "family_name",
        "birthdate",
        "place_of_birth",
        "nationalities",
    }
    assert entry["legal_basis"] == "legal_obligation"


def test_a_login_below_high_gets_no_credential(app, runner, citizens, client):
    """A password and code login (Substantial) by a citizen who cannot reach High (no
    passkey bound at High) goes back to the wallet as unmet_authentication_requirements,
    with no code; one who can is sent to prove High with the passkey first."""
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    citizens.create(birth_country="DK", nationality="DK")
    assert citizens.login().status_code == 302
    wallet = Wallet(app, client, register_wallet(runner))
    response = wallet.authorize()
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "error=unmet_authentication_requirements" in location and "code=" not in location

    _browser, _passkey = citizen_at_high(app, citizens, username="karen")
    fresh = app.test_client()
    assert login(fresh, "karen", PASSWORD).status_code == 302  # the password alone
    stepping = Wallet(app, fresh, wallet.client_id).authorize()
    assert stepping.status_code == 302 and "code=" not in stepping.headers["Location"]
    assert stepping.headers["Location"].startswith("/login"), stepping.headers["Location"]


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ('[{"type": "payment"}]', "invalid_authorization_details"),
        (
            '[{"type": "openid_credential", "credential_configuration_id": "x"}]',
            "invalid_authorization_details",
        ),
        ("not json", "invalid_authorization_details"),
        ("{}", "invalid_authorization_details"),
        (None, "invalid_request"),  # neither details nor a credential scope
    ],
)
def test_bad_authorization_details_are_refused_at_par(wallet, details, error):
    refused = wallet.push(authorization_details=details)
    assert refused.status_code == 400, refused.json
    assert refused.json["error"] == error


def test_a_wallet_is_registered_public_with_par_and_dpop_and_credential_scopes_only(runner):
    shown = runner.invoke(args=["clients", "show", register_wallet(runner)])
    described = json.loads(shown.stdout)
    assert described["token_endpoint_auth_method"] == "none"
    assert described["require_pushed_authorization_requests"] is True
    assert described["dpop_bound_access_tokens"] is True
    refused = runner.invoke(args=[
        "clients", "create", "--kind", "wallet", "--name", "W", "--redirect-uri",
        "https://w.example/cb", "--scope", "openid profile", "--auth-method", "none",
    ])  # fmt: skip
    assert refused.exit_code != 0 and "a wallet asks for credentials only" in refused.output
    service = runner.invoke(args=[
        "clients", "create", "--kind", "private_service", "--name", "S", "--redirect-uri",
        "https://s.example/cb", "--scope", f"openid {PID_SD_JWT}", "--legal-basis", "consent",
        "--purpose", "p",
    ])  # fmt: skip
    assert service.exit_code != 0 and "is for wallets only" in service.output


# --- the credential endpoint's refusals -------------------------------------------------------


def _refused(response, error: str):
    assert response.status_code == 400, (response.status_code, response.json)
    assert response.json["error"] == error, response.json


def test_a_proof_without_a_nonce_or_with_a_stale_one_is_refused(wallet):
    token = wallet.access_token()["access_token"]
    body = {"credential_configuration_id": PID_SD_JWT}
    missing = {**body, "proofs": {"jwt": [key_proof(new_key(), None)]}}
    _refused(wallet.credential_request(token, missing), "invalid_proof")
    made_up = {**body, "proofs": {"jwt": [key_proof(new_key(), "not-a-nonce-we-gave")]}}
    _refused(wallet.credential_request(token, made_up), "invalid_nonce")
    nonce = wallet.c_nonce()
    used = {**body, "proofs": {"jwt": [key_proof(new_key(), nonce)]}}
    assert wallet.credential_request(token, used).status_code == 200
    replayed = {**body, "proofs": {"jwt": [key_proof(new_key(), nonce)]}}
    _refused(wallet.credential_request(token, replayed), "invalid_nonce")


def test_a_proof_signed_by_another_key_than_its_header_names_is_refused(wallet):
    token = wallet.access_token()["access_token"]
    forged = key_proof(new_key(), wallet.c_nonce(), sign_with=new_key())
    body = {"credential_configuration_id": PID_SD_JWT, "proofs": {"jwt": [forged]}}
    _refused(wallet.credential_request(token, body), "invalid_proof")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"aud": "https://another-issuer.example"}, "audience"),
        ({"iat": int(time.time()) - 3600}, "old"),
        ({"iat": int(time.time()) + 3600}, "future"),
        ({"iss": "another-wallet"}, "another wallet"),
        ({"header": {"typ": "JWT"}}, "type"),
        ({"header": {"kid": "k1"}}, "kid"),
    ],
)
def test_a_proof_for_another_issuer_time_wallet_or_type_is_refused(wallet, change, why):
    token = wallet.access_token()["access_token"]
    proof = key_proof(new_key(), wallet.c_nonce(), **change)
    body = {"credential_configuration_id": PID_SD_JWT, "proofs": {"jwt": [proof]}}
    _refused(wallet.credential_request(token, body), "invalid_proof")


def test_one_key_twice_in_a_batch_is_refused(wallet):
    key = new_key()
    _refused(_issue(wallet, [key, key]), "invalid_proof")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "invalid_credential_request"),
        ({"credential_configuration_id": "eu.example.other"}, "unknown_credential_configuration"),
        ({"credential_identifier": "made-up"}, "unknown_credential_identifier"),
        (
            {"credential_configuration_id": PID_SD_JWT, "credential_identifier": PID_SD_JWT},
            "invalid_credential_request",
        ),
        (
            {"credential_configuration_id": PID_SD_JWT, "proofs": {"jwt": []}},
            "invalid_credential_request",
        ),
        (
            {"credential_configuration_id": PID_SD_JWT, "proofs": {"jwt": ["x"] * 11}},
            "invalid_credential_request",
        ),
        (
            {"credential_configuration_id": PID_SD_JWT, "proofs": {"ldp_vp": ["x"]}},
            "invalid_credential_request",
        ),
        (
            {"credential_configuration_id": PID_SD_JWT, "proof": {"proof_type": "jwt"}},
            "invalid_credential_request",
        ),
        ({"credential_configuration_id": PID_SD_JWT, "proofs": {"jwt": [7]}}, "invalid_proof"),
        ([1, 2], "invalid_credential_request"),
    ],
)
def test_bad_credential_requests_get_their_error_and_spend_nothing(app, wallet, body, error):
    token = wallet.access_token()["access_token"]
    _refused(wallet.credential_request(token, body), error)


def test_a_token_without_dpop_or_of_a_service_gets_no_credential(app, wallet, runner):
    token = wallet.access_token()["access_token"]
    bearer = wallet.http.post("/wallet/credential", json={},
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert bearer.status_code == 401
    assert wallet.http.post("/wallet/credential", json={}).status_code == 401


def test_a_citizen_without_a_birth_place_is_refused_and_told_why(app, runner, citizens):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    browser, _ = citizen_at_high(app, citizens, birth_country="", birth_locality="")
    wallet = Wallet(app, browser, register_wallet(runner))
    refused = _issue(wallet, [new_key()])
    _refused(refused, "credential_request_denied")
    assert "place_of_birth" in refused.json["error_description"]


def test_the_mdoc_configuration_issues_a_pid_mdoc_bound_to_the_proofs_key(app, runner, citizens):
    """The same flow for the mdoc (ISO/IEC 18013-5): pymdoccbor's verifier accepts it and its
    MSO holds the proof's key (tests/wallet/test_mdoc.py checks the mdoc itself)."""
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    browser, _ = citizen_at_high(app, citizens)
    client_id = register_wallet(runner, "--scope", f"{PID_SD_JWT} {PID_MDOC}")
    wallet = Wallet(app, browser, client_id)
    details = json.dumps([{"type": "openid_credential", "credential_configuration_id": PID_MDOC}])
    token = wallet.access_token(authorization_details=details)["access_token"]
    key = new_key()
    issued = wallet.credential_request(token, {
        "credential_configuration_id": PID_MDOC,
        "proofs": {"jwt": [key_proof(key, wallet.c_nonce())]},
    })  # fmt: skip
    assert issued.status_code == 200, issued.json
    (credential,) = [c["credential"] for c in issued.json["credentials"]]
    mso = decoded(credential)["mso"]
    assert mso["docType"] == "eu.europa.ec.eudi.pid.1"
    public = key.as_dict(private=False)
    assert b64(mso["deviceKeyInfo"]["deviceKey"][-2]) == public["x"]
    verifier = MdocCbor()
    verifier.loads(cbor2.dumps(device_response(decoded(credential)["issuer_signed"])))
    verifier.verify()
    (document,) = verifier.documents
    assert document.hash_verification["valid"] is True
    # The SD-JWT VC scope alone does not open the mdoc, nor the other way round.
    only_sd_jwt = wallet.credential_request(token, {
        "credential_configuration_id": PID_SD_JWT,
        "proofs": {"jwt": [key_proof(new_key(), wallet.c_nonce())]},
    })  # fmt: skip
    assert only_sd_jwt.status_code == 400, only_sd_jwt.json


# --- the pre-authorized code flow -----------------------------------------------------------


def _offer(browser) -> tuple[str, str]:
    """The citizen, at High, asks the wallet page for an offer: its pre-authorized code and
    the transaction code shown beside it."""
    page = browser.get("/me/wallet/offer")
    shown = browser.post("/me/wallet/offer", data={"csrf_token": csrf_token(page)})
    assert shown.status_code == 200, shown.text[:300]
    link = re.search(r'<a id="offer-link" href="([^"]+)"', shown.text).group(1)
    offer = json.loads(unquote(link.split("credential_offer=", 1)[1]))
    code = offer["grants"][PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
    tx_code = re.search(r'id="tx-code"><span aria-hidden="true">(\d{6})</span>', shown.text)
    return code, tx_code.group(1)


def _redeem(wallet: Wallet, code: str, tx_code: str | None, *, proof=True, **extra):
    data = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code,
            "tx_code": tx_code, "client_id": wallet.client_id, **extra}  # fmt: skip
    data = {k: v for k, v in data.items() if v is not None}
    headers = wallet.dpop("/token") if proof else {}
    return wallet.http.post("/token", data=data, headers=headers)


@pytest.fixture
def offered(app, runner, citizens):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    browser, _ = citizen_at_high(app, citizens)
    client_id = register_wallet(runner, "--grant-type", PRE_AUTHORIZED_GRANT)
    return Wallet(app, browser, client_id), *_offer(browser)


def test_an_offer_from_the_wallet_page_is_redeemed_for_a_pid(app, offered):
    wallet, code, tx_code = offered
    token = _redeem(wallet, code, tx_code)
    assert token.status_code == 200, token.json
    assert token.json["token_type"] == "DPoP"
    assert token.json["authorization_details"][0]["credential_identifiers"] == [PID_SD_JWT]
    issued = wallet.credential_request(token.json["access_token"], {
        "credential_identifier": PID_SD_JWT,
        "proofs": {"jwt": [key_proof(new_key(), wallet.c_nonce())]},
    })  # fmt: skip
    assert issued.status_code == 200, issued.json
    log = wallet.browser.get("/api/me/access-log").json["entries"]
    assert [e["channel"] for e in log] == ["wallet_issuance"]


def test_a_replayed_pre_authorized_code_is_refused(offered):
    wallet, code, tx_code = offered
    assert _redeem(wallet, code, tx_code).status_code == 200
    replayed = _redeem(wallet, code, tx_code)
    assert replayed.status_code == 400 and replayed.json["error"] == "invalid_grant"


def test_a_wrong_transaction_code_is_refused_and_three_end_the_offer(offered):
    wallet, code, tx_code = offered
    wrong = f"{(int(tx_code) + 1) % 1_000_000:06d}"
    for _ in range(3):
        refused = _redeem(wallet, code, wrong)
        assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"
    late = _redeem(wallet, code, tx_code)
    assert late.status_code == 400 and late.json["error"] == "invalid_grant", late.json


def test_a_missing_transaction_code_or_dpop_proof_spends_nothing(offered):
    wallet, code, tx_code = offered
    missing = _redeem(wallet, code, None)
    assert missing.status_code == 400 and missing.json["error"] == "invalid_request"
    unproven = _redeem(wallet, code, tx_code, proof=False)
    assert unproven.status_code == 400, unproven.json
    assert _redeem(wallet, code, tx_code).status_code == 200


def test_an_anonymous_or_non_wallet_token_request_is_refused(app, runner, offered):
    wallet, code, tx_code = offered
    anonymous = wallet.http.post("/token", data={
        "grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code, "tx_code": tx_code,
    }, headers=wallet.dpop("/token"))  # fmt: skip
    assert anonymous.status_code == 401 and anonymous.json["error"] == "invalid_client"
    code_flow_only = Wallet(app, wallet.browser, register_wallet(runner))
    refused = _redeem(code_flow_only, code, tx_code)
    assert refused.status_code == 400 and refused.json["error"] == "unauthorized_client"
    assert _redeem(wallet, code, tx_code).status_code == 200, "none of those spent it"
