"""CPU per answer of several Tillid servers side by side, in one session, alternating (A B,
then B A): a copy of bench/results/profiles/2026-12-03-pm/server/ab.py, used here with serve.py
for both (main's tree against this branch's). Built on bench/run.py's own pieces: its set-up
(`prepare`, a redis-server of its own), its `Tillid` (serve.py) and `Meter` (the worker's,
PostgreSQL's and Redis' CPU per answer, from /proc), its wrk request.

    python ab.py [--seconds S] [--login-seconds S] [--rounds N] [--connections C]
                 [--citizens N] [--scenarios healthz,cc-es256,introspection,userinfo,login]
                 [--out FILE] NAME=KIND:ROOT ...

KIND is `gunicorn` (ROOT's gunicorn.conf.py) or `serve` (ROOT's serve.py); ROOT a source tree
(this worktree, or a `git archive` of another commit). Each server runs one worker with four
threads on the same database and Redis; the CPU counted is its whole process tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402

CC_BODY = "grant_type=client_credentials&scope=attributes%3Aread"


class Gunicorn(run.Tillid):
    def command(self) -> list[str]:
        return [str(run.VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]


def start(kind: str, root: Path, env: dict) -> run.Tillid:
    threads = {"gunicorn": "GUNICORN_THREADS", "serve": "WEB_THREADS"}[kind]
    server = {"gunicorn": Gunicorn, "serve": run.Tillid}[kind]({**env, threads: "4"}, 1, root)
    time.sleep(1)
    return server


def requests_for(setup: run.Setup, server: run.Tillid, username: str) -> dict[str, dict]:
    service = setup.client("service")
    auth = run._basic(*service)
    token = run._token(f"{server.url}/token", service, scope="attributes:read")
    user_token = run._citizen_token(server.url, setup.seed, username)
    return {
        "healthz": {"path": "/healthz"},
        "cc-es256": {"path": "/token", "method": "POST", "body": CC_BODY, "auth": auth},
        "introspection": {"path": "/introspect", "method": "POST", "body": f"token={token}",
                          "auth": auth},
        "userinfo": {"path": "/userinfo", "auth": f"Bearer {user_token}"},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--login-seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--scenarios", default="healthz,cc-es256,introspection,userinfo,login")
    parser.add_argument("--out", type=Path)
    parser.add_argument("servers", nargs="+", help="NAME=KIND:ROOT")
    options = parser.parse_args()
    scenarios = options.scenarios.split(",")
    own_redis = run.OwnRedis()
    servers: dict[str, run.Tillid] = {}
    rows = []
    try:
        setup = run.prepare(citizens=options.citizens, redis_url=own_redis.url)
        meter = run.Meter(setup.database_url, own_redis.process.pid)
        # Login runs each get citizens of their own (a TOTP code is accepted once).
        slices = run._seed_slices(setup.seed, setup.folder,
                                  options.rounds * len(options.servers) + 1)  # fmt: skip
        reserved = sorted(json.loads(slices[-1].read_text())["totp_seeds"])
        wanted = {}
        for number, spec in enumerate(options.servers):
            name, _, rest = spec.partition("=")
            kind, _, root = rest.partition(":")
            servers[name] = start(kind, Path(root).resolve(), setup.env)
            wanted[name] = requests_for(setup, servers[name], reserved[number])
        names = list(servers)
        logins = iter(slices[:-1])
        for round_ in range(options.rounds):
            for scenario in scenarios:
                for name in names if round_ % 2 == 0 else reversed(names):
                    server = servers[name]
                    if scenario == "login":
                        work = partial(run.run_logins, server.url, next(logins), 4,
                                       options.login_seconds, None)  # fmt: skip
                    else:
                        request = dict(wanted[name][scenario])
                        url = server.url + request.pop("path")
                        work = partial(run.wrk, url, options.seconds, options.connections,
                                       **request)  # fmt: skip
                    load = os.getloadavg()[0]
                    result = meter.measure(partial(run._process_tree, server.process.pid), work)
                    row = {"round": round_, "scenario": scenario, "server": name,
                           "load": round(load, 2), **result}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
        own_redis.stop()
    summary = {}
    for scenario in scenarios:
        for name in servers:
            mine = [r for r in rows if (r["scenario"], r["server"]) == (scenario, name)]
            summary[f"{scenario} {name}"] = {
                group: round(median(r[group] for r in mine), 3)
                for group in ("worker_cpu_ms", "pg_cpu_ms", "redis_cpu_ms", "total_cpu_ms")
                if all(r.get(group) is not None for r in mine)
            } | {"worker_cpu_ms_each": [r["worker_cpu_ms"] for r in mine],
                 "non_2xx": sum(r["non_2xx"] for r in mine)}  # fmt: skip
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv), "summary": summary, "rows": rows}  # fmt: skip
    if options.out:
        options.out.write_text(json.dumps(document, indent=1) + "\n")
    for key, value in summary.items():
        print(f"{key:<32} {json.dumps(value)}")


if __name__ == "__main__":
    main()
