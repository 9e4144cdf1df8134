"""A relying party on Node's openid-client v6, with its defaults, logs a parent in for their
child at a live Tillid: it validates the ID token (signature, iss, aud, nonce) and reads the
child's `sub`, the parent in `act` and the `representation` claim from it; userinfo and a
refresh go on for the child."""

from __future__ import annotations

import json
from urllib.parse import urljoin

import requests

from clients.claims import CPR_CLAIM
from idp.citizens.service import find_by_cpr, find_by_username
from idp.mandates import service as mandates
from tests.conftest import CitizenActions
from tests.interop import node
from tests.interop.test_authlib_client import _CSRF, PASSWORD, _follow, log_in
from tests.interop.test_openid_client import REDIRECT, _drive

CHILD_CPR = "1505154234"  # born 15 May 2015


def _post(browser: requests.Session, page: requests.Response, data: dict) -> str:
    token = _CSRF.search(page.text).group(1)
    answer = browser.post(page.url, data={"csrf_token": token, **data},
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code in (302, 303), answer.text[:500]
    return urljoin(page.url, answer.headers["Location"])


def test_openid_client_reads_act_and_representation_from_a_validated_id_token(live_server):
    node.require("openid-client", "openid-client")
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    created = runner.invoke(
        args=[
            "citizens",
            "create",
            "--cpr",
            CHILD_CPR,
            "--given-name",
            "Oskar",
            "--family-name",
            "Jensen",
        ]
    )
    assert created.exit_code == 0, created.output
    scope = "openid profile cpr offline_access"
    registered = json.loads(runner.invoke(args=[
        "clients", "create", "--name", "Skattestyrelsen", "--kind", "public_authority",
        "--redirect-uri", REDIRECT, "--scope", scope, "--legal-basis", "public_task",
        "--purpose", "To assess income tax", "--grant-type", "authorization_code",
        "--grant-type", "refresh_token", "--accepts-representation",
        "--representation-claim", "name", "--representation-claim", CPR_CLAIM,
    ]).stdout)  # fmt: skip
    with app.app_context():
        mandate = mandates.custody(find_by_username("anna"), find_by_cpr(CHILD_CPR),
                                   attributes=["name", CPR_CLAIM])  # fmt: skip
        mandate_id = mandate.id

    def as_the_childs_parent(app, browser, authorization_url: str, issuer: str) -> str:
        after_login = log_in(app, browser, authorization_url, issuer)
        chooser = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
        assert 'id="act-for"' in chooser.text and "Oskar Jensen" in chooser.text
        chosen = _post(browser, chooser, {"act_for": mandate_id})
        notice = _follow(browser, chosen, stop_at=f"{issuer}/authorize")
        assert 'id="acting-for"' in notice.text  # told it is the child's information
        return _post(browser, notice, {"decision": "allow"})

    result, _browser = _drive(app, issuer, "flow.mjs", registered["client_id"],
                              registered["client_secret"], REDIRECT, scope,
                              browse=as_the_childs_parent)  # fmt: skip
    claims, userinfo = result["id_token_claims"], result["userinfo"]
    assert claims["iss"] == issuer and claims["aud"] == registered["client_id"]
    assert claims["act"]["sub"] and claims["act"]["sub"] != claims["sub"]
    assert claims["representation"]["mandate_id"] == mandate_id
    assert claims["representation"]["origin"] == "custody"
    assert claims["name"] == "Oskar Jensen" and claims[CPR_CLAIM] == CHILD_CPR
    assert userinfo["sub"] == claims["sub"] and userinfo["name"] == "Oskar Jensen"
    assert result["refreshed_userinfo"]["name"] == "Oskar Jensen"
