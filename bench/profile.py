"""Profile Tillid under the bench's own load: py-spy on each server worker while wrk runs.

    .venv/bin/python bench/profile.py [SCENARIO ...] [--workers N] [--seconds S]
                                      [--connections C] [--no-py-spy]
                                      [--connections-per-worker] [--out DIR]

SCENARIO is any of cc-es256, cc-rs256, introspection, userinfo (default: all). The setup is
bench/run.py's (a fresh `tillid_bench` database and Redis db 14, the same clients, rate
limits lifted, logs at WARNING) and the same wrk request. Each line gives wrk's figures and
`worker_cpu_ms`, the workers' own CPU time per answer: steadier than the rate on a machine
shared with the load generator, PostgreSQL and Redis (1000 / it is what one core could serve),
and with several workers `worker_cpu_split`, each one's share; --connections-per-worker
counts, halfway through each run, the load's keep-alive connections each worker holds (ss,
iproute2): each worker listens on a socket of its own, and the kernel spreads them.

py-spy (the `bench` extras, locked in requirements/lock.txt: `make install` brings it)
samples the workers while the load runs: per worker, the collapsed stacks go to
DIR/SCENARIO-PID.txt (for flamegraph.pl or speedscope), and the functions that held the GIL
most are printed, by own time and with their callees.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import run

SCENARIOS = ("cc-es256", "cc-rs256", "introspection", "userinfo")
_CC_BODY = "grant_type=client_credentials&scope=attributes%3Aread"


def _requests(setup: run.Setup, server: run.Tillid, citizen: int = 0) -> dict[str, dict]:
    """Each scenario's wrk arguments, as bench/run.py sends them (the userinfo token from a
    login of the ``citizen``-th seeded citizen: a TOTP code is accepted once)."""
    service = setup.client("service")
    auth = run._basic(*service)
    token = run._token(f"{server.url}/token", service, scope="attributes:read")
    username = sorted(setup.seed["totp_seeds"])[citizen]
    return {
        "cc-es256": {"url": f"{server.url}/token", "method": "POST", "body": _CC_BODY,
                     "auth": auth},
        "cc-rs256": {"url": f"{server.url}/token", "method": "POST", "body": _CC_BODY,
                     "auth": run._basic(*setup.client("service_rs256"))},
        "introspection": {"url": f"{server.url}/introspect", "method": "POST",
                          "body": f"token={token}", "auth": auth},
        "userinfo": {"url": f"{server.url}/userinfo",
                     "auth": f"Bearer {run._citizen_token(server.url, setup.seed, username)}"},
    }  # fmt: skip


def _top(stacks: Path, count: int = 18) -> str:
    """The functions seen most, by own samples and by samples anywhere on the stack."""
    own, anywhere, total = Counter(), Counter(), 0
    for line in stacks.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")[1:]  # the first frame names the thread
        n = int(samples)
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            anywhere[frame] += n
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples"]
    for title, counts in (("own", own), ("including callees", anywhere)):
        lines.append(f"  -- {title}")
        lines += [f"  {n / total:6.1%}  {frame}" for frame, n in counts.most_common(count)]
    return "\n".join(lines)


def _connections_per_worker(port: int, workers: list[str],
                            after: float) -> tuple[threading.Timer, dict]:  # fmt: skip
    """In ``after`` seconds (the timer's thread): the established connections on ``port``
    each worker holds, into the dict."""
    counts: dict[str, int] = {}

    def count() -> None:
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout  # fmt: skip
        owners = Counter(chunk.split(",")[0] for chunk in out.split("pid=")[1:])
        counts.update({pid: owners.get(pid, 0) for pid in workers})

    timer = threading.Timer(after, count)
    timer.start()
    return timer, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-py-spy", action="store_true", help="measure only")
    parser.add_argument(
        "--connections-per-worker",
        action="store_true",
        help="count the load's connections each worker holds, halfway through each run",
    )
    parser.add_argument("--out", type=Path, default=None, help="where the stacks go")
    options = parser.parse_args()
    unknown = set(options.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; one of {SCENARIOS}")
    py_spy = shutil.which("py-spy", path=str(run.VENV_BIN)) or shutil.which("py-spy")
    if options.no_py_spy:
        py_spy = None
    elif py_spy is None:
        print("py-spy not found (.venv/bin/pip install py-spy): measuring only", file=sys.stderr)
    out = options.out or Path(tempfile.mkdtemp(prefix="tillid-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    setup = run.prepare(citizens=4)
    server = run.Tillid(setup.env, options.workers)
    try:
        requests_ = _requests(setup, server)
        workers = [str(pid) for pid in server.workers()]
        for scenario in options.scenarios or SCENARIOS:
            spies = []
            if py_spy:
                for pid in workers:
                    stacks = out / f"{scenario}-{pid}.txt"
                    spies.append((pid, stacks, subprocess.Popen(
                        [py_spy, "record", "--pid", pid, "--gil", "--rate", "250",
                         "--duration", str(options.seconds), "--format", "raw",
                         "--output", str(stacks), "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))  # fmt: skip
            wanted = dict(requests_[scenario])
            path = wanted.pop("url").removeprefix(server.url)
            if options.connections_per_worker:
                timer, held = _connections_per_worker(server.port, workers,
                                                      options.seconds / 2)  # fmt: skip
            result = server.wrk(path, options.seconds, options.connections, **wanted)
            if options.connections_per_worker:
                timer.join()
                result["connections_per_worker"] = held
            print(f"{scenario}: {options.workers} worker(s), {options.connections} connections, "
                  f"{options.seconds} s: {result}", flush=True)  # fmt: skip
            for pid, stacks, spy in spies:
                spy.wait(timeout=options.seconds + 60)
                if stacks.exists():
                    print(f" worker {pid} ({stacks}), where its CPU went:\n{_top(stacks)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
