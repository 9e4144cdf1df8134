"""The access ledger at national size, for `make bench`: 1M and 10M entries on PostgreSQL.

    .venv/bin/python bench/ledger.py [--sizes 1000000 10000000] [--seconds 10] [--json FILE]
                                     [--reuse]

A scratch database (BENCH_LEDGER_DATABASE_URL, default tillid_bench_ledger on the local
PostgreSQL; dropped and made again, unless --reuse finds the ledger an earlier --reuse run
filled) is migrated, so the ledger is partitioned by month as in production, and Redis db 14
holds the store (BENCH_REDIS_URL). For each size (that a reused ledger does not hold yet):

- fill: entries spread over the past twelve months are written with COPY, each with its
  real salted commitment, and their Merkle nodes with them; one checkpoint is signed over
  all (what `integrate` would have made, built here in one pass because it is faster);
- append: CONCURRENCY releasing requests at once (threads, spread over WRITERS processes as
  over the server's workers) each append an entry and commit it as the app's release path
  does (``ledger.append`` then ``ledger.commit()``: the request's transaction, then the
  entry through the process's group committer), for SECONDS, while the integrator runs as in
  production: throughput, append p50/p99 (until the entry is durable), the entries per
  commit, each integration (leaves, nodes and a signed checkpoint) p50/p99, and how far it
  lagged at the end;
- proof: the inclusion proof of random entries (GET /api/me/access-log/<id>/proof);
- page: the citizen's access-log page (GET /me/access-log: 20 entries, each verified);
  each with the app's CPU and PostgreSQL's per answer;
both through the app's WSGI stack (Flask's test client: no network), with a real SSO
session in Redis, for random citizens. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/tillid_bench_ledger"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
CITIZENS = 2_000  # at 10M entries 5,000 in each citizen's log: a heavy log, the worst case
WRITERS = 2  # processes, as the server's workers
CONCURRENCY = 64  # releasing requests in flight at once, over all writers
SAMPLES = 200
COPY_BLOCK = 100_000


def _fresh_database(url: str) -> None:
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        database = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(database))


def _reusable(url: str, instance: Path) -> bool:
    """Does ``url`` hold a ledger an earlier run filled, with that run's instance folder (its
    data key decrypts the checkpoint signing key)?"""
    if not (instance / "data_key").exists():
        return False
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM ledger_checkpoint").fetchone()[0] > 0
    except psycopg.Error:  # no such database, or no ledger in it
        return False


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 2)


def _summary(values_ms: list[float]) -> dict:
    return {"n": len(values_ms), "p50_ms": _percentile(values_ms, 0.5),
            "p99_ms": _percentile(values_ms, 0.99)}  # fmt: skip


class Tree:
    """The right edge of the Merkle tree of the filled leaves: the hash of each complete
    subtree its size decomposes into, largest first (one per set bit of the size). Each fill
    adds leaves and yields the nodes of every subtree it completes (what integrate stores);
    the edge alone gives the root, and a reused ledger's edge is a few stored nodes."""

    def __init__(self, size: int = 0, edge: list[tuple[int, bytes]] | None = None) -> None:
        self.size = size
        self.edge = edge or []  # (level, hash)

    @classmethod
    def stored(cls, conn) -> Tree:
        """The tree of the latest checkpoint, from its stored nodes."""
        newest = "SELECT coalesce(max(tree_size), 0) FROM ledger_checkpoint"
        (size,) = conn.execute(newest).fetchone()
        edge, start = [], 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                (digest,) = conn.execute(
                    'SELECT hash FROM merkle_node WHERE level = %s AND "index" = %s',
                    (level, start >> level),
                ).fetchone()
                edge.append((level, digest))
                start += 1 << level
        return cls(size, edge)

    def add(self, leaf_hashes: list[bytes]):
        from consent import merkle

        for digest in leaf_hashes:
            index, level = self.size, 0
            self.size += 1
            yield 0, index, digest
            while self.edge and self.edge[-1][0] == level:
                digest = merkle.node_hash(self.edge.pop()[1], digest)
                level += 1
                yield level, index >> level, digest
            self.edge.append((level, digest))

    def root(self) -> bytes:
        from consent import merkle

        if not self.edge:
            return merkle.root(0, 0, None)
        digest = self.edge[-1][1]
        for _, left in reversed(self.edge[:-1]):
            digest = merkle.node_hash(left, digest)
        return digest


