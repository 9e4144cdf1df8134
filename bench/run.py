"""`make bench`: Tillid under load on a production-like server, side by side with a peer.

    .venv/bin/python bench/run.py [--quick]

Tillid runs under gunicorn on PostgreSQL and Redis (a scratch database `tillid_bench` and
Redis db 14 under its own key prefix: BENCH_DATABASE_URL, BENCH_REDIS_URL), with one
worker and then one per core (each worker on a socket of its own, so wrk's keep-alive
connections reach them all; each row records the workers' CPU per answer and its split
across workers). bench/profile.py runs the same load under py-spy. The peer is Node's
oidc-provider (bench/peer/, pinned by its lock file), one process, in-memory adapter, ES256.
Load comes from separate processes on loopback: wrk (bench/wrk/request.lua) for the token,
introspection and userinfo requests, bench/login_load.py for whole logins. Each run is
bounded in time. The ledger at 1M and 10M entries (100k with --quick) is bench/ledger.py,
in a scratch database of its own. Results: tables on stdout, bench/results/latest.json and
latest.md.
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
UNLIMITED = "1000000000 per minute"  # rate limits would turn load into 429s
RATE_LIMITS = ("LOGIN_RATE_LIMIT", "TOKEN_RATE_LIMIT", "TOKEN_RATE_LIMIT_PER_CLIENT",
               "USERINFO_RATE_LIMIT", "API_RATE_LIMIT")  # idp/core/config.py's  # fmt: skip


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


def _rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn's master and workers)."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for each in [pid, *map(int, children.split())]:
        status = Path(f"/proc/{each}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class Tillid:
    def __init__(self, env: dict, workers: int):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "ISSUER": self.url, "BIND": f"127.0.0.1:{self.port}",
                    "WEB_CONCURRENCY": str(workers)}  # fmt: skip
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_until_up(f"{self.url}/readyz")
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def workers(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True).stdout  # fmt: skip
        return sorted(map(int, found.split()))

    def wrk(self, path: str, seconds: int, connections: int, **request) -> dict:
        """wrk against ``path``, with what the workers spent: their CPU time per answer, and
        with several workers each one's share of it (the spread of the load across them)."""
        workers = self.workers()
        before = [cpu_seconds(pid) for pid in workers]
        result = wrk(f"{self.url}{path}", seconds, connections, **request)
        used = [cpu_seconds(pid) - start for pid, start in zip(workers, before, strict=True)]
        answers = result["per_second"] * seconds
        result["worker_cpu_ms"] = round(sum(used) * 1000 / answers, 2) if answers else None
        if len(workers) > 1:
            result["worker_cpu_split"] = [round(u / (sum(used) or 1), 2) for u in used]
        return result

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Peer:
    def __init__(self, client_id: str, secret: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["node", str(HERE / "peer" / "server.mjs"), str(self.port), client_id, secret],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_up(f"{self.url}/.well-known/openid-configuration")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wrk(url: str, seconds: int, connections: int, *, method="GET", body=None, auth=None) -> dict:
    env = {**os.environ, "WRK_METHOD": method}
    if body:
        env["WRK_BODY"] = body
    if auth:
        env["WRK_AUTHORIZATION"] = auth
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-s", str(HERE / "wrk" / "request.lua"), url],
        env=env, capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "per_second": round(summary["requests"] / (summary["duration_us"] / 1e6)),
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "non_2xx": summary["non_2xx"] + summary["socket_errors"],
    }


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _token(url: str, auth: tuple[str, str], **data) -> str:
    answer = requests.post(url, auth=auth, timeout=10,
                           data={"grant_type": "client_credentials", **data})  # fmt: skip
    answer.raise_for_status()
    return answer.json()["access_token"]


def argon2_verify_ms(env: dict) -> float:
    """One argon2id verify at Tillid's parameters, as a login pays it."""
    hasher = PasswordHasher(
        time_cost=int(env.get("ARGON2_TIME_COST", 3)),
        memory_cost=int(env.get("ARGON2_MEMORY_COST", 65536)),
        parallelism=int(env.get("ARGON2_PARALLELISM", 4)),
        type=Type.ID,
    )
    hashed = hasher.hash("bench-Fjord-Solsikke-7")
    samples = []
    for _ in range(15):
        started = time.perf_counter()
        hasher.verify(hashed, "bench-Fjord-Solsikke-7")
        samples.append((time.perf_counter() - started) * 1000)
    return round(median(samples), 1)


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
    redis_url: str

    def client(self, name: str = "service") -> tuple[str, str]:
        return self.seed[name]["client_id"], self.seed[name]["client_secret"]


