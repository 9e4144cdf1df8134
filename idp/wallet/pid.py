"""The PID (ARF annex 3.01, the PID rulebook) as an SD-JWT VC: its claims read from the
citizen registry, bound to the wallet's key, with a status list entry."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.keys import service as keys
from idp.wallet import sd_jwt_vc, status_list
from idp.wallet.sd_jwt_vc import Disclosable

VCT = "urn:eudi:pid:1"  # the rulebook's base type (chapter 4.2)
ISSUING_COUNTRY = "DK"
# age_over_NN as the rulebook's SD-JWT VC encoding writes it (age_equal_or_over.NN): the
# ages Danish and EU law ask about (16: consent to data processing, 18: majority, 21, 65).
AGE_THRESHOLDS = (12, 14, 16, 18, 21, 65)
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class IncompletePID(ValueError):
    """The register lacks an attribute the rulebook makes mandatory: no PID can be issued."""

    def __init__(self, attribute: str):
        super().__init__(f"the citizen registry holds no {attribute} for this person")
        self.attribute = attribute


class InvalidHolderKey(ValueError):
    """The wallet's key cannot bind a credential (not a public JWK of a signing type)."""


def holder_key(jwk: dict) -> tuple[dict, str]:
    """The public JWK to put in `cnf`, and its RFC 7638 thumbprint."""
    if not isinstance(jwk, dict):
        raise InvalidHolderKey("the holder key must be a JWK (a JSON object)")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidHolderKey("the holder key must be a public key: it has private members")
    try:
        key = import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidHolderKey(f"the holder key is not a valid JWK: {exc}") from None
    if not isinstance(key, ECKey | OKPKey | RSAKey):
        raise InvalidHolderKey("the holder key must be an EC, OKP or RSA key")
    return key.as_dict(private=False), key.thumbprint()


def _age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def claims(citizen: Citizen, issued: dt.date, expires: dt.date) -> dict:
    """The rulebook's attributes, every one selectively disclosable and, where it is an
    object or array, each member too (a verifier can be shown the birth country alone,
    one nationality of two, or age_equal_or_over.18 without the other ages)."""
    if not citizen.place_of_birth:
        raise IncompletePID("place_of_birth")
    if not citizen.nationalities:
        raise IncompletePID("nationalities")
    age = _age_on(citizen.birthdate, issued)
    result = {
        "family_name": Disclosable(citizen.family_name),
        "given_name": Disclosable(citizen.given_name),
        "birthdate": Disclosable(citizen.birthdate.isoformat()),
        "place_of_birth": Disclosable(
            {name: Disclosable(value) for name, value in citizen.place_of_birth.items()}
        ),
        "nationalities": Disclosable([Disclosable(code) for code in citizen.nationalities]),
        "age_equal_or_over": Disclosable(
            {str(nn): Disclosable(age >= nn) for nn in AGE_THRESHOLDS}
        ),
        # The year of birth does not change over the credential's life; age_in_years would
        # (it is left out: it would be wrong after the next birthday).
        "age_birth_year": Disclosable(citizen.birthdate.year),
        "issuing_authority": Disclosable(current_app.config["PID_ISSUING_AUTHORITY"]),
        "issuing_country": Disclosable(ISSUING_COUNTRY),
        "date_of_issuance": Disclosable(issued.isoformat()),
        "date_of_expiry": Disclosable(expires.isoformat()),
    }
    address = _address(citizen)
    if address:
        result["address"] = Disclosable(
            {name: Disclosable(value) for name, value in address.items()}
        )
    # personal_administrative_number (the CPR number) is left out: docs/wallet.md says why.
    return result


def _address(citizen: Citizen) -> dict:
    """The registered (CPR) address in OpenID Connect's members, as the rulebook maps them;
    the register holds Danish addresses only."""
    if not (citizen.street or citizen.city):
        return {}
    parts = {
        "street_address": citizen.street,
        "postal_code": citizen.postcode,
        "locality": citizen.city,
        "country": ISSUING_COUNTRY,
    }
    formatted = ", ".join(
        part
        for part in (citizen.street, " ".join(filter(None, (citizen.postcode, citizen.city))))
        if part
    )
    return {"formatted": formatted, **{k: v for k, v in parts.items() if v}}


# The PID's claims that hold the citizen's own attributes, as the claim registry (and so the
# access log) names them; the age claims are read from the birthdate, the rest (issuing
# authority, dates) are the issuer's.
_REGISTRY_NAMES = {
    "given_name": "given_name",
    "family_name": "family_name",
    "birthdate": "birthdate",
    "age_equal_or_over": "birthdate",
    "age_birth_year": "birthdate",
    "place_of_birth": "place_of_birth",
    "nationalities": "nationalities",
    "address": "address",
}


def attributes(content: dict) -> list[str]:
    """The citizen's attributes a PID with these claims carries, by their registry names."""
    return list(dict.fromkeys(_REGISTRY_NAMES[name] for name in content if name in _REGISTRY_NAMES))


def attributes_of(citizen: Citizen) -> list[str]:
    """The citizen's attributes a PID issued now would carry (raises IncompletePID)."""
    today = utcnow().date()
    return attributes(claims(citizen, today, today))


def issue(citizen: Citizen, holder_jwk: dict, *, client_id: str | None = None) -> str:
    """A PID for ``citizen``, bound to ``holder_jwk``, for the wallet ``client_id``: the
    SD-JWT with every disclosure.

    Allocates (and commits) the credential's status list entry first, so a credential
    never exists without one; an index whose signing then fails is simply never used.
    """
    public_jwk, thumbprint = holder_key(holder_jwk)
    now = utcnow().replace(microsecond=0)
    expires_at = now + dt.timedelta(days=current_app.config["PID_VALIDITY_DAYS"])
    content = claims(citizen, now.date(), expires_at.date())
    kid, key = keys.signing_key("ES256", keys.CREDENTIAL)
    entry = status_list.allocate(
        citizen.id, thumbprint, expires_at, client_id=client_id, attributes=attributes(content)
    )
    plain = {
        "iss": current_app.config["ISSUER"],
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "vct": VCT,
        "cnf": {"jwk": public_jwk},
        "status": {"status_list": {"idx": entry.idx, "uri": status_list.uri(entry.list_id)}},
    }
    return sd_jwt_vc.issue(content, plain=plain, key=key, kid=kid)
