"""The OpenWallet Foundation's sd-jwt-js (`@sd-jwt/sd-jwt-vc`, `@sd-jwt/jwt-status-list`)
against a live Tillid: a PID verified with the keys at /.well-known/jwt-vc-issuer, its status
read from the Token Status List Tillid serves, valid and then revoked, and a presentation of
chosen claims bound to the wallet key.

`make test` installs them from the committed lock file (npm ci); without Node the test skips,
unless REQUIRE_E2E=1.
"""

from __future__ import annotations

from tests.interop import node
from tests.wallet.helpers import create_citizen, issue_pid, revoke, wallet_key


def test_sd_jwt_js_verifies_the_pid_and_its_status_then_sees_it_revoked(live_server):
    node.require("sd-jwt-vc", "@sd-jwt/sd-jwt-vc")
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    create_citizen(runner)
    holder = wallet_key()
    credential = issue_pid(app, holder)

    report = node.verify("sd-jwt-vc", issuer, credential, holder)
    assert report["verified"] is True, report
    assert report["metadata_issuer"] == issuer
    assert report["header"]["typ"] == "dc+sd-jwt"
    claims = report["claims"]
    assert claims["iss"] == issuer and claims["vct"] == "urn:eudi:pid:1"
    assert claims["given_name"] == "Astrid" and claims["nationalities"] == ["DK", "SE"]
    assert claims["place_of_birth"] == {
        "country": "DK", "region": "Region Midtjylland", "locality": "Aarhus",
    }  # fmt: skip
    assert claims["cnf"]["jwk"] == holder.as_dict(private=False)
    assert report["status_list"] == {
        "content_type": "application/statuslist+jwt",
        "typ": "statuslist+jwt",
        "signature_valid": True,
        "sub": claims["status"]["status_list"]["uri"],
        "status": 0,
    }
    # Only what the wallet chose, and bound to its key (sd_hash and nonce checked).
    presented = {
        k: v for k, v in report["presented"].items()
        if k not in ("iss", "iat", "exp", "vct", "cnf", "status")
    }  # fmt: skip
    assert presented == {"given_name": "Astrid", "age_equal_or_over": {"18": True}}
    assert report["presentation_bound"] is True

    other_holder = wallet_key()
    other = issue_pid(app, other_holder)
    revoke(app, credential)
    report = node.verify("sd-jwt-vc", issuer, credential, holder)
    assert report["verified"] is False
    assert "Status is not valid" in report["error"]
    assert report["status_list"]["status"] == 1 and report["status_list"]["signature_valid"]
    # The citizen's other credential (another wallet key) is still valid.
    assert node.verify("sd-jwt-vc", issuer, other, other_holder)["verified"] is True
