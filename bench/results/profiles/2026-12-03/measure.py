"""CPU per answer, in one session: Tillid (one gunicorn worker, PostgreSQL + Redis, bench/run.py's
set-up), the peer (node oidc-provider, bench/peer/) and a bare Flask app (floor_app.py) under
the same gunicorn settings, each loaded by wrk as bench/run.py loads them.

    .venv/bin/python bench/results/profiles/2026-12-03/measure.py [--seconds S] [--connections C]
                                                                  [--rounds N] [--out FILE]

For every run it records wrk's figures and the CPU time, per answer, of: the server process
(Tillid's worker, the peer's node process, the floor's worker), and for Tillid also the
PostgreSQL backends of the bench database and the redis-server process (the Redis server is
shared with other users of this machine: its figure is an upper bound). Load average before
and after each run. Writes one JSON document (stdout and --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (bench/run.py)

_spec = importlib.util.spec_from_file_location("bench_profile", ROOT / "bench" / "profile.py")
bench_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_profile)

CC_BODY = bench_profile._CC_BODY


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def _database_name() -> str:
    return os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tillid_bench"
    ).rsplit("/", 1)[1]


def pg_backends() -> list[int]:
    """The PostgreSQL backends connected to the bench database (the worker's pool)."""
    admin = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tillid_bench"
    ).rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (_database_name(),)
        ).fetchall()
    return [row[0] for row in rows]


def redis_pid() -> int:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    return int(redis.Redis.from_url(url).info("server")["process_id"])


def _cpu(pid: int) -> float:
    try:
        return run.cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0


class Meter:
    """CPU seconds used by some processes between start() and stop()."""

    def __init__(self, server_pids, with_backends: bool):
        self.server_pids, self.with_backends = list(server_pids), with_backends

    def start(self):
        self.load_before = loadavg()
        self.wall = time.monotonic()
        self.server = {pid: _cpu(pid) for pid in self.server_pids}
        if self.with_backends:
            self.backends = {pid: _cpu(pid) for pid in pg_backends()}
            self.redis_pid = redis_pid()
            self.redis = _cpu(self.redis_pid)
        return self

    def stop(self, answers: float) -> dict:
        wall = time.monotonic() - self.wall
        server = sum(_cpu(pid) - start for pid, start in self.server.items())
        out = {
            "answers": round(answers),
            "wall_s": round(wall, 2),
            "server_cpu_s": round(server, 2),
            "server_cpu_ms_per_answer": round(server * 1000 / answers, 3) if answers else None,
            "server_cores_busy": round(server / wall, 2),
        }
        if self.with_backends:
            backends = sum(_cpu(pid) - self.backends.get(pid, 0.0) for pid in pg_backends())
            redis_used = _cpu(self.redis_pid) - self.redis
            out["postgres_cpu_ms_per_answer"] = round(backends * 1000 / answers, 3)
            out["redis_server_cpu_ms_per_answer_upper_bound"] = round(
                redis_used * 1000 / answers, 3
            )
        out["load_before"], out["load_after"] = self.load_before, loadavg()
        return out


def wrk_run(url, seconds, connections, pids, with_backends=False, **request) -> dict:
    meter = Meter(pids, with_backends).start()
    result = run.wrk(url, seconds, connections, **request)
    return {**result, **meter.stop(result["per_second"] * seconds)}


