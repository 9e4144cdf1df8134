"""Count what one request does, exactly: SQL statements, transactions, pool checkouts, Redis
round trips and commands, Python function calls (cProfile's counts, no timing), per path.

    .venv/bin/python bench/results/profiles/2026-12-03/roundtrips.py [--out FILE]

The set-up is bench/run.py's (a fresh bench database and Redis db: BENCH_DATABASE_URL,
BENCH_REDIS_URL; the bench's clients and citizens, rate limits lifted but the limiter on). The
app runs in this process behind Werkzeug's single-threaded server, so that every statement and
every Redis command of a request is seen by hooks on SQLAlchemy's engine events and redis-py's
connection (no product code is changed); the requests come over HTTP from the bench's own
clients (bench/run.py's wrk bodies, bench/login_load.py's login). Counts are independent of
the machine's load; times are not measured here (see the py-spy profiles for those).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path

import redis
import requests
from redis.client import Pipeline
from redis.connection import AbstractConnection
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "bench"))
import login_load  # noqa: E402
import run  # noqa: E402

_now = threading.local()  # the request being counted, on the server's thread


class Tally:
    def __init__(self):
        self.requests = 0
        self.by_path = Counter()
        self.sql = Counter()
        self.commits = 0
        self.rollbacks = 0
        self.checkouts = 0
        self.redis_round_trips = 0
        self.redis_commands = Counter()
        self.profile = cProfile.Profile()


tallies: dict[str, Tally] = defaultdict(Tally)
scenario = {"name": None}


def _current() -> Tally | None:
    return getattr(_now, "tally", None)


_SQL_WORDS = re.compile(r"\s+")


def _statement_kind(statement: str) -> str:
    text = _SQL_WORDS.sub(" ", statement).strip()
    match = re.match(r"(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s.*?(?:FROM\s+)?(\w+)", text)
    if text.startswith("SELECT"):
        table = re.search(r"\sFROM\s+(\w+)", text)
        return f"SELECT {table.group(1) if table else text[:40]}"
    return f"{match.group(1)} {match.group(2)}" if match else text[:40]


@event.listens_for(Engine, "before_cursor_execute")
def _sql(_conn, _cursor, statement, _parameters, _context, _executemany):
    if (tally := _current()) is not None:
        tally.sql[_statement_kind(statement)] += 1


@event.listens_for(Engine, "commit")
def _commit(_conn):
    if (tally := _current()) is not None:
        tally.commits += 1


@event.listens_for(Engine, "rollback")
def _rollback(_conn):
    if (tally := _current()) is not None:
        tally.rollbacks += 1


@event.listens_for(Pool, "checkout")
def _checkout(*_args):
    if (tally := _current()) is not None:
        tally.checkouts += 1


_send = AbstractConnection.send_packed_command


def _send_counted(self, command, check_health=True):
    if (tally := _current()) is not None:
        tally.redis_round_trips += 1
    return _send(self, command, check_health)


AbstractConnection.send_packed_command = _send_counted

_execute_command = redis.Redis.execute_command


def _execute_counted(self, *args, **options):
    if (tally := _current()) is not None:
        tally.redis_commands[str(args[0]).upper()] += 1
    return _execute_command(self, *args, **options)


redis.Redis.execute_command = _execute_counted
_pipeline_execute = Pipeline.execute


def _pipeline_counted(self, raise_on_error=True):
    if (tally := _current()) is not None:
        for args, _options in self.command_stack:
            tally.redis_commands[f"{str(args[0]).upper()} (pipelined)"] += 1
    return _pipeline_execute(self, raise_on_error)


Pipeline.execute = _pipeline_counted


def counting(wsgi_app):
    def app(environ, start_response):
        tally = tallies[scenario["name"]]
        tally.requests += 1
        tally.by_path[f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"] += 1
        _now.tally = tally
        tally.profile.enable()
        try:
            body = b"".join(wsgi_app(environ, start_response))
        finally:
            tally.profile.disable()
            _now.tally = None
        return [body]

    return app


# Calls worth counting one by one (a pattern on "file:line(function)").
SELECTED = {
    "JSON encodings (JSONEncoder.encode)": r"json/encoder\.py:\d+\(encode\)",
    "JSON decodings (JSONDecoder.decode)": r"json/decoder\.py:\d+\(decode\)",
    "context-local lookups (LocalProxy._get_current_object)": (
        r"werkzeug/local\.py:\d+\(_get_current_object\)"
    ),
    "signatures made (joserfc sign_compact)": r"_rfc7515/compact\.py:\d+\(sign_compact\)",
    "signatures checked (joserfc verify_compact)": r"_rfc7515/compact\.py:\d+\(verify_compact\)",
    "JWT decodes (joserfc jwt.decode)": r"joserfc/jwt\.py:\d+\(decode\)",
    "form parses (FormDataParser.parse)": r"werkzeug/formparser\.py:\d+\(parse\)",
    "regex searches/matches (re.Pattern)": r"re\.Pattern' objects>\)",
    "logging calls (Logger.isEnabledFor)": r"logging/__init__\.py:\d+\(isEnabledFor\)",
    "gettext (flask_babel)": r"flask_babel/__init__\.py:\d+\((gettext|lazy_gettext)\)",
    "redis-py observability hooks (redis/observability)": r"redis/observability/",
    "ORM attribute reads (InstrumentedAttribute.__get__)": (
        r"sqlalchemy/orm/attributes\.py:\d+\(__get__\)"
    ),
    "copy.deepcopy": r"copy\.py:\d+\(deepcopy\)",
    "enum construction (EnumType.__call__)": r"enum\.py:\d+\(__call__\)",
}


def _functions(profile: cProfile.Profile, requests_: int, top: int = 40) -> dict:
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_cc, ncalls, _tt, _ct, _callers) in stats.stats.items():
        short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((ncalls, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    selected = {
        label: round(sum(n for n, where in rows if re.search(pattern, where)) / requests_, 2)
        for label, pattern in SELECTED.items()
    }
    return {
        "python_calls_per_request": round(stats.total_calls / requests_),
        "selected_calls_per_request": selected,
        "most_called_per_request": [[round(n / requests_, 1), where] for n, where in rows[:top]],
    }


def report() -> dict:
    out = {}
    for name, tally in tallies.items():
        if name in (None, "warm-up") or not tally.requests:
            continue
        per = tally.requests
        out[name] = {
            "requests": per,
            "paths": dict(tally.by_path),
            "sql_statements_per_request": round(sum(tally.sql.values()) / per, 2),
            "sql_by_kind_per_request": {k: round(v / per, 2) for k, v in tally.sql.most_common()},
            "commits_per_request": round(tally.commits / per, 2),
            "rollbacks_per_request": round(tally.rollbacks / per, 2),
            "pool_checkouts_per_request": round(tally.checkouts / per, 2),
            "redis_round_trips_per_request": round(tally.redis_round_trips / per, 2),
            "redis_commands_per_request": {
                k: round(v / per, 2) for k, v in tally.redis_commands.most_common()
            },
            **_functions(tally.profile, per),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--logins", type=int, default=5)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    setup = run.prepare(citizens=20)
    port = run._free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(setup.env)
    os.environ.update({"ISSUER": url, "WEB_CONCURRENCY": "1"})
    from idp.app import create_app

    app = create_app()
    app.wsgi_app = counting(app.wsgi_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    session = requests.Session()
    service = setup.client("service")
    body = "grant_type=client_credentials&scope=attributes%3Aread"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def cc():
        answer = session.post(f"{url}/token", data=body, headers=form, auth=service)
        answer.raise_for_status()
        return answer.json()["access_token"]

    citizens = sorted(setup.seed["totp_seeds"])
    scenario["name"] = "warm-up"
    token = cc()
    user_token = run._citizen_token(url, setup.seed, citizens[0])
    codes = login_load.Codes({name: setup.seed["totp_seeds"][name] for name in citizens[1:]})
    login_load.one_login(url, setup.seed, codes, bad := [])
    for _ in range(20):
        cc()
        session.get(f"{url}/healthz").raise_for_status()
    plan = {
        "healthz": lambda: session.get(f"{url}/healthz"),
        "client_credentials": cc,
        "introspection": lambda: session.post(
            f"{url}/introspect", data=f"token={token}", headers=form, auth=service
        ),
        "userinfo": lambda: session.get(
            f"{url}/userinfo", headers={"Authorization": f"Bearer {user_token}"}
        ),
    }
    for name, call in plan.items():
        scenario["name"] = name
        for _ in range(options.requests):
            call()
    scenario["name"] = "login (whole: ~10 requests)"
    for _ in range(options.logins):
        login_load.one_login(url, setup.seed, codes, bad)
    if bad:
        raise SystemExit(f"a login failed: {bad}")
    server.shutdown()
    document = report()
    text = json.dumps(document, indent=1)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
