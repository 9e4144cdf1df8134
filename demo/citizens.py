"""Demo data: Faker (da_DK) citizens, one named demo citizen with known credentials, and her
child (under 18, in her custody: she can act for him where a service accepts representation)."""

from __future__ import annotations

import datetime as dt
import random

from faker import Faker

from consent import ledger, mandate_events
from idp.authenticators import totp
from idp.citizens import service
from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.mandates import register as custody_register

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "Solsikke-Fjord-42"  # noqa: S105 (published on purpose: it is the demo login)
DEMO_TOTP_SECRET = "KRUWY3DJMQQGIZLNN4QGG2LUNF5GK3RB"  # noqa: S105 (published: the demo login)
DEMO_CPR = "1507851234"
PENDING_DEMO_CPR = "0203924321"
# Ida's son, born 2015 (the seventh digit 4 puts a year up to 36 in the 2000s): 18 in 2033.
# He has no account of his own; Ida holds his custody, as the register extract shows it.
DEMO_CHILD_CPR = "1203154321"
DEMO_CHILD_NAME = ("Emil", "Demo-Jensen")

_MUNICIPALITIES = {"København": "101", "Aarhus": "751", "Odense": "461", "Aalborg": "851"}
# Birth places and nationalities for the PID: most born in Denmark, some abroad, a few with
# a second nationality (the register records every one).
_BIRTH_PLACES = (
    {"country": "DK", "region": "Region Hovedstaden", "locality": "København"},
    {"country": "DK", "region": "Region Midtjylland", "locality": "Aarhus"},
    {"country": "DK", "region": "Region Syddanmark", "locality": "Odense"},
    {"country": "DK", "region": "Region Nordjylland", "locality": "Aalborg"},
    {"country": "SE", "locality": "Malmö"},
    {"country": "DE", "region": "Schleswig-Holstein", "locality": "Flensburg"},
)
_NATIONALITIES = {"DK": ["DK"], "SE": ["SE", "DK"], "DE": ["DE"]}


def _cpr_for(born: dt.date, rng: random.Random) -> str:
    # The seventh digit must place the year in the right century (see cpr._century).
    seventh = rng.choice("0123") if born.year < 2000 else rng.choice("4")
    return f"{born:%d%m%y}{seventh}{rng.randrange(1000):03d}"


def _fake_citizen(fake: Faker, rng: random.Random) -> service.CitizenData:
    born = fake.date_of_birth(minimum_age=15, maximum_age=95)
    city, municipality = rng.choice(list(_MUNICIPALITIES.items()))
    # From the birthdate, not from rng: drawing from rng would change every later CPR number.
    born_in = _BIRTH_PLACES[born.toordinal() % len(_BIRTH_PLACES)]
    return service.validate(
        cpr=_cpr_for(born, rng),
        given_name=fake.first_name(),
        family_name=fake.last_name(),
        birthdate=born,
        email=fake.free_email(),
        phone=f"+45 {rng.randrange(20000000, 99999999)}",
        address={
            "street": fake.street_address(),
            "postcode": f"{rng.randrange(1000, 9990)}",
            "city": city,
            "municipality_code": municipality,
        },
        place_of_birth=born_in,
        nationalities=_NATIONALITIES[born_in["country"]],
    )


def load(count: int, seed: int | None = None) -> dict:
    """Create ``count`` fictitious citizens plus the named demo citizens (if absent)."""
    fake = Faker("da_DK")
    rng = random.Random(seed)  # noqa: S311 (fictitious people, not secrets)
    if seed is not None:
        fake.seed_instance(seed)
    created = 0
    for _ in range(count):
        data = _fake_citizen(fake, rng)
        if service.find_by_cpr(data.cpr) is None:
            service.create_citizen(data)
            created += 1
    result: dict = {"created": created}
    if service.find_by_cpr(DEMO_CPR) is None:
        ida = totp.register_with_app(
            service.validate(
                cpr=DEMO_CPR,
                given_name="Ida",
                family_name="Demo-Jensen",
                email="ida@example.org",
                phone="+45 12345678",
                address={
                    "street": "Vesterbrogade 1",
                    "postcode": "1620",
                    "city": "København V",
                    "municipality_code": "101",
                },
                place_of_birth={
                    "country": "DK",
                    "region": "Region Hovedstaden",
                    "locality": "København",
                },
                nationalities=["DK"],
            ),
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            secret=DEMO_TOTP_SECRET,
        )
        # The demo pretends her activation letter arrived, so a passkey can show NSIS High.
        ida.identity_proofed_at = utcnow()
        db.session.commit()
        result["created"] += 1
    result["demo_citizen"] = {
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "totp_secret": DEMO_TOTP_SECRET,
    }
    result["demo_child"] = _load_child(result)
    if service.find_by_cpr(PENDING_DEMO_CPR) is None:
        service.create_citizen(
            service.validate(cpr=PENDING_DEMO_CPR, given_name="Oskar", family_name="Demo-Hansen")
        )
        result["created"] += 1
        _, code, expires = service.issue_activation_code(PENDING_DEMO_CPR)
        result["activation_demo"] = {
            "cpr": PENDING_DEMO_CPR,
            "activation_code": code,
            "expires_at": expires.isoformat(),
        }
    return result


def _load_child(result: dict) -> dict:
    """Ida's son and her custody of him, through the register import's own path (the custody
    column): imported again, nothing changes."""
    header = (
        "cpr,given_name,family_name,street,postcode,city,municipality_code,"
        "birth_country,birth_region,birth_locality,nationalities,custody"
    )
    given, family = DEMO_CHILD_NAME
    row = (
        f"{DEMO_CHILD_CPR},{given},{family},Vesterbrogade 1,1620,København V,101,"
        f"DK,Region Hovedstaden,København,DK,{DEMO_CPR}"
    )
    report, changes = custody_register.import_extract([header, row])
    for mandate, event in changes:
        mandate_events.record(mandate, event)
    ledger.commit()
    result["created"] += report.created
    return {"name": f"{given} {family}", "cpr": DEMO_CHILD_CPR, "custody": DEMO_USERNAME}


def registry_is_empty() -> bool:
    from idp.core.extensions import db

    return db.session.query(Citizen.id).first() is None
