"""The PID as an ISO/IEC 18013-5 mdoc (idp/wallet/mdoc.py), checked by code that is not
Tillid's: pymdoccbor's verifier (the issuer signature and every value digest), cbor2 and
cbor-diag for the encoding, and the OpenWallet Foundation's mdoc-ts (Node) as a wallet and a
relying party would use it against a live Tillid: the IssuerSigned on receipt, the status list,
a device-signed presentation of chosen elements.

`make test` installs mdoc-ts from the committed lock file (tests/interop/mdoc); without Node the
Node test skips, unless REQUIRE_E2E=1.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import zlib

import cbor2
import pytest
from cbor_diag import cbor2diag
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import OKPKey, RSAKey
from pymdoccbor.mdoc.verifier import MdocCbor
from sqlalchemy import select

from idp.citizens import service as citizens
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.keys import service as keys
from idp.wallet import mdoc, pid, status_list
from idp.wallet.models import CredentialStatus
from tests.interop import node
from tests.wallet.helpers import CPR, create_citizen, wallet_key
from tests.wallet.issuance import register_wallet

NAMESPACE = DOCTYPE = "eu.europa.ec.eudi.pid.1"


def issue_mdoc(app, holder, cpr: str = CPR, **kwargs) -> str:
    with app.app_context():
        return mdoc.issue(citizens.find_by_cpr(cpr), holder.as_dict(private=False), **kwargs)


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decoded(credential: str) -> dict:
    """The IssuerSigned, and in it the MSO (the COSE_Sign1 payload) decoded, unverified."""
    issuer_signed = cbor2.loads(unb64(credential))
    protected, unprotected, payload, signature = issuer_signed["issuerAuth"]
    mso_bytes = cbor2.loads(payload)
    assert mso_bytes.tag == 24  # MobileSecurityObjectBytes
    return {
        "issuer_signed": issuer_signed,
        "protected": cbor2.loads(protected),
        "unprotected": unprotected,
        "mso": cbor2.loads(mso_bytes.value),
        "signature": signature,
        "items": [cbor2.loads(item.value) for item in issuer_signed["nameSpaces"][NAMESPACE]],
    }


def device_response(issuer_signed: dict) -> dict:
    """pymdoccbor reads DeviceResponses: the wallet's IssuerSigned goes in one as its document."""
    documents = [{"docType": DOCTYPE, "issuerSigned": issuer_signed}]
    return {"version": "1.0", "documents": documents, "status": 0}


def status_entry(app, credential: str) -> CredentialStatus:
    reference = decoded(credential)["mso"]["status"]["status_list"]
    with app.app_context():
        entry = status_list.find(reference["uri"].rsplit("/", 1)[1], reference["idx"])
        db.session.expunge(entry)
        return entry


@pytest.fixture
def wallet_client(runner) -> str:
    return register_wallet(runner)


@pytest.fixture
def issued(app, runner, wallet_client):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = wallet_key()
    return issue_mdoc(app, holder, client_id=wallet_client), holder


def expected_elements(app) -> dict:
    today = utcnow().date()
    expires = today + dt.timedelta(days=app.config["PID_VALIDITY_DAYS"])
    return {
        "family_name": "Kjær",
        "given_name": "Astrid",
        "birth_date": dt.date(2003, 2, 1),
        "place_of_birth": {"country": "DK", "region": "Region Midtjylland", "locality": "Aarhus"},
        "nationality": ["DK", "SE"],
        "resident_address": "Nørregade 7, 8000 Aarhus C",
        "resident_street": "Nørregade 7",
        "resident_postal_code": "8000",
        "resident_city": "Aarhus C",
        "resident_country": "DK",
        "age_over_12": True,
        "age_over_14": True,
        "age_over_16": True,
        "age_over_18": True,
        "age_over_21": True,
        "age_over_65": False,
        "age_birth_year": 2003,
        "issuing_authority": "Tillid",
        "issuing_country": "DK",
        "issuance_date": today,
        "expiry_date": expires,
    }


def test_pymdoccbor_verifies_the_issuer_signature_and_every_digest(app, issued):
    credential, _ = issued
    issuer_signed = cbor2.loads(unb64(credential))
    certificate = x509.load_der_x509_certificate(issuer_signed["issuerAuth"][1][33])
    verifier = MdocCbor()
    verifier.loads(cbor2.dumps(device_response(issuer_signed)))
    # The certificate as the trust anchor (self-signed: docs/wallet-mdoc.md): pymdoccbor
    # checks the document signer certificate against it, then the signature with its key.
    assert verifier.verify(trusted_root_certs=[certificate]) is True
    (document,) = verifier.documents
    assert document.doctype == DOCTYPE
    assert document.hash_verification == {"valid": True, "total": 21, "verified": 21, "failed": []}
    assert verifier.disclosure_map == {NAMESPACE: expected_elements(app)}


