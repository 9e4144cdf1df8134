"""`flask demo load|services|code|welcome`: demo data and the demo services, for development."""

from __future__ import annotations

import os
import threading
import time

import click
import pyotp
import requests
from flask import current_app
from flask.cli import AppGroup
from werkzeug.serving import make_server

from clients import service as client_registry
from demo import citizens as demo
from demo import registry as demo_registry
from demo.service import create_service
from idp.citizens import service as citizens
from idp.core.commands import emit
from idp.core.config import PRODUCTION

demo_cli = AppGroup("demo", help="Demo data for development.")


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
        emit({"loaded": False, "reason": "the registry is not empty"})
        return
    loaded = demo.load(count, seed)
    loaded["demo_services"] = [
        {"name": d.name, "url": d.url, "client_id": demo_registry.ensure(d).client_id}
        for d in demo_registry.DEMO_SERVICES
    ]
    emit({"loaded": True, **loaded})


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
            kind=service.kind,
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


def _answering(url: str) -> bool:
    try:
        return requests.get(url, timeout=2, allow_redirects=False).status_code < 500
    except requests.RequestException:
        return False


def wait_until_up(urls: list[str], seconds: float) -> list[str]:
    """Poll each URL until it answers (anything but a 5xx) or ``seconds`` pass; returns the
    ones still silent."""
    deadline = time.monotonic() + seconds
    waiting = list(urls)
    while waiting:
        waiting = [url for url in waiting if not _answering(url)]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return waiting


@demo_cli.command("welcome")
@click.option("--wait", "wait_seconds", type=click.FloatRange(0, 600), default=None,
              help="First wait up to this long for Tillid and the demo services.")  # fmt: skip
def demo_welcome_command(wait_seconds):
    """Tell a developer where the server is and how to log in (used by `make run`, last,
    once the IdP and the demo services answer)."""
    issuer = current_app.config["ISSUER"]
    if wait_seconds is not None:
        silent = wait_until_up(
            [f"{issuer}/readyz", *(service.url for service in demo_registry.DEMO_SERVICES)],
            wait_seconds,
        )
        if silent:
            raise click.ClickException(
                f"no answer within {wait_seconds:g} s from {', '.join(silent)}"
            )
    click.echo(f"\n  Tillid is running at {issuer}/login")
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
    if citizens.find_by_cpr(demo.DEMO_CHILD_CPR) is not None:
        child, tax = " ".join(demo.DEMO_CHILD_NAME), demo_registry.TAX
        click.echo(
            f"  Act for someone else: log in at {tax.name} ({tax.url}) as\n"
            f"  {demo.DEMO_USERNAME!r}, then choose her son {child}, who is in her custody"
        )
    language = {"da": "Danish", "en": "English"}[current_app.config["DEFAULT_LANGUAGE"]]
    click.echo(
        f"  Language: the demo services speak {language} and ask the login for it; Tillid's own\n"
        "  pages follow your browser's language (Danish or English); every page has a switch"
    )
    click.echo(
        f"  Log out at {issuer}/logout and both demo services are told at once and log you out\n"
        "  too (back-channel logout)"
    )
    # `make run` passes the metrics listener's address it gave serve.py (docs/metrics.md).
    metrics_bind = os.environ.get("METRICS_BIND")
    if metrics_bind:
        click.echo(f"  Metrics (Prometheus): http://{metrics_bind}/metrics")
    click.echo(f"  Health: {issuer}/healthz   Readiness: {issuer}/readyz   Stop: Ctrl-C\n")
