"""`make bench`: Tillid under load on a production-like server, side by side with a peer.

    .venv/bin/python bench/run.py [--quick]

Tillid runs under serve.py (granian) on PostgreSQL and Redis (a scratch database `tillid_bench`,
BENCH_DATABASE_URL, and a redis-server the bench starts on a free port for the run; without
redis-server, BENCH_REDIS_URL under its own key prefix), with one worker and then one per
core (each worker on a socket of its own, so wrk's keep-alive connections reach them all).
The peer is Node's oidc-provider (bench/peer/, pinned by its lock file), one process,
in-memory adapter, ES256. Load comes from separate processes on loopback: wrk
(bench/wrk/request.lua) for the token, introspection and userinfo requests,
bench/login_load.py for whole logins (password + TOTP, and passkeys where it offers
`--method passkey`). Each run is bounded in time.

In the one-worker runs the server (Tillid's worker, or in its turn the peer's process) is
pinned to one core and the load generator to the others with taskset (util-linux); with a
worker per core they cannot be kept apart and share every core. Each row records the CPU
time spent per answer by the server, by PostgreSQL (the backends connected to the bench's
database, including those that connected during the run) and by Redis (the bench's own
redis-server), all read from /proc before and after the run. The ledger at 1M and 10M
entries (100k with --quick) is bench/ledger.py, in a scratch database of its own.
Results: tables on stdout, bench/results/latest.json and latest.md, with each target of
issue 19 met or not met as computed from the figures.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import psycopg
import redis
import requests
from argon2 import PasswordHasher, Type
from psycopg import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = HERE / "results"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the load reads the code off it
STORE_PREFIX = "tillid-bench:"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"  # BENCH_REDIS_URL's, without a redis-server
UNLIMITED = "1000000000 per minute"  # rate limits would turn load into 429s
RATE_LIMITS = ("LOGIN_RATE_LIMIT", "TOKEN_RATE_LIMIT", "TOKEN_RATE_LIMIT_PER_CLIENT",
               "USERINFO_RATE_LIMIT", "API_RATE_LIMIT")  # idp/core/config.py's  # fmt: skip


# The scenarios, by the names the rows and the targets share.
CC = "client_credentials (JWT, ES256)"
CC_RS256 = "client_credentials (JWT, RS256)"
INTROSPECTION = "introspection"
USERINFO = "userinfo"
LOGIN_ALONE = "full login, one at a time"
LOGIN = "full login (password + TOTP, code + PKCE, token, userinfo)"
PASSKEY_LOGIN = "full login (passkey, code + PKCE, token, userinfo)"
PEER = "oidc-provider"
LEDGER = "ledger at scale"  # bench/ledger.py: not a row, a section of the report of its own
# `--only`'s names for them: PEER stands for both of the peer's rows.
ONLY = {"peer": PEER, "cc": CC, "cc-rs256": CC_RS256, "introspection": INTROSPECTION,
        "userinfo": USERINFO, "login-alone": LOGIN_ALONE, "login": LOGIN,
        "passkey": PASSKEY_LOGIN, "ledger": LEDGER}  # fmt: skip
# Keycloak's published sizing, a static reference beside Tillid's per-core figures:
# keycloak.org's high-availability guide, "Concepts for sizing CPU and memory resources".
KEYCLOAK_SIZING = (
    "https://www.keycloak.org/high-availability/single-cluster/concepts-memory-and-cpu-sizing"
)
KEYCLOAK_PER_VCPU = (  # (what, per second on 1 vCPU, the guide's note, Tillid's scenario)
    ("password-based logins", 15, "most of it hashing the password", LOGIN),
    ("client credential grants", 120, "most of it new TLS connections", CC),
    ("refresh token requests", 120, "", None),
)
# What Tillid's figure beside each of them is.
PER_CORE_LABELS = {LOGIN: "password + TOTP, the whole login", CC: "ES256, without TLS",
                   PASSKEY_LOGIN: "the whole login"}  # fmt: skip


def _run(command: list[str], **options) -> str:
    """Run a step to its end; on failure, show what it said and stop the bench."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True,
                              **options).stdout  # fmt: skip
    except subprocess.CalledProcessError as failed:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{failed.stderr[-3000:]}") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still loading
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _fresh_database(url: str) -> None:
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        database = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(database))


def _fresh_store(url: str) -> None:
    store = redis.Redis.from_url(url)
    for key in store.scan_iter(f"{STORE_PREFIX}*", count=1000):
        store.delete(key)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(map(int, found.split()))


def _process_tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        each = todo.pop()
        tree.append(each)
        todo.extend(_children(each))
    return tree


