"""Time ledger appends, integration and `ledger verify` for N entries.

    .venv/bin/python bench/ledger.py [N]          (default 100000)
    DATABASE_URL=postgresql://… .venv/bin/python bench/ledger.py 100000

One append is an insert with its salted commitment, committed on its own (as a release
commits it); the rest are added in batches. SQLite in a temporary directory unless
DATABASE_URL is set (then the tables are created in that database: use a scratch one).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TILLID_INSTANCE_PATH", tempfile.mkdtemp())

from clients import service as clients
from consent import ledger
from idp import create_app
from idp.citizens import service as citizens
from idp.extensions import db

SINGLE_APPENDS = 1000
BATCH = 5000


def main(count: int) -> None:
    overrides = {}
    if not os.environ.get("DATABASE_URL"):
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app(overrides)
    with app.app_context(), app.test_request_context():
        db.create_all()
        citizen = citizens.create_citizen(
            citizens.validate(cpr="0101901234", given_name="Bench", family_name="Mark")
        )
        client, _ = clients.register({
            "name": "Bench authority", "kind": "public_authority",
            "redirect_uris": ["https://bench.example/cb"], "scope": "openid profile",
            "legal_basis": "public_task", "purpose": "Benchmarking",
        })  # fmt: skip

        def append():
            ledger.append(citizen_id=citizen.id, client=client, channel=ledger.Channel.LOGIN,
                          attributes=["given_name", "family_name"], purpose="Benchmarking",
                          legal_basis="public_task")  # fmt: skip

        single = []
        for _ in range(min(SINGLE_APPENDS, count)):
            started = time.perf_counter()
            append()
            db.session.commit()
            single.append((time.perf_counter() - started) * 1000)
        for done in range(len(single), count, BATCH):
            for _ in range(min(BATCH, count - done)):
                append()
            db.session.commit()
        started = time.perf_counter()
        ledger.integrate()
        integrated = time.perf_counter() - started
        started = time.perf_counter()
        report = ledger.verify()
        verified = time.perf_counter() - started
    assert report["ok"] and report["tree_size"] == count, report
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(
        f"{count} entries on {backend}: "
        f"one append (insert + commit) median {statistics.median(single):.2f} ms; "
        f"integrate {integrated:.1f} s; ledger verify {verified:.1f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
