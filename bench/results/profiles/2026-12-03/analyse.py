"""Read the py-spy profiles of record.py and print the README's tables: where the worker's time
went, by cost centre, by function (own time and with callees), and a few probes.

    .venv/bin/python bench/results/profiles/2026-12-03/analyse.py [DIR] [--collapsed]

For each DIR/SCENARIO.speedscope.json (py-spy's speedscope output: one sampled profile per
thread, each sample a stack from the thread's root to the running frame) it counts samples:

- cost centres, exclusive: a sample goes to the first "owning" centre with a frame anywhere
  on its stack (argon2, the ledger integrator thread, the rate limiter, Tillid's per-request
  hooks, the ledger append and commit, the release decision, Jinja, JOSE), else to the package
  of its innermost frame outside the standard library (the standard library's frames count
  for whoever called them). Shares of the samples: what the worker spent holding the GIL.
- the same centres inclusive: the share of samples with such a frame anywhere on the stack.
- functions by own samples (the running frame) and with callees (anywhere on the stack).
- probes: named frames and what they cost with their callees.

With --collapsed it also writes DIR/SCENARIO.collapsed.txt (Brendan Gregg's collapsed stacks,
as `py-spy record --format raw` writes them; flamegraph.pl and speedscope read them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = ("healthz", "cc-es256", "introspection", "userinfo", "login")


def short(path: str) -> str:
    """A frame's file without the machine's prefixes: `flask/app.py`, `idp/web.py`,
    `stdlib/json/encoder.py`."""
    if path.startswith(("<frozen", "<string>")):
        return "stdlib/" + path
    if path.startswith("<sqlalchemy generated"):
        return "sqlalchemy/<generated>"
    if path.startswith("<werkzeug"):
        return "werkzeug/<routing>"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    for marker in ("/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in path:
            return "stdlib/" + path.split(marker, 1)[1]
    for top in ("idp/", "consent/", "clients/", "wsgi.py", ".venv/bin/"):
        index = path.find("/" + top)
        if index >= 0:
            return path[index + 1 :]
    return path


Frame = tuple[str, str]  # (function, short file)


def load(path: Path) -> tuple[list[tuple[str, list[Frame]]], dict]:
    document = json.loads(path.read_text())
    frames = [(f["name"], short(f["file"]), f.get("line")) for f in document["shared"]["frames"]]
    samples = []
    for profile in document["profiles"]:
        thread = profile["name"]
        for stack in profile["samples"]:
            samples.append((thread, [frames[i][:2] for i in stack]))
    return samples, {"frames": frames, "document": document}


# Owning centres: (label, test on one frame). The first with a frame anywhere on a sample's
# stack takes the sample, whatever runs beneath it.
def _in(*prefixes):
    return lambda frame: frame[1].startswith(prefixes)


OWNING = [
    ("argon2 (password hash)", _in("argon2/", "_argon2_cffi_bindings/")),
    (
        "ledger integrator (background thread)",
        lambda f: f[1] == "consent/ledger.py" and f[0].startswith("start_integrator"),
    ),
    # Flask-Limiter's decorator wraps the login views whole: its wrapper is not the limiter.
    (
        "rate limiter (Flask-Limiter, limits, its Redis round trips)",
        lambda f: (
            f[1].startswith(("flask_limiter/", "limits/", "idp/rate_limits.py"))
            and not f[0].endswith("<locals>.__inner")
        ),
    ),
    (
        "Tillid per-request hooks (idp/web.py, idp/logs.py)",
        lambda f: (f[1] == "idp/web.py" and f[0] != "HostGuard.__call__") or f[1] == "idp/logs.py",
    ),
    (
        "ledger append and commit",
        lambda f: f[1] == "consent/ledger.py" or f[0] == "_userinfo.commit",
    ),
    ("release decision (consent/release.py)", _in("consent/release.py")),
    (
        "Jinja rendering",
        lambda f: (
            f[1].startswith("jinja2/") or f[1].endswith(".html") or f[1] == "flask/templating.py"
        ),
    ),
    ("JOSE (joserfc, cryptography)", _in("joserfc/", "cryptography/")),
]

# Packages for what the owning centres did not take: the innermost frame outside the standard
# library decides.
PACKAGES = [
    ("JSON (stdlib json, Flask's JSON provider)", _in("stdlib/json/", "flask/json/")),
    ("store: Redis round trips (redis-py)", _in("redis/")),
    ("SQLAlchemy ORM/session/pool, psycopg", _in("sqlalchemy/", "flask_sqlalchemy/", "psycopg")),
    ("Authlib server (request, grants, client auth)", _in("authlib/")),
    ("Flask-Babel (locale, gettext)", _in("flask_babel/", "babel/")),
    ("Flask-WTF (CSRF hook)", _in("flask_wtf/", "wtforms/")),
    (
        "Flask/Werkzeug request machinery",
        # (with Flask-Limiter's decorator wrapper, a view's frame like any other)
        lambda f: (
            f[1].startswith(("flask/", "werkzeug/", "itsdangerous/", "blinker/", "markupsafe/"))
            or f[0].endswith("<locals>.__inner")
        ),
    ),
    ("gunicorn (HTTP parsing, sockets, worker loop)", _in("gunicorn/", ".venv/bin/gunicorn")),
    (
        "Tillid's own code (views, grants, client auth, tokens, caches)",
        _in("idp/", "consent/", "clients/", "wsgi.py"),
    ),
    ("other libraries (pyotp, ...), torn stacks", lambda f: not f[1].startswith("stdlib/")),
]
OTHER = "standard library only (threads, futures, selectors)"


def _userinfo_commit(stack: list[Frame]) -> list[Frame]:
    """Mark the commit userinfo makes after its ledger entry, and id_token_for's after the
    login's: a session commit called straight from those frames is the ledger's."""
    marked = list(stack)
    for index in range(len(stack) - 1):
        caller, callee = stack[index], stack[index + 1]
        if caller[0] in ("_userinfo", "id_token_for") and callee[0].endswith(".commit"):
            marked[index] = ("_userinfo.commit", caller[1])
    return marked


def centre(stack: list[Frame]) -> str:
    marked = _userinfo_commit(stack)
    for label, test in OWNING:
        if any(test(frame) for frame in marked):
            return label
    # HostGuard wraps every request: only its own time is the hook's (the Host regex).
    if stack and stack[-1] == ("HostGuard.__call__", "idp/web.py"):
        return OWNING[3][0]
    for frame in reversed(stack):
        if frame[1].startswith("stdlib/"):
            continue
        for label, test in PACKAGES:
            if test(frame):
                return label
    return OTHER


def inclusive(stack: list[Frame]) -> set[str]:
    marked = _userinfo_commit(stack)
    found = {label for label, test in OWNING if any(test(f) for f in marked)}
    if stack and stack[-1] == ("HostGuard.__call__", "idp/web.py"):
        found.add(OWNING[3][0])
    for frame in stack:
        if frame[1].startswith("stdlib/") or frame == ("HostGuard.__call__", "idp/web.py"):
            continue  # (HostGuard wraps every request: counted only as its own time, above)
        if any(test(frame) for _, test in OWNING):
            continue
        for label, test in PACKAGES:
            if test(frame):
                found.add(label)
                break
    return found


PROBES = [
    ("Flask-SQLAlchemy session closed at teardown (close_session)", "close_session"),
    ("client registration from the per-process cache (query_client)", "query_client"),
    ("CORS for the token endpoint (cors.allow_for, _client_of_form)", "allow_for"),
    (
        "DPoP checks on a request without DPoP (_checked_dpop_proof, _with_dpop_nonce)",
        ("_checked_dpop_proof", "_with_dpop_nonce"),
    ),
    ("malformed-parameter scan (_malformed_protocol_parameters)", "_malformed_protocol_parameters"),
    (
        "Authlib wraps the request (create_oauth2_request)",
        "AuthorizationServer.create_oauth2_request",
    ),
    (
        "client authentication (client_auth.authenticate, without the limiter)",
        ("authenticate", "idp/oidc/client_auth.py"),
    ),
    ("access token issued (issue_access_token)", "issue_access_token"),
    ("JWT signed (joserfc jwt.encode)", ("encode", "joserfc/jwt.py")),
    ("JWT verified (joserfc jwt.decode)", ("decode", "joserfc/jwt.py")),
    ("token record stored (Redis SET in issue_access_token)", ("BasicKeyCommands.set", None)),
    ("token record read (Redis GET in active_access_token)", "active_access_token"),
    (
        "limiter: Flask-Limiter's own before_request (no limits declared)",
        "Limiter._check_request_limit",
    ),
    ("limiter: source-address check (refuse_a_spent_source: GET)", "refuse_a_spent_source"),
    ("limiter: client budget (spend_for_client: EVALSHA)", "spend_for_client"),
    ("limiter: source budget after the answer (spend_for_source)", "spend_for_source"),
    ("Flask-Limiter after_request (_inject_headers)", "Limiter._inject_headers"),
    ("request id, NUL scan (start_request)", "init_app.<locals>.start_request"),
    ("security headers, access log (finish_request)", "init_app.<locals>.finish_request"),
    ("access-log record (log_request; level WARNING: not written)", "log_request"),
    ("Flask session cookie opened (open_session)", "SecureCookieSessionInterface.open_session"),
    ("Flask session saved (save_session)", "SecureCookieSessionInterface.save_session"),
    ("CSRF hook (CSRFProtect.protect)", ("protect", "flask_wtf/csrf.py")),
    ("form parsed (Request._load_form_data)", ("Request._load_form_data", "werkzeug/")),
    ("jsonify (Flask response from a dict)", "jsonify"),
    ("gunicorn parses the request (Parser.__next__)", "Parser.__next__"),
    (
        "gunicorn writes the answer (Response.write, send_headers)",
        ("Response.write", "Response.send_headers"),
    ),
    ("Redis: any command (Redis.execute_command)", "Redis.execute_command"),
    (
        "Redis: connection pool get/release",
        ("ConnectionPool.get_connection", "ConnectionPool.release"),
    ),
    ("redis-py observability hooks (redis/observability)", ("*", "redis/observability/")),
    (
        "SQLAlchemy: any statement (Session.execute / Session.get / flush)",
        ("Session.execute", "Session.get", "Session.flush", "Session._autoflush"),
    ),
    ("SQLAlchemy: commit (Session.commit)", "Session.commit"),
    ("bearer token checked (bearer.authenticate)", ("authenticate", "idp/oidc/bearer.py")),
    ("pairwise sub (subjects.pairwise_sub)", "pairwise_sub"),
    ("release decision (release.release)", ("release", "consent/release.py")),
    ("ledger entry built and added (ledger.append)", ("append", "consent/ledger.py")),
    ("the ledger's commitment hash (LedgerEntry.committed)", "LedgerEntry.committed"),
    ("userinfo's commit of its ledger entry", "_userinfo.commit"),
    ("Jinja: render_template", "render_template"),
    ("Flask-Babel: gettext", ("gettext", "flask_babel/__init__.py")),
    ("password verify (passwords.verify*)", ("verify", "idp/passwords.py")),
    ("TOTP check (pyotp)", ("*", "pyotp/")),
    ("ID token (id_token_for)", "id_token_for"),
]


def _probe_test(spec):
    if isinstance(spec, str):
        return lambda f: f[0] == spec
    if isinstance(spec, tuple) and len(spec) == 2 and (spec[1] is None or "/" in spec[1]):
        name, where = spec
        return lambda f: (name == "*" or f[0] == name) and (where is None or f[1].startswith(where))
    tests = [_probe_test(s) for s in spec]
    return lambda f: any(t(f) for t in tests)


def analyse(path: Path, top: int = 25) -> dict:
    samples, _ = load(path)
    total = len(samples)
    by_centre, incl, own, anywhere, by_thread = (
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
    )
    probes = Counter()
    probe_tests = [(label, _probe_test(spec)) for label, spec in PROBES]
    for thread, stack in samples:
        by_thread[thread.split('"')[1] if '"' in thread else thread] += 1
        by_centre[centre(stack)] += 1
        for label in inclusive(stack):
            incl[label] += 1
        if stack:
            own[stack[-1]] += 1
        for frame in dict.fromkeys(stack):  # (ordered: ties print the same way each run)
            anywhere[frame] += 1
        marked = _userinfo_commit(stack)
        for label, test in probe_tests:
            if any(test(f) for f in marked):
                probes[label] += 1

    def share(n):
        return round(n / total, 4) if total else 0.0

    return {
        "samples": total,
        "threads": dict(by_thread.most_common()),
        "centres": [(label, share(n), share(incl[label])) for label, n in by_centre.most_common()],
        "own": [(f"{name} ({where})", share(n)) for (name, where), n in own.most_common(top)],
        "anywhere": [
            (f"{name} ({where})", share(n)) for (name, where), n in anywhere.most_common(top + 40)
        ],
        "probes": [(label, share(probes[label])) for label, _ in PROBES if probes[label]],
    }


def collapsed(path: Path) -> Path:
    """The samples as collapsed stacks, as `py-spy record --format raw` writes them."""
    _, loaded = load(path)
    frames, document = loaded["frames"], loaded["document"]
    counts = Counter()
    for profile in document["profiles"]:
        for stack in profile["samples"]:
            names = [profile["name"]] + [
                f"{frames[i][0]} ({frames[i][1]}:{frames[i][2]})" for i in stack
            ]
            counts[";".join(names)] += 1
    out = path.with_name(path.name.replace(".speedscope.json", ".collapsed.txt"))
    out.write_text("".join(f"{stack} {n}\n" for stack, n in sorted(counts.items())))
    return out


def markdown(scenario: str, result: dict, cpu_ms: float | None) -> str:
    def ms(share):
        return f"{share * cpu_ms:.3f}" if cpu_ms else ""

    lines = [f"### {scenario}: {result['samples']} samples", ""]
    lines += [
        "| cost centre | share (exclusive) | ms per answer | share (inclusive) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {label} | {a:.1%} | {ms(a)} | {b:.1%} |" for label, a, b in result["centres"]]
    lines += ["", "| function (own time) | share |", "|---|---|"]
    lines += [f"| `{name}` | {s:.1%} |" for name, s in result["own"][:15]]
    lines += ["", "| function (with callees) | share |", "|---|---|"]
    lines += [f"| `{name}` | {s:.1%} |" for name, s in result["anywhere"] if s < 0.7][:30]
    lines += ["", "| probe (with callees) | share | ms per answer |", "|---|---|---|"]
    lines += [f"| {label} | {s:.1%} | {ms(s)} |" for label, s in result["probes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=HERE)
    parser.add_argument("--collapsed", action="store_true")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    parser.add_argument(
        "--argon2-cpu-ms",
        type=float,
        help="CPU of one argon2id verify (measure.py): libargon2 hashes on threads of its own "
        "with the GIL released, which py-spy does not sample; the login's samples are then "
        "shares of the login's worker CPU less this",
    )
    options = parser.parse_args()
    everything = {}
    for scenario in SCENARIOS:
        path = options.folder / f"{scenario}.speedscope.json"
        if not path.exists():
            continue
        meta_path = options.folder / f"{scenario}.run.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        load_ = meta.get("load", {})
        cpu_ms = load_.get("worker_cpu_ms") or load_.get("worker_cpu_ms_per_login")
        if scenario == "login" and cpu_ms and options.argon2_cpu_ms:
            sys.stdout.write(
                f"login: {cpu_ms} ms of worker CPU per login, of which one argon2id "
                f"verify {options.argon2_cpu_ms} ms (not sampled); the shares "
                "below are of the rest\n\n"
            )
            cpu_ms = round(cpu_ms - options.argon2_cpu_ms, 1)
        result = analyse(path)
        everything[scenario] = {"worker_cpu_ms_per_answer": cpu_ms, **result}
        sys.stdout.write(markdown(scenario, result, cpu_ms) + "\n")
        if options.collapsed:
            collapsed(path)
    if options.json:
        options.json.write_text(json.dumps(everything, indent=1) + "\n")


if __name__ == "__main__":
    main()
