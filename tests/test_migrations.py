"""Migrations from an empty database give exactly the models' schema, on SQLite and PostgreSQL."""

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from consent.partitions import is_partition
from idp.app import create_app
from idp.core.extensions import db
from tests.conftest import BACKENDS, TEST_DATABASE_URL, base_config


@pytest.fixture
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests need it")
    name = f"tillid_migrate_{uuid.uuid4().hex[:10]}"
    admin = make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _not_a_partition(name, type_, parent_names):
    return not (type_ == "table" and is_partition(name))


def _app(url):
    return create_app(base_config(SQLALCHEMY_DATABASE_URI=url))


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_upgrade_from_empty_matches_the_models(empty_database_url):
    app = _app(empty_database_url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": _not_a_partition, "compare_type": True}
        )
        differences = compare_metadata(context, db.metadata)
        assert differences == []
        assert "citizen" in inspect(connection).get_table_names()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_downgrade_to_empty_and_up_again(empty_database_url):
    runner = _app(empty_database_url).test_cli_runner()
    for command in (["db", "upgrade"], ["db", "downgrade", "base"], ["db", "upgrade"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    app = _app(empty_database_url)
    with app.app_context(), db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert {"citizen", "activation_code", "alembic_version"} <= tables
        db.engine.dispose()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_authenticators_from_before_the_binding_rule_are_bound_at_substantial(empty_database_url):
    """0018_fresh_bound_level: which session added an existing authenticator cannot be known,
    so each gets the stricter level, Substantial (a passkey of before never logs in at High
    until one is added from a High session)."""
    app = _app(empty_database_url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0017"]).exit_code == 0
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO citizen (id, cpr_encrypted, cpr_lookup, given_name, family_name, "
                "birthdate, status, created_at, updated_at) VALUES ('c1', :blob, 'lookup', 'Ida', "
                "'Jensen', '1985-07-15', 'active', :now, :now)"
            ),
            {"blob": b"x", "now": "2026-01-01"},
        )
        connection.execute(
            text(
                "INSERT INTO authenticator (id, citizen_id, kind, name, created_at, confirmed_at) "
                "VALUES ('a1', 'c1', 'webauthn', 'Laptop', :now, :now)"
            ),
            {"now": "2026-01-01"},
        )
    with app.app_context():
        db.engine.dispose()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context(), db.engine.connect() as connection:
        bound = connection.execute(text("SELECT bound_level FROM authenticator")).scalar_one()
        db.engine.dispose()
    assert bound == "https://data.gov.dk/concept/core/nsis/loa/Substantial"