def prepare(citizens: int) -> Setup:
    """A fresh scratch database and store, migrated, with keys and the bench's clients and
    ``citizens`` citizens (BENCH_DATABASE_URL, BENCH_REDIS_URL)."""
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tillid_bench"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
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
    return Setup(env=env, seed=json.loads(seeded), folder=Path(instance), redis_url=redis_url)


def main(quick: bool) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk (Debian package wrk)")
    seconds, connections = (4, 16) if quick else (15, 32)
    setup = prepare(citizens=300 if quick else 1200)
    env, seed, redis_url = setup.env, setup.seed, setup.redis_url
    worker_counts = sorted({1, os.cpu_count() or 1})
    # Each run: its own citizens for the login load, and one more for the userinfo token.
    slices = _seed_slices(seed, setup.folder, len(worker_counts) + 2)
    reserved = sorted(json.loads(slices[-1].read_text())["totp_seeds"])
    service = setup.client("service")
    rows: list[dict] = []
    memory: dict = {}

    def record(scenario: str, system: str, workers: int, result: dict) -> None:
        rows.append({"scenario": scenario, "system": system, "workers": workers, **result})
        print(f"  {scenario:<34} {system:<16} {workers} worker(s): {result}", flush=True)

    peer = Peer("bench", "bench-secret")
    try:
        cc_body = "grant_type=client_credentials&scope=attributes%3Aread"
        peer_auth = _basic("bench", "bench-secret")
        record("client_credentials (JWT, ES256)", "oidc-provider", 1,
               wrk(f"{peer.url}/token", seconds, connections, method="POST", body=cc_body,
                   auth=peer_auth))  # fmt: skip
        opaque = _token(f"{peer.url}/token", ("bench", "bench-secret"),
                        scope="attributes:read", resource="urn:bench:opaque")  # fmt: skip
        record("introspection", "oidc-provider", 1,
               wrk(f"{peer.url}/token/introspection", seconds, connections, method="POST",
                   body=f"token={opaque}", auth=peer_auth))  # fmt: skip
    finally:
        peer.stop()

    for run, workers in enumerate(worker_counts):
        server = Tillid(env, workers)
        try:
            if workers == 1:
                memory["server_rss_at_rest_mib"] = round(_rss_kib(server.process.pid) / 1024, 1)
            auth = _basic(*service)
            record("client_credentials (JWT, ES256)", "Tillid", workers,
                   server.wrk("/token", seconds, connections, method="POST", body=cc_body,
                              auth=auth))  # fmt: skip
            rs256 = setup.client("service_rs256")
            record("client_credentials (JWT, RS256)", "Tillid", workers,
                   server.wrk("/token", seconds, connections, method="POST", body=cc_body,
                              auth=_basic(*rs256)))  # fmt: skip
            token = _token(f"{server.url}/token", service, scope="attributes:read")
            record("introspection", "Tillid", workers,
                   server.wrk("/introspect", seconds, connections, method="POST",
                              body=f"token={token}", auth=auth))  # fmt: skip
            user_token = _citizen_token(server.url, seed, reserved[run])
            if workers == 1:
                # One at a time: a login's own latency, to set beside one argon2id verify.
                command = [sys.executable, str(HERE / "login_load.py"), server.url,
                           str(slices[-2]), "1", str(seconds)]  # fmt: skip
                alone = json.loads(_run(command, timeout=seconds + 120).strip().splitlines()[-1])
                record("full login, one at a time", "Tillid", workers,
                       {"per_second": round(alone["logins"] / alone["seconds"], 1),
                        "p50_ms": alone["p50_ms"], "p99_ms": alone["p99_ms"],
                        "non_2xx": alone["non_2xx"]})  # fmt: skip
            login = _run([sys.executable, str(HERE / "login_load.py"), server.url,
                          str(slices[run]), str(4 * workers), str(seconds * 2)],
                         timeout=seconds * 2 + 120)  # fmt: skip
            logins = json.loads(login.strip().splitlines()[-1])
            record("full login (password + TOTP, code + PKCE, token, userinfo)", "Tillid",
                   workers, {"per_second": round(logins["logins"] / logins["seconds"], 1),
                             "p50_ms": logins["p50_ms"], "p99_ms": logins["p99_ms"],
                             "non_2xx": logins["non_2xx"]})  # fmt: skip
            record("userinfo (one ledger entry each)", "Tillid", workers,
                   server.wrk("/userinfo", seconds, connections,
                              auth=f"Bearer {user_token}"))  # fmt: skip
            if workers == 1:
                memory["server_rss_after_load_mib"] = round(_rss_kib(server.process.pid) / 1024, 1)
        finally:
            server.stop()
    memory["sso_session_bytes_in_redis"] = sso_session_bytes(redis_url)
    argon2_ms = argon2_verify_ms(env)
    _report(rows, memory, argon2_ms, ledger_at_scale(quick), quick)


