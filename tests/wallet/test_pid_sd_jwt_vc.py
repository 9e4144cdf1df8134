"""The PID as an SD-JWT VC, checked by the IETF reference implementation (`sd-jwt`, which
shares no code with the issuer): the signature against /.well-known/jwt-vc-issuer, every
claim, a presentation disclosing only chosen claims with key binding, and the layout."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from idp.citizens import service as citizens
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.wallet import pid
from idp.wallet.models import CredentialStatus
from tests.wallet.helpers import CPR, create_citizen, issue_pid, payload, wallet_key


@pytest.fixture
def issued(app, runner):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = wallet_key()
    return issue_pid(app, holder), holder


def _issuer_keys(client):
    """A verifier's callback: the credential's key from the issuer's metadata, by kid."""
    metadata = client.get("/.well-known/jwt-vc-issuer").json

    def lookup(issuer, header):
        assert issuer == metadata["issuer"]
        (jwk,) = [k for k in metadata["jwks"]["keys"] if k["kid"] == header["kid"]]
        return JWK(**jwk)

    return lookup


def _disclosures(credential: str) -> list[list]:
    parts = credential.split("~")[1:-1]
    return [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts]


def test_the_reference_verifier_reads_every_pid_claim(app, client, issued):
    credential, holder = issued
    verified = SDJWTVerifier(credential, _issuer_keys(client)).get_verified_payload()
    today = utcnow().date()
    expires = today + dt.timedelta(days=app.config["PID_VALIDITY_DAYS"])
    assert verified.pop("status")["status_list"]["uri"].startswith(
        "http://localhost:5000/wallet/status/"
    )
    assert verified.pop("iat") <= verified.pop("exp") - 89 * 24 * 3600
    assert verified == {
        "iss": "http://localhost:5000",
        "vct": "urn:eudi:pid:1",
        "cnf": {"jwk": holder.as_dict(private=False)},
        "family_name": "Kjær",
        "given_name": "Astrid",
        "birthdate": "2003-02-01",
        "place_of_birth": {"country": "DK", "region": "Region Midtjylland", "locality": "Aarhus"},
        "nationalities": ["DK", "SE"],
        "address": {
            "formatted": "Nørregade 7, 8000 Aarhus C",
            "street_address": "Nørregade 7",
            "postal_code": "8000",
            "locality": "Aarhus C",
            "country": "DK",
        },
        "age_equal_or_over": {
            "12": True,
            "14": True,
            "16": True,
            "18": True,
            "21": True,
            "65": False,
        },
        "age_birth_year": 2003,
        "issuing_authority": "Tillid",
        "issuing_country": "DK",
        "date_of_issuance": today.isoformat(),
        "date_of_expiry": expires.isoformat(),
    }
    assert "personal_administrative_number" not in verified  # docs/wallet.md: why


def test_a_presentation_discloses_only_the_chosen_claims_and_is_bound_to_the_wallet_key(
    client, issued
):
    credential, holder = issued
    signed = payload(credential)
    # SE alone of the two nationalities: its place in the array (decoys sit among them).
    by_digest = {
        base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=").decode(): d
        for raw, d in zip(credential.split("~")[1:-1], _disclosures(credential), strict=True)
    }
    nationalities_digest = next(
        digest
        for digest in signed["_sd"]
        if by_digest.get(digest, [None, None])[1] == "nationalities"
    )
    array = by_digest[nationalities_digest][2]
    chosen = [by_digest.get(element["..."], [None, None])[1] == "SE" for element in array]

    wallet = SDJWTHolder(credential)
    wallet.create_presentation(
        {"given_name": True, "age_equal_or_over": {"18": True}, "nationalities": chosen},
        nonce="n-0S6_WzA2Mj",
        aud="https://verifier.example",
        holder_key=JWK(**holder.as_dict(private=True)),
        sign_alg="ES256",
    )
    seen = SDJWTVerifier(
        wallet.sd_jwt_presentation,
        _issuer_keys(client),
        expected_aud="https://verifier.example",
        expected_nonce="n-0S6_WzA2Mj",
    ).get_verified_payload()
    disclosed = {
        k: v for k, v in seen.items() if k not in ("iss", "iat", "exp", "vct", "cnf", "status")
    }
    assert disclosed == {
        "given_name": "Astrid",
        "age_equal_or_over": {"18": True},
        "nationalities": ["SE"],
    }


