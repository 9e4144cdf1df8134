"""What the wallet page's and the wallet CLI's tests share: a citizen the PID can be made
for, logged in with the app (Substantial), a wallet client, and PIDs issued to it."""

from __future__ import annotations

import json
import re

from clients.models import Client
from clients.service import PRE_AUTHORIZED_GRANT
from consent import ledger
from idp.citizens import service as citizen_registry
from idp.core.extensions import db
from idp.wallet import ledgering, pid
from idp.wallet.configurations import PID_SD_JWT
from idp.wallet.models import CredentialStatus
from tests.conftest import CitizenActions
from tests.wallet.helpers import wallet_key

PASSWORD = "correct horse battery"
PID_FIELDS = {
    "address_json": json.dumps({"street": "Nørregade 7", "postcode": "8000", "city": "Aarhus C"}),
    "birth_country": "DK",
    "birth_locality": "Aarhus",
    "nationality": "DK",
}
WALLET_NAME = "Digital Identitet (test wallet)"


def register_wallet(app, name: str = WALLET_NAME) -> str:
    """A wallet client, registered as a wallet provider's app is (docs/wallet.md)."""
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", name, "--kind", "wallet",
        "--redirect-uri", "https://wallet.example/callback", "--scope", PID_SD_JWT,
        "--grant-type", "authorization_code", "--grant-type", PRE_AUTHORIZED_GRANT,
        "--auth-method", "none",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["client_id"]


def issue(app, cpr: str, wallet_id: str, key=None) -> str:
    """A PID issued to the citizen's wallet, and its issuance ledgered, as the credential
    endpoint does."""
    with app.app_context():
        citizen = citizen_registry.find_by_cpr(cpr)
        credential = pid.issue(citizen, (key or wallet_key()).as_dict(private=False),
                               client_id=wallet_id)  # fmt: skip
        entry = db.session.scalars(
            db.select(CredentialStatus).order_by(CredentialStatus.id.desc())
        ).first()
        ledgering.issued(citizen.id, db.session.get(Client, wallet_id), entry.attributes)
        ledger.commit()
        return credential


def logged_in_with_a_wallet(app, citizens: CitizenActions) -> tuple[str, str]:
    """Keys, a citizen the PID can be made for, logged in (with the app: Substantial) in
    ``citizens``'s browser, and a wallet client: (CPR number, the wallet's client_id)."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    cpr = citizens.next_cpr()
    citizens.create(username="astrid", cpr=cpr, **PID_FIELDS)
    assert citizens.login("astrid").status_code == 302
    return cpr, register_wallet(app)


def cards(page_html: str) -> list[dict]:
    """The credentials the wallet page lists: id and status, in its order."""
    return [
        {"id": int(m.group(1)), "status": m.group(2)}
        for m in re.finditer(r'data-credential-id="(\d+)" data-status="(\w+)"', page_html)
    ]
