"""Profile one serve.py (granian) worker of Tillid answering userinfo: py-spy, speedscope.

    .venv/bin/python bench/results/profiles/2026-12-03-eve/userinfo/record.py
            [--seconds S] [--rate HZ] [--connections C] --out PREFIX

bench/run.py's set-up (a fresh bench database, its clients and citizens, rate limits lifted,
logs at WARNING) with a redis-server of its own (run.OwnRedis), one worker; the load is
bench/profile.py's userinfo request (one citizen's access token) through wrk. py-spy samples
the worker while the load runs (``--gil --nonblocking``, as bench/profile.py, for the reasons
bench/results/profiles/2026-12-03/record.py gives):

    py-spy record --pid WORKER --rate HZ --duration S --nonblocking --gil \
                  --format speedscope --output PREFIX.speedscope.json

PREFIX.run.json holds the load's figures and the CPU per answer of the worker, PostgreSQL's
backends and Redis during the recording (run.Meter).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True, help="PREFIX of the two files")
    options = parser.parse_args()
    own_redis = run.OwnRedis()
    server = None
    try:
        setup = run.prepare(citizens=4, redis_url=own_redis.url)
        meter = run.Meter(setup.database_url, own_redis.process.pid)
        server = run.Tillid({**setup.env, "WEB_THREADS": "4"}, 1)
        username = sorted(setup.seed["totp_seeds"])[0]
        token = run._citizen_token(server.url, setup.seed, username)
        (worker,) = server.workers()
        spy = subprocess.Popen(
            [str(run.VENV_BIN / "py-spy"), "record", "--pid", str(worker), "--gil",
             "--nonblocking", "--rate", str(options.rate), "--duration", str(options.seconds),
             "--format", "speedscope", "--output", f"{options.out}.speedscope.json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        load = os.getloadavg()[0]
        work = partial(run.wrk, f"{server.url}/userinfo", options.seconds, options.connections,
                       auth=f"Bearer {token}")  # fmt: skip
        result = meter.measure(partial(run._process_tree, server.process.pid), work)
        spy.wait(timeout=options.seconds + 60)
    finally:
        if server is not None:
            server.stop()
        own_redis.stop()
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv), "load": round(load, 2), **result}  # fmt: skip
    Path(f"{options.out}.run.json").write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document))


if __name__ == "__main__":
    main()
