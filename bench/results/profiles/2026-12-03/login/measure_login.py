"""CPU per whole login, split between the gunicorn worker, PostgreSQL and Redis, as
bench/run.py sets Tillid up (one worker, PostgreSQL + Redis, rate limits lifted).

    .venv/bin/python bench/results/profiles/2026-12-03/login/measure_login.py
        [--root DIR] [--method password|passkey ...] [--seconds S] [--threads N]
        [--rounds R] [--env NAME=VALUE ...] [--spy FILE] [--out FILE]

--root: the source tree whose server, seed and load run (default: this worktree; for the
"before" figures an export of the base commit, `git archive 7522f51 | tar -x -C DIR`, with
this branch's bench/seed.py and bench/login_load.py copied in so that it seeds passkeys).
Each round runs bench/login_load.py (THREADS threads, SECONDS seconds) once per method, on
seed slices of its own (a TOTP code is accepted once). CPU: the worker's user + system time
from /proc, the PostgreSQL backends of BENCH_DATABASE_URL's database, and the redis-server
process (shared with other users of the machine: an upper bound). Also one argon2id verify
at the server's parameters (--env ARGON2_*), CPU of this process. --spy FILE: py-spy records
the worker during the first round of the first method (speedscope, --gil --nonblocking).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis

HERE = Path(__file__).resolve().parent


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_backends(database_url: str) -> list[int]:
    admin, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return [row[0] for row in rows]


def argon2_verify(env: dict) -> dict:
    from argon2 import PasswordHasher, Type

    params = {
        "time_cost": int(env.get("ARGON2_TIME_COST") or 0),
        "memory_cost": int(env.get("ARGON2_MEMORY_COST") or 0),
        "parallelism": int(env.get("ARGON2_PARALLELISM") or 0),
    }
    hasher = PasswordHasher(**params, type=Type.ID)
    hashed = hasher.hash("bench-Fjord-Solsikke-7")
    cpus = []
    for _ in range(21):
        started = time.process_time()
        hasher.verify(hashed, "bench-Fjord-Solsikke-7")
        cpus.append((time.process_time() - started) * 1000)
    return {**params, "cpu_ms_median": round(sorted(cpus)[10], 1)}


def server_argon2(root: Path, env: dict) -> dict:
    """The ARGON2_* the server runs with: its config's defaults unless the env says."""
    code = (
        "import json, idp.app as a; app = a.create_app(); "
        "print(json.dumps({k: app.config[k] for k in "
        "('ARGON2_TIME_COST', 'ARGON2_MEMORY_COST', 'ARGON2_PARALLELISM')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE.parents[4])
    parser.add_argument("--method", action="append", choices=("password", "passkey"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--spy", type=Path)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    methods = options.method or ["password"]
    root = options.root.resolve()
    for pair in options.env:
        name, _, value = pair.partition("=")
        os.environ[name] = value
    spec = importlib.util.spec_from_file_location("bench_run", root / "bench" / "run.py")
    run = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = run
    spec.loader.exec_module(run)
    database_url = os.environ["BENCH_DATABASE_URL"]
    store = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    redis_pid = int(store.info("server")["process_id"])
    started = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load": loadavg()}
    setup = run.prepare(citizens=options.citizens)
    slices = run._seed_slices(setup.seed, setup.folder, options.rounds * len(methods) + 1)
    server = run.Tillid(setup.env, 1)
    rows = []
    try:
        worker = server.workers()
        # Warm-up, not measured: the first logins compile every page's templates and fill
        # the worker's caches (0.3 to 0.5 s of CPU, 5 % of a 15 s run); a slice of its own.
        for method in methods:
            run._run(
                [sys.executable, str(root / "bench" / "login_load.py"), server.url,
                 str(slices[-1]), "1", "2", *(["--method", method] if method != "password"
                                              else [])],
                timeout=120,
            )  # fmt: skip
        for round_ in range(options.rounds):
            for index, method in enumerate(methods):
                spy = None
                if options.spy and round_ == 0 and index == 0:
                    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
                    spy = subprocess.Popen(
                        [py_spy, "record", "--pid", str(worker[0]), "--rate", "250",
                         "--duration", str(options.seconds), "--nonblocking", "--gil",
                         "--format", "speedscope", "--output", str(options.spy)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    time.sleep(0.5)
                load_before = loadavg()
                before_worker = sum(cpu(pid) for pid in worker)
                backends = {pid: cpu(pid) for pid in pg_backends(database_url)}
                before_redis = cpu(redis_pid)
                out = run._run(
                    [sys.executable, str(root / "bench" / "login_load.py"), server.url,
                     str(slices[round_ * len(methods) + index]), str(options.threads),
                     str(options.seconds), *(["--method", method] if method != "password"
                                             else [])],
                    timeout=options.seconds + 120,
                )  # fmt: skip
                used_worker = sum(cpu(pid) for pid in worker) - before_worker
                after = pg_backends(database_url)
                used_pg = sum(cpu(pid) - backends.get(pid, 0.0) for pid in after)
                used_redis = cpu(redis_pid) - before_redis
                if spy is not None:
                    spy.wait(timeout=60)
                result = json.loads(out.strip().splitlines()[-1])
                n = result["logins"] or 1
                row = {
                    "method": method,
                    "round": round_,
                    **result,
                    "worker_cpu_ms_per_login": round(used_worker * 1000 / n, 1),
                    "postgres_cpu_ms_per_login": round(used_pg * 1000 / n, 1),
                    "redis_cpu_ms_per_login_upper_bound": round(used_redis * 1000 / n, 1),
                    "logins_per_core": round(n / (used_worker + used_pg), 1),
                    "load_before": load_before,
                    "load_after": loadavg(),
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        server.stop()
    params = server_argon2(root, setup.env)
    document = {
        "root": str(root),
        "started": started,
        "threads": options.threads,
        "seconds": options.seconds,
        "env": options.env,
        "argon2id_verify": argon2_verify(params),
        "rows": rows,
    }
    text = json.dumps(document, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
