"""Fixtures that build a real app on a real database and store.

The backend is PostgreSQL + Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set (CI),
else SQLite + the embedded store. Tests that must run on both use the ``backend``
parameter through ``make_app``.

A test (or module) marked ``cluster`` runs once more on the "cluster" backend: the store on
the Redis Cluster of TEST_REDIS_CLUSTER_URL (``redis+cluster://host:port,host:port/``),
beside PostgreSQL when TEST_DATABASE_URL is set, else SQLite. Without the variable that
run skips; with it and REQUIRE_E2E=1 (CI) an unreachable cluster fails the run.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jinja2
import psycopg
import pyotp
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from sqlalchemy import text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from consent.ledger import group_commit
from idp.app import create_app
from idp.core.config import redis_cluster
from idp.core.extensions import db
from idp.keys import service as key_service
from tests import log_secrets

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
TEST_REDIS_CLUSTER_URL = os.environ.get("TEST_REDIS_CLUSTER_URL")
REQUIRE_E2E = os.environ.get("REQUIRE_E2E") == "1"
PRIMARY_BACKEND = "postgres" if TEST_DATABASE_URL and TEST_REDIS_URL else "sqlite"
BACKENDS = ["sqlite", "postgres"]
CLUSTER = "cluster"
# Under pytest-xdist each worker ("gw0", "gw1", ...) is a process of its own: its own
# database, store key prefix and ports (every server here binds port 0).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# Cheap argon2 parameters for speed; the rehash test raises them on purpose.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
_counter = itertools.count()


class SharedTemplateCode(jinja2.BytecodeCache):
    """Each app has its own Jinja environment, and so compiled every template it rendered
    anew (~80 ms a test): the compiled code is kept for the session instead, by template
    and source checksum (a changed template is compiled again). Every app here comes from
    the one create_app, so their environments compile alike."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


class SigningKeyPool:
    """A 2048-bit RSA key takes ~50 ms to make, and most tests make one (`keys ensure`):
    they take them from keys made once per session instead, a different one for each key
    a test makes (the Nth key of every test is the same key). Keys are data in each test's
    own database, encrypted with its own data key. Tests of key making itself
    (REAL_KEY_TESTS) make real ones."""

    REAL_KEY_TESTS = ("tests/idp/test_keys.py",)

    def __init__(self, generate):
        self._generate = generate
        self._keys: list = []
        self._lock = threading.Lock()
        self._handed_out = 0
        self.real = False

    def begin(self, nodeid: str) -> None:
        with self._lock:
            self._handed_out = 0
            self.real = nodeid.startswith(self.REAL_KEY_TESTS)

    def generate(self, alg: str):
        if alg != "RS256" or self.real:
            return self._generate(alg)
        with self._lock:
            index, self._handed_out = self._handed_out, self._handed_out + 1
            while len(self._keys) <= index:
                self._keys.append(self._generate(alg))
            return self._keys[index]


KEY_POOL = SigningKeyPool(key_service._generate)
key_service._generate = KEY_POOL.generate


def base_config(**extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TILLID_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ISSUER": "http://localhost:5000",
        # The suite reads its pages in English; tests/i18n tests the Danish default itself.
        "DEFAULT_LANGUAGE": "en",
        **FAST_ARGON2,
        **extra,
    }
    log_secrets.CHECK.registry.add([config["SECRET_KEY"], config["TILLID_DATA_KEY"]], "app key")
    return config


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cluster: also run on the Redis Cluster store (skipped without TEST_REDIS_CLUSTER_URL)",
    )
    # Secrets never in logs: every record of the session is captured from here on.
    log_secrets.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    log_secrets.CHECK.begin(item.nodeid)
    KEY_POOL.begin(item.nodeid)
    try:
        return (yield)
    finally:
        log_secrets.CHECK.end()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A secret in a log fails the test that logged it: its call (with what its setup
    logged), or its teardown for what the teardown logged (or a setup that did not pass).
    The report carries the leaks, so an xdist worker's leak fails the run like any other."""
    report = yield
    if call.when == "setup" and report.passed:
        return report  # checked with the call, which comes next
    leaks = log_secrets.CHECK.test_leaks()
    if leaks:
        text = "\n".join(leak.describe() for leak in leaks)
        text += f"\n{len(leaks)} secret(s) reached the logs: the test fails"
        masked = []  # the captured log and output shown with the failure: not the secrets
        for name, content in report.sections:
            for leak in leaks:
                content = leak.mask(content)
            masked.append((name, content))
        report.sections[:] = masked
        if report.failed:
            report.sections.append(("secrets in logs", text))
        else:
            report.outcome = "failed"
            report.longrepr = f"secrets in logs:\n{text}"
    return report