def test_a_changed_element_or_signature_fails_pymdoccbors_verification(issued):
    credential, _ = issued
    issuer_signed = cbor2.loads(unb64(credential))
    items = issuer_signed["nameSpaces"][NAMESPACE]
    for n, item in enumerate(items):
        element = cbor2.loads(item.value)
        if element["elementIdentifier"] == "age_over_65":
            element["elementValue"] = True
            items[n] = cbor2.CBORTag(24, cbor2.dumps(element))
    verifier = MdocCbor()
    verifier.loads(cbor2.dumps(device_response(issuer_signed)))
    assert verifier.verify() is False
    (document,) = verifier.documents_invalid
    assert [f["elementIdentifier"] for f in document.hash_verification["failed"]] == ["age_over_65"]

    issuer_signed = cbor2.loads(unb64(credential))
    signature = issuer_signed["issuerAuth"][3]
    issuer_signed["issuerAuth"][3] = bytes([signature[0] ^ 1]) + signature[1:]
    verifier = MdocCbor()
    verifier.loads(cbor2.dumps(device_response(issuer_signed)))
    assert verifier.verify() is False


def test_the_credential_is_openid4vci_a2s_issuer_signed_with_an_es256_cose_sign1(client, issued):
    credential, _ = issued
    assert re.fullmatch(r"[A-Za-z0-9_-]+", credential)  # base64url, no padding
    parts = decoded(credential)
    assert set(parts["issuer_signed"]) == {"nameSpaces", "issuerAuth"}
    assert list(parts["issuer_signed"]["nameSpaces"]) == [NAMESPACE]
    assert parts["protected"] == {1: -7}  # ES256
    assert list(parts["unprotected"]) == [33]  # x5chain: one DER certificate
    assert len(parts["signature"]) == 64
    certificate = x509.load_der_x509_certificate(parts["unprotected"][33])
    # The certificate is for the credential key Tillid publishes (its SD-JWT VC key).
    numbers = certificate.public_key().public_numbers()
    published = client.get("/.well-known/jwt-vc-issuer").json["jwks"]["keys"]
    coordinates = (b64(numbers.x.to_bytes(32, "big")), b64(numbers.y.to_bytes(32, "big")))
    assert coordinates in {(key["x"], key["y"]) for key in published}
    assert certificate.issuer == certificate.subject  # self-signed: no IACA yet
    assert certificate.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)[0].value == "DK"
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in usage] == ["1.0.18013.5.1.2"]  # mdoc document signer

    mso = parts["mso"]
    assert mso["version"] == "1.0" and mso["docType"] == DOCTYPE
    assert mso["digestAlgorithm"] == "SHA-256"
    validity = mso["validityInfo"]
    now = utcnow()
    assert abs((validity["signed"] - now).total_seconds()) < 60
    assert validity["validFrom"] == validity["signed"]
    expires = (now + dt.timedelta(days=90)).date()
    assert validity["validUntil"] == dt.datetime.combine(expires, dt.time(23, 59, 59), dt.UTC)
    assert certificate.not_valid_before_utc <= validity["signed"]
    assert certificate.not_valid_after_utc >= validity["validUntil"]


def test_dates_are_cbor_full_dates_and_the_rest_the_rulebooks_types(issued):
    credential, _ = issued
    raw = {
        cbor2.loads(item.value)["elementIdentifier"]: cbor2diag(item.value)
        for item in cbor2.loads(unb64(credential))["nameSpaces"][NAMESPACE]
    }
    assert '"elementValue":1004("2003-02-01")' in raw["birth_date"]
    assert '"elementValue":1004("' in raw["issuance_date"]
    assert '"elementValue":1004("' in raw["expiry_date"]
    assert '"elementValue":["DK", "SE"]' in raw["nationality"]
    assert '"elementValue":true' in raw["age_over_18"]
    assert '"elementValue":2003' in raw["age_birth_year"]
    # The tdates of validityInfo are tag 0 without fractions, in UTC ("Z").
    payload = cbor2.loads(unb64(credential))["issuerAuth"][2]
    diagnostic = cbor2diag(cbor2.loads(payload).value)
    assert diagnostic.count('0("') == 3 and diagnostic.count('Z")') == 3


def test_each_value_digest_is_the_sha256_of_its_issuer_signed_item(issued):
    credential, _ = issued
    issuer_signed = cbor2.loads(unb64(credential))
    digests = decoded(credential)["mso"]["valueDigests"][NAMESPACE]
    seen = set()
    for item in issuer_signed["nameSpaces"][NAMESPACE]:
        element = cbor2.loads(item.value)
        assert set(element) == {"digestID", "random", "elementIdentifier", "elementValue"}
        assert len(element["random"]) >= 16
        assert digests[element["digestID"]] == hashlib.sha256(cbor2.dumps(item)).digest()
        seen.add(element["digestID"])
    assert seen == set(digests)  # one digest per element, none left over


