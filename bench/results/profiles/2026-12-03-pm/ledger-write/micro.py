"""Python per append in process: ``ledger.append()`` and turning its entry into the group
committer's row, for the code in CODE_DIR; a SQLite app, no database write (the INSERT is
not timed). Minimum of 5 rounds of N appends (CPU time):

    python micro.py CODE_DIR [N]
"""

import os
import sys
import tempfile
import time

code = os.path.abspath(sys.argv[1])
appends = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
sys.path.insert(0, code)
os.chdir(code)
os.environ.update({"TILLID_INSTANCE_PATH": tempfile.mkdtemp(), "RATELIMIT_ENABLED": "false"})

import flask  # noqa: E402

from clients.models import Client  # noqa: E402
from consent import ledger  # noqa: E402
from consent.ledger import group_commit  # noqa: E402
from idp.app import create_app  # noqa: E402

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "RATELIMIT_ENABLED": False})
client = Client(client_id="bench", name="Bench", kind="public_authority")
to_row = getattr(group_commit, "_row", None)  # main's: the ORM entry made a row at commit
rounds = []
with app.test_request_context():
    for _ in range(5):
        cpu = time.process_time()
        for _ in range(appends):
            ledger.append(citizen_id="0f0e0d0c-0000-0000-0000-000000000000", client=client,
                          channel=ledger.Channel.USERINFO, attributes=["address"],
                          purpose="Benchmarking", legal_basis="public_task")  # fmt: skip
            rows = flask.g.pop("tillid_ledger_pending")
            if to_row is not None:
                rows = [to_row(entry) for entry in rows]
        rounds.append((time.process_time() - cpu) / appends * 1e6)
print(f"{code}: µs per append {[round(r, 1) for r in rounds]}, min {min(rounds):.1f}")
