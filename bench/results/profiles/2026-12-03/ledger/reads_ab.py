"""Time the citizen's reads (bench/ledger.py's _citizen_reads) with the code in CODE_DIR,
against the bench database bench/ledger.py left (not made afresh), with the app's CPU:

    SAMPLES=100 python reads_ab.py CODE_DIR

Alternate two CODE_DIRs (main's code and a branch's) on the same database and load."""

import importlib.util
import json
import os
import secrets
import sys
import tempfile
import time


def main() -> None:
    code = sys.argv[1]
    sys.path.insert(0, code)
    os.environ.update({
        "DATABASE_URL": os.environ.get(
            "BENCH_LEDGER_DATABASE_URL",
            "postgresql://postgres@127.0.0.1:5432/tillid_bench_ledger_lg",
        ).replace("postgresql://", "postgresql+psycopg://", 1),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
        "TILLID_STORE_PREFIX": f"tillid-bench-ledger-ab:{secrets.token_hex(4)}:",
        "TILLID_INSTANCE_PATH": tempfile.mkdtemp(),
        "LEDGER_INTEGRATE_SECONDS": "0",
        "RATELIMIT_ENABLED": "false",
    })  # fmt: skip
    spec = importlib.util.spec_from_file_location("bench_ledger", f"{code}/bench/ledger.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.SAMPLES = int(os.environ.get("SAMPLES", "100"))
    import consent
    from idp.app import create_app

    assert consent.__file__.startswith(code), consent.__file__
    app = create_app({"RATELIMIT_ENABLED": False, "LEDGER_INTEGRATE_SECONDS": 0})
    cpu = time.process_time()
    result = bench._citizen_reads(app)
    result["cpu_ms_per_read_pair"] = round((time.process_time() - cpu) * 1000 / bench.SAMPLES, 2)
    result["code"] = code
    print(json.dumps(result))


if __name__ == "__main__":
    main()
