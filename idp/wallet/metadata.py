"""The credential issuer metadata (OpenID4VCI 1.0 section 12.2), served at
/.well-known/openid-credential-issuer: where a wallet asks for credentials, and what each
credential Tillid issues holds, with every claim's name in Danish and English."""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from idp.wallet import configurations, mdoc, pid, proofs
from idp.wallet.configurations import PID_MDOC, PID_SD_JWT

# How many credentials one request may ask for (one key proof each): a wallet keeps a few,
# each shown to one verifier only, so presentations cannot be linked by a shared key.
BATCH_SIZE = 10
LOCALES = ("da", "en")

# The PID's claims as a wallet shows them: (path, label, mandatory). Named as on an identity
# document, not as the claim registry's labels address the citizen ("Your last name").
_PID_CLAIMS: tuple[tuple[tuple, object, bool], ...] = (
    (("family_name",), _l("Last name"), True),
    (("given_name",), _l("First name"), True),
    (("birthdate",), _l("Date of birth"), True),
    (("place_of_birth",), _l("Place of birth"), True),
    (("place_of_birth", "country"), _l("Country of birth"), False),
    (("place_of_birth", "region"), _l("Region of birth"), False),
    (("place_of_birth", "locality"), _l("Town of birth"), False),
    (("nationalities",), _l("Nationalities"), True),
    (("address",), _l("Address"), False),
    (("address", "formatted"), _l("Full address"), False),
    (("address", "street_address"), _l("Street and number"), False),
    (("address", "postal_code"), _l("Postcode"), False),
    (("address", "locality"), _l("Town"), False),
    (("address", "country"), _l("Country"), False),
    *(
        (("age_equal_or_over", str(age)), _l("At least %(age)s years old", age=age), False)
        for age in pid.AGE_THRESHOLDS
    ),
    (("age_birth_year",), _l("Year of birth"), False),
    (("issuing_authority",), _l("Issued by"), True),
    (("issuing_country",), _l("Country of issue"), True),
    (("date_of_issuance",), _l("Date of issue"), False),
    (("date_of_expiry",), _l("Valid until"), True),
)


def _display(text) -> list[dict]:
    shown = []
    for locale in LOCALES:
        with force_locale(locale):
            shown.append({"name": str(text), "locale": locale})
    return shown


def _pid_claims(path_of=lambda path: list(path)) -> list[dict]:
    described = []
    for path, label, mandatory in _PID_CLAIMS:
        mapped = path_of(path)
        if mapped is None:
            continue
        claim = {"path": mapped, "display": _display(label)}
        if mandatory:
            claim["mandatory"] = True
        described.append(claim)
    return described


def _pid_sd_jwt() -> dict:
    return {
        "format": configurations.FORMATS[PID_SD_JWT],
        "scope": PID_SD_JWT,
        "vct": pid.VCT,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": {
            "jwt": {"proof_signing_alg_values_supported": list(proofs.ALGORITHMS)}
        },
        "credential_metadata": {
            "display": _display(_l("Person identification data (PID)")),
            "claims": _pid_claims(),
        },
    }


def _mdoc_path(path: tuple) -> list | None:
    """A PID claim's path in the mdoc: its namespace and data element (idp/wallet/mdoc.py);
    the place of birth is one element there, the address five of its own."""
    name = mdoc.element_name(path)
    return [mdoc.NAMESPACE, name] if name is not None else None


def _pid_mdoc() -> dict:
    return {
        "format": configurations.FORMATS[PID_MDOC],
        "scope": PID_MDOC,
        "doctype": configurations.PID_DOCTYPE,
        "cryptographic_binding_methods_supported": ["cose_key"],
        # OpenID4VCI 1.0 A.2.2: COSE algorithm identifiers for mdocs (-7: ES256).
        "credential_signing_alg_values_supported": [-7],
        "proof_types_supported": {
            "jwt": {"proof_signing_alg_values_supported": list(proofs.ALGORITHMS)}
        },
        "credential_metadata": {
            "display": _display(_l("Person identification data (PID)")),
            "claims": _pid_claims(_mdoc_path),
        },
    }


def document() -> dict:
    """The metadata for this app's issuer: built once per issuer and process (every claim's
    name in two languages is ~90 switches of locale; nothing in it changes while running)."""
    issuer = current_app.config["ISSUER"]
    if issuer not in _DOCUMENTS:
        _DOCUMENTS[issuer] = _document(issuer)
    return _DOCUMENTS[issuer]


_DOCUMENTS: dict[str, dict] = {}


def _document(issuer: str) -> dict:
    return {
        "credential_issuer": issuer,
        # Tillid is its own authorization server: /.well-known/oauth-authorization-server.
        "authorization_servers": [issuer],
        "credential_endpoint": f"{issuer}/wallet/credential",
        "nonce_endpoint": f"{issuer}/wallet/nonce",
        "batch_credential_issuance": {"batch_size": BATCH_SIZE},
        "display": [{"name": "Tillid", "locale": locale} for locale in LOCALES],
        "credential_configurations_supported": {PID_SD_JWT: _pid_sd_jwt(), PID_MDOC: _pid_mdoc()},
    }
