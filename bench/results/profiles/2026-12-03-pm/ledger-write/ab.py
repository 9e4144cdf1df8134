"""One run of bench/ledger.py's append phase (`_append_under_load`: CONCURRENCY releasing
requests over WRITERS processes, the integrator beside them) with the code in CODE_DIR,
against an already filled copy of the bench's database (AB_DATABASE_URL), no fill:

    AB_DATABASE_URL=postgresql://... python ab.py CODE_DIR [SECONDS]

Prints the append figures as JSON. Run it alternately for the old and the new code. The
copy: `createdb -T tillid_bench_ledger_write tillid_bench_ledger_write_ab` after a bench run,
then `DELETE FROM ledger_key` in it (the bench's data key went with its temporary instance
folder; the integrator makes a new signing key in AB_INSTANCE_PATH)."""

import json
import os
import sys
import tempfile

code = os.path.abspath(sys.argv[1])
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
os.chdir(code)
sys.path.insert(0, code)
url = os.environ["AB_DATABASE_URL"]
os.environ.update({
    "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"),
    "TILLID_STORE_PREFIX": "tillid-bench-ledger-ab:",
    "TILLID_INSTANCE_PATH": os.environ.get("AB_INSTANCE_PATH") or tempfile.mkdtemp(),
    "LEDGER_INTEGRATE_SECONDS": "1",
    "RATELIMIT_ENABLED": "false",
})  # fmt: skip

if __name__ == "__main__":
    from sqlalchemy import select

    from bench import ledger as bench
    from clients.models import Client
    from idp.app import create_app
    from idp.citizens.models import Citizen
    from idp.core.extensions import db

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        citizen_ids = db.session.scalars(select(Citizen.id)).all()
        client_id = db.session.scalars(select(Client.client_id)).first()
        db.session.remove()
    result = bench._append_under_load(app, citizen_ids, client_id, seconds, 2, 64)
    print(json.dumps({"code": code, **result}))
