"""`flask wallet list|revoke` (idp/wallet/cli.py): the operator lists a citizen's credentials
and revokes all of them (a lost phone, a death), each revocation in the citizen's access log
and the command in the admin audit log."""

from __future__ import annotations

import json

import pytest

from tests.conftest import csrf_token
from tests.wallet.helpers import payload
from tests.wallet.portal_helpers import WALLET_NAME, issue, logged_in_with_a_wallet
from tests.wallet.test_status_list import _status


@pytest.fixture
def setup(app, client, citizens):
    return logged_in_with_a_wallet(app, citizens)


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=["wallet", *args])


def test_list_shows_the_citizens_credentials_as_json(app, client, setup):
    cpr, wallet_id = setup
    credential = issue(app, cpr, wallet_id)
    issue(app, cpr, wallet_id)
    result = _run(app, "list", "--cpr", f"{cpr[:6]}-{cpr[6:]}")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert len(listed["credentials"]) == 2
    newest, oldest = listed["credentials"]
    assert newest["id"] > oldest["id"]
    assert oldest["status"] == "valid" and oldest["revoked_at"] is None
    assert oldest["format"] == "dc+sd-jwt"
    assert oldest["wallet"] == {"client_id": wallet_id, "name": WALLET_NAME}
    assert len(oldest["holder_key_thumbprint"]) == 43
    assert {"given_name", "birthdate", "place_of_birth", "nationalities"} <= set(
        oldest["attributes"]
    )
    assert oldest["status_list"] == payload(credential)["status"]["status_list"]


def test_revoke_revokes_every_valid_credential_and_ledgers_each(app, client, setup):
    cpr, wallet_id = setup
    credentials = [issue(app, cpr, wallet_id) for _ in range(2)]
    # One the citizen revoked already: not revoked (nor ledgered) twice.
    first_id = min(
        c["id"] for c in json.loads(_run(app, "list", "--cpr", cpr).stdout)["credentials"]
    )
    page = client.get(f"/me/wallet/{first_id}/revoke")
    client.post(f"/me/wallet/{first_id}/revoke", data={"csrf_token": csrf_token(page)})
    third = issue(app, cpr, wallet_id)

    result = _run(app, "revoke", "--cpr", cpr, "--reason", "lost_device")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["reason"] == "lost_device" and len(done["revoked"]) == 2
    assert first_id not in done["revoked"]
    for credential in (*credentials, third):
        assert _status(client, credential)[0] == 1
    listed = json.loads(_run(app, "list", "--cpr", cpr).stdout)["credentials"]
    assert {c["status"] for c in listed} == {"revoked"}

    log = client.get("/api/me/access-log").json["entries"]
    revocations = [e for e in log if e["channel"] == "wallet_revocation"]
    assert len(revocations) == 3  # one by the citizen, two by the operator
    assert {e["service"]["client_id"] for e in revocations} == {wallet_id}

    again = _run(app, "revoke", "--cpr", cpr, "--reason", "death")
    assert again.exit_code == 0 and json.loads(again.stdout)["revoked"] == []
    log = client.get("/api/me/access-log").json["entries"]
    assert len([e for e in log if e["channel"] == "wallet_revocation"]) == 3


def test_the_admin_audit_log_records_the_command_without_the_cpr_number(app, setup):
    cpr, _ = setup
    assert _run(app, "revoke", "--cpr", cpr, "--reason", "death").exit_code == 0
    audit = app.test_cli_runner().invoke(args=["audit", "list", "--json"])
    entries = [e for e in json.loads(audit.stdout) if e["command"] == "wallet revoke"]
    assert len(entries) == 1
    assert entries[0]["outcome"] == "success"
    assert entries[0]["arguments"]["reason"] == "death"
    assert entries[0]["arguments"]["cpr"].startswith("cpr-lookup:")
    assert cpr not in audit.stdout


def test_an_unknown_or_malformed_cpr_number_is_exit_1_with_a_clear_message(app, setup):
    for command in ("list", "revoke"):
        unknown = _run(app, command, "--cpr", "0101901234")
        assert unknown.exit_code == 1
        assert "no citizen with that CPR number is registered" in unknown.output
        malformed = _run(app, command, "--cpr", "12345")
        assert malformed.exit_code == 1 and "cpr:" in malformed.output
    bad_reason = _run(app, "revoke", "--cpr", "0101901234", "--reason", "bored")
    assert bad_reason.exit_code == 2
