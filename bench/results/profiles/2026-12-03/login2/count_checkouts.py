"""Pool checkouts and SQL statements per request path over whole logins: ../login/per_request.py
(its set-up, server and logins) with two SQLAlchemy event listeners on the app's engine.

    .venv/bin/python bench/results/profiles/2026-12-03/login2/count_checkouts.py
        [--method password|passkey] [--logins N]

Prints per_request.py's JSON on stdout and, on stderr, the checkouts and the statements
(before_cursor_execute) by "METHOD /path" over the warm-up login and the N measured ones.
"""

from __future__ import annotations

import atexit
import collections
import runpy
import sys
from pathlib import Path

from sqlalchemy import event

PER_REQUEST = Path(__file__).resolve().parent.parent / "login" / "per_request.py"
sys.path[:0] = [str(PER_REQUEST.parents[5])]  # the tree it measures (not bench/: bench/profile.py)
import idp.app  # noqa: E402

checkouts: collections.Counter = collections.Counter()
statements: collections.Counter = collections.Counter()
_create_app = idp.app.create_app


def create_app(*args, **kwargs):
    from flask import has_request_context, request
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    app = _create_app(*args, **kwargs)

    def path() -> str:
        return f"{request.method} {request.path}" if has_request_context() else "-"

    # On the classes: the app's engines are made on first use (idp/core/database.py).
    event.listen(Pool, "checkout", lambda *_: checkouts.update([path()]))
    event.listen(Engine, "before_cursor_execute", lambda *_: statements.update([path()]))
    return app


idp.app.create_app = create_app
atexit.register(
    lambda: print(f"checkouts {dict(checkouts)}\nstatements {dict(statements)}", file=sys.stderr)
)
sys.argv = [str(PER_REQUEST), *sys.argv[1:]]
runpy.run_path(str(PER_REQUEST), run_name="__main__")
