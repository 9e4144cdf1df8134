"""The PID (ARF annex 3.01, the PID rulebook, chapter 3) as an ISO/IEC 18013-5 mdoc: the same
attributes as the SD-JWT VC (idp/wallet/pid.py decides which), as data elements of the
namespace eu.europa.ec.eudi.pid.1, each digested into a Mobile Security Object that the
credential key signs (COSE_Sign1, ES256), bound to the wallet's key, with a Token Status List
reference.

The IssuerSignedItems, their digests, the MSO and the COSE_Sign1 message are made by
pymdoccbor (IdentityPython's library, the one the EUDI reference issuer uses) and pycose; the
signature itself by OpenSSL through `cryptography` (see _sign). This module chooses the
elements and the keys and returns OpenID4VCI 1.0 Appendix A.2's credential: base64url of the
CBOR `IssuerSigned` (nameSpaces and issuerAuth). docs/wallet-mdoc.md says what is and is not
done.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from flask import current_app
from joserfc.jwk import ECKey
from pycose.messages import Sign1Message
from pymdoccbor.mso.issuer import MsoIssuer

from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.keys import service as keys
from idp.wallet import pid, status_list
from idp.wallet.configurations import PID_DOCTYPE
from idp.wallet.pid import InvalidHolderKey
from idp.wallet.sd_jwt_vc import Disclosable

FORMAT = "mso_mdoc"
NAMESPACE = PID_DOCTYPE  # the rulebook puts the PID's elements in a namespace named as its doctype

# COSE (RFC 9053) key parameters for the device key: the curves ISO/IEC 18013-5 (9.1.5.2)
# allows a device to sign or agree keys with; an RSA key cannot hold an mdoc.
_EC2_CURVES = {"P-256": 1, "P-384": 2, "P-521": 3}
_OKP_CURVES = {"Ed25519": 6, "Ed448": 7}

# The rulebook's SD-JWT VC claim -> its mdoc element identifier (chapter 3.1.1 and 4.1.1).
_ELEMENTS = {
    "family_name": "family_name",
    "given_name": "given_name",
    "birthdate": "birth_date",
    "place_of_birth": "place_of_birth",
    "nationalities": "nationality",
    "age_birth_year": "age_birth_year",
    "issuing_authority": "issuing_authority",
    "issuing_country": "issuing_country",
    "date_of_issuance": "issuance_date",
    "date_of_expiry": "expiry_date",
}
_ADDRESS_ELEMENTS = {
    "formatted": "resident_address",
    "street_address": "resident_street",
    "postal_code": "resident_postal_code",
    "locality": "resident_city",
    "country": "resident_country",
}


def _plain(value):
    """A claim's value without the SD-JWT's disclosability marks."""
    if isinstance(value, Disclosable):
        return _plain(value.value)
    if isinstance(value, dict):
        return {name: _plain(member) for name, member in value.items()}
    if isinstance(value, list):
        return [_plain(member) for member in value]
    return value


def elements(content: dict) -> dict:
    """The mdoc data elements for the PID claims ``content`` (pid.claims): the same facts under
    the rulebook's mdoc identifiers. Dates stay ISO 8601 strings here: pymdoccbor tags
    birth_date, issuance_date and expiry_date as full-date (CBOR tag 1004, RFC 8943)."""
    claims = _plain(content)
    result = {_ELEMENTS[name]: value for name, value in claims.items() if name in _ELEMENTS}
    # ISO/IEC 18013-5's age_over_NN, the mdoc form of age_equal_or_over.NN.
    for nn, over in claims.get("age_equal_or_over", {}).items():
        result[f"age_over_{int(nn):02d}"] = over
    for name, value in claims.get("address", {}).items():
        result[_ADDRESS_ELEMENTS[name]] = value
    return result


def element_name(path: tuple) -> str | None:
    """The data element a PID claim's path (as the SD-JWT VC has it) is in the mdoc; None
    for a path that is part of an element, not one of its own (place_of_birth's members)."""
    if len(path) == 1:
        return _ELEMENTS.get(path[0])
    if path[0] == "address":
        return _ADDRESS_ELEMENTS.get(path[1])
    if path[0] == "age_equal_or_over":
        return f"age_over_{int(path[1]):02d}"
    return None


def device_key(holder_jwk: dict) -> tuple[dict, str]:
    """The wallet's public key as a COSE_Key (RFC 9052, integer labels) for the MSO's
    deviceKeyInfo, and its RFC 7638 thumbprint (which the status entry records)."""
    public, thumbprint = pid.holder_key(holder_jwk)

    def coordinate(name: str) -> bytes:
        return base64.urlsafe_b64decode(public[name] + "=" * (-len(public[name]) % 4))

    if public["kty"] == "EC" and public.get("crv") in _EC2_CURVES:
        cose = {1: 2, -1: _EC2_CURVES[public["crv"]], -2: coordinate("x"), -3: coordinate("y")}
    elif public["kty"] == "OKP" and public.get("crv") in _OKP_CURVES:
        cose = {1: 1, -1: _OKP_CURVES[public["crv"]], -2: coordinate("x")}
    else:
        raise InvalidHolderKey(
            "an mdoc's device key must be an EC key on P-256, P-384 or P-521, or an Ed25519 or "
            "Ed448 key (ISO/IEC 18013-5, 9.1.5.2)"
        )
    return cose, thumbprint


# The self-signed stand-in for a document signer certificate, per credential key and process.
_CERTIFICATES: dict[str, x509.Certificate] = {}
_CERTIFICATES_LOCK = threading.Lock()
_CERTIFICATE_DAYS = 2 * 365
_SIGNING_ONLY = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def certificate(kid: str, key: ECKey, needed_until: dt.datetime) -> x509.Certificate:
    """An X.509 certificate for the credential key, to go in the COSE header's x5chain as
    ISO/IEC 18013-5 wants. Tillid has no PKI yet: the certificate is self-signed, so a
    verifier can check the signature with it but not trust it. A production PID provider
    needs a document signer certificate issued by its IACA (docs/wallet-mdoc.md)."""
    with _CERTIFICATES_LOCK:
        cert = _CERTIFICATES.get(kid)
        if cert is not None and cert.not_valid_after_utc >= needed_until:
            return cert
        private = key.private_key
        until = needed_until.replace(microsecond=0) + dt.timedelta(seconds=1)  # X.509: seconds
        now = utcnow().replace(microsecond=0)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, pid.ISSUING_COUNTRY),
                # X.520 caps these at 64 characters.
                x509.NameAttribute(
                    NameOID.ORGANIZATION_NAME, current_app.config["PID_ISSUING_AUTHORITY"][:64]
                ),
                x509.NameAttribute(NameOID.COMMON_NAME, "Tillid PID document signer"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(max(now + dt.timedelta(days=_CERTIFICATE_DAYS), until))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_SIGNING_ONLY, critical=True)
            # ISO/IEC 18013-5 Annex B's extended key usage for an mdoc document signer.
            .add_extension(
                x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.0.18013.5.1.2")]), critical=True
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(current_app.config["ISSUER"])]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False
            )
            .sign(private, hashes.SHA256())
        )
        _CERTIFICATES[kid] = cert
        return cert


