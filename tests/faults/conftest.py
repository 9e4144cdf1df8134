"""Fixtures for the fault tests: a private PostgreSQL cluster for the session (a migrated
template database, copied per test), and per test a private Redis, a seeded database and
Tillid under serve.py (granian). Everything started here is stopped here, whatever the test did.

These tests need redis-server and PostgreSQL's initdb/pg_ctl (not TEST_DATABASE_URL: they
never touch the shared servers). Without them they skip, unless REQUIRE_E2E=1 (CI), where a
missing binary fails the run.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import insert, select

from idp.app import create_app
from idp.core.config import RATE_LIMITS
from idp.core.extensions import db
from tests.conftest import FAST_ARGON2, REQUIRE_E2E, base_config
from tests.faults.browserless import PASSWORD, REDIRECT_URI, Service
from tests.faults.processes import (
    PrivatePostgres,
    PrivateRedis,
    Server,
    free_port,
    missing_binaries,
)

TEMPLATE = "tillid_faults_template"
_ENTRY_COLUMNS = ("citizen_id", "client_id", "client_name", "client_kind", "channel",
                  "attributes", "purpose", "legal_basis", "request_id", "released_at", "salt",
                  "commitment")  # fmt: skip
UNLIMITED = "1000000000 per minute"  # every client here is 127.0.0.1: limits would be 429s


@pytest.fixture(scope="session")
def fault_binaries():
    missing = missing_binaries()
    if missing:
        reason = f"fault tests start their own servers and need {', '.join(missing)}"
        if REQUIRE_E2E:
            pytest.fail(f"REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_cluster(fault_binaries):
    """A PostgreSQL cluster of our own, with a migrated template database."""
    # Not pytest's tmp_path: the OS user postgres must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="tillid-faults-pg-"))
    cluster = None
    try:
        cluster = PrivatePostgres(folder)
        cluster.start()
        cluster.execute(f"CREATE DATABASE {TEMPLATE}")
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=_sqlalchemy(cluster.url(TEMPLATE))))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.engine.dispose()  # a template must have no connections to be copied
        yield cluster
    finally:
        if cluster is not None and cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


class Deployment:
    """One Tillid installation: its own database on the private cluster, its own Redis, its
    keys and secrets; seeded through the operator's CLI; served by serve.py (granian) on demand."""

    def __init__(self, cluster: PrivatePostgres, folder: Path):
        self.pg, self.folder = cluster, folder
        self.servers: list[Server] = []
        self.app = None
        self.database = f"tillid_faults_{uuid.uuid4().hex[:8]}"
        cluster.execute(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
        self.redis = PrivateRedis(folder)
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise

    def _set_up(self) -> None:
        cluster, folder = self.pg, self.folder
        self.redis.start()
        secret_key = secrets.token_urlsafe(32)
        data_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TILLID_ENV": "development",
            "DATABASE_URL": cluster.url(self.database),
            "REDIS_URL": self.redis.url,
            "TILLID_STORE_PREFIX": "tillid:",
            "TILLID_INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": secret_key,
            "TILLID_DATA_KEY": data_key,
            "ISSUER": self.url,
            "BIND": f"127.0.0.1:{self.port}",
            **{name: UNLIMITED for name in RATE_LIMITS},
            "ACCESS_TOKEN_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
            # The pages the checks read are in English, as in base_config (the product's
            # default is Danish).
            "DEFAULT_LANGUAGE": "en",
            **{name: str(value) for name, value in FAST_ARGON2.items()},
        }
        # The operator's CLI, in this process (a `flask` process per citizen would be slow).
        self.app = create_app(base_config(
            SQLALCHEMY_DATABASE_URI=_sqlalchemy(cluster.url(self.database)),
            REDIS_URL=self.redis.url, SECRET_KEY=secret_key, TILLID_DATA_KEY=data_key,
            ISSUER=self.url,
        ))  # fmt: skip
        self._cprs = itertools.count(1)
        self.cprs: dict[str, str] = {}  # user ID -> CPR number
        self.cli("keys", "ensure")

    def cli(self, *args: str, input: str | None = None) -> dict:
        result = self.app.test_cli_runner().invoke(args=list(args), input=input)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}

    def service(self, *, kind="public_authority", scope="openid profile",
                grant_types=("authorization_code",)) -> Service:  # fmt: skip
        spec = {"name": "Fault test service", "kind": kind, "redirect_uris": [REDIRECT_URI],
                "grant_types": list(grant_types), "scope": scope, "legal_basis": "public_task",
                "purpose": "To test Tillid under faults"}  # fmt: skip
        created = self.cli("clients", "create", "--from-file", "-", input=json.dumps(spec))
        return Service(created["client_id"], created["client_secret"], scope)

    def citizens(self, count: int) -> dict[str, str]:
        """``count`` citizens with the password PASSWORD and an authenticator app each:
        user ID -> the app's TOTP seed. Created as `citizens create` creates them, in this
        process with one password hash for all (as bench/seed.py does: a hash per citizen
        would only make seeding slow; each login verifies it at full cost all the same)."""
        from idp.authenticators import totp
        from idp.citizens import service as registry
        from idp.core import passwords

        seeds = {}
        with self.app.app_context():
            one_hash = passwords.hash_password(PASSWORD)
            hash_password, passwords.hash_password = passwords.hash_password, lambda _: one_hash
            try:
                for _ in range(count):
                    serial = next(self._cprs)
                    username = f"citizen{serial}"
                    seeds[username] = pyotp.random_base32()
                    self.cprs[username] = f"010190{serial:04d}"
                    data = registry.validate(cpr=self.cprs[username], given_name="Fault",
                                             family_name=f"Citizen {serial}")  # fmt: skip
                    totp.register_with_app(data, username=username, password=PASSWORD,
                                           secret=seeds[username])  # fmt: skip
            finally:
                passwords.hash_password = hash_password
        return seeds

    def backlog(self, count: int, client_id: str) -> None:
        """``count`` releases to ``client_id`` awaiting integration (as an outage of the
        integrator leaves them), each with its real commitment; inserted in one statement."""
        from clients.models import Client
        from consent.ledger import Channel, LedgerEntry
        from idp.citizens.models import Citizen
        from idp.core.dbtypes import utcnow

        with self.app.app_context():
            client = db.session.get(Client, client_id)
            citizen = db.session.scalars(select(Citizen)).first()
            rows = []
            for number in range(count):
                entry = LedgerEntry(
                    citizen_id=citizen.id, client_id=client.client_id, client_name=client.name,
                    client_kind=str(client.kind), channel=Channel.ATTRIBUTE_API,
                    attributes=["family_name"], purpose="A backlog", legal_basis="public_task",
                    request_id=f"backlog-{number}", released_at=utcnow(),
                    salt=secrets.token_bytes(32),
                )  # fmt: skip
                entry.commitment = entry.committed()
                rows.append({column: getattr(entry, column) for column in _ENTRY_COLUMNS})
            db.session.execute(insert(LedgerEntry), rows)
            db.session.commit()

    def tillid(self, workers: int = 2, **env: str) -> Server:
        with self.app.app_context():
            db.engine.dispose()  # seeding is done: the database's sessions are the server's
        server = Server({**self.env, "WEB_CONCURRENCY": str(workers), **env}, self.folder,
                          self.port)  # fmt: skip
        self.servers.append(server)
        server.start()
        return server

    def rows(self, query: str, params=None) -> list[tuple]:
        return self.pg.rows(query, self.database, params)

    def close(self) -> None:
        self.pg.resume()  # a test that paused it, and failed before resuming it
        for server in self.servers:
            server.stop()
        self.redis.stop()
        if self.app is not None:
            with self.app.app_context():
                db.engine.dispose()
            self.app.extensions["tillid_store"].close()
        if not self.pg.running():  # a test that stopped it, and failed before starting it
            self.pg.start()
        # The database stays: the cluster goes at the end of the session, all at once.


@pytest.fixture
def deployment(postgres_cluster):
    folder = Path(tempfile.mkdtemp(prefix="tillid-faults-"))
    made = None
    try:
        made = Deployment(postgres_cluster, folder)
        yield made
    finally:
        if made is not None:
            made.close()
        shutil.rmtree(folder, ignore_errors=True)
