"""Attacks on the authorization code: injection into another session or client, and PKCE
downgrades. Code replay is tests/oidc/test_code_flow.py::
test_a_code_works_once_and_its_replay_revokes_the_tokens; a code redeemed by another
confidential client is test_a_code_is_bound_to_its_client there."""

from __future__ import annotations

from tests.oidc.conftest import Flow, pkce, redirect_params, register

SPA_REDIRECT = "https://app.example/callback"


def test_attack_pkce_downgrade_to_plain_at_the_token_endpoint(app, oidc):
    """The code was asked for with S256; the thief read the challenge (it travels in the
    browser) and offers it as a `plain` verifier."""
    flow = oidc(register(app))
    response = flow.exchange(flow.code(), code_verifier=flow.challenge)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_attack_pkce_downgrade_by_dropping_the_verifier(app, oidc):
    flow = oidc(register(app))
    code = flow.code()
    for verifier in (None, ""):
        response = flow.exchange(code, code_verifier=verifier)
        assert response.status_code == 400, verifier
        assert response.json["error"] in ("invalid_request", "invalid_grant"), verifier


def _public_flow(app, oidc) -> Flow:
    service = register(app, name="Borgerapp", redirect_uri=SPA_REDIRECT,
                       extra=["--auth-method", "none"])  # fmt: skip
    assert service.client_secret is None
    return oidc(service)


def _public_exchange(flow: Flow, code: str, **override):
    data = {"grant_type": "authorization_code", "code": code, "client_id": flow.service.client_id,
            "redirect_uri": flow.service.redirect_uri, "code_verifier": flow.verifier}  # fmt: skip
    data.update(override)
    return flow.client.post("/token", data={k: v for k, v in data.items() if v is not None})


def test_attack_pkce_downgrade_a_public_client_without_a_challenge(app, oidc):
    """A public client has no secret: PKCE is all that ties its code to its own browser."""
    flow = _public_flow(app, oidc)
    for override in ({"code_challenge": None, "code_challenge_method": None},
                     {"code_challenge_method": "plain"},
                     {"code_challenge": flow.verifier, "code_challenge_method": "plain"},
                     {"code_challenge_method": None}):  # fmt: skip
        params = redirect_params(flow.authorize(**override))
        assert params.get("error") == "invalid_request" and "code" not in params, override
    # The control: with S256 the login works, and its code only with the verifier.
    assert _public_exchange(flow, flow.code()).status_code == 200
    flow.new_nonce()
    refused = _public_exchange(flow, flow.code(), code_verifier=None)
    assert refused.status_code == 400 and refused.json["error"] == "invalid_request"


def test_attack_code_injection_into_the_attackers_session(app, oidc):
    """RFC 9700 4.5: the attacker starts a login at the same service in their own browser
    (their own, valid PKCE pair) and injects the victim's stolen code into its callback."""
    service = register(app)
    victim = oidc(service)
    stolen = victim.code()
    attacker = oidc(service)
    attacker.verifier, attacker.challenge = pkce()
    response = attacker.exchange(stolen)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_attack_code_injection_across_clients_to_a_public_client(app, oidc):
    """A confidential service's code, redeemed by a public client (no secret to steal) that
    knows the verifier too, or in the confidential client's name without its secret."""
    victim = oidc(register(app))
    stolen = victim.code()
    thief = _public_flow(app, oidc)
    thief.verifier = victim.verifier
    response = _public_exchange(thief, stolen, redirect_uri=victim.service.redirect_uri)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"

    victim.new_nonce()
    another = victim.code()
    as_victim = victim.client.post("/token", data={
        "grant_type": "authorization_code", "code": another, "client_id": victim.service.client_id,
        "redirect_uri": victim.service.redirect_uri, "code_verifier": victim.verifier,
    })  # fmt: skip
    assert as_victim.status_code in (400, 401) and as_victim.json["error"] == "invalid_client"
