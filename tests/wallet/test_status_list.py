"""Token Status Lists over HTTP: the signed `statuslist+jwt`, its bits before and after a
revocation, and the refusals."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp.citizens.service import find_by_cpr
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.wallet import status_list
from tests.wallet.helpers import CPR, create_citizen, issue_pid, payload, revoke, wallet_key


@pytest.fixture
def credential(app, runner):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    return issue_pid(app, wallet_key())


def _fetch(client, uri: str):
    response = client.get(uri.removeprefix("http://localhost:5000"))
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/statuslist+jwt"
    return response


def _status(client, credential: str) -> tuple[int, dict]:
    """The credential's bit, read as a verifier would: the list's signature checked against
    the issuer's credential keys, its `sub` against the credential's reference."""
    reference = payload(credential)["status"]["status_list"]
    response = _fetch(client, reference["uri"])
    keys = KeySet.import_key_set(client.get("/.well-known/jwt-vc-issuer").json["jwks"])
    token = jwt.decode(response.text, keys)
    assert token.header["typ"] == "statuslist+jwt"
    assert token.claims["sub"] == reference["uri"]
    bits = zlib.decompress(base64.urlsafe_b64decode(token.claims["status_list"]["lst"] + "=="))
    idx = reference["idx"]
    return (bits[idx // 8] >> (idx % 8)) & 1, token.claims


def test_a_credential_is_valid_then_revoked(app, client, credential):
    bit, claims = _status(client, credential)
    assert bit == 0
    assert claims["status_list"]["bits"] == 1
    assert claims["ttl"] == status_list.TTL_SECONDS
    assert claims["iat"] < claims["exp"] <= claims["iat"] + status_list.TOKEN_SECONDS

    revoke(app, credential)
    assert _status(client, credential)[0] == 1
    revoke(app, credential)  # twice: still revoked, no error
    assert _status(client, credential)[0] == 1


def test_revoking_one_credential_leaves_the_others_valid(app, client, credential):
    other = issue_pid(app, wallet_key())
    revoke(app, credential)
    assert _status(client, other)[0] == 0


def test_the_list_is_cacheable_for_its_ttl_and_open_to_other_origins(client, credential):
    response = _fetch(client, payload(credential)["status"]["status_list"]["uri"])
    assert response.headers["Cache-Control"] == f"public, max-age={status_list.TTL_SECONDS}"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("list_id", ["unknown", "x" * 200, "..%2F..%2Fjwks"])
def test_an_unknown_status_list_is_a_404_problem(client, credential, list_id):
    response = client.get(f"/wallet/status/{list_id}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404


def test_the_bits_are_laid_out_as_the_draft_says():
    # draft-ietf-oauth-status-list's one-bit example: indexes 0, 3, 4, 5, 7, 8, 9, 13 and 15
    # set, in 16 bits, are the bytes b9 a3 (index 0 the lowest bit of the first byte).
    encoded = status_list.encoded_bits(16, [0, 3, 4, 5, 7, 8, 9, 13, 15])
    assert zlib.decompress(base64.urlsafe_b64decode(encoded + "==")) == bytes([0xB9, 0xA3])


def test_status_lists_are_signed_by_the_credential_key_not_a_token_key(client, credential):
    response = _fetch(client, payload(credential)["status"]["status_list"]["uri"])
    header = json.loads(base64.urlsafe_b64decode(response.text.split(".")[0] + "=="))
    token_kids = {k["kid"] for k in client.get("/jwks").json["keys"]}
    credential_kids = {
        k["kid"] for k in client.get("/.well-known/jwt-vc-issuer").json["jwks"]["keys"]
    }
    assert header["kid"] in credential_kids and header["kid"] not in token_kids


def test_an_entry_for_an_unregistered_wallet_fails_at_once_not_after_twenty_draws(app, runner):
    """Only a taken index is drawn again; any other refusal by the database (here the
    wallet's foreign key) is raised as it is, with nothing allocated."""
    create_citizen(runner)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite, as Tillid opens it, does not enforce foreign keys")
        citizen = find_by_cpr(CPR)
        with pytest.raises(IntegrityError):
            status_list.allocate(citizen.id, "t" * 43, utcnow() + dt.timedelta(days=1),
                                 client_id="no-such-wallet")  # fmt: skip