_WORKER_LEAKS: list[str] = []  # on the xdist controller: what workers logged outside tests


def pytest_sessionfinish(session, exitstatus):
    leaks = [leak.describe() for leak in log_secrets.CHECK.finish()]
    if hasattr(session.config, "workeroutput"):  # an xdist worker: tell the controller
        session.config.workeroutput["log_secret_leaks"] = leaks
    if leaks or _WORKER_LEAKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKER_LEAKS.extend(getattr(node, "workeroutput", {}).get("log_secret_leaks", []))


def pytest_terminal_summary(terminalreporter):
    leaks = [leak.describe() for leak in log_secrets.CHECK.leaks] + _WORKER_LEAKS
    if leaks:
        terminalreporter.section("secrets in logs outside tests", sep="=", red=True, bold=True)
        for leak in leaks:
            terminalreporter.line(leak, red=True)
        terminalreporter.line(f"{len(leaks)} secret(s) reached the logs: the run fails")


@pytest.fixture
def log_secret_check():
    """The session's check that no secret reaches a log (tests/log_secrets.py): its registry
    for a secret a test makes by itself, and its scan for the self-tests."""
    return log_secrets.CHECK


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("cluster") and (
        "default_backend" in metafunc.fixturenames
    ):
        metafunc.parametrize("default_backend", [PRIMARY_BACKEND, CLUSTER], indirect=True)


@pytest.fixture
def default_backend(request):
    """The backend ``make_app()`` builds when a test names none: the primary one, and for a
    test marked ``cluster`` the cluster backend too (one run each)."""
    return getattr(request, "param", PRIMARY_BACKEND)


def cluster_client(url: str) -> RedisCluster:
    options = redis_cluster(url)
    assert options, f"not a redis+cluster:// URL: {url}"
    nodes = [ClusterNode(host, port) for host, port in options.pop("startup_nodes")]
    return RedisCluster(startup_nodes=nodes, socket_connect_timeout=5, **options)


@pytest.fixture(scope="session")
def redis_cluster_url():
    """TEST_REDIS_CLUSTER_URL once it answers as a whole cluster (every slot served)."""
    if not TEST_REDIS_CLUSTER_URL:
        pytest.skip("TEST_REDIS_CLUSTER_URL is not set: Redis Cluster tests need it")
    try:
        client = cluster_client(TEST_REDIS_CLUSTER_URL)
        try:
            state = client.cluster_info(target_nodes=RedisCluster.RANDOM)["cluster_state"]
        finally:
            client.close()
    except Exception as exc:  # any failure to reach or read the cluster
        state = f"{type(exc).__name__}: {exc}"
    if state != "ok":
        reason = f"the Redis Cluster at TEST_REDIS_CLUSTER_URL is not ready ({state})"
        if REQUIRE_E2E:
            pytest.fail(f"REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)
    return TEST_REDIS_CLUSTER_URL


def _pg_admin_url() -> str:
    return make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)