def _fill(app, conn, tree: Tree, citizen_ids: list[str], client, count: int) -> float:
    """COPY ``count`` more entries (and their nodes), then sign a checkpoint over all."""
    from consent import checkpoint, merkle
    from consent.ledger.models import LedgerCheckpoint
    from consent.ledger.sequencer import signing_key
    from idp.core.extensions import db

    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    first_leaf = tree.size
    first_id = conn.execute("SELECT nextval('ledger_entry_id_seq')").fetchone()[0]
    columns = ("id, citizen_id, client_id, client_name, client_kind, channel, attributes, "
               "purpose, legal_basis, released_at, salt, commitment, leaf_index")  # fmt: skip
    rng = random.Random(first_leaf)  # noqa: S311 (test data)
    done = 0
    while done < count:
        block = min(COPY_BLOCK, count - done)
        leaves = []
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY ledger_entry ({columns}) FROM STDIN") as copy,
        ):
            for offset in range(block):
                citizen_id = citizen_ids[rng.randrange(len(citizen_ids))]
                released = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
                salt = os.urandom(32)
                # Exactly LedgerEntry.content(): sorted keys, no spaces.
                content = (
                    '{"attributes":["given_name","family_name","address"],"channel":"login",'
                    f'"citizen_id":"{citizen_id}","client_id":"{client.client_id}",'
                    f'"client_kind":"public_authority","client_name":"{client.name}",'
                    '"legal_basis":"public_task","purpose":"Benchmarking",'
                    f'"released_at":"{released.isoformat()}","request_id":null}}'
                )
                commitment = hashlib.sha256(salt + content.encode()).digest()
                leaves.append(merkle.leaf_hash(commitment))
                copy.write_row((
                    first_id + done + offset, citizen_id, client.client_id, client.name,
                    "public_authority", "login", '["given_name","family_name","address"]',
                    "Benchmarking", "public_task", released, salt, commitment,
                    first_leaf + done + offset,
                ))  # fmt: skip
        nodes = tree.add(leaves)
        with (
            conn.cursor() as cursor,
            cursor.copy('COPY merkle_node (level, "index", hash) FROM STDIN') as copy,
        ):
            for node in nodes:
                copy.write_row(node)
        conn.commit()
        done += block
    conn.execute("SELECT setval('ledger_entry_id_seq', %s)", (first_id + count,))
    conn.commit()
    # As autovacuum would have, in a ledger filled over months: hint bits and the visibility
    # map set, statistics fresh (else the first reads pay for the bulk load).
    conn.autocommit = True
    conn.execute("VACUUM (ANALYZE) ledger_entry")
    conn.execute("VACUUM (ANALYZE) merkle_node")
    conn.autocommit = False
    with app.app_context():
        size, root = tree.size, tree.root()
        name, private = signing_key()
        db.session.add(LedgerCheckpoint(
            tree_size=size, root_hash=root,
            note=checkpoint.sign(checkpoint.Checkpoint(name, size, root), name, private),
        ))  # fmt: skip
        db.session.commit()
    return time.perf_counter() - started