def _rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (the server's main process and workers)."""
    total = 0
    for each in [pid, *_children(pid)]:
        status = Path(f"/proc/{each}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


# --- Where each process runs: taskset ------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """The cores of one run: the server's and the load generator's (None: any core)."""

    server: tuple[int, ...] | None
    load: tuple[int, ...] | None
    note: str

    @property
    def separated(self) -> bool:
        return self.server is not None and self.load is not None


def plan_cores(available: list[int], workers: int, taskset: bool) -> Placement:
    """Where a run with ``workers`` workers puts the server and the load: with one worker and
    two cores or more, the server on the first core and the load on the others; else not
    apart, with the reason."""
    cores = sorted(available)
    if workers > 1:
        return Placement(None, None, f"{workers} workers on {len(cores)} cores: server and load "
                         "share every core (they cannot be kept apart)")  # fmt: skip
    if not taskset:
        return Placement(None, None, "taskset (util-linux) is missing: server and load not pinned")
    if len(cores) < 2:
        return Placement(None, None, "one core: server and load share it")
    server, load = (cores[0],), tuple(cores[1:])
    return Placement(server, load, f"server on core {_cpu_list(server)}, "
                     f"load on core {_cpu_list(load)}")  # fmt: skip


def _cpu_list(cores: tuple[int, ...] | None) -> str:
    return ",".join(map(str, cores)) if cores else "any"


def pinned(cores: tuple[int, ...] | None, command: list[str]) -> list[str]:
    """``command`` started on ``cores`` (taskset -c), or anywhere."""
    return ["taskset", "-c", _cpu_list(cores), *command] if cores else command


def pin_running(pid: int, cores: tuple[int, ...] | None) -> None:
    """Move a running process, its descendants and all their threads onto ``cores``: the
    server is started as it is in production and pinned once it answers (a worker forked
    again later inherits its master's cores)."""
    if cores:
        for each in _process_tree(pid):
            _run(["taskset", "-a", "-p", "-c", _cpu_list(cores), str(each)])


def cpus_allowed(pids: list[int]) -> str:
    """The cores the kernel lets these processes run on (/proc's Cpus_allowed_list)."""
    found = set()
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                found.add(line.split()[1])
    return " / ".join(sorted(found))


# --- CPU time per answer, from /proc -------------------------------------------------------


def cpu_seconds_of(stat: str, ticks_per_second: int) -> float:
    """User and system CPU time in a /proc/PID/stat line (all the process's threads); the
    process name in parentheses may hold spaces and parentheses of its own."""
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process has used so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return cpu_seconds_of(stat, os.sysconf("SC_CLK_TCK"))


def cpu_sample(pids: list[int]) -> dict[int, float]:
    return {pid: used for pid in pids if (used := cpu_seconds(pid)) is not None}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a group of processes spent between two samples: what each one present at
    the end added, and all of the time of those that appeared in between (a connection
    opened during the run). A process gone before the end is missed, all of its time in
    between with it (the bench's servers keep theirs open: a pool, one redis-server)."""
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())


def cpu_per_answer(before: dict, after: dict, answers: int) -> dict:
    """Each group's CPU milliseconds per answer (None where a group is not measured), their
    total, what one core would then answer per second, and with several server processes
    each one's share of theirs."""
    figures: dict = {}
    for group in ("worker", "pg", "redis"):
        first, last = before.get(group), after.get(group)
        measured = first is not None and last is not None and answers > 0
        figures[f"{group}_cpu_ms"] = (
            round(cpu_used(first, last) * 1000 / answers, 2) if measured else None
        )
    parts = [figures[f"{group}_cpu_ms"] for group in ("worker", "pg", "redis")]
    total = sum(part for part in parts if part is not None)
    figures["total_cpu_ms"] = round(total, 2) if parts[0] is not None else None
    figures["per_core_per_second"] = round(1000 / total, 1) if total else None
    workers = before.get("worker") or {}
    if len(workers) > 1:
        used = [after["worker"].get(pid, start) - start for pid, start in workers.items()]
        figures["worker_cpu_split"] = [round(u / (sum(used) or 1), 2) for u in used]
    return figures


class Meter:
    """The CPU time behind the answers: the server's (Tillid's workers, or the peer's node
    process), PostgreSQL's (the backends connected to the bench's database: pg_stat_activity)
    and Redis' (the bench's own redis-server). PostgreSQL's background processes (WAL writer,
    checkpointer) serve every database on the server and are not counted."""

    def __init__(self, database_url: str | None, redis_pid: int | None):
        self.database_url, self.redis_pid = database_url, redis_pid

    def sample(self, server_pids: list[int]) -> dict:
        return {
            "worker": cpu_sample(server_pids),
            "pg": self._postgresql() if self.database_url else None,
            "redis": cpu_sample([self.redis_pid]) if self.redis_pid else None,
        }

    def _postgresql(self) -> dict[int, float] | None:
        admin_url, name = self.database_url.rsplit("/", 1)
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            pids = [pid for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]  # fmt: skip
        # Only processes of this machine's PostgreSQL (in a container, the ids are not ours).
        local = [pid for pid in pids if _command_name(pid) == "postgres"]
        if pids and not local:
            return None
        return cpu_sample(local)

    def measure(self, server_pids, run) -> dict:
        """``run()`` (a dict with the answers it got under "answers"), with the CPU time spent
        per answer."""
        before = self.sample(server_pids())
        result = run()
        after = self.sample(server_pids())
        return {**result, **cpu_per_answer(before, after, result["answers"])}


def _command_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


# --- The servers ---------------------------------------------------------------------------


class Tillid:
    """Tillid as production serves it (serve.py: granian), from the source tree ``root``."""

    def command(self) -> list[str]:
        return [sys.executable, "serve.py"]

    def __init__(self, env: dict, workers: int, root: Path = ROOT):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The metrics as production serves them (docs/metrics.md): their cost is in the
        # workers' CPU per answer, and a scrape after the runs shows what they counted.
        self.metrics_url = f"http://127.0.0.1:{_free_port()}/metrics"
        self.env = {**env, "ISSUER": self.url, "BIND": f"127.0.0.1:{self.port}",
                    "METRICS_BIND": self.metrics_url.split("/")[2],
                    "WEB_CONCURRENCY": str(workers), "PYTHONPATH": str(root)}  # fmt: skip
        self.process = subprocess.Popen(
            self.command(), cwd=root, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_until_up(f"{self.url}/readyz")
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def workers(self) -> list[int]:
        return _children(self.process.pid)

    def wrk(self, path: str, seconds: int, connections: int, **request) -> dict:
        """wrk against ``path``, with the workers' CPU time per answer and with several
        workers each one's share (bench/profile.py's measure)."""
        return Meter(None, None).measure(self.workers, lambda: wrk(
            f"{self.url}{path}", seconds, connections, **request))  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """What the server's metrics counted so far (scraped from METRICS_BIND): every
        counter's and gauge's series, and each endpoint's request count, that is not zero."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(self.metrics_url, timeout=10).text
        counted = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith(("_bucket", "_sum", "_created")) or not sample.value:
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                counted[f"{sample.name}{{{labels}}}"] = sample.value
        return counted

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)  # serve.py's workers get 30 s to answer what they hold


class Peer:
    def __init__(self, client_id: str, secret: str, cores: tuple[int, ...] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            pinned(cores, ["node", str(HERE / "peer" / "server.mjs"), str(self.port),
                           client_id, secret]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_up(f"{self.url}/.well-known/openid-configuration")

    def processes(self) -> list[int]:
        return [self.process.pid]  # taskset execs node: the same process

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class OwnRedis:
    """A redis-server of the bench's own on a free port, without persistence, so that its CPU
    time is the bench's alone (the machine's Redis serves others too)."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = tempfile.mkdtemp(prefix="tillid-bench-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("the bench's redis-server did not come up") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- The load ------------------------------------------------------------------------------


def wrk(url: str, seconds: int, connections: int, cores: tuple[int, ...] | None = None, *,
        method="GET", body=None, auth=None) -> dict:  # fmt: skip
    env = {**os.environ, "WRK_METHOD": method}
    if body:
        env["WRK_BODY"] = body
    if auth:
        env["WRK_AUTHORIZATION"] = auth
    threads = len(cores) if cores else 2
    out = subprocess.run(
        pinned(cores, ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                       "--latency", "-s", str(HERE / "wrk" / "request.lua"), url]),
        env=env, capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "per_second": round(summary["requests"] / (summary["duration_us"] / 1e6)),
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "non_2xx": summary["non_2xx"] + summary["socket_errors"],
        "socket_errors": summary["socket_errors"],  # of non_2xx: timeouts, resets, refusals
        "answers": summary["requests"],
    }


def login_methods() -> set[str]:
    """The login methods bench/login_load.py offers: "password", and those its --method
    names in its --help (an older one reads no options and ignores what it does not read)."""
    helped = subprocess.run([sys.executable, str(HERE / "login_load.py"), "--help"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    if helped.returncode != 0 or "--method" not in helped.stdout:
        return {"password"}
    return {"password"} | ({"passkey"} if "passkey" in helped.stdout else set())


def run_logins(issuer: str, seed: Path, threads: int, seconds: int,
               cores: tuple[int, ...] | None, method: str | None = None) -> dict:  # fmt: skip
    """Whole logins from bench/login_load.py for ``seconds``."""
    command = [sys.executable, str(HERE / "login_load.py"), issuer, str(seed), str(threads),
               str(seconds), *(["--method", method] if method else [])]  # fmt: skip
    out = _run(pinned(cores, command), timeout=seconds + 120)
    logins = json.loads(out.strip().splitlines()[-1])
    return {"per_second": round(logins["logins"] / logins["seconds"], 1),
            "p50_ms": logins["p50_ms"], "p99_ms": logins["p99_ms"],
            "non_2xx": logins["non_2xx"], "answers": logins["logins"]}  # fmt: skip


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _token(url: str, auth: tuple[str, str], **data) -> str:
    answer = requests.post(url, auth=auth, timeout=10,
                           data={"grant_type": "client_credentials", **data})  # fmt: skip
    answer.raise_for_status()
    return answer.json()["access_token"]


def argon2_verify_ms(env: dict, samples: int = 15) -> float:
    """One argon2id verify at Tillid's parameters, as a login pays it."""
    from idp.core.config import ARGON2_DEFAULTS  # the one place the defaults are

    setting = {name: int(env.get(name, default)) for name, default in ARGON2_DEFAULTS.items()}
    hasher = PasswordHasher(
        time_cost=setting["ARGON2_TIME_COST"],
        memory_cost=setting["ARGON2_MEMORY_COST"],
        parallelism=setting["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    hashed = hasher.hash("bench-Fjord-Solsikke-7")
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.verify(hashed, "bench-Fjord-Solsikke-7")
        timings.append((time.perf_counter() - started) * 1000)
    return round(median(timings), 1)


def sso_session_bytes(redis_url: str) -> int | None:
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter(f"{STORE_PREFIX}sso:*", count=1000):
        return store.memory_usage(key)
    return None


@dataclass
class Setup:
    env: dict  # the server's environment
    seed: dict  # what bench/seed.py printed: clients, secrets, citizens' TOTP seeds
    folder: Path  # the instance folder (keys, seed slices)
    database_url: str
    redis_url: str

    def client(self, name: str = "service") -> tuple[str, str]:
        return self.seed[name]["client_id"], self.seed[name]["client_secret"]


def prepare(citizens: int, redis_url: str | None = None) -> Setup:
    """A fresh scratch database (BENCH_DATABASE_URL) and store (``redis_url``, by default
    BENCH_REDIS_URL), migrated, with keys and the bench's clients and ``citizens`` citizens."""
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tillid_bench"
    )
    redis_url = redis_url or os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    _fresh_database(database_url)
    _fresh_store(redis_url)
    instance = tempfile.mkdtemp(prefix="tillid-bench-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TILLID_STORE_PREFIX": STORE_PREFIX,
        "TILLID_INSTANCE_PATH": instance,
        **{name: UNLIMITED for name in RATE_LIMITS},
        "ACCESS_TOKEN_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",  # one JSON line per request would measure the terminal
        "PYTHONPATH": str(ROOT),
    }
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    _run([*flask, "db", "upgrade"], cwd=ROOT, env=env)
    _run([*flask, "keys", "ensure"], cwd=ROOT, env=env)
    seeded = _run([sys.executable, str(HERE / "seed.py"), str(citizens), REDIRECT_URI],
                  cwd=ROOT, env=env)  # fmt: skip
    return Setup(env=env, seed=json.loads(seeded), folder=Path(instance),
                 database_url=database_url, redis_url=redis_url)  # fmt: skip


def only_scenarios(text: str) -> frozenset[str]:
    """`--only`'s value: short names (ONLY's keys), comma separated, as the scenarios' names."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in ONLY]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no scenario {', '.join(map(repr, unknown))}; the scenarios: {', '.join(ONLY)}"
        )
    return frozenset(ONLY[name] for name in names)


def main(quick: bool, only: frozenset[str] | None = None) -> None:
    started, load_before = time.monotonic(), os.getloadavg()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk (Debian package wrk)")
    own_redis = OwnRedis() if shutil.which("redis-server") else None
    try:
        result = _bench(quick, own_redis, only)
    finally:
        if own_redis:
            own_redis.stop()
    result["duration"] = {**result["duration"], "total_s": round(time.monotonic() - started),
                          "load_average_before": [round(x, 2) for x in load_before],
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    _report(result)


class Bench:
    """The runs of one `make bench`, each measured and recorded as a row."""

    def __init__(self, quick: bool, setup: Setup, meter: Meter,
                 only: frozenset[str] | None = None):  # fmt: skip
        self.seconds, self.connections = (4, 16) if quick else (15, 32)
        self.setup, self.meter, self.only = setup, meter, only
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.metrics: dict[str, dict] = {}  # by run: what the server's metrics counted

    def wanted(self, scenario: str) -> bool:
        """Whether this run measures ``scenario`` (all of them, without --only)."""
        return self.only is None or scenario in self.only

    def record(self, scenario: str, system: str, workers: int, place: Placement,
               server: list[int], result: dict) -> None:  # fmt: skip
        cores = {"server": cpus_allowed(server), "load": _cpu_list(place.load)}
        self.rows.append({"scenario": scenario, "system": system, "workers": workers,
                          "cores": cores, **result})  # fmt: skip
        shown = {k: v for k, v in result.items() if v is not None and k != "answers"}
        print(f"  {scenario:<34} {system:<14} {workers} worker(s), cores {cores}: {shown}",
              flush=True)  # fmt: skip

    def wrk(self, url: str, place: Placement, **request):
        return lambda: wrk(url, self.seconds, self.connections, place.load, **request)

    def peer(self, place: Placement, body: str) -> None:
        """oidc-provider: client_credentials and introspection, its node process's CPU."""
        peer = Peer("bench", "bench-secret", place.server)
        try:
            meter = Meter(None, None)  # all in its memory: no database, no store
            auth = _basic("bench", "bench-secret")
            self.record(CC, PEER, 1, place, peer.processes(), meter.measure(
                peer.processes, self.wrk(f"{peer.url}/token", place, method="POST",
                                         body=body, auth=auth)))  # fmt: skip
            opaque = _token(f"{peer.url}/token", ("bench", "bench-secret"),
                            scope="attributes:read", resource="urn:bench:opaque")  # fmt: skip
            self.record(INTROSPECTION, PEER, 1, place, peer.processes(), meter.measure(
                peer.processes, self.wrk(f"{peer.url}/token/introspection", place,
                                         method="POST", body=f"token={opaque}",
                                         auth=auth)))  # fmt: skip
        finally:
            peer.stop()

    def tillid(self, workers: int, place: Placement, body: str, logins: Path,
               alone: Path, username: str, methods: set[str], memory: dict) -> None:  # fmt: skip
        """Tillid with ``workers`` workers: the token calls, logins and userinfo."""
        server = Tillid(self.setup.env, workers)
        try:
            pin_running(server.process.pid, place.server)
            if workers == 1:
                memory["server_rss_at_rest_mib"] = round(_rss_kib(server.process.pid) / 1024, 1)

            def measured(scenario: str, run) -> None:
                if not self.wanted(scenario):
                    return
                self.record(scenario, "Tillid", workers, place, server.workers(),
                            self.meter.measure(server.workers, run))  # fmt: skip

            def logins_of(seed: Path, threads: int, seconds: int, method: str | None = None):
                return lambda: run_logins(server.url, seed, threads, seconds, place.load,
                                          method)  # fmt: skip

            service = self.setup.client("service")
            auth = _basic(*service)
            measured(CC, self.wrk(f"{server.url}/token", place, method="POST", body=body,
                                  auth=auth))  # fmt: skip
            rs256 = _basic(*self.setup.client("service_rs256"))
            measured(CC_RS256, self.wrk(f"{server.url}/token", place, method="POST", body=body,
                                        auth=rs256))  # fmt: skip
            if self.wanted(INTROSPECTION):
                token = _token(f"{server.url}/token", service, scope="attributes:read")
                measured(INTROSPECTION, self.wrk(f"{server.url}/introspect", place,
                                                 method="POST", body=f"token={token}",
                                                 auth=auth))  # fmt: skip
            if workers == 1:
                # One at a time: a login's own latency, to set beside one argon2id verify.
                measured(LOGIN_ALONE, logins_of(alone, 1, self.seconds))
            measured(LOGIN, logins_of(logins, 4 * workers, self.seconds * 2))
            if "passkey" in methods and self.wanted(PASSKEY_LOGIN):
                try:  # a passkey can log in again at once: any slice of the seed will do
                    measured(PASSKEY_LOGIN, logins_of(alone, 4 * workers, self.seconds,
                                                      "passkey"))  # fmt: skip
                except SystemExit as failed:  # told in the report; the bench goes on
                    self.notes.append(f"passkey logins with {workers} worker(s) failed: {failed}")
                    print(f"  {PASSKEY_LOGIN}: FAILED\n{failed}", flush=True)
            if self.wanted(USERINFO):
                user_token = _citizen_token(server.url, self.setup.seed, username)
                measured(USERINFO, self.wrk(f"{server.url}/userinfo", place,
                                            auth=f"Bearer {user_token}"))  # fmt: skip
            if workers == 1:
                memory["server_rss_after_load_mib"] = round(_rss_kib(server.process.pid) / 1024, 1)
            self.metrics[f"{workers}_worker{'s' if workers > 1 else ''}"] = server.metrics()
        finally:
            server.stop()


def _bench(quick: bool, own_redis: OwnRedis | None, only: frozenset[str] | None = None) -> dict:
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        phases[f"{name}_s"] = round(time.monotonic() - clock)
        clock = time.monotonic()

    setup = prepare(citizens=300 if quick else 1200, redis_url=own_redis and own_redis.url)
    redis_url = setup.redis_url
    bench = Bench(quick, setup, Meter(setup.database_url,
                                      own_redis.process.pid if own_redis else None),
                  only)  # fmt: skip
    worker_counts = sorted({1, os.cpu_count() or 1})
    available = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset") is not None
    placements = {n: plan_cores(available, n, taskset) for n in worker_counts}
    methods = login_methods()
    # Each run: its own citizens for the login load, and one more for the userinfo tokens.
    slices = _seed_slices(setup.seed, setup.folder, len(worker_counts) + 2)
    reserved = sorted(json.loads(slices[-1].read_text())["totp_seeds"])
    memory: dict = {}
    phase("setup")
    cc_body = "grant_type=client_credentials&scope=attributes%3Aread"
    if bench.wanted(PEER):
        bench.peer(placements[1], cc_body)
        phase("peer")
    for run, workers in enumerate(worker_counts):
        if not any(map(bench.wanted, (CC, CC_RS256, INTROSPECTION, USERINFO, LOGIN_ALONE,
                                      LOGIN, PASSKEY_LOGIN))):  # fmt: skip
            break
        bench.tillid(workers, placements[workers], cc_body, slices[run], slices[-2],
                     reserved[run], methods, memory)  # fmt: skip
        phase(f"tillid_{workers}_worker{'s' if workers > 1 else ''}")
    if "passkey" not in methods and bench.wanted(PASSKEY_LOGIN):
        bench.notes.append("passkey logins not run: bench/login_load.py does not offer "
                           "`--method passkey` here")  # fmt: skip
    if not own_redis:
        bench.notes.append("redis-server is missing: the bench used BENCH_REDIS_URL (shared), "
                           "so Redis' CPU is not measured nor in the per-core figures")  # fmt: skip
    memory["sso_session_bytes_in_redis"] = sso_session_bytes(redis_url)
    argon2_ms = None
    if bench.wanted(LOGIN) or bench.wanted(LOGIN_ALONE):  # what a login is set beside
        argon2_ms = argon2_verify_ms(setup.env, samples=5 if quick else 15)
        phase("argon2")
    ledger = {}
    if bench.wanted(LEDGER):
        ledger = ledger_at_scale(quick, redis_url)
        phase("ledger")
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "only": sorted(only) if only else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "placement": {
            "taskset": shutil.which("taskset"),
            "available_cores": _cpu_list(tuple(available)),
            **{f"{n}_worker{'s' if n > 1 else ''}": placements[n].note for n in worker_counts},
            "postgresql": "the machine's own service, not pinned (any core); its backends "
            "connected to the bench's database are counted",
            "redis": (
                "the bench's own redis-server, not pinned (any core)"
                if own_redis
                else "BENCH_REDIS_URL (shared): its CPU is not measured"
            ),
        },
        "rows": bench.rows,
        "notes": bench.notes,
        "argon2id_verify_ms": argon2_ms,
        "memory": memory,
        "ledger": ledger,
        "metrics": bench.metrics,
        "duration": phases,
    }


def ledger_at_scale(quick: bool, redis_url: str) -> dict:
    """bench/ledger.py in a process of its own: append, integrate, proof and log page."""
    # Quick: fewer timed proofs and pages (each page verifies 20 entries), to stay in budget.
    sizes, seconds, citizens, samples = (["100000"], "3", "200", "50") if quick else (
        ["1000000", "10000000"], "10", "2000", "200")  # fmt: skip
    print(f"  ledger at {', '.join(sizes)} entries (bench/ledger.py)", flush=True)
    output = _run([sys.executable, str(HERE / "ledger.py"), "--sizes", *sizes,
                   "--seconds", seconds, "--citizens", citizens, "--samples", samples],
                  cwd=ROOT,
                  env={**os.environ, "BENCH_REDIS_URL": redis_url})  # fmt: skip
    return json.loads(output)


def _citizen_token(issuer: str, seed: dict, username: str) -> str:
    """An access token from one real login of ``username`` (the load's own code path)."""
    sys.path.insert(0, str(HERE))
    import login_load

    codes = login_load.Codes({username: seed["totp_seeds"][username]})
    tokens = login_load.one_login(issuer, seed, codes, bad := [])
    if tokens is None:
        raise SystemExit(f"the login for userinfo failed: {bad}")
    return tokens["access_token"]


def _seed_slices(seed: dict, folder: Path, parts: int) -> list[Path]:
    """The seeded citizens in disjoint slices, one per login run: a TOTP code is accepted
    once, so two runs must not log in the same citizens within a minute and a half."""
    names = sorted(seed["totp_seeds"])
    paths = []
    for part in range(parts):
        mine = {name: seed["totp_seeds"][name] for name in names[part::parts]}
        path = folder / f"seed-{part}.json"
        path.write_text(json.dumps({**seed, "totp_seeds": mine}))
        paths.append(path)
    return paths


# --- The report ----------------------------------------------------------------------------


def find(rows: list[dict], scenario: str, system: str = "Tillid", workers: int = 1):
    return next((r for r in rows if r["scenario"] == scenario and r["system"] == system
                 and r["workers"] == workers), None)  # fmt: skip


def _quotient(ours, theirs) -> float | None:
    return round(ours / theirs, 2) if ours is not None and theirs else None


def peer_ratios(rows: list[dict]) -> dict:
    """Tillid ÷ the peer, one worker against one process in the same run: by rate (higher is
    better) and by CPU per answer (lower is better), the worker's alone and with PostgreSQL's
    and Redis' added (the peer keeps everything in its own memory)."""
    ratios = {}
    for scenario in (CC, INTROSPECTION):
        ours, peer = find(rows, scenario), find(rows, scenario, PEER)
        if not ours or not peer:
            continue
        ratios[scenario] = {
            "tillid_per_second": ours["per_second"],
            "peer_per_second": peer["per_second"],
            "rate": _quotient(ours["per_second"], peer["per_second"]),
            "tillid_worker_cpu_ms": ours.get("worker_cpu_ms"),
            "tillid_total_cpu_ms": ours.get("total_cpu_ms"),
            "peer_cpu_ms": peer.get("worker_cpu_ms"),
            "worker_cpu": _quotient(ours.get("worker_cpu_ms"), peer.get("worker_cpu_ms")),
            "total_cpu": _quotient(ours.get("total_cpu_ms"), peer.get("worker_cpu_ms")),
        }
    return ratios


def _target(target: str, value, goal: float, shown: str, *, below: bool = False,
            missing: str = "not measured") -> dict:  # fmt: skip
    if value is None:
        return {"target": target, "value": None, "measured": missing, "met": None}
    met = value < goal if below else value >= goal
    return {"target": target, "value": value, "measured": shown, "met": met}


def targets(rows: list[dict], ledger: dict, notes: list[str] = ()) -> list[dict]:
    """Issue 19's targets, each with its figure from this run and whether it is met (None:
    not measured in this run, and why)."""
    ratios = peer_ratios(rows)
    checks = []
    for scenario, name in ((CC, "client_credentials"), (INTROSPECTION, "introspection")):
        row = find(rows, scenario)
        rate = row["per_second"] if row else None
        capacity = row.get("per_core_per_second") if row else None
        checks.append(
            _target(
                f"{name} ≥ 1,000/s per worker",
                rate,
                1000,
                f"{rate}/s with one worker ({capacity}/s per core by its CPU)",
            )
        )
        # Against the peer by rate and by CPU per answer (peer's ÷ the worker's): a rate alone
        # swings with whatever else the machine runs during either run; the lower one counts.
        ratio = ratios.get(scenario, {})
        rate, worker_cpu = ratio.get("rate"), ratio.get("worker_cpu")
        by_cpu = round(1 / worker_cpu, 2) if worker_cpu else None
        known = [each for each in (rate, by_cpu) if each is not None]
        checks.append(_target(
            f"{name} ≥ 0.5 of oidc-provider (same run, by rate and by CPU per answer)",
            min(known) if known else None, 0.5,
            f"{rate} by rate, {by_cpu} by CPU per answer (the peer's "
            f"{ratio.get('peer_cpu_ms')} ms ÷ the worker's {ratio.get('tillid_worker_cpu_ms')} ms)",
        ))  # fmt: skip
    row = find(rows, USERINFO)
    rate = row["per_second"] if row else None
    checks.append(_target("userinfo ≥ 1,000/s per worker", rate, 1000, f"{rate}/s"))
    for scenario, name, goal in ((LOGIN, "password + TOTP logins", 15),
                                 (PASSKEY_LOGIN, "passkey logins", 50)):  # fmt: skip
        row = find(rows, scenario) or {}
        per_core = row.get("per_core_per_second")
        parts = " + ".join(f"{label} {row.get(key)}" for label, key in (
            ("worker", "worker_cpu_ms"), ("PostgreSQL", "pg_cpu_ms"), ("Redis", "redis_cpu_ms"))
            if row.get(key) is not None)  # fmt: skip
        why = next((note for note in notes if name.split()[0] in note), "not run")
        checks.append(_target(f"{name} ≥ {goal}/s per core", per_core, goal,
                              f"{per_core}/s per core ({parts} ms CPU per login)",
                              missing=why))  # fmt: skip
    sizes = {size["entries"]: size for size in ledger.get("sizes", [])}
    largest = sizes[max(sizes)] if sizes else None
    appends = largest["append"]["appends_per_second"] if largest else None
    checks.append(_target("ledger ≥ 5,000 appends/s", appends, 5000,
                          f"{appends}/s at {max(sizes, default=0):,} entries, "
                          f"{_writers(ledger)}"))  # fmt: skip
    # Keeping up: the integrator runs every second, so up to a second's appends may wait.
    pending = largest["append"].get("pending_at_end") if largest else None
    checks.append(_target("the sequencer keeps up (pending at the end < 1 s of appends)",
                          pending, max(appends or 0, 1), f"{pending} pending at the end",
                          below=True))  # fmt: skip
    at_10m = sizes.get(10_000_000)
    not_at_10m = f"not run at 10M (largest: {max(sizes, default=0):,} entries)"
    for key, name, goal in (("proof", "inclusion proof", 10), ("page", "citizen's log page", 50)):
        p99 = at_10m[key]["p99_ms"] if at_10m else None
        checks.append(_target(f"{name} p99 < {goal} ms at 10M entries", p99, goal,
                              f"{p99} ms", below=True, missing=not_at_10m))  # fmt: skip
    bad = sum(row["non_2xx"] for row in rows)
    checks.append(_target("zero non-2xx in every run", bad, 1, f"{bad} non-2xx", below=True))
    return checks


def _writers(ledger: dict) -> str:
    """Who appended in bench/ledger.py: its writer processes, and the requests in flight at
    once over them where it says."""
    concurrency = ledger.get("concurrency")
    at_once = f" ({concurrency} releasing requests at once)" if concurrency else ""
    return f"{ledger.get('writers')} writer processes{at_once}"


def _cell(value) -> str:
    return "–" if value is None else str(value)


def _failures(row: dict) -> str:
    broken = row.get("socket_errors")
    return f"{row['non_2xx']} ({broken} socket errors)" if broken else str(row["non_2xx"])


def _share(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.0%}"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "not measured"}[met]


def _keycloak_rows(rows: list[dict]) -> list[str]:
    lines = []
    for what, per_second, why, scenario in (*KEYCLOAK_PER_VCPU, ("passkey logins", None, "",
                                                                 PASSKEY_LOGIN)):  # fmt: skip
        if scenario:
            ours = (find(rows, scenario) or {}).get("per_core_per_second")
            ours = f"{_cell(ours)} ({PER_CORE_LABELS[scenario]})"
        lines.append(f"| {what} | {_cell(per_second)}{f' ({why})' if why else ''} "
                     f"| {ours if scenario else 'not in this bench'} |")  # fmt: skip
    return lines


REQUESTS_COUNTED = "tillid_http_request_duration_seconds_count"


def _metrics_lines(by_run: dict[str, dict]) -> list[str]:
    """What Tillid's own metrics counted in each run (docs/metrics.md), all but the request
    counts (by endpoint and status: in the JSON report)."""
    lines = []
    for run, counted in by_run.items():
        shown = {name: int(value) if value == int(value) else round(value, 3)
                 for name, value in counted.items()
                 if not name.startswith("tillid_http_request")}  # fmt: skip
        requests_counted = sum(value for name, value in counted.items()
                               if name.startswith(f"{REQUESTS_COUNTED}{{"))  # fmt: skip
        lines.append(f"Metrics scraped after the {run.replace('_', ' ')} run: "
                     f"{int(requests_counted)} requests; {shown}.")  # fmt: skip
    return lines


def _report(result: dict) -> None:
    rows, ledger, memory = result["rows"], result["ledger"], result["memory"]
    argon2_ms, quick = result["argon2id_verify_ms"], result["quick"]
    alone = find(rows, LOGIN_ALONE)
    busy = [r for r in rows if r["scenario"] == LOGIN]
    result["tillid_per_peer"] = peer_ratios(rows)
    result["targets"] = targets(rows, ledger, result["notes"])
    # A login alone against one verify: what Tillid adds above the hash.
    result["login_overhead_above_argon2"] = (
        round(alone["p50_ms"] / argon2_ms - 1, 2) if alone and argon2_ms else None
    )
    # Under load: the share of the machine's time that went into hashing, if each verify
    # takes all cores for argon2_ms (argon2id with parallelism 4 uses every core here).
    result["hashing_share_under_load"] = {
        r["workers"]: round(r["per_second"] * argon2_ms / 1000, 2) for r in busy
    }
    result["keycloak_per_vcpu"] = {
        "source": KEYCLOAK_SIZING,
        **{what: per_second for what, per_second, _, _ in KEYCLOAK_PER_VCPU},
    }
    RESULTS.mkdir(exist_ok=True)
    # A run of some scenarios (--only) leaves the last whole run's results as they are.
    stem = "partial" if result.get("only") else "latest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    duration, place = result["duration"], result["placement"]
    overhead = result["login_overhead_above_argon2"]
    lines = [
        f"Measured {result['when']} on {result['machine']['cpus']} cores"
        f"{' (QUICK=1: short runs)' if quick else ''} by `make bench`"
        f"{' (only: ' + ', '.join(result['only']) + ')' if result.get('only') else ''}, in "
        f"{duration['total_s']} s (load average {duration['load_average_before'][0]} before, "
        f"{duration['load_average_after'][0]} after: other work on the machine slows the rates, "
        "not the CPU per answer).",
        "",
        "Where it ran: "
        + "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in place.items())
        + ".",
        "",
        "| scenario | system | workers | cores (server / load) | per second | p50 ms | p99 ms "
        "| non-2xx | worker CPU ms | PostgreSQL CPU ms | Redis CPU ms | total CPU ms "
        "| per core /s | CPU share per worker |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['scenario']} | {r['system']} | {r['workers']} "
            f"| {r['cores']['server']} / {r['cores']['load']} | {r['per_second']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {_failures(r)} | {_cell(r.get('worker_cpu_ms'))} "
            f"| {_cell(r.get('pg_cpu_ms'))} | {_cell(r.get('redis_cpu_ms'))} "
            f"| {_cell(r.get('total_cpu_ms'))} | {_cell(r.get('per_core_per_second'))} "
            f"| {' / '.join(map(str, r.get('worker_cpu_split', ())))} |"
            for r in rows
        ),
        "",
        "CPU ms: per answer (per login for logins), from /proc before and after each run: the "
        "server's own processes (Tillid's workers; for oidc-provider its one node process), "
        "PostgreSQL's backends connected to the bench's database, the bench's own "
        "redis-server (– where not measured, or for the peer, which keeps everything in "
        "memory). Per core: 1000 ÷ the total, what one core would answer. CPU share: each "
        "worker's part of the workers' time (an even split means the load reached them all).",
        "",
        "Tillid ÷ oidc-provider, one worker against one process, same run (rate: higher is "
        "better; CPU per answer: lower is better):",
        "",
        "| scenario | Tillid /s | peer /s | rate ratio | Tillid worker CPU ms "
        "| Tillid worker + PostgreSQL + Redis CPU ms | peer CPU ms | worker CPU ratio "
        "| total CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {scenario} | {r['tillid_per_second']} | {r['peer_per_second']} "
            f"| {_cell(r['rate'])} "
            f"| {_cell(r['tillid_worker_cpu_ms'])} | {_cell(r['tillid_total_cpu_ms'])} "
            f"| {_cell(r['peer_cpu_ms'])} | {_cell(r['worker_cpu'])} | {_cell(r['total_cpu'])} |"
            for scenario, r in result["tillid_per_peer"].items()
        ),
        "",
        "Per core, beside Keycloak's published sizing (a static reference: keycloak.org's "
        f'high-availability guide, "Concepts for sizing CPU and memory resources", '
        f"{KEYCLOAK_SIZING}; Keycloak's figures include TLS, Tillid's here do not):",
        "",
        "| per second on one core | Keycloak (published, per vCPU) | Tillid (this run: 1000 ÷ "
        "worker + PostgreSQL + Redis CPU ms) |",
        "|---|---|---|",
        *_keycloak_rows(rows),
        "",
        "The targets of issue 19, computed from the figures above:",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {t['target']} | {t['measured']} | {_verdict(t['met'])} |" for t in result["targets"]),
        "",
        f"One argon2id verify: {argon2_ms} ms. A whole login alone takes {_share(overhead)} more "
        f"than that; under load, hashing took {result['hashing_share_under_load']} of the machine "
        "(by worker count).",
        f"Memory: {memory}.",
        f"Time per phase (s): { ({k: v for k, v in duration.items() if k.endswith('_s')}) }.",
        *_metrics_lines(result.get("metrics", {})),
        *(f"Note: {note}" for note in result["notes"]),
        "",
        f"The ledger on PostgreSQL (bench/ledger.py): {_writers(ledger)} appending and "
        "committing beside the integrator; proofs and the citizen's log page "
        f"(20 entries, each verified) for random citizens among {ledger.get('citizens')}.",
        "",
        "| entries | fill s | appends/s | append p50 / p99 ms | integrated/s "
        "| integrate p50 / p99 ms (leaves per batch) | pending at end | proof p50 / p99 ms "
        "| log page p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {row['entries']:,} | {row['fill_seconds']} | {row['append']['appends_per_second']} "
            f"| {row['append']['append']['p50_ms']} / {row['append']['append']['p99_ms']} "
            f"| {row['append']['integrated_per_second']} "
            f"| {row['append']['integrate']['p50_ms']} / {row['append']['integrate']['p99_ms']} "
            f"({row['append']['integrate_leaves_per_batch_p50']}) "
            f"| {row['append']['pending_at_end']} "
            f"| {row['proof']['p50_ms']} / {row['proof']['p99_ms']} "
            f"| {row['page']['p50_ms']} / {row['page']['p99_ms']} |"
            for row in ledger.get("sizes", [])
        ),
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (under 3 minutes)")
    parser.add_argument("--only", type=only_scenarios, metavar="SCENARIO[,SCENARIO]",
                        help=f"run only these ({', '.join(ONLY)}); the results go to "
                        "bench/results/partial.json and partial.md")  # fmt: skip
    options = parser.parse_args()
    main(options.quick, options.only)
