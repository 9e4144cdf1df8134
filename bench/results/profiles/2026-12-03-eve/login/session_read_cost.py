"""CPU of reading the SSO session named by a request's cookie, with its touch (what every
request with the cookie does first: sessions.current), in this process, against the bench's
Redis; alternating between two source trees, each in a process of its own:

    .venv/bin/python bench/results/profiles/2026-12-03-eve/login/session_read_cost.py
        --root BEFORE --root AFTER [--calls N] [--rounds R] [--out FILE]

BENCH_REDIS_URL names the Redis; the app's database is a SQLite file (the read touches none).
Per call: this process's CPU (time.thread_time) and the redis-server process's CPU from /proc
(shared with the machine's other users: an upper bound), and Redis round trips (the commands
and pipelines redis-py sent). The first calls of each process (the script's first EVAL) are
not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, sys, time
from pathlib import Path
root, calls, redis_pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, root)
import redis.client
sent = [0]
_one = redis.client.Redis._execute_command
_many = redis.client.Pipeline.execute
def one(self, *a, **k):
    sent[0] += 1
    return _one(self, *a, **k)
def many(self, *a, **k):
    sent[0] += 1
    return _many(self, *a, **k)
redis.client.Redis._execute_command = one
redis.client.Pipeline.execute = many
from idp.app import create_app
from idp.sessions import sessions
app = create_app()
assert sessions.__file__.startswith(root), sessions.__file__
def redis_cpu():
    fields = Path(f"/proc/{redis_pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
with app.test_request_context("/"):
    from flask import request
    cookie = f"{sessions.cookie_name()}={sessions.start('bench-citizen', ['pwd', 'otp'], request)}"
with app.test_request_context("/", headers={"Cookie": cookie}):
    from flask import request
    for _ in range(50):
        assert sessions.current(request) is not None
    sent[0] = 0
    redis_before, started = redis_cpu(), time.thread_time()
    for _ in range(calls):
        sessions.current(request)
    used = time.thread_time() - started
    print(json.dumps({"client_us": round(used * 1e6 / calls, 1),
                      "redis_us": round((redis_cpu() - redis_before) * 1e6 / calls, 1),
                      "round_trips": sent[0] / calls}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", action="append", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    import redis

    redis_pid = int(redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]).info()["process_id"])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder}/read.db",
            "REDIS_URL": os.environ["BENCH_REDIS_URL"],
            "STORE_KEY_PREFIX": "session-read-cost:",
        }
        for round_ in range(options.rounds):
            for root in options.root:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(root.resolve()), str(options.calls),
                     str(redis_pid)],
                    env=env, capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                row = {"root": str(root), "round": round_, **json.loads(out.splitlines()[-1])}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    text = json.dumps({"calls": options.calls, "rows": rows}, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
