"""Round trips per request path over whole logins, to PostgreSQL and to Redis:
../../2026-12-03/login/per_request.py (its set-up, server and logins) with SQLAlchemy's
pool checkout and statement events on the app's engines (as ../../2026-12-03/login2/
count_checkouts.py) and a count of the commands and pipelines the app's Redis connections send.

    .venv/bin/python bench/results/profiles/2026-12-03-eve/login/count_round_trips.py
        [--method password|passkey] [--logins N]

Run from the tree it measures (its idp is imported). Prints per_request.py's JSON on stdout
and, on stderr, per "METHOD /path" over the warm-up login and the N measured ones: pool
checkouts (each with the pool's ping), SQL statements, and Redis round trips (one per command
sent alone, one per pipeline; a script is one).
"""

from __future__ import annotations

import atexit
import collections
import os
import runpy
import sys
from pathlib import Path

import redis.client
from sqlalchemy import event

PER_REQUEST = Path(__file__).resolve().parents[2] / "2026-12-03" / "login" / "per_request.py"
sys.path[:0] = [os.getcwd()]  # the tree it measures (not bench/: bench/profile.py)
import idp.app  # noqa: E402

counts: dict[str, collections.Counter] = {
    name: collections.Counter() for name in ("checkouts", "statements", "redis")
}
_create_app = idp.app.create_app


def path() -> str:
    from flask import has_request_context, request

    return f"{request.method} {request.path}" if has_request_context() else "-"


def create_app(*args, **kwargs):
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    app = _create_app(*args, **kwargs)
    # On the classes: the app's engines are made on first use (idp/core/database.py).
    event.listen(Pool, "checkout", lambda *_: counts["checkouts"].update([path()]))
    event.listen(Engine, "before_cursor_execute", lambda *_: counts["statements"].update([path()]))
    return app


def counted(method):
    def wrapper(self, *args, **kwargs):
        counts["redis"].update([path()])
        return method(self, *args, **kwargs)

    return wrapper


# Each command sent alone goes through Redis._execute_command; a pipeline through its own
# execute (its commands are not counted again: a pipeline sends them in one write).
redis.client.Redis._execute_command = counted(redis.client.Redis._execute_command)
redis.client.Pipeline.execute = counted(redis.client.Pipeline.execute)
_pipeline_command = redis.client.Pipeline.execute_command


def pipeline_command(self, *args, **kwargs):
    # A pipeline's immediate commands (WATCH) are round trips of their own; queued ones are not.
    if self.watching or args[0] == "WATCH":
        counts["redis"].update([path()])
    return _pipeline_command(self, *args, **kwargs)


redis.client.Pipeline.execute_command = pipeline_command
idp.app.create_app = create_app
atexit.register(
    lambda: print(
        "\n".join(f"{name} {dict(counter)}" for name, counter in counts.items()), file=sys.stderr
    )
)
sys.argv = [str(PER_REQUEST), *sys.argv[1:]]
runpy.run_path(str(PER_REQUEST), run_name="__main__")
