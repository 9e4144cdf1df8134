"""Operator commands: `flask citizens …` and `flask demo …`. JSON on stdout for scripts."""

from __future__ import annotations

import json
import sys
import threading

import click
import pyotp
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.serving import make_server

from clients import service as client_registry
from clients.demo import registry as demo_registry
from clients.demo.service import create_service
from idp.citizens import cpr as cpr_numbers
from idp.citizens import demo
from idp.citizens import service as citizens
from idp.config import PRODUCTION
from idp.database import unbounded_statements

citizens_cli = AppGroup("citizens", help="Manage the citizen registry.")
demo_cli = AppGroup("demo", help="Demo data for development.")


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


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
@click.option(
    "--totp-secret",
    help="Base32 TOTP seed: enrols an authenticator app at once (with --username/--password).",
)
def create_command(
    cpr, given_name, family_name, birthdate, username, password, email, phone, address_json,
    totp_secret,
):  # fmt: skip
    """Register one citizen; prints {"id", "username", "status"}."""
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
        )
        citizen = citizens.create_citizen(
            data, username=username, password=password, totp_secret=totp_secret
        )
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    except (citizens.CitizenExists, citizens.UsernameTaken) as exc:
        raise click.ClickException(str(exc)) from None
    _emit({"id": citizen.id, "username": citizen.username, "status": citizen.status.value})


@citizens_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig", errors="strict"))
@unbounded_statements()  # a register extract's import takes as long as it is large
def import_command(csv_file):
    """Import a register extract (CSV, UTF-8, header row). Idempotent by CPR number.

    Columns: cpr, given_name, family_name (required); birthdate, email, phone, street,
    postcode, city, municipality_code (optional).
    """
    try:
        report = citizens.import_rows(csv_file)
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text") from None
    _emit(report.as_dict())
    if report.rejected:
        sys.exit(3)  # done, but not everything went in: a script should look


@citizens_cli.command("activation-code")
@click.argument("cpr")
def activation_code_command(cpr):
    """Issue the one-time code for a pending citizen's activation letter."""
    try:
        canonical = cpr_numbers.parse(cpr)
        citizen, code, expires = citizens.issue_activation_code(canonical)
    except cpr_numbers.InvalidCPR as exc:
        raise click.ClickException(f"cpr: {exc}") from None
    except citizens.CitizenNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except citizens.InvalidCitizenData as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    _emit({"citizen_id": citizen.id, "activation_code": code, "expires_at": expires.isoformat()})


@demo_cli.command("load")
@click.option("--citizens", "count", default=50, show_default=True, type=click.IntRange(0, 100000))
@click.option("--seed", type=int, help="Make the fictitious citizens reproducible.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the registry has citizens.")
def demo_load_command(count, seed, if_empty):
    """Fictitious citizens (Faker da_DK) plus the demo citizen with known credentials."""
    if current_app.config["TILLID_ENV"] == PRODUCTION:
        # A published password and demo services with broad grants have no place there.
        raise click.ClickException("demo data is for development; TILLID_ENV is production")
    if if_empty and not demo.registry_is_empty():
        _emit({"loaded": False, "reason": "the registry is not empty"})
        return
    loaded = demo.load(count, seed)
    loaded["demo_services"] = [
        {"name": d.name, "url": d.url, "client_id": demo_registry.ensure(d).client_id}
        for d in demo_registry.DEMO_SERVICES
    ]
    _emit({"loaded": True, **loaded})


@demo_cli.command("services")
def demo_services_command():
    """Serve the demo tax authority and bank (ports 5001, 5002) until interrupted.

    Each start gives the demo services fresh client secrets, so none is kept on disk. They
    are Danish services: they ask for the login in DEFAULT_LANGUAGE (ui_locales).
    """
    issuer = current_app.config["ISSUER"]
    servers = []
    for service in demo_registry.DEMO_SERVICES:
        client = demo_registry.ensure(service)
        app = create_service(
            name=service.name,
            issuer=issuer,
            client_id=client.client_id,
            client_secret=client_registry.rotate_secret(client.client_id),
            scope=service.scope,
            description=service.description,
            api_scopes=service.api_scopes,
            ciba=service.ciba,
            ui_locales=current_app.config["DEFAULT_LANGUAGE"],
        )
        servers.append(make_server("localhost", service.port, app, threaded=True))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


@demo_cli.command("code")
def demo_code_command():
    """Print the demo citizen's current TOTP code (what an authenticator app would show)."""
    if current_app.config["TILLID_ENV"] == PRODUCTION:
        raise click.ClickException("demo data is for development; TILLID_ENV is production")
    click.echo(pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())


@demo_cli.command("welcome")
def demo_welcome_command():
    """Tell a developer where the server is and how to log in (used by `make run`)."""
    issuer = current_app.config["ISSUER"]
    click.echo(f"\n  Tillid is starting at {issuer}/login")
    if citizens.find_by_username(demo.DEMO_USERNAME) is not None:
        click.echo(
            f"  Log in as user ID {demo.DEMO_USERNAME!r} with password {demo.DEMO_PASSWORD!r},\n"
            f"  then a code from an authenticator app set up with the key {demo.DEMO_TOTP_SECRET}\n"
            f"  (or print one: .venv/bin/flask --app wsgi demo code)"
        )
    click.echo(
        f'  Phone app: pair a phone at {issuer}/me/security ("Pair a phone"), open the link on\n'
        f"  the phone (or in a second browser window), then approve logins at {issuer}/app"
    )
    for service in demo_registry.DEMO_SERVICES:
        click.echo(f"  Demo service: {service.name} at {service.url}")
    language = {"da": "Danish", "en": "English"}[current_app.config["DEFAULT_LANGUAGE"]]
    click.echo(
        f"  Language: the demo services ask for {language}; Tillid's own pages follow your\n"
        "  browser's language (Danish or English); every page has a switch at the top"
    )
    click.echo(f"  Health: {issuer}/healthz   Readiness: {issuer}/readyz\n")


def init_app(app: Flask) -> None:
    from clients.cli import clients_cli
    from consent.cli import ledger_cli
    from idp.audit.cli import audit_cli, audit_every_command
    from idp.keys.cli import keys_cli

    app.cli.add_command(clients_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(citizens_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(audit_cli)
    # Last, so it sees every command (Flask-Migrate's `db` too): each is written to the
    # audit log as it ends.
    audit_every_command(app.cli)
