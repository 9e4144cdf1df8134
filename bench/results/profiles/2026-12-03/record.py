"""Profile one gunicorn worker of Tillid under the bench's own load, one py-spy recording per path.

    .venv/bin/python bench/results/profiles/2026-12-03/record.py [SCENARIO ...]
            [--seconds S] [--login-seconds S] [--rate HZ] [--connections C] [--out DIR]

SCENARIO: healthz, cc-es256, introspection, userinfo, login (default: all). The set-up is
bench/run.py's (a fresh bench database and Redis db, the bench's clients and citizens, rate
limits lifted but the limiter on, logs at WARNING, one worker of gunicorn.conf.py); the load
is bench/run.py's wrk request (bench/profile.py's table of them) and, for login,
bench/login_load.py with four threads. py-spy samples the worker while the load runs:

    py-spy record --pid WORKER --rate HZ --duration S --nonblocking --gil \
                  --format speedscope --output DIR/SCENARIO.speedscope.json

No --idle, no --native. --gil: only the thread holding the GIL is sampled; without it py-spy
also counted the threads waiting for the GIL as running (76 s of samples in a 30 s recording
of a worker that used 23.5 s of CPU). --nonblocking, as bench/profile.py: pausing the worker
for each sample (py-spy's default) put 14-20 % of the token and introspection samples in
redis-py's ConnectionPool._checkpid (an os.getpid() of 0.27 us, a few per request): on a
machine this loaded a stopped thread stops where it leaves a system call, so the pauses
land after GIL-holding system calls. Reading without pausing loses some samples (py-spy
counts them as errors) and leaves a few torn stacks, but does not bias where they fall.
Beside each
profile, DIR/SCENARIO.run.json holds the load's figures and the worker's CPU time per answer
during the recording; analyse.py turns the profiles into the README's tables.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (bench/run.py)

_spec = importlib.util.spec_from_file_location("bench_profile", ROOT / "bench" / "profile.py")
bench_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_profile)

SCENARIOS = ("healthz", "cc-es256", "introspection", "userinfo", "login")


def user_and_system(pid: int) -> tuple[float, float]:
    """User and system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--login-seconds", type=int, default=120)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=HERE)
    options = parser.parse_args()
    chosen = options.scenarios or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; one of {SCENARIOS}")
    py_spy = shutil.which("py-spy", path=str(run.VENV_BIN)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy not found: .venv/bin/pip install 'py-spy>=0.4,<0.5'")
    version = subprocess.run([py_spy, "--version"], capture_output=True, text=True).stdout
    options.out.mkdir(parents=True, exist_ok=True)
    setup = run.prepare(citizens=300)
    slices = run._seed_slices(setup.seed, setup.folder, 2)
    server = run.Tillid(setup.env, 1)
    try:
        (worker,) = server.workers()
        requests_ = bench_profile._requests(setup, server)
        requests_["healthz"] = {"url": f"{server.url}/healthz"}
        for scenario in chosen:
            seconds = options.login_seconds if scenario == "login" else options.seconds
            output = options.out / f"{scenario}.speedscope.json"
            command = [
                py_spy,
                "record",
                "--pid",
                str(worker),
                "--rate",
                str(options.rate),
                "--duration",
                str(seconds),
                "--nonblocking",
                "--gil",
                "--format",
                "speedscope",
                "--output",
                str(output),
            ]
            meta = {
                "scenario": scenario,
                "py_spy": version.strip(),
                "py_spy_command": " ".join(["py-spy", *command[1:]]),
                "load_before": loadavg(),
                "worker_pid": worker,
            }
            user, system = user_and_system(worker)
            spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(0.5)  # py-spy attaches
            if scenario == "login":
                before = run.cpu_seconds(worker)
                out = run._run(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "login_load.py"),
                        server.url,
                        str(slices[0]),
                        "4",
                        str(seconds),
                    ],
                    timeout=seconds + 120,
                )
                logins = json.loads(out.strip().splitlines()[-1])
                used = run.cpu_seconds(worker) - before
                meta["load"] = {
                    "generator": "bench/login_load.py, 4 threads",
                    **logins,
                    "worker_cpu_s": round(used, 2),
                    "worker_cpu_ms_per_login": round(used * 1000 / logins["logins"], 1)
                    if logins["logins"]
                    else None,
                }
            else:
                wanted = dict(requests_[scenario])
                path = wanted.pop("url").removeprefix(server.url)
                before = run.cpu_seconds(worker)
                result = server.wrk(path, seconds, options.connections, **wanted)
                result["worker_cpu_s"] = round(run.cpu_seconds(worker) - before, 2)
                meta["load"] = {
                    "generator": f"wrk -t 2 -c {options.connections} -d {seconds}s "
                    f"-s bench/wrk/request.lua {path}",
                    **result,
                }
            said, _ = spy.communicate(timeout=seconds + 120)
            meta["py_spy_said"] = said.decode()[-400:]
            now_user, now_system = user_and_system(worker)
            meta["worker_user_s"] = round(now_user - user, 2)
            meta["worker_system_s"] = round(now_system - system, 2)
            meta["load_after"] = loadavg()
            (options.out / f"{scenario}.run.json").write_text(json.dumps(meta, indent=1) + "\n")
            print(json.dumps(meta), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
