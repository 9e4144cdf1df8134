"""CPU time per Redis round trip in this process, with redis-py's own parser and with hiredis,
alternating (A B A B ...), each in a fresh process: what the one round trip per token request
costs the worker on the client side. The commands are the hot path's: the token record's GET
(a JSON of ~400 bytes), the budget script's EVALSHA (an array of a status and that record),
and a pipeline of two. Without hiredis: a `hiredis.py` that raises ImportError, first on
sys.path (redis-py then falls back to its Python parser).

    python parser_cost.py [--calls N] [--rounds R] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

CHILD = r"""
import json, sys, time
import redis, redis.utils
client = redis.Redis.from_url(sys.argv[1])
calls = int(sys.argv[2])
record = json.dumps({"client_id": "x" * 32, "scope": "attributes:read", "sub": "y" * 43,
                     "exp": 1893456000, "jti": "z" * 43, "aud": ["urn:bench"] * 3,
                     "cnf": {"jkt": "k" * 43}, "extra": "e" * 150})
client.set("parser-cost:record", record)
script = client.register_script(
    "local n = tonumber(redis.call('incrby', KEYS[1], 1)) "
    "return {0, redis.call('get', KEYS[2])}")
def get(): client.get("parser-cost:record")
def evalsha(): script(keys=["parser-cost:count", "parser-cost:record"])
def pipeline():
    with client.pipeline(transaction=False) as pipe:
        pipe.get("parser-cost:record"); pipe.incr("parser-cost:count"); pipe.execute()
out = {"hiredis": redis.utils.HIREDIS_AVAILABLE}
for name, call in (("get", get), ("evalsha", evalsha), ("pipeline", pipeline)):
    for _ in range(500): call()
    started = time.process_time()
    for _ in range(calls): call()
    out[name] = round((time.process_time() - started) * 1e6 / calls, 2)
client.delete("parser-cost:record", "parser-cost:count")
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    options = parser.parse_args()
    without = Path(tempfile.mkdtemp(prefix="no-hiredis-"))
    (without / "hiredis.py").write_text('raise ImportError("left out")\n')
    rows = []
    for round_ in range(options.rounds):
        for parser_ in ("python", "hiredis") if round_ % 2 == 0 else ("hiredis", "python"):
            path = [str(without)] if parser_ == "python" else []
            code = f"import sys; sys.path[:0] = {path!r}\n" + CHILD
            out = subprocess.run([sys.executable, "-c", code, options.redis_url,
                                  str(options.calls)], capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
            rows.append({"round": round_, "parser": parser_, **json.loads(out)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    summary = {
        f"{parser_} {name}": median(r[name] for r in rows if r["parser"] == parser_)
        for parser_ in ("python", "hiredis")
        for name in ("get", "evalsha", "pipeline")
    }
    print(json.dumps({"command": " ".join(sys.argv), "us_cpu_per_call": summary, "rows": rows},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
