"""A test wallet made of third-party code against a live Tillid (issue 21, item 6): the
OpenID4VC community's `@openid4vc/openid4vci` and `@openid4vc/oauth2` (oid4vc-ts) do the
issuance, the OpenWallet Foundation's `@sd-jwt/sd-jwt-vc` and `@sd-jwt/jwt-status-list`
verify what comes out (tests/interop/openid4vci/wallet.mjs).

Both flows obtain a PID: the authorization code flow (PAR, PKCE, DPoP, a citizen logged in
at NSIS High with a passkey) and the pre-authorized code flow (an offer and transaction
code from the citizen's portal). Each batch's credentials are bound to keys of their own, are
verified against /.well-known/jwt-vc-issuer with their status, and are presented with only
chosen claims; a revoked one shows revoked in the status list. The refusals: proofs with
no nonce, a nonce Tillid never gave, a nonce used already, a proof signed by another key
than its header names, a pre-authorized code used twice, a wrong transaction code.

`make test` installs the libraries from the committed lock file (npm ci); without them the
tests skip, unless REQUIRE_E2E=1.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from joserfc.jwk import ECKey

from consent import verify as ledger_verify
from tests.conftest import CitizenActions, activate, csrf_token, login, sql
from tests.interop import node
from tests.security.conftest import SoftAuthenticator, register_passkey
from tests.security.test_attacks_authenticators import _passkey_login

HERE = Path(__file__).parent / "openid4vci"
PID = "eu.europa.ec.eudi.pid.1"
PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
REDIRECT = "https://wallet.example/callback"  # never visited: the test hands it to the wallet
PASSWORD = "correct horse battery"
HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"
# What every PID shows, disclosed or not (draft-ietf-oauth-sd-jwt-vc: never disclosable).
ALWAYS_VISIBLE = {"iss", "iat", "exp", "vct", "cnf", "status", "_sd_alg"}


def wallet(*args: str) -> dict:
    """Run one command of the wallet; what it printed (it never crashes on a refusal: it
    reports the server's answer)."""
    done = subprocess.run(
        ["node", str(HERE / "wallet.mjs"), *args],
        capture_output=True, text=True, timeout=90, check=False,
        env={**os.environ, "WALLET_ALLOW_HTTP": "1"},  # the live server is http://localhost
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("crashed"):
        pytest.fail(f"the wallet crashed: {json.dumps(result, indent=1)}")
    return result


# --- the issuer's side: a wallet client, a citizen at High ---------------------------------


def register_wallet(app) -> str:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--kind", "wallet", "--name", "Test wallet",
        "--redirect-uri", REDIRECT, "--scope", PID,
        "--grant-type", "authorization_code", "--grant-type", PRE_AUTHORIZED,
        "--auth-method", "none",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["client_id"]


def citizen_at_high(app, issuer: str, username: str = "astrid"):
    """A citizen with everything a PID needs, whose identity the activation letter proved,
    with a device-bound passkey set up as the first second factor (bound at High), logged in
    with it: a browser (Flask's test client on the live server's app) at NSIS High."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, app.test_client())
    cpr = "0102034234"  # born 1 February 2003
    citizens.create(
        username=None, cpr=cpr, given_name="Astrid", family_name="Kjær",
        address_json=json.dumps({"street": "Nørregade 7", "postcode": "8000", "city": "Aarhus C"}),
        birth_country="DK", birth_region="Region Midtjylland", birth_locality="Aarhus",
        nationality="DK",
    )  # fmt: skip
    first = app.test_client()
    assert activate(first, cpr, citizens.letter(cpr), username, PASSWORD).status_code == 302
    assert login(first, username, PASSWORD).status_code == 302
    passkey = SoftAuthenticator(origin=issuer)
    register_passkey(first, passkey, page="/me/security/totp")
    return _passkey_login(app, passkey)


def through_browser(browser, url: str):
    """The browser follows ``url`` on Tillid (and through its pages, allowing where asked)
    until Tillid sends it to the wallet's redirect URI: that URL, or the page it stopped at."""
    for _ in range(12):
        parts = urlsplit(url)
        response = browser.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
        if response.status_code in (302, 303):
            url = urljoin(url, response.headers["Location"])
            if url.startswith(REDIRECT):
                return url
            continue
        if response.status_code == 200 and 'name="decision"' in response.text:
            allowed = browser.post(
                response.request.path,
                data={"csrf_token": csrf_token(response), "decision": "allow"},
            )
            assert allowed.status_code in (302, 303), allowed.text[:500]
            url = urljoin(url, allowed.headers["Location"])
            if url.startswith(REDIRECT):
                return url
            continue
        return response
    raise AssertionError("too many redirects")


def code_flow(app, issuer: str, tmp_path, browser, client_id: str, how: str = "details"):
    """The wallet's authorization code flow, the citizen's browser in the middle: the token
    the wallet got (its state in ``tmp_path``)."""
    state = str(tmp_path / "code-flow.json")
    started = wallet("authorize", state, issuer, client_id, REDIRECT, how)
    assert "error" not in started, started
    assert started["authorization_url"].startswith(f"{issuer}/authorize?")
    back = through_browser(browser, started["authorization_url"])
    assert isinstance(back, str), (back.status_code, back.text[:800])
    got = wallet("code", state, back)
    assert "error" not in got, got
    return state, started, got


def citizen_revokes(app, browser, credential: dict) -> None:
    """The citizen revokes one credential on their wallet page, finding it by its device
    key (the page shows the key's RFC 7638 thumbprint), and confirms."""
    thumbprint = ECKey.import_key(credential["holder_jwk"]).thumbprint()
    page = browser.get("/me/wallet")
    assert page.status_code == 200
    card = re.search(
        r'data-credential-id="(\d+)" data-status="valid">(?:(?!</li>).)*title="' + thumbprint,
        page.text,
        re.S,
    )
    assert card, "the credential is not on the citizen's wallet page"
    confirm = browser.get(f"/me/wallet/{card.group(1)}/revoke")
    assert confirm.status_code == 200
    logged = "SELECT count(*) AS n FROM ledger_entry WHERE channel = 'wallet_revocation'"
    before = sql(app, logged)[0]["n"]
    done = browser.post(confirm.request.path, data={"csrf_token": csrf_token(confirm)})
    assert done.status_code == 303, done.status_code
    # In the citizen's access log, as the issuance is.
    assert sql(app, logged)[0]["n"] == before + 1


def portal_offer(browser) -> tuple[str, str]:
    """The portal's "Add to your wallet": the offer's same-device link
    (`openid-credential-offer://`) and the transaction code the page shows."""
    page = browser.get("/me/wallet/offer")
    assert page.status_code == 200, page.status_code
    shown = browser.post("/me/wallet/offer", data={"csrf_token": csrf_token(page)})
    assert shown.status_code == 200, shown.status_code
    link = re.search(r'id="offer-link" href="([^"]+)"', shown.text).group(1)
    tx_code = re.search(r'id="tx-code"><span aria-hidden="true">(\d{6})<', shown.text).group(1)
    return html.unescape(link), tx_code


# --- the tests -----------------------------------------------------------------------------


def test_the_authorization_server_metadata_names_the_algorithms_of_its_jwt_methods(client):
    """RFC 8414 2: where an endpoint's auth methods include private_key_jwt or
    client_secret_jwt, its `..._auth_signing_alg_values_supported` MUST be there.
    @openid4vc/oauth2 refuses the whole document otherwise (it checks the introspection
    endpoint's), and with it every request of the wallet."""
    for document in ("oauth-authorization-server", "openid-configuration"):
        metadata = client.get(f"/.well-known/{document}").get_json()
        # Every endpoint that names its auth methods, present and future alike.
        endpoints = [name.removesuffix("_auth_methods_supported") for name in metadata
                     if name.endswith("_endpoint_auth_methods_supported")]  # fmt: skip
        assert {"token_endpoint", "introspection_endpoint", "revocation_endpoint"} <= set(endpoints)
        for endpoint in endpoints:
            methods = metadata[f"{endpoint}_auth_methods_supported"]
            if {"private_key_jwt", "client_secret_jwt"} & set(methods):
                algs = metadata.get(f"{endpoint}_auth_signing_alg_values_supported")
                assert algs and "none" not in algs, (document, endpoint)


def test_the_wallet_finds_tillid_as_a_pid_issuer_with_the_libraries_defaults(live_server, tmp_path):
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    started = wallet("authorize", str(tmp_path / "s.json"), issuer, client_id, REDIRECT)
    assert "error" not in started, started
    assert started["metadata"] == {
        "version": "V1",
        "credential_issuer": issuer,
        "authorization_servers": [issuer],
        "credential_endpoint": f"{issuer}/wallet/credential",
        "nonce_endpoint": f"{issuer}/wallet/nonce",
        "batch_size": started["metadata"]["batch_size"],
        "configurations": started["metadata"]["configurations"],
        "known_configurations": started["metadata"]["configurations"],
    }
    # Every configuration (the PID as SD-JWT VC, and as mdoc) passes the library's schema
    # for its format; the SD-JWT VC one is what this wallet asks for.
    assert PID in started["metadata"]["configurations"]
    assert started["metadata"]["batch_size"] >= 2
    # The library pushed the request (PAR) and made PKCE with S256: only the reference
    # travels through the browser.
    assert started["code_challenge_method"] == "S256"
    query = urlsplit(started["authorization_url"]).query
    assert sorted(part.split("=")[0] for part in query.split("&")) == ["client_id", "request_uri"]


def test_code_flow_obtains_a_batch_of_pids_verified_with_sd_jwt_js(live_server, tmp_path):
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    browser = citizen_at_high(app, issuer)
    state, _, got = code_flow(app, issuer, tmp_path, browser, client_id)
    assert got["token"]["token_type"] == "DPoP"
    assert got["iss"] == issuer

    issued = wallet("credential", state, "--batch", "3",
                    "--disclose", json.dumps({"given_name": True,
                                              "age_equal_or_over": {"18": True}}))  # fmt: skip
    assert "error" not in issued, issued
    assert issued["status"] == 200 and len(issued["credentials"]) == 3
    holders = set()
    for one in issued["credentials"]:
        assert one["verified"] is True, one
        claims = one["claims"]
        assert claims["iss"] == issuer and claims["vct"] == "urn:eudi:pid:1"
        assert one["header"]["typ"] == "dc+sd-jwt"
        assert claims["given_name"] == "Astrid" and claims["family_name"] == "Kjær"
        assert claims["birthdate"] == "2003-02-01" and claims["nationalities"] == ["DK"]
        # Each credential is bound to the key its proof was made with, none to another's.
        assert claims["cnf"]["jwk"] == {k: one["holder_jwk"][k] for k in ("kty", "crv", "x", "y")}
        holders.add(claims["cnf"]["jwk"]["x"])
        assert one["status_list"]["status"] == 0 and one["status_list"]["signature_valid"]
        assert one["status_list"]["typ"] == "statuslist+jwt"
        # Only what the wallet chose, bound to its key.
        shown = {k: v for k, v in one["presented"].items() if k not in ALWAYS_VISIBLE}
        assert shown == {"given_name": "Astrid", "age_equal_or_over": {"18": True}}
        assert one["presentation_bound"] is True
    assert len(holders) == 3
    # No two share a status entry (their indexes would link them).
    assert len({(one["status_list"]["sub"], one["status_list"]["idx"])
                for one in issued["credentials"]}) == 3  # fmt: skip
    # Each issuance is in the citizen's access log, against the wallet, with what it carried.
    rows = sql(app, "SELECT channel, attributes FROM ledger_entry WHERE client_id = :c",
               c=_client_of(state))  # fmt: skip
    assert [row["channel"] for row in rows] == ["wallet_issuance"]
    assert "given_name" in str(rows[0]["attributes"])


def _client_of(state_file: str) -> str:
    return json.loads(Path(state_file).read_text())["clientId"]


def test_code_flow_by_scope_and_a_revoked_pid_shows_revoked_to_the_status_list_library(
    live_server, tmp_path
):
    """The PID asked for by its scope instead of authorization_details; one of two
    credentials revoked: @sd-jwt/jwt-status-list reads its bit as 1 (and sd-jwt-vc refuses
    it), the other stays valid."""
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    browser = citizen_at_high(app, issuer)
    state, _, got = code_flow(app, issuer, tmp_path, browser, client_id, how="scope")
    assert got["token"]["token_type"] == "DPoP" and PID in got["token"]["scope"].split()
    issued = wallet("credential", state, "--batch", "2")
    assert "error" not in issued, issued
    first, second = issued["credentials"]
    assert first["verified"] and second["verified"]

    citizen_revokes(app, browser, first)
    again = wallet("verify", issuer, first["credential"], json.dumps(first["holder_jwk"]))
    assert again["status_list"]["status"] == 1 and again["status_list"]["signature_valid"]
    assert again["verified"] is False and "Status is not valid" in again["error"]
    other = wallet("verify", issuer, second["credential"], json.dumps(second["holder_jwk"]))
    assert other["verified"] is True and other["status_list"]["status"] == 0


# --- the refusals ----------------------------------------------------------------------------


@pytest.fixture
def holding_a_token(live_server, tmp_path):
    """A wallet with a DPoP-bound token from the code flow: (app, issuer, its state file)."""
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    browser = citizen_at_high(app, issuer)
    state, _, _ = code_flow(app, issuer, tmp_path, browser, client_id)
    return app, issuer, state


def _refused(result: dict, status: int, error: str) -> None:
    assert result.get("status") == status, result
    assert result["body"]["error"] == error, result
    assert "credentials" not in result


def test_refusals_of_key_proofs_then_a_good_request_still_works(holding_a_token):
    app, _, state = holding_a_token
    # No nonce in the proof (OpenID4VCI 1.0 8.3.1.2: invalid_proof).
    no_nonce = wallet("credential", state, "--proof", "no-nonce")
    assert no_nonce["nonce_sent"] is False and "nonce" not in no_nonce["proofs"][0]["payload"]
    _refused(no_nonce, 400, "invalid_proof")
    # A nonce Tillid never gave (or one long expired: it is gone from the store alike).
    _refused(wallet("credential", state, "--proof", "nonce", "--nonce", "made-up-by-the-wallet"),
             400, "invalid_nonce")  # fmt: skip
    # The header names one key, the signature is another's: the key is not proven.
    foreign = wallet("credential", state, "--proof", "foreign-key")
    _refused(foreign, 400, "invalid_proof")
    # A good request: issued; then its nonce again (spent by the first use).
    good = wallet("credential", state)
    assert good.get("status") == 200 and good["credentials"][0]["verified"], good
    _refused(wallet("credential", state, "--proof", "reuse-nonce"), 400, "invalid_nonce")
    # Nothing was issued or ledgered for the refused requests: one issuance only.
    rows = sql(app, "SELECT channel FROM ledger_entry WHERE client_id = :c",
               c=_client_of(state))  # fmt: skip
    assert [row["channel"] for row in rows] == ["wallet_issuance"]


def test_the_credential_named_by_the_identifier_the_token_response_gave(holding_a_token):
    """OpenID4VCI 1.0 8.2: a token response with credential_identifiers is answered with a
    request naming one (the library's client sends credential_configuration_id only, which
    Tillid also takes: the other tests)."""
    _, _, state = holding_a_token
    details = json.loads(Path(state).read_text())["authorizationDetails"]
    assert details == [{"type": "openid_credential", "credential_configuration_id": PID,
                        "credential_identifiers": [PID]}]  # fmt: skip
    issued = wallet("credential", state, "--by", "identifier", "--batch", "2")
    assert issued.get("status") == 200, issued
    assert issued["credential_identifier"] == PID
    assert [one["verified"] for one in issued["credentials"]] == [True, True]


def test_a_login_below_high_gets_no_code_for_the_wallet(live_server, tmp_path):
    """A citizen logged in with a password and an authenticator app (Substantial), with no
    passkey that could reach High: the authorization request for the PID comes back to the
    wallet as an error, with no code."""
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, app.test_client())
    citizens.create(username="anna", birth_country="DK", nationality="DK")
    browser = app.test_client()
    assert login(browser, "anna", PASSWORD).status_code == 302
    page = browser.get("/login/code")
    sent = browser.post(
        "/login/code",
        data={"csrf_token": csrf_token(page), "otp": citizens.totp_code("anna"), "next": "/me"},
    )
    assert sent.status_code == 302, sent.text[:300]  # fmt: skip
    state = str(tmp_path / "low.json")
    started = wallet("authorize", state, issuer, client_id, REDIRECT)
    back = through_browser(browser, started["authorization_url"])
    assert isinstance(back, str) and "code=" not in back, back
    got = wallet("code", state, back)  # the library checks iss on the error response too
    assert got["error"] == "authorization_response", got
    assert got["body"]["error"] == "unmet_authentication_requirements"
    assert "token" not in got


# --- the pre-authorized code flow ------------------------------------------------------------


def test_pre_authorized_flow_from_the_portal_offer_obtains_a_pid(live_server, tmp_path):
    """The citizen, at High, asks the portal for an offer; the wallet resolves the offer
    (by value, in the `openid-credential-offer://` link), asks for the transaction code and
    redeems the code with its client_id and a DPoP proof; then a batch of two PIDs."""
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    browser = citizen_at_high(app, issuer)
    link, tx_code = portal_offer(browser)
    assert link.startswith("openid-credential-offer://?credential_offer=")
    state = str(tmp_path / "offer.json")
    got = wallet("offer", state, link, tx_code, client_id)
    assert "error" not in got, got
    offered = got["offer"]
    assert offered["credential_issuer"] == issuer
    assert offered["credential_configuration_ids"] == [PID]
    grant = offered["grants"][PRE_AUTHORIZED]
    assert grant["tx_code"]["input_mode"] == "numeric" and grant["tx_code"]["length"] == 6
    assert got["token"]["token_type"] == "DPoP"
    assert got["token"]["authorization_details"][0]["credential_configuration_id"] == PID

    issued = wallet("credential", state, "--batch", "2",
                    "--disclose", json.dumps({"place_of_birth": {"country": True},
                                              "nationalities": "all"}))  # fmt: skip
    assert "error" not in issued, issued
    assert len(issued["credentials"]) == 2
    for one in issued["credentials"]:
        assert one["verified"] is True and one["status_list"]["status"] == 0, one
        assert one["claims"]["given_name"] == "Astrid"
        shown = {k: v for k, v in one["presented"].items() if k not in ALWAYS_VISIBLE}
        assert shown == {"place_of_birth": {"country": "DK"}, "nationalities": ["DK"]}
    rows = sql(app, "SELECT channel FROM ledger_entry WHERE client_id = :c", c=client_id)
    assert [row["channel"] for row in rows] == ["wallet_issuance"]

    # The citizen revokes one: the status list says so, the other stays valid.
    first, second = issued["credentials"]
    citizen_revokes(app, browser, first)
    again = wallet("verify", issuer, first["credential"], json.dumps(first["holder_jwk"]))
    assert again["verified"] is False and again["status_list"]["status"] == 1
    other = wallet("verify", issuer, second["credential"], json.dumps(second["holder_jwk"]))
    assert other["verified"] is True and other["status_list"]["status"] == 0

    # Both events in the citizen's access log, each with a proof that checks out once the
    # integrator has signed them into the ledger (as it does every few seconds on a server).
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    entries = browser.get("/api/me/access-log").json["entries"]
    assert [e["channel"] for e in entries] == ["wallet_revocation", "wallet_issuance"]
    for entry in entries:
        assert entry["service"]["client_id"] == client_id and entry["verified"] is True, entry
        proof = browser.get(entry["proof"])
        assert proof.status_code == 200, proof.json
        name, key = ledger_verify.parse_verifier_key(proof.json["verifier_key"])
        assert ledger_verify.check(proof.json, name, key) == []


def test_pre_authorized_code_refusals_wrong_tx_code_and_replay(live_server, tmp_path):
    """A wrong transaction code is refused (and the right one still works after it, the
    offer allowing a few tries); the code once redeemed is refused the second time."""
    node.require("openid4vci", "@openid4vc/openid4vci")
    app, issuer = live_server
    client_id = register_wallet(app)
    browser = citizen_at_high(app, issuer)
    link, tx_code = portal_offer(browser)
    wrong = f"{(int(tx_code) + 1) % 10**6:06d}"
    state = str(tmp_path / "offer.json")
    refused = wallet("offer", state, link, wrong, client_id)
    assert refused.get("status") == 400 and refused["body"]["error"] == "invalid_grant", refused
    assert "token" not in refused

    got = wallet("offer", state, link, tx_code, client_id)
    assert "error" not in got, got
    replayed = wallet("token", state)  # the same request again, a fresh DPoP proof
    assert replayed.get("status") == 400 and replayed["body"]["error"] == "invalid_grant", replayed
    # Another wallet (another DPoP key) trying the code it overheard fares no better.
    overheard = wallet("offer", str(tmp_path / "other.json"), link, tx_code, client_id)
    assert overheard.get("status") == 400 and overheard["body"]["error"] == "invalid_grant"
    # The token that was issued works once: a PID.
    issued = wallet("credential", state)
    assert issued.get("status") == 200 and issued["credentials"][0]["verified"], issued