@pytest.fixture(scope="session")
def postgres_url():
    """A database of our own for this run, migrated once; dropped at the end."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests need it")
    name = f"tillid_test_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A commit need not wait for the disk: nothing here must survive a crash of the
        # server (the fault tests break a PostgreSQL of their own).
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url_text))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url_text
    resetter = _RESETTERS.pop(url_text, None)
    if resetter is not None:
        resetter.close()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file; each test gets a copy (a fresh database per test)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return path


@dataclass
class Backend:
    name: str
    database_url: str
    redis_url: str | None
    store_prefix: str


@pytest.fixture
def backend_factory(request, tmp_path):
    """Make a clean database + store for the named backend; cleaned up after the test."""
    made: list[Backend] = []

    def make(name: str) -> Backend:
        prefix = f"tillid-test:{WORKER}:{os.getpid()}:{next(_counter)}:"
        if name == "sqlite" or (name == CLUSTER and not TEST_DATABASE_URL):
            redis_url = request.getfixturevalue("redis_cluster_url") if name == CLUSTER else None
            path = tmp_path / f"tillid-{len(made)}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            backend = Backend(name, f"sqlite:///{path}", redis_url, prefix)
        elif name == CLUSTER:
            redis_url = request.getfixturevalue("redis_cluster_url")
            url = request.getfixturevalue("postgres_url")
            _empty_database(url)
            backend = Backend(name, url, redis_url, prefix)
        else:
            if not TEST_REDIS_URL:
                pytest.skip("TEST_REDIS_URL is not set: PostgreSQL + Redis tests need it")
            url = request.getfixturevalue("postgres_url")
            _empty_database(url)
            backend = Backend(name, url, TEST_REDIS_URL, prefix)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if backend.name == CLUSTER:
            _clear_cluster(backend.redis_url, backend.store_prefix)
        elif backend.redis_url:
            client = redis.Redis.from_url(backend.redis_url)
            keys = list(client.scan_iter(match=backend.store_prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()


def _clear_cluster(url: str, prefix: str) -> None:
    """Delete the test's keys from every primary (a key lives on one node only)."""
    client = cluster_client(url)
    try:
        pipe = client.pipeline(transaction=False)
        for key in client.scan_iter(match=prefix + "*", count=1000,
                                    target_nodes=RedisCluster.PRIMARIES):  # fmt: skip
            pipe.delete(key)
        pipe.execute()
    finally:
        client.close()


def refuse_cross_slot_commands(client: RedisCluster) -> None:
    """redis-py splits a DEL (EXISTS, UNLINK, TOUCH) over keys of several slots into one
    command per slot; Tillid must never rely on that, so on the test cluster it fails."""
    split = client._split_command_across_slots

    def one_slot_only(command, *keys):
        slots = {client.keyslot(key) for key in keys}
        assert len(slots) == 1, f"{command} over keys of {len(slots)} slots: {keys}"
        return split(command, *keys)

    client._split_command_across_slots = one_slot_only


# Empties the database in one round trip, in ~1 ms: the tables that hold a row are emptied
# by DELETE, with triggers off for the transaction (session_replication_role = replica, as a
# superuser may: so foreign keys need no order, and audit_entry's append-only trigger lets
# the test harness through), and every sequence that was used (a rolled-back insert uses one
# too) starts again. TRUNCATE ... RESTART IDENTITY CASCADE of all of them took ~100 ms even
# when they were empty, and a role that is not a superuser still gets that. A partitioned
# table is probed and emptied through its parent (the ledger's months).
_EMPTY_DATABASE = """
DO $$
DECLARE
    relation regclass;
    has_rows boolean;
    written regclass[] := ARRAY[]::regclass[];
BEGIN
    FOR relation IN
        SELECT c.oid::regclass FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition AND c.relname <> 'alembic_version'
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', relation) INTO has_rows;
        IF has_rows THEN
            written := written || relation;
        END IF;
    END LOOP;
    IF cardinality(written) > 0 AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
    THEN
        PERFORM set_config('session_replication_role', 'replica', true);
        FOREACH relation IN ARRAY written LOOP
            EXECUTE format('DELETE FROM %s', relation);
        END LOOP;
    ELSIF cardinality(written) > 0 THEN
        EXECUTE format('TRUNCATE %s RESTART IDENTITY CASCADE', array_to_string(written, ', '));
    END IF;
    FOR relation IN
        SELECT format('%I.%I', schemaname, sequencename)::regclass FROM pg_sequences
        WHERE schemaname = 'public' AND last_value IS NOT NULL
    LOOP
        EXECUTE format('ALTER SEQUENCE %s RESTART', relation);
    END LOOP;
END $$
"""
_RESETTERS: dict[str, psycopg.Connection] = {}  # a connection per database, for the session


def _empty_database(url: str) -> None:
    """Every table of the session's PostgreSQL database empty, every sequence at its start."""
    conn = _RESETTERS.get(url)
    if conn is None or conn.closed:
        admin_url = make_url(url).set(drivername="postgresql").render_as_string(False)
        conn = _RESETTERS[url] = psycopg.connect(admin_url, autocommit=True)
    conn.execute(_EMPTY_DATABASE)


