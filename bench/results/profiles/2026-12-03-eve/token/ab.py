"""CPU per answer of several Tillid trees side by side, in one session, alternating (A B C,
then C B A), each under its own serve.py (granian, one worker, four threads). The afternoon
round's bench/results/profiles/2026-12-03-pm/server/ab.py with its gunicorn kind left out and
bench/profile.py's cc-rs256 request added. Built on bench/run.py's own pieces: its set-up
(`prepare`, a redis-server of its own), its `Tillid` (serve.py) and `Meter` (the worker's,
PostgreSQL's and Redis' CPU per answer, from /proc), its wrk request and its login load.

    python ab.py [--seconds S] [--login-seconds S] [--rounds N] [--connections C]
                 [--citizens N] [--scenarios healthz,cc-es256,cc-rs256,introspection,userinfo,login]
                 [--out FILE] NAME=ROOT ...

ROOT is a source tree (this worktree, or a `git archive` of another commit). All servers run
on the same database and Redis; the CPU counted is a server's whole process tree's.
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
# A server gets two minutes to come up, not bench/run.py's 30 s: on this shared machine,
# during a test suite (load 30), loading the app took longer.
run._wait_until_up = partial(run._wait_until_up, seconds=120)


def start(root: Path, env: dict) -> run.Tillid:
    server = run.Tillid({**env, "WEB_THREADS": "4"}, 1, root)
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
        "cc-rs256": {"path": "/token", "method": "POST", "body": CC_BODY,
                     "auth": run._basic(*setup.client("service_rs256"))},
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
    parser.add_argument("--citizens", type=int, default=40)
    parser.add_argument("--scenarios", default="healthz,cc-es256,introspection")
    parser.add_argument("--out", type=Path)
    parser.add_argument("servers", nargs="+", help="NAME=ROOT")
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
            name, _, root = spec.partition("=")
            servers[name] = start(Path(root).resolve(), setup.env)
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
