"""Registry operations: create, import, activation letters and activation."""

from __future__ import annotations

import csv
import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp.citizens import countries
from idp.citizens import cpr as cpr_numbers
from idp.citizens.models import ActivationCode, Citizen, CitizenStatus, cpr_lookup
from idp.core import crypto, passwords
from idp.core.dbtypes import utcnow
from idp.core.extensions import db

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# Unambiguous alphabet for the letter: no 0/O, 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_GROUPS, _CODE_GROUP_LEN = 3, 4
_TEXT_LIMITS = {
    "given_name": 200,
    "family_name": 200,
    "street": 200,
    "city": 100,
    "birth_region": 100,
    "birth_locality": 100,
    "email": 254,
    "phone": 32,
}


class InvalidCitizenData(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class CitizenExists(ValueError):
    """A citizen with this CPR number is already registered."""


class UsernameTaken(ValueError):
    """Another citizen has this user ID."""


class ActivationFailed(Exception):
    """The CPR number and code do not match a valid, unused activation code."""


class CitizenNotFound(LookupError):
    pass


def canonical_username(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def check_username(raw: str) -> str:
    username = canonical_username(raw)
    if not USERNAME_RE.match(username):
        raise InvalidCitizenData(
            "username",
            _l(
                "3 to 64 characters: letters a–z, digits, dot, dash or underscore, "
                "starting with a letter or digit"
            ),
        )
    if username.isdigit():
        # A user ID of digits only could be, or be mistaken for, a CPR number.
        raise InvalidCitizenData("username", _l("must contain at least one letter"))
    return username


@dataclass
class CitizenData:
    """Validated registry attributes of one person."""

    cpr: str
    given_name: str
    family_name: str
    birthdate: dt.date
    email: str | None = None
    phone: str | None = None
    address: dict = field(default_factory=dict)
    place_of_birth: dict = field(default_factory=dict)
    nationalities: list[str] = field(default_factory=list)


# Control and format characters (incl. bidi overrides and zero-width marks) and line or
# paragraph separators: invisible, or able to make a name display as something it is not.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _clean_text(name: str, value: str | None, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        # Lone surrogates: bytes that were not UTF-8 (e.g. a CLI argument in Latin-1).
        raise InvalidCitizenData(name, "is not valid text (use UTF-8)")
    if any(unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in value):
        raise InvalidCitizenData(name, "contains control characters")
    if not value:
        if required:
            raise InvalidCitizenData(name, "is required")
        return None
    if len(value) > _TEXT_LIMITS[name]:
        raise InvalidCitizenData(name, f"is longer than {_TEXT_LIMITS[name]} characters")
    return value


def validate(
    *,
    cpr: str,
    given_name: str,
    family_name: str,
    birthdate: str | dt.date | None = None,
    email: str | None = None,
    phone: str | None = None,
    address: dict | None = None,
    place_of_birth: dict | None = None,
    nationalities: Iterable[str] | None = None,
) -> CitizenData:
    try:
        canonical = cpr_numbers.parse(cpr or "")
    except cpr_numbers.InvalidCPR as exc:
        raise InvalidCitizenData("cpr", str(exc)) from None
    encoded_birthdate = cpr_numbers.birthdate(canonical)
    if birthdate in (None, ""):
        born = encoded_birthdate
    else:
        try:
            if isinstance(birthdate, dt.date):
                born = birthdate
            elif _ISO_DATE_RE.fullmatch(birthdate.strip()):
                born = dt.date.fromisoformat(birthdate.strip())
            else:  # fromisoformat also takes 19900101 and 1990-W01-1; the registry does not
                raise ValueError(birthdate)
        except ValueError:
            raise InvalidCitizenData("birthdate", "must be a date, YYYY-MM-DD") from None
        if born != encoded_birthdate:
            raise InvalidCitizenData("birthdate", "does not match the date in the CPR number")
    email = _clean_text("email", email)
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidCitizenData("email", "is not an e-mail address")
    phone = _clean_text("phone", phone)
    if phone and not re.fullmatch(r"\+?[0-9 ]{8,20}", phone):
        raise InvalidCitizenData("phone", "is not a phone number")
    return CitizenData(
        cpr=canonical,
        given_name=_clean_text("given_name", given_name, required=True),
        family_name=_clean_text("family_name", family_name, required=True),
        birthdate=born,
        email=email,
        phone=phone,
        address=_validate_address({} if address is None else address),
        place_of_birth=_validate_place_of_birth({} if place_of_birth is None else place_of_birth),
        nationalities=_validate_nationalities(nationalities or ()),
    )


def _validate_place_of_birth(place: dict) -> dict:
    if not isinstance(place, dict):
        raise InvalidCitizenData("place_of_birth", "must be an object")
    unknown = set(place) - {"country", "region", "locality"}
    if unknown:
        raise InvalidCitizenData("place_of_birth", f"unknown fields: {', '.join(sorted(unknown))}")
    for key, value in place.items():
        if value is not None and not isinstance(value, str):
            raise InvalidCitizenData(f"place_of_birth.{key}", "must be text")
    country = (place.get("country") or "").strip() or None
    if country is not None:
        try:
            country = countries.parse(country)
        except countries.UnknownCountry as exc:
            raise InvalidCitizenData("place_of_birth.country", str(exc)) from None
    return {
        "country": country,
        "region": _clean_text("birth_region", place.get("region")),
        "locality": _clean_text("birth_locality", place.get("locality")),
    }


def _validate_nationalities(codes: Iterable[str]) -> list[str]:
    if isinstance(codes, str | bytes):  # one string would be read as its letters
        raise InvalidCitizenData("nationalities", "must be a list of country codes")
    codes = list(codes)
    if not all(isinstance(code, str) for code in codes):
        raise InvalidCitizenData("nationalities", "must be a list of country codes")
    result: list[str] = []
    for raw in codes:
        try:
            code = countries.parse(raw)
        except countries.UnknownCountry as exc:
            raise InvalidCitizenData("nationalities", str(exc)) from None
        if code not in result:  # the register may repeat one; the PID lists each once
            result.append(code)
    return result


def split_nationalities(cell: str | None) -> list[str]:
    """A register cell's nationalities: codes separated by semicolons or spaces ("DK;SE")."""
    return [code for code in re.split(r"[;\s]+", cell or "") if code]


def _validate_address(address: dict) -> dict:
    if not isinstance(address, dict):
        raise InvalidCitizenData("address", "must be an object")
    unknown = set(address) - {"street", "postcode", "city", "municipality_code"}
    if unknown:
        raise InvalidCitizenData("address", f"unknown fields: {', '.join(sorted(unknown))}")
    for key, value in address.items():
        if value is not None and not isinstance(value, str):
            raise InvalidCitizenData(f"address.{key}", "must be text")
    postcode = (address.get("postcode") or "").strip() or None
    if postcode and not re.fullmatch(r"[0-9]{4}", postcode):
        raise InvalidCitizenData("address.postcode", "a Danish postcode has four digits")
    municipality = (address.get("municipality_code") or "").strip() or None
    if municipality and not re.fullmatch(r"[0-9]{3,4}", municipality):
        raise InvalidCitizenData("address.municipality_code", "has three or four digits")
    return {
        "street": _clean_text("street", address.get("street")),
        "postcode": postcode,
        "city": _clean_text("city", address.get("city")),
        "municipality_code": municipality,
    }


def _apply(citizen: Citizen, data: CitizenData) -> None:
    citizen.given_name = data.given_name
    citizen.family_name = data.family_name
    citizen.birthdate = data.birthdate
    citizen.email = data.email
    citizen.phone = data.phone
    for key, value in data.address.items():
        setattr(citizen, key, value)
    citizen.birth_country = data.place_of_birth.get("country")
    citizen.birth_region = data.place_of_birth.get("region")
    citizen.birth_locality = data.place_of_birth.get("locality")
    citizen.nationalities = list(data.nationalities)


def find_by_cpr(canonical: str) -> Citizen | None:
    return db.session.scalar(select(Citizen).where(Citizen.cpr_lookup == cpr_lookup(canonical)))


def find_by_username(raw: str) -> Citizen | None:
    return db.session.scalar(select(Citizen).where(Citizen.username == canonical_username(raw)))


def create_citizen(
    data: CitizenData,
    *,
    username: str | None = None,
    password: str | None = None,
    enrol: Callable[[Citizen], object] | None = None,
) -> Citizen:
    """Register a person. With a username and password the account is active at once.
    ``enrol``, given the new citizen, sets up a second factor in the same transaction
    (operators, migration, tests: see ``idp.authenticators.totp.register_with_app``)."""
    if (username is None) != (password is None):
        raise InvalidCitizenData("username", "give both a username and a password, or neither")
    if find_by_cpr(data.cpr):
        raise CitizenExists("a citizen with this CPR number is already registered")
    citizen = Citizen()
    citizen.cpr = data.cpr
    _apply(citizen, data)
    if username is not None:
        _set_credentials(citizen, username, password)
    try:
        db.session.add(citizen)
        if enrol is not None:
            db.session.flush()  # gives the citizen its id
            enrol(citizen)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if find_by_cpr(data.cpr):
            raise CitizenExists("a citizen with this CPR number is already registered") from None
        raise UsernameTaken("this user ID is taken") from None
    return citizen


def _set_credentials(citizen: Citizen, raw_username: str, password: str) -> None:
    username = check_username(raw_username)
    try:
        passwords.check_policy(password, username=username)
    except passwords.WeakPassword as exc:
        raise InvalidCitizenData("password", str(exc)) from None
    existing = find_by_username(username)
    if existing is not None and existing.id != citizen.id:
        raise UsernameTaken("this user ID is taken")
    citizen.username = username
    citizen.password_hash = passwords.hash_password(password)
    citizen.status = CitizenStatus.ACTIVE
    citizen.activated_at = utcnow()


IMPORT_COLUMNS = (
    "cpr",
    "given_name",
    "family_name",
    "birthdate",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "municipality_code",
    "birth_country",
    "birth_region",
    "birth_locality",
    "nationalities",
    "custody",
)
REQUIRED_IMPORT_COLUMNS = ("cpr", "given_name", "family_name")


@dataclass(frozen=True)
class CustodyListing:
    """A child's row of an extract with the custody column: the parents (canonical CPR
    numbers) the register shows with custody of the child, none when the cell is empty."""

    line: int
    child_cpr: str
    parent_cprs: tuple[str, ...]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict] = field(default_factory=list)
    # With the custody column only: each imported row's listing, applied after every row
    # is in (a parent may come after the child) by idp.mandates.register.apply_custody,
    # which counts here what it granted, ended and kept.
    custody_listings: list[CustodyListing] | None = None
    custody: dict | None = None

    def as_dict(self) -> dict:
        result = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "rejected_rows": sorted(self.rejected, key=lambda row: row["line"]),
        }
        if self.custody is not None:
            result["custody"] = self.custody
        return result