@pytest.fixture
def make_app(backend_factory, default_backend):
    """Build a real app on a fresh database and store of the given backend."""
    apps = []

    def make(backend: str | None = None, **config):
        backend = backend or default_backend
        chosen = backend_factory(backend)
        app = create_app(
            base_config(
                SQLALCHEMY_DATABASE_URI=chosen.database_url,
                REDIS_URL=chosen.redis_url,
                STORE_KEY_PREFIX=chosen.store_prefix,
                **config,
            )
        )
        app.jinja_env.bytecode_cache = TEMPLATE_CODE
        apps.append(app)
        if chosen.name == CLUSTER:
            refuse_cross_slot_commands(app.extensions["tillid_store"])
        return app

    yield make
    for app in apps:
        # The ledger's committer holds a connection of its own for IDLE_SECONDS after its
        # last batch: given back first, or every test that released something would leave
        # one open for seconds (with two test workers, enough to reach max_connections).
        group_commit.stop(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        store_client = app.extensions["tillid_store"]
        store_client.close()


def csp_form_action(response) -> str:
    """The `form-action` of a page's Content-Security-Policy."""
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    return policy["form-action"]


@contextlib.contextmanager
def serving(app):
    """Serve ``app`` on a free localhost port, its issuer that address, until the block ends."""
    server = make_server("localhost", 0, app, threaded=True)
    base_url = f"http://localhost:{server.server_port}"
    app.config["ISSUER"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, base_url
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(make_app):
    """Serve a fresh app on a free localhost port, as browsers and client libraries meet it."""
    with serving(make_app()) as served:
        yield served


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def sibling_app(app):
    """Another worker's app: its own process state, the same database, store, keys and
    secrets as ``app``."""
    cfg = app.config
    return create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=cfg["SQLALCHEMY_DATABASE_URI"],
            REDIS_URL=cfg["REDIS_URL"],
            STORE_KEY_PREFIX=cfg["STORE_KEY_PREFIX"],
            SECRET_KEY=cfg["SECRET_KEY"],
            TILLID_DATA_KEY=cfg["TILLID_DATA_KEY"],
        )
    )


def sql(app, statement: str, **params) -> list:
    """Run raw SQL against the app's database (what an operator, or an attacker, could do);
    the rows as mappings, committed."""
    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.mappings().all() if result.returns_rows else []
        db.session.commit()
        return rows


def csrf_token(response) -> str:
    match = _CSRF_RE.search(response.get_data(as_text=True))
    assert match, "page has no CSRF token"
    return match.group(1)


def rendering_independent(html: str) -> str:
    """A page without what differs between two renderings of it: its CSRF tokens (the form's
    and the scripts', each signed with the second it was made in) and the session-timeout
    warning's clock readings. For tests that two answers are the same page."""
    html = re.sub(r'(name="csrf_token" type="hidden" value|data-csrf-token)="[^"]*"', "", html)
    return re.sub(
        r'(data-(?:server-now|idle-expires-at|absolute-expires-at))="[0-9.]*"', r'\1=""', html
    )


