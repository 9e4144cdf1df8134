"""CPU per answer of several Tillid servers side by side, in one session, alternating: the
code of another tree (a `git archive` of the base commit) against this worktree's, gunicorn
against granian. Each server is one worker on the same PostgreSQL database and Redis db
(bench/run.py's set-up: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_LEDGER_DATABASE_URL).

    python ab.py [--seconds S] [--rounds N] [--connections C] [--log-level L] \
        [--scenarios healthz,cc-es256,cc-rs256,introspection] [--out FILE] \
        NAME=KIND:ROOT ...

KIND is `gunicorn` (gunicorn.conf.py of ROOT, one worker, GUNICORN_THREADS) or `granian`
(`granian --interface wsgi`, one worker, --blocking-threads 4). The CPU counted is the
user + system time of the server's whole process tree (master and worker) from /proc,
divided by wrk's answers. Every round runs every scenario on every server in turn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (bench/run.py: prepare, wrk, cpu_seconds)

CC_BODY = "grant_type=client_credentials&scope=attributes%3Aread"


def tree(pid: int) -> list[int]:
    found = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for child in map(int, children.split()):
        found += tree(child)
    return found


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            total += run.cpu_seconds(pid)
    return total


class Server:
    def __init__(self, name: str, kind: str, root: Path, env: dict):
        self.name, self.kind, self.root = name, kind, root
        port = run._free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**env, "ISSUER": self.url, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
               "PYTHONPATH": str(root)}  # fmt: skip
        if kind == "gunicorn":
            command = [str(run.VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
        elif kind == "granian":
            command = [str(run.VENV_BIN / "granian"), "--interface", "wsgi", "--host",
                       "127.0.0.1", "--port", str(port), "--workers", "1",
                       "--blocking-threads", env.get("GUNICORN_THREADS", "4"),
                       "--no-ws", "wsgi:app"]  # fmt: skip
        else:
            raise SystemExit(f"unknown server kind {kind}")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(command, cwd=root, env=env, **quiet)
        run._wait_until_up(f"{self.url}/readyz", 60)
        time.sleep(1)
        self.pids = tree(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def requests_for(setup, server: Server) -> dict[str, dict]:
    service = setup.client("service")
    auth = run._basic(*service)
    token = run._token(f"{server.url}/token", service, scope="attributes:read")
    return {
        "healthz": {"url": f"{server.url}/healthz"},
        "cc-es256": {"url": f"{server.url}/token", "method": "POST", "body": CC_BODY,
                     "auth": auth},
        "cc-rs256": {"url": f"{server.url}/token", "method": "POST", "body": CC_BODY,
                     "auth": run._basic(*setup.client("service_rs256"))},
        "introspection": {"url": f"{server.url}/introspect", "method": "POST",
                          "body": f"token={token}", "auth": auth},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--threads", default="4")
    parser.add_argument("--scenarios", default="healthz,cc-es256,cc-rs256,introspection")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy each scenario of each server into DIR")
    parser.add_argument("servers", nargs="+", help="NAME=KIND:ROOT")
    options = parser.parse_args()
    setup = run.prepare(citizens=2)
    setup.env.update(LOG_LEVEL=options.log_level, GUNICORN_THREADS=options.threads)
    servers: list[Server] = []
    rows = []
    try:
        for spec in options.servers:
            name, _, rest = spec.partition("=")
            kind, _, root = rest.partition(":")
            servers.append(Server(name, kind, Path(root).resolve(), setup.env))
        wanted = {server.name: requests_for(setup, server) for server in servers}
        for round_ in range(options.rounds):
            for scenario in options.scenarios.split(","):
                order = servers if round_ % 2 == 0 else list(reversed(servers))
                for server in order:
                    request = dict(wanted[server.name][scenario])
                    url = request.pop("url")
                    load = os.getloadavg()[0]
                    spy = None
                    if options.profile:
                        options.profile.mkdir(parents=True, exist_ok=True)
                        out = options.profile / f"{scenario}-{server.name}.speedscope.json"
                        spy = subprocess.Popen(
                            [str(run.VENV_BIN / "py-spy"), "record", "--pid", str(server.pids[-1]),
                             "--rate", "250", "--duration", str(options.seconds), "--nonblocking",
                             "--gil", "--format", "speedscope", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                        time.sleep(0.5)
                    before = cpu(server.pids)
                    result = run.wrk(url, options.seconds, options.connections, **request)
                    used = cpu(server.pids) - before
                    if spy is not None:
                        spy.wait(timeout=60)
                    answers = result["per_second"] * options.seconds
                    row = {"round": round_, "scenario": scenario, "server": server.name,
                           **result, "cpu_ms": round(used * 1000 / answers, 3) if answers else None,
                           "cores": round(used / options.seconds, 2),
                           "load": round(load, 2)}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        for server in servers:
            server.stop()
    summary = {}
    for scenario in options.scenarios.split(","):
        for server in servers:
            values = [r["cpu_ms"] for r in rows if r["cpu_ms"]
                      and (r["scenario"], r["server"]) == (scenario, server.name)]  # fmt: skip
            summary[f"{scenario} {server.name}"] = {"cpu_ms_median": round(median(values), 3),
                                                    "cpu_ms": values}  # fmt: skip
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "seconds": options.seconds,
        "connections": options.connections,
        "log_level": options.log_level,
        "summary": summary,
        "rows": rows,
    }
    text = json.dumps(document, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    for key, value in summary.items():
        print(f"{key:<40} {value['cpu_ms_median']:.3f}  {value['cpu_ms']}")


if __name__ == "__main__":
    main()
