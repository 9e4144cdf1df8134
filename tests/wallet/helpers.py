"""What the wallet tests share: a citizen with everything the PID needs, a wallet key, and a
PID issued to it (through the module: no issuance endpoint exists yet, docs/wallet.md)."""

from __future__ import annotations

import base64
import json

from joserfc.jwk import ECKey
from sqlalchemy import select

from idp.citizens import service as citizens
from idp.core.extensions import db
from idp.wallet import pid, status_list
from idp.wallet.models import CredentialStatus

CPR = "0102034234"  # born 1 February 2003 (the seventh digit, 4, puts 03 in 2000s)


def create_citizen(runner, *, cpr: str = CPR, nationalities=("DK", "SE"), **extra: str) -> dict:
    fields = {
        "cpr": cpr,
        "given_name": "Astrid",
        "family_name": "Kjær",
        "address_json": json.dumps(
            {"street": "Nørregade 7", "postcode": "8000", "city": "Aarhus C"}
        ),
        "birth_country": "DK",
        "birth_region": "Region Midtjylland",
        "birth_locality": "Aarhus",
        **extra,
    }
    command = ["citizens", "create"]
    for name, value in fields.items():
        command += [f"--{name.replace('_', '-')}", value]
    for code in nationalities:
        command += ["--nationality", code]
    result = runner.invoke(args=command)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def wallet_key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)


def issue_pid(app, holder: ECKey, cpr: str = CPR) -> str:
    with app.app_context():
        return pid.issue(citizens.find_by_cpr(cpr), holder.as_dict(private=False))


def payload(credential: str) -> dict:
    """The issuer-signed JWT's payload, unverified (the tests verify with other code)."""
    body = credential.split("~", 1)[0].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def revoke(app, credential: str) -> None:
    """Revoke by the credential's own status reference (as the portal and CLI will)."""
    reference = payload(credential)["status"]["status_list"]
    list_id = reference["uri"].rsplit("/", 1)[1]
    with app.app_context():
        entry = db.session.scalar(
            select(CredentialStatus).where(
                CredentialStatus.list_id == list_id, CredentialStatus.idx == reference["idx"]
            )
        )
        status_list.revoke(entry)