def floor_server(threads: int = 4) -> tuple[subprocess.Popen, str]:
    """floor_app.py under gunicorn with the settings of gunicorn.conf.py (one worker, four
    threads unless told, SO_REUSEPORT), without Tillid's hooks (they import Tillid)."""
    port = run._free_port()
    process = subprocess.Popen(
        [
            str(run.VENV_BIN / "gunicorn"),
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--reuse-port",
            "--bind",
            f"127.0.0.1:{port}",
            "floor_app:app",
        ],
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    run._wait_until_up(f"{url}/ping")
    return process, url


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(map(int, found.split()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--login-seconds", type=int, default=30)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--log-level", default="WARNING", help="Tillid's LOG_LEVEL (bench: WARNING)"
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--tillid-only", action="store_true", help="no peer, floor or logins")
    options = parser.parse_args()
    seconds, connections = options.seconds, options.connections
    rows: list[dict] = []

    def record(system: str, scenario: str, result: dict) -> None:
        rows.append({"system": system, "scenario": scenario, **result})
        print(f"{system:<14} {scenario:<28} {result}", file=sys.stderr, flush=True)

    started = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load": loadavg()}
    setup = run.prepare(citizens=300)
    setup.env.update(LOG_LEVEL=options.log_level, GUNICORN_THREADS=str(options.threads))
    slices = run._seed_slices(setup.seed, setup.folder, 3)
    server = run.Tillid(setup.env, 1)
    try:
        worker = server.workers()
        requests_ = bench_profile._requests(setup, server)
        for round_ in range(options.rounds):
            if options.tillid_only:
                for scenario in ("healthz", "cc-es256", "introspection", "userinfo"):
                    wanted = dict(requests_.get(scenario, {"url": f"{server.url}/healthz"}))
                    url = wanted.pop("url")
                    result = wrk_run(url, seconds, connections, worker, True, **wanted)
                    record("Tillid", scenario, result)
                continue
            peer = run.Peer("bench", "bench-secret")
            try:
                auth = run._basic("bench", "bench-secret")
                record(
                    "oidc-provider",
                    "client_credentials (ES256)",
                    wrk_run(
                        f"{peer.url}/token",
                        seconds,
                        connections,
                        [peer.process.pid],
                        method="POST",
                        body=CC_BODY,
                        auth=auth,
                    ),
                )
                opaque = run._token(
                    f"{peer.url}/token",
                    ("bench", "bench-secret"),
                    scope="attributes:read",
                    resource="urn:bench:opaque",
                )
                record(
                    "oidc-provider",
                    "introspection",
                    wrk_run(
                        f"{peer.url}/token/introspection",
                        seconds,
                        connections,
                        [peer.process.pid],
                        method="POST",
                        body=f"token={opaque}",
                        auth=auth,
                    ),
                )
            finally:
                peer.stop()
            floor, floor_url = floor_server(options.threads)
            try:
                floor_workers = children(floor.pid)
                record(
                    "bare Flask",
                    "POST form, JSON answer",
                    wrk_run(
                        f"{floor_url}/token",
                        seconds,
                        connections,
                        floor_workers,
                        method="POST",
                        body=CC_BODY,
                        auth=requests_["cc-es256"]["auth"],
                    ),
                )
                record(
                    "bare Flask",
                    "GET, JSON answer",
                    wrk_run(f"{floor_url}/ping", seconds, connections, floor_workers),
                )
            finally:
                floor.terminate()
                floor.wait(timeout=10)
            record(
                "Tillid",
                "/healthz",
                wrk_run(f"{server.url}/healthz", seconds, connections, worker, True),
            )
            for scenario in ("cc-es256", "cc-rs256", "introspection", "userinfo"):
                wanted = dict(requests_[scenario])
                url = wanted.pop("url")
                record(
                    "Tillid", scenario, wrk_run(url, seconds, connections, worker, True, **wanted)
                )
            # Whole logins (bench/login_load.py, four threads as `make bench` runs it with
            # one worker): about ten requests each, one argon2id verify among them.
            meter = Meter(worker, True).start()
            out = run._run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "login_load.py"),
                    server.url,
                    str(slices[round_ % 2]),
                    "4",
                    str(options.login_seconds),
                ],
                timeout=options.login_seconds + 120,
            )
            logins = json.loads(out.strip().splitlines()[-1])
            record(
                "Tillid",
                "login (password + TOTP)",
                {
                    "per_second": round(logins["logins"] / logins["seconds"], 2),
                    "p50_ms": logins["p50_ms"],
                    "p99_ms": logins["p99_ms"],
                    "non_2xx": logins["non_2xx"],
                    **meter.stop(logins["logins"]),
                },
            )
    finally:
        server.stop()
    argon2 = argon2_cpu_ms(setup.env)
    document = {
        "started": started,
        "finished": {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load": loadavg()},
        "seconds": seconds,
        "connections": connections,
        "cpus": os.cpu_count(),
        "log_level": options.log_level,
        "gunicorn_threads": options.threads,
        "argon2id_verify": argon2,
        "rows": rows,
    }
    text = json.dumps(document, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)


def argon2_cpu_ms(env: dict) -> dict:
    """One argon2id verify at Tillid's parameters: wall time and CPU time of this process
    (libargon2 computes the lanes on threads of its own: CPU can exceed wall)."""
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(
        time_cost=int(env.get("ARGON2_TIME_COST", 3)),
        memory_cost=int(env.get("ARGON2_MEMORY_COST", 65536)),
        parallelism=int(env.get("ARGON2_PARALLELISM", 4)),
        type=Type.ID,
    )
    hashed = hasher.hash("bench-Fjord-Solsikke-7")
    walls, cpus = [], []
    for _ in range(10):
        wall, cpu = time.perf_counter(), time.process_time()
        hasher.verify(hashed, "bench-Fjord-Solsikke-7")
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    walls.sort()
    cpus.sort()
    return {"wall_ms_median": round(walls[5], 1), "cpu_ms_median": round(cpus[5], 1)}


if __name__ == "__main__":
    main()
