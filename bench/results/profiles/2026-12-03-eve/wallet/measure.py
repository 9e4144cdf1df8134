"""CPU per PID issuance and per status list request, in one process on a database of its own.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tillid_bench_wallet \
        python bench/results/profiles/2026-12-03-eve/wallet/measure.py > result.json

Process CPU (time.process_time), not wall clock: the machine is shared. PostgreSQL's own CPU
is not in it (the issuance's two small writes and the list's one indexed read).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time

from joserfc.jwk import ECKey
from sqlalchemy import create_engine, text

from idp.app import create_app
from idp.citizens import service as citizens
from idp.core.extensions import db
from idp.wallet import pid
from idp.wallet.models import CredentialStatus

ISSUANCES, REVOKED, FETCHES = 300, 1000, 300


def _fresh(url: str) -> None:
    admin, name = url.rsplit("/", 1)
    engine = create_engine(f"{admin}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def main() -> None:
    url = os.environ["BENCH_DATABASE_URL"]
    assert "wallet" in url, "use a database of the wallet bench's own"
    _fresh(url)
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TILLID_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ISSUER": "http://localhost:5000",
    })  # fmt: skip
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["keys", "ensure"]):
        assert runner.invoke(args=args).exit_code == 0
    with app.app_context():
        citizens.create_citizen(citizens.validate(
            cpr="0102034234", given_name="Astrid", family_name="Kjær",
            address={"street": "Nørregade 7", "postcode": "8000", "city": "Aarhus C"},
            place_of_birth={"country": "DK", "locality": "Aarhus"}, nationalities=["DK", "SE"],
        ))  # fmt: skip
        holder = ECKey.generate_key("P-256", private=False).as_dict(private=False)
        pid.issue(citizens.find_by_cpr("0102034234"), holder)  # warm: keys loaded, list made
        started = time.process_time()
        for _ in range(ISSUANCES):
            credential = pid.issue(citizens.find_by_cpr("0102034234"), holder)
        issue_ms = (time.process_time() - started) * 1000 / ISSUANCES
        for entry in db.session.query(CredentialStatus).limit(REVOKED):
            entry.revoked_at = entry.issued_at
        db.session.commit()
    client = app.test_client()
    with app.app_context():
        list_id = db.session.query(CredentialStatus.list_id).first()[0]
    list_path = f"/wallet/status/{list_id}"
    client.get(list_path)
    started = time.process_time()
    for _ in range(FETCHES):
        response = client.get(list_path)
    fetch_ms = (time.process_time() - started) * 1000 / FETCHES
    json.dump({
        "issuances": ISSUANCES, "cpu_ms_per_issuance": round(issue_ms, 2),
        "credential_bytes": len(credential),
        "disclosures": credential.count("~") - 1,
        "revoked_in_list": min(REVOKED, ISSUANCES + 1), "fetches": FETCHES,
        "cpu_ms_per_status_list_request": round(fetch_ms, 2),
        "status_list_token_bytes": len(response.data),
    }, sys.stdout, indent=2)  # fmt: skip
    print()


if __name__ == "__main__":
    main()
