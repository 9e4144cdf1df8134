"""Configuration from the environment: development defaults, production refusals, workers."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.app import create_app
from idp.core.config import DATABASE_TIMEOUTS, ConfigurationError
from idp.core.database import unbounded_statements
from idp.core.extensions import db
from tests.conftest import base_config

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CONFIG_VARIABLES = (
    "TILLID_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "TILLID_DATA_KEY",
    "ISSUER",
    "WEB_CONCURRENCY",
    "TILLID_INSTANCE_PATH",
    "METRICS_BIND",
    "PROMETHEUS_MULTIPROC_DIR",
    *DATABASE_TIMEOUTS,
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No configuration from the caller's environment; instance/ in a temporary folder."""
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TILLID_INSTANCE_PATH", str(tmp_path / "instance"))
    return tmp_path / "instance"


def _flask(args, env_extra, instance):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(TILLID_INSTANCE_PATH=str(instance), **env_extra)
    return subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_defaults_to_sqlite_in_instance_and_generates_keys_once(clean_env):
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{clean_env / 'tillid.db'}"
    assert app.config["REDIS_URL"] is None
    assert app.config["ISSUER"] == "http://localhost:5000"
    for name in ("secret_key", "data_key"):
        mode = stat.S_IMODE((clean_env / name).stat().st_mode)
        assert mode == 0o600, f"{name} is readable by others"
    again = create_app()
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert again.config["TILLID_DATA_KEY"] == app.config["TILLID_DATA_KEY"]


def test_a_cpr_encrypted_by_one_start_is_readable_by_the_next(clean_env, tmp_path):
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}"}
    assert _flask(["db", "upgrade"], database, clean_env).returncode == 0
    create = _flask(
        ["citizens", "create", "--cpr", "0101901234", "--given-name", "A", "--family-name", "B"],
        database,
        clean_env,
    )
    assert create.returncode == 0, create.stderr
    code = _flask(["citizens", "activation-code", "010190-1234"], database, clean_env)
    assert code.returncode == 0, code.stderr


def test_environment_variables_are_read(clean_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example/tillid")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("ISSUER", "https://login.example.dk/")
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "600")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example/tillid"
    assert app.config["REDIS_URL"] == "redis://cache.example:6379/2"
    assert app.config["ISSUER"] == "https://login.example.dk"
    assert app.config["SESSION_IDLE_TIMEOUT"] == 600
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-tillid"


PRODUCTION = {
    "TILLID_ENV": "production",
    "DATABASE_URL": "postgresql://u@db.example/tillid",
    "REDIS_URL": "redis://cache.example:6379/0",
    "SECRET_KEY": "s" * 40,
    "TILLID_DATA_KEY": "x2r3DMZ5s4lUi5Q2O0jgvyV3xb9J3i4zJmjvQ2y6ZJw",
    "ISSUER": "https://login.example.dk",
}


def test_production_starts_with_everything_set(clean_env, monkeypatch):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    assert app.config["TILLID_ENV"] == "production"
    assert not (clean_env / "secret_key").exists(), "production must not generate keys"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"TILLID_DATA_KEY": None}, "TILLID_DATA_KEY"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "SQLite"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"ISSUER": "http://login.example.dk"}, "https"),
        ({"TILLID_DATA_KEY": "too-short"}, "32 random bytes"),
        ({"SESSION_IDLE_TIMEOUT": "soon"}, "whole number"),
        ({"TILLID_ENV": "staging"}, "TILLID_ENV"),
    ],
)
def test_production_refuses_an_unsafe_configuration(clean_env, monkeypatch, change, message):
    for name, value in {**PRODUCTION, **change}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        create_app()
    assert not clean_env.exists() or not any(clean_env.iterdir())


def test_a_refusal_is_a_clear_message_and_a_failing_exit(tmp_path):
    result = _flask(["db", "upgrade"], {"TILLID_ENV": "production"}, tmp_path / "instance")
    assert result.returncode != 0
    assert "SECRET_KEY and TILLID_DATA_KEY must be set" in result.stderr


def test_http_issuer_is_refused_outside_localhost():
    with pytest.raises(ConfigurationError, match="https"):
        create_app(base_config(ISSUER="http://login.example.dk"))