def login(client, username, password, next_url=None):
    """Fill in and send the login form, as a browser does."""
    page = client.get("/login")
    data = {"csrf_token": csrf_token(page), "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def after_password(response) -> str:
    """Where the password step's answer leads once the second step is done: its destination,
    also when it leads straight on to the second step (a service's request that needs both
    factors, idp/auth/journey.py) and names the destination there."""
    location = response.headers["Location"]
    if location.startswith("/login/code?"):
        return parse_qs(urlsplit(location).query)["next"][0]
    return location


def activate(client, cpr, code, username, password, confirm=None, token="page"):
    """Fill in and send the activation form; ``token`` None leaves the CSRF token out."""
    page = client.get("/activate")
    data = {
        "cpr": cpr,
        "activation_code": code,
        "username": username,
        "password": password,
        "password_confirm": password if confirm is None else confirm,
    }
    if token is not None:
        data["csrf_token"] = csrf_token(page) if token == "page" else token
    return client.post("/activate", data=data)


class CitizenActions:
    """Do what a citizen or an operator does, through the CLI and the pages."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.runner = app.test_cli_runner()
        self._cprs = itertools.count(1)
        # Shared by every CitizenActions on this app: a citizen's phone and laptop both
        # read the one authenticator app, and the IdP's replay marks are per authenticator.
        self.totp_secrets: dict[str, str] = app.extensions.setdefault("tests.totp_secrets", {})
        self._used_steps: dict[str, set] = app.extensions.setdefault("tests.totp_steps", {})

    def next_cpr(self) -> str:
        # 1 Jan 1990 + a running serial: always a valid, unused CPR number.
        return f"010190{next(self._cprs):04d}"

    def create(
        self, username="anna", password="correct horse battery", totp=True, **fields
    ) -> dict:
        """A citizen through the CLI; with a user ID, also an authenticator app (``totp``)."""
        args = [
            "citizens", "create",
            "--cpr", fields.pop("cpr", self.next_cpr()),
            "--given-name", fields.pop("given_name", "Anna"),
            "--family-name", fields.pop("family_name", "Jensen"),
        ]  # fmt: skip
        if username is not None:
            args += ["--username", username, "--password", password]
            if totp:
                self.totp_secrets[username.lower()] = pyotp.random_base32()
                args += ["--totp-secret", self.totp_secrets[username.lower()]]
        for key, value in fields.items():
            args += [f"--{key.replace('_', '-')}", value]
        result = self.runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def totp_code(self, username="anna") -> str:
        """The code the citizen's app shows; never one the IdP has accepted before (it
        refuses a replay), so each call takes a time step not used yet: the current one,
        else the next, else the previous (the IdP accepts one either side)."""
        used = self._used_steps.setdefault(username, set())
        while True:
            now = time.time()
            step = int(now // 30)
            late_in_step = now % 30 > 27  # the previous step is about to fall out
            candidates = [step, step + 1] + ([] if late_in_step else [step - 1])
            free = [c for c in candidates if c not in used]
            if free:
                used.add(free[0])
                return pyotp.TOTP(self.totp_secrets[username]).generate_otp(free[0])
            time.sleep(1)

    def login(self, username="anna", password="correct horse battery", next_url=None):
        """Password, then (for a citizen with an authenticator app) the code: the response
        of the last step, a redirect to the destination when all went well."""
        response = login(self.client, username, password, next_url)
        if response.status_code != 302 or username.lower() not in self.totp_secrets:
            return response
        return self.second_factor(after_password(response), username.lower())

    def second_factor(self, destination: str, username="anna", **request_options):
        page = self.client.get("/login/code", query_string={"next": destination},
                               **request_options)  # fmt: skip
        return self.client.post("/login/code", data={
            "csrf_token": csrf_token(page), "otp": self.totp_code(username), "next": destination,
        }, **request_options)  # fmt: skip

    def letter(self, cpr: str) -> str:
        """The activation code an operator prints for a pending citizen's letter."""
        result = self.runner.invoke(args=["citizens", "activation-code", cpr])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["activation_code"]

    def logout(self):
        page = self.client.get("/logout")
        return self.client.post("/logout", data={"csrf_token": csrf_token(page)})


@pytest.fixture
def citizens(app, client):
    return CitizenActions(app, client)


class Clock:
    """A clock a module reads instead of time.time, moved by hand: no sleeping."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def assert_field_error(response, field_id: str, message: str) -> None:
    """The error sits next to the field, is tied to it for screen readers, and is summarised."""
    html = response.get_data(as_text=True)
    tag = re.search(rf'<input [^>]*\bid="{field_id}"[^>]*>', html)
    assert tag, f"no input with id {field_id!r}"
    assert 'aria-invalid="true"' in tag.group(0)
    described = re.search(r'aria-describedby="([^"]*)"', tag.group(0))
    assert described and f"{field_id}-error" in described.group(1).split()
    error = re.search(
        rf'<span class="form-error-message" id="{field_id}-error">(.*?)</span>\n', html, re.S
    )
    assert error and message in error.group(1)
    summary = re.search(
        r'<div class="alert alert-error error-summary" role="alert".*?</ul>', html, re.S
    )
    assert summary, "no error summary"
    assert f'href="#{field_id}"' in summary.group(0) and message in summary.group(0)


RECOVERY_CODE_RE = re.compile(r"<li><code>([0-9a-f]{4}(?:-[0-9a-f]{4}){3})</code></li>")


def new_recovery_codes(client) -> list[str]:
    """A citizen, logged in with a fresh second factor, makes a new set of recovery codes on
    /me/security (the confirmation page, then its form) and reads them where it leads."""
    page = client.get("/me/security/recovery-codes/new")
    assert page.status_code == 200, page.headers.get("Location")
    made = client.post("/me/security/recovery-codes/new", data={"csrf_token": csrf_token(page)})
    assert made.status_code == 303, made.status_code
    return RECOVERY_CODE_RE.findall(client.get(made.headers["Location"]).text)