def split_custody(cell: str | None, child_cpr: str) -> tuple[str, ...]:
    """A register cell's parents with custody: CPR numbers separated by semicolons or spaces
    ("0101801234;0202821234"), each canonical and once."""
    parents: list[str] = []
    for raw in re.split(r"[;\s]+", cell or ""):
        if not raw:
            continue
        try:
            canonical = cpr_numbers.parse(raw)
        except cpr_numbers.InvalidCPR:
            raise InvalidCitizenData(
                "custody", "must be the CPR numbers of the parents, separated by semicolons"
            ) from None
        if canonical == child_cpr:
            raise InvalidCitizenData("custody", "names the person themselves")
        if canonical not in parents:
            parents.append(canonical)
    return tuple(parents)


def import_rows(lines: Iterable[str]) -> ImportReport:
    """Import a register extract (CSV with a header row); idempotent by CPR number.

    Each row commits on its own, so a bad row is reported and never stops the good ones.
    With a ``custody`` column the report also lists each row's parents with custody, for
    idp.mandates.register.apply_custody (``import_extract`` there does both): this registry
    reads the column, the mandate registry above it makes the mandates.
    """
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_IMPORT_COLUMNS if c not in header]
    if missing:
        raise InvalidCitizenData("header", f"missing column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if unknown:
        raise InvalidCitizenData("header", f"unknown column(s): {', '.join(unknown)}")
    reader.fieldnames = header
    report = ImportReport()
    if "custody" in header:
        report.custody_listings = []
    for row in reader:
        line = reader.line_num
        if None in row:  # more cells than header columns
            report.rejected.append({"line": line, "reason": "more cells than columns"})
            continue
        try:
            data = validate(
                cpr=row.get("cpr") or "",
                given_name=row.get("given_name") or "",
                family_name=row.get("family_name") or "",
                birthdate=row.get("birthdate") or None,
                email=row.get("email"),
                phone=row.get("phone"),
                address={
                    k: row.get(k) for k in ("street", "postcode", "city", "municipality_code")
                },
                place_of_birth={
                    "country": row.get("birth_country"),
                    "region": row.get("birth_region"),
                    "locality": row.get("birth_locality"),
                },
                nationalities=split_nationalities(row.get("nationalities")),
            )
            parents = split_custody(row.get("custody"), data.cpr)
        except InvalidCitizenData as exc:
            report.rejected.append({"line": line, "field": exc.field, "reason": exc.message})
            continue
        outcome = _upsert(data)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if report.custody_listings is not None:
            report.custody_listings.append(CustodyListing(line, data.cpr, parents))
    return report


def _upsert(data: CitizenData) -> str:
    citizen = find_by_cpr(data.cpr)
    if citizen is None:
        citizen = Citizen()
        citizen.cpr = data.cpr
        _apply(citizen, data)
        db.session.add(citizen)
        db.session.commit()
        return "created"
    before = _registry_view(citizen)
    _apply(citizen, data)
    if _registry_view(citizen) == before:
        db.session.rollback()
        return "unchanged"
    db.session.commit()
    return "updated"


def _registry_view(citizen: Citizen) -> tuple:
    return (
        citizen.given_name,
        citizen.family_name,
        citizen.birthdate,
        citizen.email,
        citizen.phone,
        citizen.street,
        citizen.postcode,
        citizen.city,
        citizen.municipality_code,
        citizen.birth_country,
        citizen.birth_region,
        citizen.birth_locality,
        tuple(citizen.nationalities or ()),
    )


LETTER_ACTIVATION = "activation"  # a pending citizen's first way in
LETTER_RECOVERY = "recovery"  # an active citizen's way back: a new password, a new authenticator


def issue_activation_code(canonical_cpr: str) -> tuple[Citizen, str, dt.datetime]:
    """Make the one-time code for the activation letter; earlier unused codes stop working."""
    citizen = _registered(canonical_cpr)
    if citizen.status != CitizenStatus.PENDING:
        raise InvalidCitizenData("cpr", f"the citizen is {citizen.status.value}, not pending")
    code, expires = _new_letter_code(citizen)
    return citizen, code, expires


def reissue_letter(canonical_cpr: str) -> tuple[Citizen, str, dt.datetime, str]:
    """A new letter, which voids every earlier unused one: for a pending citizen the
    activation letter again, for an active one the recovery letter (forgotten password and
    no other way to prove it is them, or a lost only authenticator). Returns the citizen,
    the code, when it expires and which letter it is."""
    citizen = _registered(canonical_cpr)
    if citizen.status == CitizenStatus.PENDING:
        kind = LETTER_ACTIVATION
    elif citizen.status == CitizenStatus.ACTIVE:
        kind = LETTER_RECOVERY
    else:
        # A locked, blocked or deceased account gets no way in by post: support decides.
        raise InvalidCitizenData(
            "cpr", f"the citizen is {citizen.status.value}: no letter can be issued"
        )
    code, expires = _new_letter_code(citizen)
    return citizen, code, expires, kind


def set_locked(canonical_cpr: str, locked: bool) -> Citizen:
    """Lock an active account (an operator's temporary stop, e.g. suspected misuse: no login,
    no token for it), or unlock a locked one. Ending the citizen's sessions is the caller's
    part (a registry knows no sessions)."""
    citizen = _registered(canonical_cpr)
    before, after = ((CitizenStatus.ACTIVE, CitizenStatus.LOCKED) if locked
                     else (CitizenStatus.LOCKED, CitizenStatus.ACTIVE))  # fmt: skip
    if citizen.status != before:
        raise InvalidCitizenData(
            "cpr", f"the citizen is {citizen.status.value}, not {before.value}"
        )
    citizen.status = after
    db.session.commit()
    return citizen


def _registered(canonical_cpr: str) -> Citizen:
    citizen = find_by_cpr(canonical_cpr)
    if citizen is None:
        raise CitizenNotFound("no citizen with this CPR number")
    return citizen


def _new_letter_code(citizen: Citizen) -> tuple[str, dt.datetime]:
    now = utcnow()
    db.session.execute(
        update(ActivationCode)
        .where(ActivationCode.citizen_id == citizen.id, ActivationCode.used_at.is_(None))
        .values(expires_at=now)
    )
    code = "-".join(
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP_LEN))
        for _ in range(_CODE_GROUPS)
    )
    expires = now + dt.timedelta(days=current_app.config["ACTIVATION_CODE_DAYS"])
    db.session.add(
        ActivationCode(
            citizen=citizen, code_hash=_code_hash(code), created_at=now, expires_at=expires
        )
    )
    db.session.commit()
    return code, expires