def test_the_device_key_is_the_wallets_key(issued):
    credential, holder = issued
    jwk = holder.as_dict(private=False)
    device_key = decoded(credential)["mso"]["deviceKeyInfo"]["deviceKey"]
    assert device_key == {1: 2, -1: 1, -2: unb64(jwk["x"]), -3: unb64(jwk["y"])}  # EC2, P-256


def test_an_ed25519_wallet_key_is_an_okp_cose_key(app, runner):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = OKPKey.generate_key("Ed25519", private=True)
    device_key = decoded(issue_mdoc(app, holder))["mso"]["deviceKeyInfo"]["deviceKey"]
    assert device_key == {1: 1, -1: 6, -2: unb64(holder.as_dict(private=False)["x"])}


def test_the_mso_references_the_status_list_entry_allocated_for_it(
    app, client, issued, wallet_client
):
    credential, holder = issued
    mso = decoded(credential)["mso"]
    assert set(mso["status"]) == {"status_list"}
    reference = mso["status"]["status_list"]
    assert set(reference) == {"idx", "uri"}
    assert reference["uri"].startswith("http://localhost:5000/wallet/status/")
    entry = status_entry(app, credential)
    assert entry.credential_format == "mso_mdoc"
    assert entry.client_id == wallet_client
    assert entry.holder_key_thumbprint == holder.thumbprint()
    assert entry.attributes == ["family_name", "given_name", "birthdate", "place_of_birth",
                                "nationalities", "address"]  # fmt: skip
    assert entry.expires_at == mso["validityInfo"]["validUntil"]
    # The list Tillid serves has the credential's bit, and it flips when revoked.
    path = reference["uri"].removeprefix("http://localhost:5000")
    assert _bit(client.get(path).data, reference["idx"]) == 0
    with app.app_context():
        status_list.revoke(db.session.merge(entry))
    assert _bit(client.get(path).data, reference["idx"]) == 1


def _bit(token: bytes, idx: int) -> int:
    claims = json.loads(unb64(token.decode().split(".")[1]))
    bits = zlib.decompress(unb64(claims["status_list"]["lst"]))
    return (bits[idx // 8] >> (idx % 8)) & 1


def test_two_mdocs_for_one_citizen_share_no_digest_salt_or_status_index(app, issued):
    credential, _ = issued
    other = issue_mdoc(app, wallet_key())
    first, second = decoded(credential), decoded(other)
    assert first["mso"]["status"] != second["mso"]["status"]
    assert not {i["random"] for i in first["items"]} & {i["random"] for i in second["items"]}
    assert not set(first["mso"]["valueDigests"][NAMESPACE].values()) & set(
        second["mso"]["valueDigests"][NAMESPACE].values()
    )


def test_the_cpr_number_never_appears(app, issued):
    credential, _ = issued
    raw = unb64(credential)
    for form in (CPR, f"{CPR[:6]}-{CPR[6:]}"):
        assert form.encode() not in raw
    identifiers = {item["elementIdentifier"] for item in decoded(credential)["items"]}
    assert "personal_administrative_number" not in identifiers


@pytest.mark.parametrize(
    ("missing", "nationalities", "extra"),
    [
        ("place_of_birth", ("DK",), {"birth_country": "", "birth_region": "",
                                      "birth_locality": ""}),
        ("nationalities", (), {}),
    ],
)  # fmt: skip
def test_no_mdoc_without_a_mandatory_attribute_and_no_status_index_spent(
    app, runner, missing, nationalities, extra
):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner, nationalities=nationalities, **extra)
    with app.app_context():
        with pytest.raises(pid.IncompletePID, match=missing):
            mdoc.issue(citizens.find_by_cpr(CPR), wallet_key().as_dict(private=False))
        assert db.session.scalar(select(db.func.count()).select_from(CredentialStatus)) == 0


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (RSAKey.generate_key(2048, private=False).as_dict(private=False), "EC key on P-256"),
        (
            {"kty": "EC", "crv": "secp256k1", **{
                k: v for k, v in wallet_key().as_dict(private=False).items() if k in ("x", "y")
            }},
            "not a valid JWK|EC key on P-256",
        ),
        (wallet_key().as_dict(private=True), "public key"),
        ({"kty": "EC", "crv": "P-256", "x": "nope"}, "not a valid JWK"),
    ],
)  # fmt: skip
def test_a_wallet_key_that_cannot_hold_an_mdoc_is_refused_before_anything_is_written(
    app, runner, jwk, message
):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    with app.app_context():
        with pytest.raises(pid.InvalidHolderKey, match=message):
            mdoc.issue(citizens.find_by_cpr(CPR), jwk)
        assert db.session.scalar(select(db.func.count()).select_from(CredentialStatus)) == 0


