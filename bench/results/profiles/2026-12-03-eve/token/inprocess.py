"""CPU per request of Tillid's WSGI app itself, one thread, no HTTP server: each tree's app
built in a process of its own (on the same database and Redis, bench/run.py's set-up), each
request's environ made beforehand, and only `app(environ, start_response)` with its body read
timed (`time.thread_time`). The trees take turns (A B, then B A), a batch of requests per
scenario each turn. On a machine whose load swings between 15 and 30 this is steadier than a
server's CPU per answer: no other thread competes for the GIL, and the load generator and
the server's own Rust side are not in it.

    python inprocess.py [--requests N] [--rounds R] [--out FILE] NAME=ROOT ...

Scenarios: `cc-es256` (a client_credentials grant, bench/run.py's request) and
`introspection` (of a token that grant issued). Each child answers on stdout with the
median and the mean of its batch, in µs of CPU per request.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402

CC_BODY = "grant_type=client_credentials&scope=attributes%3Aread"

# Runs in the child, in the tree's directory with the tree first on sys.path.
CHILD = r"""
import json, sys, time
from statistics import median
from werkzeug.test import EnvironBuilder
from wsgi import app

auth, count, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
form = "application/x-www-form-urlencoded"

def call(path, body):
    environ = EnvironBuilder(method="POST", path=path, data=body, content_type=form,
                             headers={"Authorization": auth},
                             base_url="http://127.0.0.1:5000").get_environ()
    answer = {}
    def start_response(status, headers, exc_info=None):
        answer["status"] = status
    started = time.thread_time()
    body = app(environ, start_response)
    data = b"".join(body)
    if hasattr(body, "close"):
        body.close()
    used = time.thread_time() - started
    assert answer["status"].startswith("200"), (answer, data[:300])
    return used, data

def token():
    return json.loads(call("/token", BODY)[1])["access_token"]

BODY = sys.argv[4]
for _ in range(50):  # warm: caches, connections, the first signature of a key
    token()
result = {}
for scenario in scenarios:
    if scenario == "cc-es256":
        times = [call("/token", BODY)[0] for _ in range(count)]
    else:
        body = "token=" + token()
        call("/introspect", body)
        times = [call("/introspect", body)[0] for _ in range(count)]
    result[scenario] = {"median_us": round(median(times) * 1e6, 1),
                        "mean_us": round(sum(times) / len(times) * 1e6, 1)}
print(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scenarios", default="cc-es256,introspection")
    parser.add_argument("--out", type=Path)
    parser.add_argument("trees", nargs="+", help="NAME=ROOT")
    options = parser.parse_args()
    trees = dict(spec.partition("=")[::2] for spec in options.trees)
    own_redis = run.OwnRedis()
    rows = []
    try:
        setup = run.prepare(citizens=1, redis_url=own_redis.url)
        auth = run._basic(*setup.client("service"))
        env = {**setup.env, "ISSUER": "http://127.0.0.1:5000", "LOG_LEVEL": "WARNING"}
        names = list(trees)
        for round_ in range(options.rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                root = str(Path(trees[name]).resolve())
                load = os.getloadavg()[0]
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, auth, str(options.requests), options.scenarios,
                     CC_BODY],
                    cwd=root, env={**env, "PYTHONPATH": root}, capture_output=True, text=True,
                    timeout=1200,
                )  # fmt: skip
                if out.returncode:
                    raise SystemExit(f"{name}: {out.stderr[-2000:]}")
                for scenario, figures in json.loads(out.stdout.splitlines()[-1]).items():
                    row = {"round": round_, "tree": name, "scenario": scenario,
                           "load": round(load, 2), **figures}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        own_redis.stop()
    summary = {}
    for scenario in options.scenarios.split(","):
        for name in trees:
            mine = [r for r in rows if (r["scenario"], r["tree"]) == (scenario, name)]
            summary[f"{scenario} {name}"] = {
                "median_of_medians_us": median(r["median_us"] for r in mine),
                "medians_us": [r["median_us"] for r in mine],
                "means_us": [r["mean_us"] for r in mine],
            }
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv), "summary": summary, "rows": rows}  # fmt: skip
    if options.out:
        options.out.write_text(json.dumps(document, indent=1) + "\n")
    for key, value in summary.items():
        print(f"{key:<28} {json.dumps(value)}")


if __name__ == "__main__":
    main()