def _code_hash(code: str) -> str:
    normalised = re.sub(r"[\s-]", "", code).upper()
    return crypto.keyed_hash(normalised, "activation-code")


def activate(raw_cpr: str, code: str, raw_username: str, password: str) -> Citizen:
    """Redeem an activation code: the citizen chooses a user ID and password.

    Every mismatch raises the same ``ActivationFailed`` so nothing tells whether a CPR
    number is registered. The code is marked used in the same statement that checks it
    is unused, so two concurrent activations cannot both succeed.
    """
    try:
        canonical = cpr_numbers.parse(raw_cpr)
    except cpr_numbers.InvalidCPR:
        raise ActivationFailed() from None
    username = check_username(raw_username)
    try:
        passwords.check_policy(password, username=username)
    except passwords.WeakPassword as exc:
        raise InvalidCitizenData("password", str(exc)) from None
    citizen = find_by_cpr(canonical)
    now = utcnow()
    if citizen is None or citizen.status != CitizenStatus.PENDING:
        raise ActivationFailed()
    claimed = db.session.execute(
        update(ActivationCode)
        .where(
            ActivationCode.citizen_id == citizen.id,
            ActivationCode.code_hash == _code_hash(code),
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise ActivationFailed()
    try:
        _set_credentials(citizen, username, password)
        citizen.identity_proofed_at = now  # the letter reached the registered address
        db.session.commit()
    except (UsernameTaken, IntegrityError):
        db.session.rollback()  # the code stays unused: the citizen may pick another ID
        raise UsernameTaken("this user ID is taken") from None
    return citizen


def redeem_recovery_letter(raw_cpr: str, code: str, password: str) -> Citizen:
    """Redeem a recovery letter (``reissue_letter`` for an active citizen): the citizen sets
    a new password; the caller lets them enrol a new authenticator.

    As at activation, every mismatch is the same ``ActivationFailed``, and the code is
    marked used by the statement that checks it. Only a code made after the account was
    activated counts: an activation letter can never reset an active account's password.
    """
    try:
        canonical = cpr_numbers.parse(raw_cpr)
    except cpr_numbers.InvalidCPR:
        raise ActivationFailed() from None
    citizen = find_by_cpr(canonical)
    if citizen is None or citizen.status != CitizenStatus.ACTIVE:
        raise ActivationFailed()
    now = utcnow()
    conditions = [
        ActivationCode.citizen_id == citizen.id,
        ActivationCode.code_hash == _code_hash(code),
        ActivationCode.used_at.is_(None),
        ActivationCode.expires_at > now,
    ]
    if citizen.activated_at is not None:
        conditions.append(ActivationCode.created_at >= citizen.activated_at)
    claimed = db.session.execute(update(ActivationCode).where(*conditions).values(used_at=now))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise ActivationFailed()
    try:
        # Only now the policy with the user ID in it: before the code, the answer would tell
        # whoever typed the CPR number something about the account.
        _set_password(citizen, password)
    except InvalidCitizenData:
        db.session.rollback()  # the letter stays good for a better password
        raise
    citizen.identity_proofed_at = now  # the letter reached the registered address again
    db.session.commit()
    return citizen


def change_password(citizen: Citizen, password: str) -> None:
    """Store a new password the citizen chose (change or reset), checked by the policy."""
    _set_password(citizen, password)
    db.session.commit()


def _set_password(citizen: Citizen, password: str) -> None:
    try:
        passwords.check_policy(password, username=citizen.username)
    except passwords.WeakPassword as exc:
        raise InvalidCitizenData("password", str(exc)) from None
    citizen.password_hash = passwords.hash_password(password)
