"""CPU per call of one EVALSHA three ways, alternating, in one process: redis-py's `Script`
object (what the spending script was called with), a pooled connection (checked out and back
for each call, as redis-py does) and one connection held by the caller (what
idp/core/rate_limits.py's `_run_script` does now). The script reads one key, as the spending
script's cheapest mode; the server's side is the same in all three.

    python script_call_cost.py [--url redis://127.0.0.1:6379/3] [--calls N] [--rounds R]
                               [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from statistics import median

import redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out")
    options = parser.parse_args()
    client = redis.Redis.from_url(options.url, socket_timeout=5, socket_connect_timeout=5)
    script = client.register_script("return {0, redis.call('get', KEYS[1]), false}")
    client.set("token-bench-script-cost", "v")
    keys = ["token-bench-script-cost"]
    script(keys, [])
    pool = client.connection_pool
    held = pool.connection_class(**pool.connection_kwargs)

    def redis_py_script():
        return script(keys, [])

    def pooled_connection():
        connection = pool.get_connection()
        try:
            connection.send_command("EVALSHA", script.sha, 1, *keys)
            return connection.read_response()
        finally:
            pool.release(connection)

    def held_connection():
        held.send_command("EVALSHA", script.sha, 1, *keys)
        return held.read_response()

    ways = (redis_py_script, pooled_connection, held_connection)
    rows = []
    for round_ in range(options.rounds):
        for way in ways if round_ % 2 == 0 else reversed(ways):
            started = time.process_time()
            for _ in range(options.calls):
                way()
            used = time.process_time() - started
            rows.append({"round": round_, "way": way.__name__,
                         "us_per_call": round(used / options.calls * 1e6, 1),
                         "load": round(os.getloadavg()[0], 2)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    summary = {way.__name__: median(r["us_per_call"] for r in rows if r["way"] == way.__name__)
               for way in ways}  # fmt: skip
    print(json.dumps(summary))
    if options.out:
        document = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "redis_py": redis.__version__,
            "summary_median_us": summary,
            "rows": rows,
        }
        with open(options.out, "w") as out:
            out.write(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