def test_the_document_signer_certificate_is_reused_until_it_would_expire_too_soon(app, issued):
    credential, _ = issued
    first = decoded(credential)["unprotected"][33]
    assert decoded(issue_mdoc(app, wallet_key()))["unprotected"][33] == first
    with app.app_context():
        kid, key = keys.signing_key("ES256", keys.CREDENTIAL)
        later = utcnow() + dt.timedelta(days=5 * 365)
        renewed = mdoc.certificate(kid, key, later)
    assert renewed.not_valid_after_utc >= later
    assert isinstance(renewed.public_key(), ec.EllipticCurvePublicKey)


# --- mdoc-ts (Node), against a live Tillid ------------------------------------------------


def test_mdoc_ts_verifies_the_pid_mdoc_its_status_and_a_device_signed_presentation(live_server):
    node.require("mdoc", "@owf/mdoc")
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = wallet_key()
    credential = issue_mdoc(app, holder)

    report = node.verify("mdoc", issuer, credential, holder)
    assert report["metadata_issuer"] == issuer
    assert report["certificate"]["self_signed"] is True
    assert report["certificate"]["key_published_as"]  # the certificate's key is Tillid's
    assert report["verified"] is True, report
    assert report["failed_checks"] == [] and report["checks_passed"] >= 25
    mso = report["mso"]
    assert mso["version"] == "1.0" and mso["docType"] == DOCTYPE
    assert mso["digestAlgorithm"] == "SHA-256" and mso["protectedAlg"] == "ES256"
    public = holder.as_dict(private=False)
    assert {k: mso["deviceKey"][k] for k in ("kty", "crv", "x", "y")} == {
        k: public[k] for k in ("kty", "crv", "x", "y")
    }
    assert mso["status"]["status_list"]["uri"].startswith(f"{issuer}/wallet/status/")
    elements = report["elements"]
    assert elements["given_name"] == "Astrid" and elements["family_name"] == "Kjær"
    assert elements["nationality"] == ["DK", "SE"]
    assert elements["place_of_birth"] == {
        "region": "Region Midtjylland", "country": "DK", "locality": "Aarhus",
    }  # fmt: skip
    assert elements["birth_date"] == "2003-02-01"
    assert elements["age_over_18"] is True and elements["age_over_65"] is False
    assert "personal_administrative_number" not in elements
    assert report["status_list"] == {
        "content_type": "application/statuslist+jwt",
        "signature_valid": True,
        "sub": mso["status"]["status_list"]["uri"],
        "status": 0,
    }
    # A relying party sees the two elements asked for, signed by the wallet's key; another
    # key's DeviceResponse is refused.
    assert report["presentation"]["verified"] is True, report["presentation"]
    assert report["presentation"]["disclosed"] == {"given_name": "Astrid", "age_over_18": True}
    assert report["presentation_other_key"]["verified"] is False
    assert any("ignature" in check for check in report["presentation_other_key"]["failed_checks"])

    with app.app_context():
        entry = db.session.merge(status_entry(app, credential))
        status_list.revoke(entry)
    report = node.verify("mdoc", issuer, credential, holder)
    assert report["status_list"]["status"] == 1 and report["status_list"]["signature_valid"]


def test_mdoc_ts_refuses_a_changed_element(live_server):
    node.require("mdoc", "@owf/mdoc")
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = wallet_key()
    issuer_signed = cbor2.loads(unb64(issue_mdoc(app, holder)))
    items = issuer_signed["nameSpaces"][NAMESPACE]
    for n, item in enumerate(items):
        element = cbor2.loads(item.value)
        if element["elementIdentifier"] == "family_name":
            element["elementValue"] = "Hansen"
            items[n] = cbor2.CBORTag(24, cbor2.dumps(element))
    changed = b64(cbor2.dumps(issuer_signed))
    report = node.verify("mdoc", issuer, changed, holder)
    assert report["verified"] is False
    assert [c["category"] for c in report["failed_checks"]] == ["DATA_INTEGRITY"]


def test_the_credential_key_never_reaches_the_pure_python_ecdsa_package(app, runner, monkeypatch):
    """pycose signs with `ecdsa`, which is not constant-time (CVE-2024-23342): Tillid signs
    the MSO with OpenSSL instead, and gives pymdoccbor only the public key."""
    import ecdsa.keys

    def refuse(*args, **kwargs):
        raise AssertionError("a private key reached the ecdsa package")

    monkeypatch.setattr(ecdsa.keys.SigningKey, "from_secret_exponent", refuse)
    monkeypatch.setattr(ecdsa.keys.SigningKey, "sign_deterministic", refuse)
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    issuer_signed = cbor2.loads(unb64(issue_mdoc(app, wallet_key())))
    assert len(issuer_signed["issuerAuth"][3]) == 64