def _cose_public_key(kid: str, key: ECKey) -> dict:
    """The credential key's public half for pymdoccbor, which needs a key to name the
    algorithm in the protected header; the private half never reaches it (see _sign)."""
    numbers = key.private_key.public_key().public_numbers()
    if not isinstance(numbers.curve, ec.SECP256R1):
        raise ValueError("the credential key must be a P-256 key (ES256)")
    return {
        "KTY": "EC2",
        "CURVE": "P_256",
        "ALG": "ES256",
        "X": numbers.x.to_bytes(32, "big"),
        "Y": numbers.y.to_bytes(32, "big"),
        "KID": kid.encode(),  # pymdoccbor would make up one
    }


def _sign(message: Sign1Message, key: ECKey) -> bytes:
    """The COSE_Sign1 (untagged, as ISO/IEC 18013-5's IssuerAuth is) signed with ES256 by
    OpenSSL, through `cryptography`. pycose, which pymdoccbor uses, would sign with the
    pure-Python `ecdsa` package, which is not constant-time (CVE-2024-23342, no fix): timing
    could leak the credential key, which also signs the SD-JWT VCs and status lists. The bytes
    signed are RFC 9052's Sig_structure for a COSE_Sign1; pycose encodes the message."""
    to_be_signed = cbor2.dumps(["Signature1", message.phdr_encoded, b"", message.payload])
    r, s = decode_dss_signature(key.private_key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    message.signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return message.encode(tag=False, sign=False)


def _end_of_day(day: dt.date) -> dt.datetime:
    """pymdoccbor's validUntil for an expiry date: the last second of that day (UTC)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)


def issue(citizen: Citizen, holder_jwk: dict, *, client_id: str | None = None) -> str:
    """A PID mdoc for ``citizen``, its MSO bound to ``holder_jwk``, for the wallet
    ``client_id``: base64url (no padding) of the CBOR IssuerSigned (OpenID4VCI 1.0 A.2.4).

    As for the SD-JWT VC, every check (the holder key, the mandatory attributes, a signing
    key) comes before the status list entry is allocated and committed, so a refusal spends
    no index and a credential never exists without one.
    """
    cose_device_key, thumbprint = device_key(holder_jwk)
    now = utcnow().replace(microsecond=0)
    expires = (now + dt.timedelta(days=current_app.config["PID_VALIDITY_DAYS"])).date()
    content = pid.claims(citizen, now.date(), expires)
    data = {NAMESPACE: elements(content)}
    valid_until = _end_of_day(expires)
    kid, key = keys.signing_key("ES256", keys.CREDENTIAL)
    cert = certificate(kid, key, valid_until)
    entry = status_list.allocate(
        citizen.id,
        thumbprint,
        valid_until,
        client_id=client_id,
        credential_format=FORMAT,
        attributes=pid.attributes(content),
    )
    issuer = MsoIssuer(
        data=data,
        validity={"issuance_date": now.date().isoformat(), "expiry_date": expires.isoformat()},
        x509_chain=[cert],
        alg="ES256",
        private_key=_cose_public_key(kid, key),
        # The MSO's `status` (draft-ietf-oauth-status-list, "Referenced Token" in CBOR).
        revocation={"status_list": {"idx": entry.idx, "uri": status_list.uri(entry.list_id)}},
    )
    unsigned = issuer.sign(device_key=cose_device_key, doctype=PID_DOCTYPE)
    issuer_signed = cbor2.dumps(
        {
            "nameSpaces": {ns: list(items.values()) for ns, items in issuer.disclosure_map.items()},
            "issuerAuth": cbor2.loads(_sign(unsigned, key)),
        },
        canonical=True,
    )
    return base64.urlsafe_b64encode(issuer_signed).rstrip(b"=").decode("ascii")
