"""CPU per request of a whole login, by path, and a cProfile of them: the app in this process
behind Werkzeug's single-threaded server, on bench/run.py's set-up (a fresh bench database and
Redis db: BENCH_DATABASE_URL, BENCH_REDIS_URL; the bench's clients and citizens), driven by
bench/login_load.py's own logins over HTTP.

    .venv/bin/python bench/results/profiles/2026-12-03/login/per_request.py
        [--method password|passkey] [--logins N] [--profile FILE.pstats] [--env NAME=VALUE ...]

The server thread's CPU time (time.thread_time) is read around each request, so argon2's own
threads (p > 1) would not count; at the default one lane it hashes on the request's thread and
counts. Prints one JSON document: per path (method and route), requests per login and CPU ms
per request; the login's total. --profile writes cProfile's stats of the server thread.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
import login_load  # noqa: E402
import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("password", "passkey"), default="password")
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args()
    for pair in options.env:
        name, _, value = pair.partition("=")
        os.environ[name] = value
    setup = run.prepare(citizens=max(options.logins + 5, 20))
    port = run._free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update({**setup.env, "ISSUER": url})
    from idp.app import create_app

    app = create_app()
    cpu = defaultdict(float)
    count = defaultdict(int)
    profile = cProfile.Profile(time.thread_time) if options.profile else None
    state = {"on": False}

    def measured(environ, start_response):
        if not state["on"]:
            return app.wsgi_app(environ, start_response)
        key = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
        started = time.thread_time()
        if profile:
            profile.enable()
        try:
            return list(app.wsgi_app(environ, start_response))
        finally:
            if profile:
                profile.disable()
            cpu[key] += time.thread_time() - started
            count[key] += 1

    server = make_server("127.0.0.1", port, measured, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bad: list = []
    citizens = sorted(setup.seed["totp_seeds"])
    if options.method == "passkey":
        keys = login_load.Passkeys(setup.seed["passkeys"])
        login = lambda: login_load.one_passkey_login(url, setup.seed, keys, bad)  # noqa: E731
    else:
        codes = login_load.Codes({name: setup.seed["totp_seeds"][name] for name in citizens})
        login = lambda: login_load.one_login(url, setup.seed, codes, bad)  # noqa: E731
    login()  # warm: first use of every page, key and template
    state["on"] = True
    for _ in range(options.logins):
        login()
    state["on"] = False
    server.shutdown()
    n = options.logins
    calls = None
    if profile:
        profile.dump_stats(str(options.profile))
        calls = round(pstats.Stats(str(options.profile)).total_calls / n)
    paths = {
        key: {"per_login": round(count[key] / n, 2),
              "cpu_ms_per_request": round(cpu[key] * 1000 / count[key], 2),
              "cpu_ms_per_login": round(cpu[key] * 1000 / n, 2)}
        for key in sorted(cpu, key=lambda k: -cpu[k])
    }  # fmt: skip
    print(json.dumps({
        "method": options.method, "logins": n, "non_2xx": len(bad), "bad": bad[:5],
        "profiled": bool(profile), "python_calls_per_login": calls, "load": os.getloadavg(),
        "cpu_ms_per_login": round(sum(cpu.values()) * 1000 / n, 2), "paths": paths,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