def _writer(seed: int, client_id: str, citizen_ids: list[str], threads: int, ready,
            seconds: float, results) -> None:  # fmt: skip
    """One writer process (a server worker) with ``threads`` requests releasing at once:
    each appends an entry and commits as the release path does, waiting until it is durable."""
    from clients.models import Client
    from consent import ledger
    from consent.ledger import group_commit
    from idp.app import create_app
    from idp.core.extensions import db

    app = create_app({"LEDGER_INTEGRATE_SECONDS": 0})
    with app.app_context():
        client = db.session.get(Client, client_id)
        db.session.expunge(client)  # a release reads its client once, not after each commit

    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def request(n: int) -> None:
        rng = random.Random(seed * 1000 + n)  # noqa: S311 (which citizen: no secret)
        with app.test_request_context():
            start.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.perf_counter()
                ledger.append(citizen_id=rng.choice(citizen_ids), client=client,
                              channel=ledger.Channel.USERINFO, attributes=["address"],
                              purpose="Benchmarking", legal_basis="public_task")  # fmt: skip
                ledger.commit()
                latencies[n].append((time.perf_counter() - started) * 1000)

    workers = [threading.Thread(target=request, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()  # every writer starts at once
    cpu = time.process_time()
    start.wait()
    for worker in workers:
        worker.join()
    cpu = time.process_time() - cpu
    with app.app_context():
        commits = group_commit.statistics()["commits"]
    results.put(([ms for mine in latencies for ms in mine], commits, cpu))


def _append_under_load(app, citizen_ids, client_id, seconds: float, writers: int,
                       concurrency: int) -> dict:  # fmt: skip
    """``concurrency`` requests over ``writers`` processes append and commit; the integrator
    runs beside them as in the server (every LEDGER_INTEGRATE_SECONDS, as many entries as are
    pending, one checkpoint each)."""
    from sqlalchemy import func, select

    from consent.ledger import sequencer
    from consent.ledger.models import LedgerEntry, latest_checkpoint
    from idp.core.extensions import db

    stop = threading.Event()
    integrations: list[tuple[float, int]] = []

    def integrator() -> None:
        with app.app_context():
            while not stop.wait(app.config["LEDGER_INTEGRATE_SECONDS"]):
                started = time.perf_counter()
                before = latest_checkpoint().tree_size
                signed = sequencer.integrate()
                if signed is not None:
                    integrations.append(
                        ((time.perf_counter() - started) * 1000, signed.tree_size - before)
                    )
                db.session.remove()

    context = multiprocessing.get_context("spawn")  # fresh processes, as the server's workers
    ready, results = context.Barrier(writers + 1), context.Queue()
    threads = [concurrency // writers + (n < concurrency % writers) for n in range(writers)]
    processes = [
        context.Process(target=_writer,
                        args=(n, client_id, citizen_ids, threads[n], ready, seconds, results))
        for n in range(writers)
    ]  # fmt: skip
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    backends_before, integrator_cpu = _backend_cpu(app), time.process_time()
    thread = threading.Thread(target=integrator)
    thread.start()
    appends, commits, cpu = [], 0, 0.0
    for _ in processes:
        latencies, committed, seconds_of_cpu = results.get(timeout=seconds + 120)
        appends += latencies
        commits += committed
        cpu += seconds_of_cpu
    for process in processes:
        process.join()
    stop.set()
    thread.join()
    integrator_cpu = time.process_time() - integrator_cpu
    backends = _backend_cpu(app)
    postgres_cpu = sum(seconds - backends_before.get(pid, 0.0) for pid, seconds in backends.items())
    with app.app_context():
        pending = db.session.scalar(select(func.count()).where(LedgerEntry.leaf_index.is_(None)))
        drained = time.perf_counter()
        sequencer.integrate_all()
        drain_seconds = time.perf_counter() - drained
    batch_ms = [ms for ms, _ in integrations] or [0.0]
    return {
        "writers": writers,
        "concurrency": concurrency,
        "seconds": seconds,
        "appends_per_second": round(len(appends) / seconds),
        "append": _summary(appends),
        "commits": commits,
        "entries_per_commit": round(len(appends) / max(1, commits), 1),
        "writer_cpu_ms_per_append": round(1000 * cpu / max(1, len(appends)), 3),
        # The integrator's process (it does nothing else meanwhile), and this database's
        # PostgreSQL backends (the committers', the integrator's): CPU per append.
        "integrator_cpu_ms_per_append": round(1000 * integrator_cpu / max(1, len(appends)), 3),
        "postgres_cpu_ms_per_append": round(1000 * postgres_cpu / max(1, len(appends)), 3),
        "integrations": len(integrations),
        "integrated_per_second": round(sum(n for _, n in integrations) / seconds),
        "integrate": _summary(batch_ms),
        "integrate_leaves_per_batch_p50": statistics.median([n for _, n in integrations] or [0]),
        "pending_at_end": pending,
        "drain_seconds": round(drain_seconds, 2),
    }


def _backend_cpu(app) -> dict[int, float]:
    """CPU seconds (user + system) of each PostgreSQL backend connected to the bench's
    database, from /proc (PostgreSQL runs on this machine). A backend that ended between two
    readings is missed: the committers' and the integrator's last until the end."""
    from sqlalchemy import text

    from idp.core.extensions import db

    with app.app_context():
        pids = db.session.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
        db.session.remove()
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return seconds


def _backend_seconds(pids) -> float:
    """CPU seconds (user + system) of these PostgreSQL backends so far, from /proc."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class _Pauses:
    """The time the garbage collector stops this process, summed (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds, self.started = 0.0, None

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started is not None:
            self.seconds += time.perf_counter() - self.started
            self.started = None


def _tail(samples: list[dict], wall: str = "ms") -> dict:
    """Where the slowest answers went: the few slowest with their app CPU, PostgreSQL CPU
    and garbage collection, and the share of their time that is none of these (waiting: for
    a core, for a read from disk, for a lock)."""
    slowest = sorted(samples, key=lambda sample: sample[wall], reverse=True)[
        : max(3, len(samples) // 50)
    ]
    return {
        "slowest": slowest,
        "waiting_share": round(
            1
            - sum(min(s[wall], s["app_cpu_ms"] + s["postgres_cpu_ms"]) for s in slowest)
            / max(sum(s[wall] for s in slowest), 1e-9),
            2,
        ),
    }


def _citizen_reads(app, samples: int = SAMPLES, seed: int = 7) -> dict:
    """Proof and log-page latency for random citizens, each with a real SSO session: first
    every proof, then every page, each with the app's CPU (this thread's) and PostgreSQL's
    (this database's backends) per answer. Each answer is also kept with its own app CPU,
    PostgreSQL CPU and garbage-collection pause, so that the slowest can be told apart:
    work, or waiting (``tail``); and the very first answer, which pays what a worker does
    once (reading the tree's top levels, compiling the page's templates), on its own."""
    import gc

    from flask import request
    from sqlalchemy import select

    from consent.ledger.models import LedgerEntry, latest_checkpoint
    from idp.authenticators import assurance
    from idp.core.extensions import db
    from idp.sessions import sessions

    rng = random.Random(seed)  # noqa: S311 (which entries to time)
    with app.app_context():
        size = latest_checkpoint().tree_size
    visits = []
    for _ in range(samples):
        with app.test_request_context():  # a random leaf, and the citizen it is about
            entry_id, citizen_id = db.session.execute(
                select(LedgerEntry.id, LedgerEntry.citizen_id).where(
                    LedgerEntry.leaf_index == rng.randrange(size)
                )
            ).one()
            cookie = sessions.start(citizen_id, ["pwd", "otp"], request,
                                    level=assurance.DEFAULT_LEVEL)  # fmt: skip
            name = sessions.cookie_name()
        browser = app.test_client()
        browser.set_cookie(name, cookie)
        visits.append((browser, entry_id))
    results, statuses = {}, set()
    pauses = _Pauses()
    gc.callbacks.append(pauses)
    try:
        for kind, path in (("proof", "/api/me/access-log/{}/proof"), ("page", "/me/access-log")):
            latencies, app_cpu, each = [], 0.0, []
            backends = _backend_cpu(app)
            for browser, entry_id in visits:
                database = _backend_seconds(backends)
                paused = pauses.seconds
                started, cpu = time.perf_counter(), time.thread_time()
                answer = browser.get(path.format(entry_id))
                spent = time.thread_time() - cpu
                latencies.append((time.perf_counter() - started) * 1000)
                app_cpu += spent
                statuses.add(answer.status_code)
                each.append({
                    "ms": round(latencies[-1], 2),
                    "app_cpu_ms": round(spent * 1000, 2),
                    "postgres_cpu_ms": round((_backend_seconds(backends) - database) * 1000, 2),
                    "gc_ms": round((pauses.seconds - paused) * 1000, 2),
                })  # fmt: skip
            postgres = sum(s - backends.get(pid, 0.0) for pid, s in _backend_cpu(app).items())
            results[kind] = {
                **_summary(latencies),
                "app_cpu_ms": round(1000 * app_cpu / samples, 2),
                "postgres_cpu_ms": round(1000 * postgres / samples, 2),
                "first": each[0],
                "after_first": _summary(latencies[1:]) if samples > 1 else None,
                "tail": _tail(each[1:] or each),
            }
    finally:
        gc.callbacks.remove(pauses)
    if statuses != {200}:
        raise SystemExit(f"the citizen's reads answered {sorted(statuses)}, not only 200")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="of concurrent appends (0: none, the reads alone)")  # fmt: skip
    parser.add_argument("--citizens", type=int, default=CITIZENS)
    parser.add_argument("--writers", type=int, default=WRITERS, help="processes that append")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="releasing requests at once, over all writers")  # fmt: skip
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help="proofs and log pages timed at each size")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the ledger an earlier --reuse run filled: fill only up to "
                             "each size it does not hold yet")  # fmt: skip
    options = parser.parse_args()

    database_url = os.environ.get("BENCH_LEDGER_DATABASE_URL", DEFAULT_DATABASE)
    # A reused ledger needs the data key it was filled with: its instance folder is kept,
    # named after the database.
    instance = (
        Path(tempfile.gettempdir()) / f"tillid-bench-ledger-{database_url.rsplit('/', 1)[1]}"
        if options.reuse
        else Path(tempfile.mkdtemp())
    )
    reused = options.reuse and _reusable(database_url, instance)
    if not reused:
        _fresh_database(database_url)
    instance.mkdir(exist_ok=True)
    os.environ.update({
        "DATABASE_URL": database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        "TILLID_STORE_PREFIX": f"tillid-bench-ledger:{secrets.token_hex(4)}:",
        "TILLID_INSTANCE_PATH": str(instance),
        "LEDGER_INTEGRATE_SECONDS": os.environ.get("LEDGER_INTEGRATE_SECONDS", "1"),
        "RATELIMIT_ENABLED": "false",
    })  # fmt: skip
    from flask_migrate import upgrade

    from consent import partitions
    from idp.app import create_app
    from idp.core.extensions import db

    app = create_app({"RATELIMIT_ENABLED": False})
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        partitions.ensure(since=(dt.datetime.now(dt.UTC) - dt.timedelta(days=366)).date())
    citizen_ids, client = (
        _filled_before(app) if reused else _citizens_and_client(app, options.citizens)
    )
    client_id = client.client_id
    print(f"{len(citizen_ids)} citizens in {time.perf_counter() - started:.0f} s"
          f"{' (reused)' if reused else ''}", file=sys.stderr)  # fmt: skip
    results = {"citizens": len(citizen_ids), "writers": options.writers,
               "concurrency": options.concurrency, "reused": reused, "sizes": []}  # fmt: skip
    with psycopg.connect(database_url) as conn:
        tree = Tree.stored(conn)
        for size in sorted(options.sizes):
            row = {"entries": max(size, tree.size), "fill_seconds": None}
            if tree.size < size:
                fill_seconds = _fill(app, conn, tree, citizen_ids, client, size - tree.size)
                row["fill_seconds"] = round(fill_seconds, 1)
            if options.seconds > 0:
                row["append"] = _append_under_load(
                    app, citizen_ids, client_id, options.seconds, options.writers,
                    options.concurrency,
                )  # fmt: skip
            row.update(_citizen_reads(app, options.samples))
            # The appends made the tree bigger than the bench's copy: follow it.
            with app.app_context():
                added = db.session.execute(ledger_leaves_after(tree.size)).scalars().all()
            list(tree.add(added))
            results["sizes"].append(row)
            print(json.dumps(row), file=sys.stderr)
    output = json.dumps(results, indent=2)
    print(output)
    if options.json:
        Path(options.json).write_text(output + "\n")


def _filled_before(app) -> tuple[list[str], object]:
    """The citizens and the client of the ledger an earlier run filled; its pending entries
    (from a run that stopped mid-append) integrated, so that the tree ends at a checkpoint."""
    from sqlalchemy import select

    from clients.models import Client
    from consent.ledger import sequencer
    from idp.citizens.models import Citizen
    from idp.core.extensions import db

    with app.app_context():
        sequencer.integrate_all()
        citizen_ids = db.session.scalars(select(Citizen.id).order_by(Citizen.family_name)).all()
        client = db.session.scalars(select(Client).where(Client.name == "Bench authority")).one()
        db.session.expunge(client)
    return list(citizen_ids), client


def _citizens_and_client(app, count: int) -> tuple[list[str], object]:
    """``count`` registered citizens and the authority that receives their attributes."""
    from sqlalchemy import text

    from clients import service as clients
    from idp.citizens import service as citizens
    from idp.core.extensions import db

    with app.app_context():
        citizen_ids = [
            citizens.create_citizen(citizens.validate(
                cpr=f"{1 + n % 28:02d}{1 + n // 28 % 12:02d}{50 + n // 336:02d}{n % 10000:04d}",
                given_name="Bench", family_name=f"Citizen {n}",
            )).id
            for n in range(count)
        ]  # fmt: skip
        client, _ = clients.register({
            "name": "Bench authority", "kind": "public_authority",
            "redirect_uris": ["https://bench.example/cb"], "scope": "openid profile address",
            "legal_basis": "public_task", "purpose": "Benchmarking",
        })  # fmt: skip
        db.session.refresh(client)  # loaded, then apart: the fill and the appends read it
        db.session.expunge(client)
        # Registered citizens with an account (no password: the bench makes their sessions).
        db.session.execute(text("UPDATE citizen SET status = 'active'"))
        db.session.commit()
    return citizen_ids, client


def ledger_leaves_after(first: int):
    """The leaf hashes from ``first`` on, in order (the appended entries, now integrated)."""
    from sqlalchemy import select

    from consent.ledger.models import MerkleNode

    return (
        select(MerkleNode.hash)
        .where(MerkleNode.level == 0, MerkleNode.index >= first)
        .order_by(MerkleNode.index)
    )


if __name__ == "__main__":
    main()
