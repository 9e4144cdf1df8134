"""Userinfo's CPU per answer, this tree against another (a checkout of main), in one session.

    .venv/bin/python bench/results/profiles/2026-12-03/userinfo/ab.py --base DIR
            [--seconds S] [--connections C] [--rounds N] [--out FILE]

One bench set-up (bench/run.py's: a fresh bench database and Redis db, the bench's clients and
citizens, migrated by this tree), then two servers side by side, one gunicorn worker each:
this tree's code and DIR's (e.g. `git archive main | tar -x -C DIR`). Each gets its own
citizen's access token, as bench/run.py's userinfo scenario does (one token for the whole
run). Rounds alternate between the two (new, base, base, new, ...) so that the machine's load
falls on both alike; each round runs wrk against /healthz (the floor, as a control) and
/userinfo, and measure.py's Meter reads the worker's CPU and that of the PostgreSQL backends
of the bench database from /proc. Writes one JSON document (stdout and --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (bench/run.py)

_spec = importlib.util.spec_from_file_location("measure", HERE.parent / "measure.py")
measure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(measure)


def server_of(tree: Path, env: dict) -> run.Tillid:
    """A one-worker Tillid running ``tree``'s code (bench/run.py starts it in run.ROOT)."""
    run.ROOT = tree
    try:
        return run.Tillid({**env, "PYTHONPATH": str(tree)}, 1)
    finally:
        run.ROOT = ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    started = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "load": measure.loadavg()}  # fmt: skip
    setup = run.prepare(citizens=300)
    usernames = sorted(setup.seed["totp_seeds"])
    servers, tokens, rows = {}, {}, []
    try:
        for n, (name, tree) in enumerate((("new", ROOT), ("base", options.base.resolve()))):
            servers[name] = server_of(tree, setup.env)
            tokens[name] = run._citizen_token(servers[name].url, setup.seed, usernames[n])
        order = []
        for round_ in range(options.rounds):
            order += ["new", "base"] if round_ % 2 == 0 else ["base", "new"]
        for name in order:
            server = servers[name]
            worker = server.workers()
            for scenario, path, request in (
                ("healthz", "/healthz", {}),
                ("userinfo", "/userinfo", {"auth": f"Bearer {tokens[name]}"}),
            ):
                result = measure.wrk_run(f"{server.url}{path}", options.seconds,
                                         options.connections, worker, True, **request)  # fmt: skip
                rows.append({"tree": name, "scenario": scenario, **result})
                print(f"{name:<5} {scenario:<9} {result}", file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tillid_bench")
    with psycopg.connect(url) as connection:
        by_channel = "SELECT channel, count(*) FROM ledger_entry GROUP BY 1 ORDER BY 1"
        entries = dict(connection.execute(by_channel).fetchall())
    document = {
        "started": started,
        "finished": {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load": measure.loadavg(),
        },
        "base": str(options.base),
        "seconds": options.seconds,
        "connections": options.connections,
        "ledger_entries_by_channel": entries,
        "rows": rows,
    }
    text = json.dumps(document, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