def test_database_waits_have_bounded_defaults_and_are_read(clean_env, monkeypatch):
    app = create_app()
    assert [app.config[name] for name in DATABASE_TIMEOUTS] == [3, 5, 2, 30]
    for name, value in zip(DATABASE_TIMEOUTS, ("4", "0", "1", "60"), strict=True):
        monkeypatch.setenv(name, value)
    app = create_app()
    assert [app.config[name] for name in DATABASE_TIMEOUTS] == [4, 0, 1, 60]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_STATEMENT_TIMEOUT", "5s", "DATABASE_STATEMENT_TIMEOUT must be a whole number"),
        ("DATABASE_LOCK_TIMEOUT", "-1", "DATABASE_LOCK_TIMEOUT cannot be negative"),
        ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "-30", "cannot be negative"),
        ("DATABASE_CONNECT_TIMEOUT", "0", "DATABASE_CONNECT_TIMEOUT must be at least 2"),
        ("DATABASE_CONNECT_TIMEOUT", "1", "at least 2"),
    ],
)
def test_a_database_wait_that_cannot_work_is_refused(clean_env, monkeypatch, name, value,
                                                     message):  # fmt: skip
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        create_app()


_SESSION_SETTINGS = text(
    "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),"
    " current_setting('idle_in_transaction_session_timeout'), current_setting('application_name')"
)


def _session_settings(app) -> tuple:
    with app.app_context():
        settings = tuple(db.session.execute(_SESSION_SETTINGS).one())
        db.session.commit()
        return settings


def test_postgresql_sessions_get_the_waits_and_keep_the_urls_own_options(postgres_url):
    url = postgres_url + "?options=-c%20application_name%3Dtillid-web"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, DATABASE_STATEMENT_TIMEOUT=7,
                                 DATABASE_LOCK_TIMEOUT=3))  # fmt: skip
    try:
        assert _session_settings(app) == ("7s", "3s", "30s", "tillid-web")
        with unbounded_statements():  # the operator's long work: no statement limit
            assert _session_settings(app) == ("0", "3s", "0", "tillid-web")
        assert _session_settings(app) == ("7s", "3s", "30s", "tillid-web")
    finally:
        with app.app_context():
            db.engine.dispose()
    # What the URL sets itself wins over Tillid's defaults.
    url = postgres_url + "?options=-c%20statement_timeout%3D9000"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    try:
        assert _session_settings(app)[:3] == ("9s", "2s", "30s")
    finally:
        with app.app_context():
            db.engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RATE_LIMIT_DEFAULTS = {
    "LOGIN_RATE_LIMIT": "20 per minute;200 per hour",
    "TOKEN_RATE_LIMIT": "1200 per minute",
    "TOKEN_RATE_LIMIT_PER_CLIENT": "20000 per minute",
    "USERINFO_RATE_LIMIT": "20000 per minute",
    "API_RATE_LIMIT": "6000 per minute",
}


def test_the_rate_limits_have_defaults_and_are_read(clean_env, monkeypatch):
    for name in RATE_LIMIT_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USERINFO_RATE_LIMIT", "")  # empty: the default
    app = create_app()
    assert {name: app.config[name] for name in RATE_LIMIT_DEFAULTS} == RATE_LIMIT_DEFAULTS
    monkeypatch.setenv("API_RATE_LIMIT", "100/second;5000 per hour")
    monkeypatch.setenv("TOKEN_RATE_LIMIT_PER_CLIENT", "50000 per minute")
    app = create_app()
    assert app.config["API_RATE_LIMIT"] == "100/second;5000 per hour"
    assert app.config["TOKEN_RATE_LIMIT_PER_CLIENT"] == "50000 per minute"


@pytest.mark.parametrize("name", RATE_LIMIT_DEFAULTS)
@pytest.mark.parametrize(
    "value", ["lots", "600 per fortnight", "0 per minute", "-5 per minute", "600 per minute;x"]
)
def test_an_unreadable_rate_limit_is_refused_at_startup(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"{name} must be a rate limit") as refused:
        create_app()
    assert repr(value) in str(refused.value)
