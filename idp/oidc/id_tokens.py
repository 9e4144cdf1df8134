"""The ID token: who logged in, when and how, and the claims released with it (ledgered)."""

from __future__ import annotations

import time

from authlib.oidc.core.util import create_half_hash
from flask import current_app
from joserfc import jwt

from clients.models import Client
from consent import ledger, release
from idp.citizens.models import Citizen
from idp.core.extensions import db
from idp.keys import service as keys
from idp.mandates import service as mandates
from idp.oidc import subjects


def acting_release(mandate, client: Client, agent_id: str, principal: Citizen) -> release.Acting:
    """What a release while ``agent_id`` acts for ``principal`` under ``mandate`` may give
    ``client``, and whom its ledger entries name."""
    agent = db.session.get(Citizen, agent_id)
    return release.Acting(
        agent_id=agent_id,
        agent_name=agent.full_name if agent is not None else "",
        principal_name=principal.full_name,
        mandate_id=mandate.id,
        origin=str(mandate.origin),
        within=mandates.releasable(mandate, client),
    )


def id_token_for(client: Client, citizen: Citizen, token: dict, *, auth_time: int, acr: str,
                 amr: list[str], released=(), extra: dict | None = None,
                 acting: dict | None = None) -> str:  # fmt: skip
    """The ID token that goes with ``token``: who logged in, when and how, and the claims
    released to ``client``, ledgered (channel `login`) and committed with it, together with
    the `sub` handed out. With ``acting`` ({mandate_id, agent_id}: an agent logged in for
    ``citizen``), `sub` is the principal's, `act` names the agent by their own `sub` at the
    service (RFC 8693 4.1), `representation` says under which mandate, and only what it
    allows is released; `acr`, `amr` and `auth_time` are the agent's login."""
    alg = client.id_token_signed_response_alg
    kid, key = keys.signing_key(alg)  # one key lookup gives both the `kid` and the signature
    now = int(time.time())
    claims = {
        "iss": current_app.config["ISSUER"],
        # The service will know the citizen by this `sub`: it may name them by it later.
        "sub": subjects.remember(client.sector_identifier, citizen.id),
        "aud": client.client_id,
        "iat": now,
        "exp": now + current_app.config["ID_TOKEN_SECONDS"],
        "auth_time": auth_time,
        "acr": acr,
        "amr": amr,
        "at_hash": create_half_hash(token["access_token"], alg).decode(),
        **{name: value for name, value in (extra or {}).items() if value},
    }
    under = None
    if acting is not None:
        mandate = mandates.get(acting["mandate_id"])
        under = acting_release(mandate, client, acting["agent_id"], citizen)
        claims["act"] = {"sub": subjects.remember(client.sector_identifier, acting["agent_id"])}
        claims["representation"] = mandates.representation(mandate, client)
    claims.update(release.release(client, citizen, token["scope"].split(), released,
                                  ledger.Channel.LOGIN, acting=under))  # fmt: skip
    id_token = jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, [alg])
    ledger.commit()  # the token's writes, then its ledger entries, durable before it is sent
    return id_token