def test_a_presentation_signed_by_another_key_is_refused(client, issued):
    credential, _ = issued
    wallet = SDJWTHolder(credential)
    wallet.create_presentation(
        {"given_name": True},
        nonce="n",
        aud="https://verifier.example",
        holder_key=JWK(**wallet_key().as_dict(private=True)),
        sign_alg="ES256",
    )
    with pytest.raises(Exception, match=r"[Vv]erif"):
        SDJWTVerifier(
            wallet.sd_jwt_presentation,
            _issuer_keys(client),
            expected_aud="https://verifier.example",
            expected_nonce="n",
        )


def test_every_claim_is_disclosable_with_decoys_and_only_the_technical_ones_are_plain(issued):
    credential, _ = issued
    header_b64 = credential.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "ES256" and header["kid"]
    signed = payload(credential)
    assert set(signed) == {"iss", "iat", "exp", "vct", "cnf", "status", "_sd", "_sd_alg"}
    assert signed["_sd_alg"] == "sha-256"
    assert set(signed["status"]) == {"status_list"}  # no _sd in it: never disclosable
    disclosures = _disclosures(credential)
    top = {d[1] for d in disclosures if len(d) == 3 and d[1] in PID_CLAIMS}
    assert top == PID_CLAIMS
    # Decoys: more digests than claims, at the top and in the nationalities array.
    assert len(signed["_sd"]) > len(PID_CLAIMS)
    (nationalities,) = [d[2] for d in disclosures if len(d) == 3 and d[1] == "nationalities"]
    assert len(nationalities) > 2 and all(set(e) == {"..."} for e in nationalities)
    # Each salt is distinct and 128 bits.
    salts = [d[0] for d in disclosures]
    assert len(set(salts)) == len(salts)
    assert all(len(base64.urlsafe_b64decode(s + "==")) == 16 for s in salts)


PID_CLAIMS = {
    "family_name", "given_name", "birthdate", "place_of_birth", "nationalities", "address",
    "age_equal_or_over", "age_birth_year", "issuing_authority", "issuing_country",
    "date_of_issuance", "date_of_expiry",
}  # fmt: skip


def test_two_credentials_for_one_citizen_share_no_digest_or_status_index(app, issued):
    credential, _ = issued
    other = issue_pid(app, wallet_key(), CPR)
    assert not set(payload(credential)["_sd"]) & set(payload(other)["_sd"])
    assert payload(credential)["status"] != payload(other)["status"]


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (wallet_key().as_dict(private=True), "public key"),  # its private half: never
        ({"kty": "oct", "k": "c2VjcmV0"}, "public key"),
        ({"kty": "EC", "crv": "P-256", "x": "nope"}, "not a valid JWK"),
        ({"kty": "banana"}, "not a valid JWK"),
        ("not a JWK", "a JWK"),
    ],
)
def test_a_holder_key_that_cannot_bind_a_credential_is_refused(app, runner, jwk, message):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    with app.app_context():
        with pytest.raises(pid.InvalidHolderKey, match=message):
            pid.issue(citizens.find_by_cpr(CPR), jwk)
        # Refused before anything was written: no status index spent.
        assert db.session.query(CredentialStatus).count() == 0


@pytest.mark.parametrize(
    ("missing", "nationalities", "extra"),
    [
        ("place_of_birth", ("DK",), {"birth_country": "", "birth_region": "",
                                      "birth_locality": ""}),
        ("nationalities", (), {}),
    ],
)  # fmt: skip
def test_no_pid_without_a_mandatory_attribute(app, runner, missing, nationalities, extra):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner, nationalities=nationalities, **extra)
    with app.app_context():
        with pytest.raises(pid.IncompletePID, match=missing):
            pid.issue(citizens.find_by_cpr(CPR), wallet_key().as_dict(private=False))
        assert db.session.query(CredentialStatus).count() == 0
