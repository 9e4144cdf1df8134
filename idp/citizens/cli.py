"""`flask citizens create|import|activation-code|reissue-letter|lock|unlock`: the operator's
handle on the registry. JSON on stdout for scripts."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

import click
from flask import current_app
from flask.cli import AppGroup

from consent import ledger, mandate_events
from idp.authenticators import totp
from idp.citizens import cpr as cpr_numbers
from idp.citizens import service as citizens
from idp.citizens.models import Citizen
from idp.core.commands import emit
from idp.core.database import unbounded_statements
from idp.core.dbtypes import utcnow
from idp.mandates import register as custody_register
from idp.mandates import service as mandates
from idp.sessions import sessions

citizens_cli = AppGroup("citizens", help="Manage the citizen registry.")


@citizens_cli.command("create")
@click.option("--cpr", required=True, help="CPR number, DDMMYYXXXX or DDMMYY-XXXX.")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--birthdate", help="YYYY-MM-DD; must match the CPR number (default: from it).")
@click.option("--username", help="With --password: the account is active at once.")
@click.option("--password", help="With --username. Checked against the password policy.")
@click.option("--email")
@click.option("--phone")
@click.option("--address-json", help='{"street", "postcode", "city", "municipality_code"}')
@click.option("--birth-country", help="Where born: ISO 3166-1 alpha-2 code, e.g. DK.")
@click.option("--birth-region", help="Where born: state, province, region.")
@click.option("--birth-locality", help="Where born: municipality, city, town or village.")
@click.option(
    "--nationality", "nationalities", multiple=True, help="ISO 3166-1 alpha-2 (repeatable)."
)
@click.option(
    "--totp-secret",
    help="Base32 TOTP seed: enrols an authenticator app at once (with --username/--password).",
)
@click.option(
    "--custody-of",
    "custody_of",
    multiple=True,
    help="CPR number of a registered child under 18 this citizen has custody of (repeatable):"
    " a custody mandate, as the import's custody column makes.",
)
def create_command(
    cpr, given_name, family_name, birthdate, username, password, email, phone, address_json,
    birth_country, birth_region, birth_locality, nationalities, totp_secret, custody_of,
):  # fmt: skip
    """Register one citizen; prints {"id", "username", "status"} (and "custody": the
    mandates' ids, with --custody-of)."""
    children = [_child(number) for number in dict.fromkeys(custody_of)]
    try:
        address = json.loads(address_json) if address_json else {}
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--address-json is not valid JSON: {exc.msg}") from None
    except RecursionError:  # nested deeper than the parser recurses
        raise click.ClickException("--address-json is nested too deeply") from None
    try:
        data = citizens.validate(
            cpr=cpr,
            given_name=given_name,
            family_name=family_name,
            birthdate=birthdate,
            email=email,
            phone=phone,
            address=address,
            place_of_birth={
                "country": birth_country,
                "region": birth_region,
                "locality": birth_locality,
            },
            nationalities=nationalities,
        )
        if totp_secret is not None:
            citizen = totp.register_with_app(
                data, username=username, password=password, secret=totp_secret
            )
        else:
            citizen = citizens.create_citizen(data, username=username, password=password)
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    except (citizens.CitizenExists, citizens.UsernameTaken) as exc:
        raise click.ClickException(str(exc)) from None
    answer = {"id": citizen.id, "username": citizen.username, "status": citizen.status.value}
    if children:
        answer["custody"] = [
            mandates.custody(citizen, child, attributes=custody_register.CUSTODY_ATTRIBUTES).id
            for child in children
        ]
    emit(answer)


def registered_citizen(cpr: str, option: str = "cpr") -> Citizen:
    """The registered citizen a command's ``option`` names by CPR number; a number that is not
    one, or nobody registered under it, is exit 1 with the reason, prefixed by the option."""
    try:
        canonical = cpr_numbers.parse(cpr)
    except cpr_numbers.InvalidCPR as exc:
        raise click.ClickException(f"{option}: {exc}") from None
    citizen = citizens.find_by_cpr(canonical)
    if citizen is None:
        raise click.ClickException(f"{option}: no citizen with that CPR number is registered")
    return citizen


def _child(number: str):
    """A child named by --custody-of: registered and under 18 (checked before anything is
    created)."""
    child = registered_citizen(number, "custody-of")
    if mandates.coming_of_age(child.birthdate) <= utcnow():
        raise click.ClickException("custody-of: the child is 18 or older: custody has ended")
    return child


@citizens_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig", errors="strict"))
@unbounded_statements()  # a register extract's import takes as long as it is large
def import_command(csv_file):
    """Import a register extract (CSV, UTF-8, header row). Idempotent by CPR number.

    Columns: cpr, given_name, family_name (required); birthdate, email, phone, street,
    postcode, city, municipality_code, birth_country, birth_region, birth_locality,
    nationalities, custody (optional; country codes ISO 3166-1 alpha-2, nationalities
    separated by semicolons: DK;SE; custody, on a child's row, the CPR numbers of the parents
    with custody, separated by semicolons: each gets a custody mandate until the child's 18th
    birthday, and a parent no longer listed loses it).
    """
    try:
        report, changes = custody_register.import_extract(csv_file)
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text") from None
    for mandate, event in changes:  # in both people's logs (consent/mandate_events.py)
        mandate_events.record(mandate, event)
    ledger.commit()
    emit(report.as_dict())
    if report.rejected:
        sys.exit(3)  # done, but not everything went in: a script should look


@contextlib.contextmanager
def _refused_as_exit_1() -> Iterator[None]:
    """What the registry refuses about one citizen named by CPR number (a CPR number that is
    not one, no such citizen, a status that does not allow it): exit 1 with the reason."""
    try:
        yield
    except cpr_numbers.InvalidCPR as exc:
        raise click.ClickException(f"cpr: {exc}") from None
    except citizens.CitizenNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None


@citizens_cli.command("activation-code")
@click.argument("cpr")
def activation_code_command(cpr):
    """Issue the one-time code for a pending citizen's activation letter."""
    with _refused_as_exit_1():
        citizen, code, expires = citizens.issue_activation_code(cpr_numbers.parse(cpr))
    emit({"citizen_id": citizen.id, "activation_code": code, "expires_at": expires.isoformat()})


# Where each letter is redeemed, printed with its code (the pages: idp/auth/views.py's
# /activate, idp/security/password_reset.py's letter page).
LETTER_PAGES = {
    citizens.LETTER_ACTIVATION: "/activate",
    citizens.LETTER_RECOVERY: "/login/forgot/letter",
}


@citizens_cli.command("reissue-letter")
@click.argument("cpr")
def reissue_letter_command(cpr):
    """A new letter for a citizen; every earlier unused letter stops working.

    A pending citizen gets the activation letter again. An active one gets a recovery
    letter: with it they set a new password at /login/forgot/letter and enrol a new
    authenticator (forgotten password with no other proof, or a lost only second factor).
    Prints what the letter needs: to whom, the code, where to use it and until when.
    """
    with _refused_as_exit_1():
        citizen, code, expires, kind = citizens.reissue_letter(cpr_numbers.parse(cpr))
    issuer = current_app.config["ISSUER"].rstrip("/")
    emit({
        "citizen_id": citizen.id,
        "letter": kind,
        "activation_code": code,
        "expires_at": expires.isoformat(),
        "redeem_at": issuer + LETTER_PAGES[kind],
        "recipient": {
            "name": citizen.full_name,
            "street": citizen.street,
            "postcode": citizen.postcode,
            "city": citizen.city,
        },
    })  # fmt: skip


def _set_locked(cpr: str, locked: bool) -> None:
    with _refused_as_exit_1():
        citizen = citizens.set_locked(cpr_numbers.parse(cpr), locked)
    # A locked citizen is logged out everywhere at once: at Tillid, and at every service
    # that registered for logout tokens (docs/backchannel-logout.md).
    ended = sessions.end_all(citizen.id) if locked else 0
    emit({"citizen_id": citizen.id, "status": citizen.status.value, "sessions_ended": ended})


@citizens_cli.command("lock")
@click.argument("cpr")
def lock_command(cpr):
    """Lock an active account for now (e.g. suspected misuse): no login, no token, and every
    session ends (the services are sent logout tokens)."""
    _set_locked(cpr, True)


@citizens_cli.command("unlock")
@click.argument("cpr")
def unlock_command(cpr):
    """Let a locked citizen log in again."""
    _set_locked(cpr, False)
