"""`flask clients create|list|show|rotate-secret|disable`: the relying-party registry."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from clients import service
from clients.claims import LegalBasis
from idp.core.commands import emit

_KINDS = [kind.value for kind in service.REGISTRABLE_KINDS]
_BASES = [basis.value for basis in LegalBasis]
_GRANTS = list(service.GRANT_TYPES)
clients_cli = AppGroup("clients", help="Manage the relying parties (services) that use Tillid.")


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from None


@clients_cli.command("create")
@click.option("--name", help="The service's name, as citizens will see it.")
@click.option("--kind", type=click.Choice(_KINDS))
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact; repeatable.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Repeatable.")
@click.option("--scope", help='Space-separated, e.g. "openid profile age".')
@click.option("--legal-basis", type=click.Choice(_BASES), help="For every claim.")
@click.option("--purpose", help="Why the service needs the claims, in plain words.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(_GRANTS))
@click.option("--auth-method", type=click.Choice(service.AUTH_METHODS))
@click.option("--id-token-alg", type=click.Choice(service.SIGNING_ALGS))
@click.option("--access-token-alg", type=click.Choice(service.SIGNING_ALGS))
@click.option("--sector", help="Sector identifier (default: the redirect URIs' host).")
@click.option(
    "--profile",
    type=click.Choice(service.PROFILES),
    help="fapi2: the FAPI 2.0 Security Profile (PAR, DPoP and private_key_jwt required).",
)
@click.option(
    "--require-par",
    is_flag=True,
    default=None,
    help="Accept only pushed authorization requests (RFC 9126).",
)
@click.option(
    "--dpop", "dpop_bound", is_flag=True, default=None, help="Require DPoP-bound tokens (RFC 9449)."
)
@click.option(
    "--accepts-representation",
    is_flag=True,
    default=None,
    help="Citizens may log in for someone they hold a mandate for (docs/representation.md).",
)
@click.option(
    "--representation-claim",
    "representation_claims",
    multiple=True,
    help="A claim the service receives while someone acts for another; repeatable.",
)
@click.option(
    "--backchannel-logout-uri",
    help="Where the service receives logout tokens when a citizen's session ends.",
)
@click.option(
    "--backchannel-logout-session-required",
    "session_required",
    is_flag=True,
    default=None,
    help="The logout tokens must carry the session's sid (Tillid's always do).",
)
@click.option(
    "--from-file",
    type=click.File("r", encoding="utf-8"),
    help="A JSON registration (per-claim legal bases, jwks); options override it.",
)
def create_command(name, kind, redirect_uris, logout_uris, scope, legal_basis, purpose,
                   grant_types, auth_method, id_token_alg, access_token_alg, sector,
                   profile, require_par, dpop_bound, accepts_representation,
                   representation_claims, backchannel_logout_uri, session_required,
                   from_file):  # fmt: skip
    """Register a service; prints {"client_id", "client_secret"} (the secret only now)."""
    spec: dict = {}
    if from_file is not None:
        try:
            spec = json.load(from_file)
        except json.JSONDecodeError as exc:
            _fail(ValueError(f"--from-file is not valid JSON: {exc.msg} (line {exc.lineno})"))
        except RecursionError:  # nested deeper than the parser recurses
            _fail(ValueError("--from-file is nested too deeply"))
        if not isinstance(spec, dict):
            _fail(ValueError("--from-file must hold a JSON object"))
    given = {
        "name": name,
        "kind": kind,
        "redirect_uris": list(redirect_uris) or None,
        "post_logout_redirect_uris": list(logout_uris) or None,
        "scope": scope,
        "legal_basis": legal_basis,
        "purpose": purpose,
        "grant_types": list(grant_types) or None,
        "token_endpoint_auth_method": auth_method,
        "id_token_signed_response_alg": id_token_alg,
        "access_token_signed_response_alg": access_token_alg,
        "sector_identifier": sector,
        "profile": profile,
        "require_pushed_authorization_requests": require_par,
        "dpop_bound_access_tokens": dpop_bound,
        "accepts_representation": accepts_representation,
        "representation_claims": list(representation_claims) or None,
        "backchannel_logout_uri": backchannel_logout_uri,
        "backchannel_logout_session_required": session_required,
    }
    spec.update({key: value for key, value in given.items() if value is not None})
    try:
        client, secret = service.register(spec)
    except service.InvalidRegistration as exc:
        _fail(exc)
    emit({"client_id": client.client_id, "client_secret": secret})


@clients_cli.command("list")
def list_command():
    """Every registered service: client_id, name, kind, enabled."""
    emit(
        [
            {"client_id": c.client_id, "name": c.name, "kind": c.kind.value, "enabled": c.enabled}
            for c in service.all_clients()
        ]
    )


@clients_cli.command("show")
@click.argument("client_id")
def show_command(client_id):
    """One registration in full (never the secret)."""
    try:
        emit(service.describe(service.get(client_id)))
    except service.ClientNotFound as exc:
        _fail(exc)


@clients_cli.command("rotate-secret")
@click.argument("client_id")
def rotate_secret_command(client_id):
    """Issue a new secret; the old one stops working at once."""
    try:
        emit({"client_id": client_id, "client_secret": service.rotate_secret(client_id)})
    except (service.ClientNotFound, service.InvalidRegistration) as exc:
        _fail(exc)


@clients_cli.command("disable")
@click.argument("client_id")
def disable_command(client_id):
    """Stop a service from authenticating or logging anyone in."""
    try:
        client = service.disable(client_id)
    except service.ClientNotFound as exc:
        _fail(exc)
    emit({"client_id": client.client_id, "disabled_at": client.disabled_at.isoformat()})
