"""Time the citizen's reads with the app's code from CODE_DIR, measured by this worktree's
bench/ledger.py (its _citizen_reads: app and PostgreSQL CPU per proof and per page), on the
ledger a `bench/ledger.py --reuse` run left:

    SAMPLES=100 python ab.py CODE_DIR [SEED] [LABEL]

Alternate two CODE_DIRs (main's code and this branch's) on the same database and load. Each
run is one JSON line: the reads' figures (with each answer's app CPU, PostgreSQL CPU and
garbage-collection pause for the slowest, and the first answer apart), the load average
before and after, and LABEL."""

import importlib.util
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[5] / "bench" / "ledger.py"


def main() -> None:
    code = os.path.abspath(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    database = os.environ["BENCH_LEDGER_DATABASE_URL"]
    os.environ.update({
        "DATABASE_URL": database.replace("postgresql://", "postgresql+psycopg://", 1),
        "REDIS_URL": os.environ["BENCH_REDIS_URL"],
        "TILLID_STORE_PREFIX": f"tillid-bench-ledger-ab:{secrets.token_hex(4)}:",
        # The instance folder of the --reuse run: the data key of the ledger's signing key.
        "TILLID_INSTANCE_PATH": str(
            Path(tempfile.gettempdir()) / f"tillid-bench-ledger-{database.rsplit('/', 1)[1]}"
        ),
        "LEDGER_INTEGRATE_SECONDS": "0",
        "RATELIMIT_ENABLED": "false",
    })  # fmt: skip
    spec = importlib.util.spec_from_file_location("bench_ledger", HARNESS)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sys.path.insert(0, code)  # the app's code from CODE_DIR, before the harness's own
    import consent
    from idp.app import create_app

    assert consent.__file__.startswith(code), consent.__file__
    app = create_app({"RATELIMIT_ENABLED": False, "LEDGER_INTEGRATE_SECONDS": 0})
    load = os.getloadavg()[0]
    result = bench._citizen_reads(app, int(os.environ.get("SAMPLES", "100")), seed)
    result.update(code=code, label=sys.argv[3] if len(sys.argv) > 3 else code, seed=seed,
                  load_before=load, load_after=os.getloadavg()[0])  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