def ledger_at_scale(quick: bool) -> dict:
    """bench/ledger.py in a process of its own: append, integrate, proof and log page."""
    sizes, seconds, citizens = (["100000"], "3", "200") if quick else (
        ["1000000", "10000000"], "10", "2000")  # fmt: skip
    print(f"  ledger at {', '.join(sizes)} entries (bench/ledger.py)", flush=True)
    output = _run([sys.executable, str(HERE / "ledger.py"), "--sizes", *sizes,
                   "--seconds", seconds, "--citizens", citizens], cwd=ROOT)  # fmt: skip
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


def _ratio(rows, scenario, workers=1) -> float | None:
    ours = next((r for r in rows if r["scenario"] == scenario and r["system"] == "Tillid"
                 and r["workers"] == workers), None)  # fmt: skip
    peer = next((r for r in rows if r["scenario"] == scenario and r["system"] != "Tillid"), None)
    if not ours or not peer or not peer["per_second"]:
        return None
    return round(ours["per_second"] / peer["per_second"], 2)


def _report(rows: list[dict], memory: dict, argon2_ms: float, ledger: dict, quick: bool) -> None:
    alone = next((r for r in rows if r["scenario"] == "full login, one at a time"), None)
    busy = [r for r in rows if r["scenario"].startswith("full login (")]
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "rows": rows,
        "tillid_per_peer": {
            scenario: _ratio(rows, scenario)
            for scenario in ("client_credentials (JWT, ES256)", "introspection")
        },
        "argon2id_verify_ms": argon2_ms,
        # A login alone against one verify: what Tillid adds above the hash.
        "login_overhead_above_argon2": round(alone["p50_ms"] / argon2_ms - 1, 2) if alone else None,
        # Under load: the share of the machine's time that went into hashing, if each verify
        # takes all cores for argon2_ms (argon2id with parallelism 4 uses every core here).
        "hashing_share_under_load": {
            r["workers"]: round(r["per_second"] * argon2_ms / 1000, 2) for r in busy
        },
        "memory": memory,
        "ledger": ledger,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Measured {result['when']} on {os.cpu_count()} cores"
        f"{' (QUICK=1: short runs)' if quick else ''} by `make bench`.",
        "",
        "| scenario | system | workers | per second | p50 ms | p99 ms | non-2xx "
        "| worker CPU ms per answer | CPU share per worker |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['scenario']} | {r['system']} | {r['workers']} | {r['per_second']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['non_2xx']} | {r.get('worker_cpu_ms', '')} | "
            f"{' / '.join(map(str, r.get('worker_cpu_split', ())))} |"
            for r in rows
        ),
        "",
        "Worker CPU: the gunicorn workers' own CPU time per answer (1000 / it is what one "
        "core would serve), and with several workers each one's share of it: an even split "
        "means the load reached every worker.",
        "",
        f"Tillid ÷ peer, one worker against one process: {result['tillid_per_peer']}.",
        f"One argon2id verify: {argon2_ms} ms. A whole login alone takes "
        f"{result['login_overhead_above_argon2']:.0%} more than that; under load, hashing took "
        f"{result['hashing_share_under_load']} of the machine (by worker count).",
        f"Memory: {memory}.",
        "",
        f"The ledger on PostgreSQL (bench/ledger.py): {ledger['writers']} writer processes "
        "appending and committing beside the integrator; proofs and the citizen's log page "
        f"(20 entries, each verified) for random citizens among {ledger['citizens']}.",
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
            for row in ledger["sizes"]
        ),
    ]
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (under 3 minutes)")
    main(parser.parse_args().quick)
