"""The admin audit log: every `flask …` command recorded (who, when, what, how it ended),
secrets redacted, in the database and on the `tillid.audit` logger; `flask audit list`."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from sqlalchemy.exc import DBAPIError

from idp.audit.models import AppendOnly, AuditEntry
from idp.core.extensions import db
from idp.core.logs import JSONFormatter
from tests.conftest import sql

ROOT = Path(__file__).resolve().parents[2]
CPR = "0101901234"
PASSWORD = "correct horse battery staple"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SERVICE = [
    "clients", "create", "--name", "Skattestyrelsen", "--kind", "public_authority",
    "--redirect-uri", "https://skat.example/callback", "--scope", "openid profile",
    "--legal-basis", "public_task", "--purpose", "To assess your income tax",
]  # fmt: skip
OS_USER = pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture(autouse=True)
def no_declared_admin(monkeypatch):
    """The tests say who runs a command; the developer's own shell does not."""
    monkeypatch.delenv("TILLID_ADMIN", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)


def audit_entries(runner, *options) -> list[dict]:
    result = runner.invoke(args=["audit", "list", "--json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def audit_log_lines():
    """What the `tillid.audit` logger writes, as the app's JSON handler formats it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tillid.audit")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_successful_command_is_recorded_with_who_when_and_what(runner):
    before = dt.datetime.now(dt.UTC)
    created = runner.invoke(args=[*SERVICE, "--redirect-uri", "https://skat.example/2"])
    assert created.exit_code == 0, created.output
    secret = json.loads(created.stdout)["client_secret"]

    (entry,) = audit_entries(runner)
    assert entry["command"] == "clients create"
    assert entry["outcome"] == "success" and entry["exit_code"] == 0 and entry["error"] is None
    assert entry["os_user"] == OS_USER and entry["host"] == socket.gethostname()
    assert entry["actor"] is None
    assert before - dt.timedelta(seconds=1) <= dt.datetime.fromisoformat(entry["started_at"])
    assert dt.datetime.fromisoformat(entry["started_at"]) <= dt.datetime.now(dt.UTC)
    arguments = entry["arguments"]
    assert arguments["name"] == "Skattestyrelsen" and arguments["kind"] == "public_authority"
    assert arguments["redirect_uris"] == ["https://skat.example/callback", "https://skat.example/2"]
    assert arguments["from_file"] is None
    # What the command printed (the new secret) is no argument and is not recorded.
    assert secret not in json.dumps(entry)


def test_every_command_is_recorded_even_read_only_ones(runner):
    for args in (["keys", "ensure"], ["keys", "list"], ["clients", "list"], ["audit", "list"]):
        assert runner.invoke(args=args).exit_code == 0
    commands = [entry["command"] for entry in audit_entries(runner)]
    assert commands == ["keys ensure", "keys list", "clients list", "audit list"]


def test_secrets_are_redacted_and_personal_data_kept_out(app, runner, audit_log_lines):
    result = runner.invoke(args=[
        "citizens", "create", "--cpr", "010190-1234", "--given-name", "Anna",
        "--family-name", "Jensen", "--email", "anna@example.org", "--username", "anna",
        "--password", PASSWORD, "--totp-secret", TOTP_SEED, "--birth-country", "SE",
        "--birth-locality", "Trelleborg", "--nationality", "SE",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (entry,) = audit_entries(runner)
    arguments = entry["arguments"]
    assert arguments["password"] == "[redacted]" and arguments["totp_secret"] == "[redacted]"
    assert arguments["given_name"] == arguments["email"] == "[personal data]"
    assert arguments["birth_locality"] == arguments["nationalities"] == "[personal data]"
    assert arguments["username"] == "anna"
    # The CPR number becomes the citizen's keyed lookup hash: it names the row, not the number.
    (citizen,) = sql(app, "SELECT cpr_lookup FROM citizen")
    assert arguments["cpr"] == "cpr-lookup:" + citizen["cpr_lookup"]
    stored = json.dumps([dict(row) for row in sql(app, "SELECT * FROM audit_entry")], default=str)
    logged = json.dumps(audit_log_lines())
    for text in (stored, logged):
        for secret in (PASSWORD, TOTP_SEED, CPR, "010190-1234", "Anna", "anna@example.org",
                       "Trelleborg", '"SE"'):  # fmt: skip
            assert secret not in text


def test_the_log_line_says_the_same_on_the_audit_logger(runner, audit_log_lines):
    runner.invoke(args=["clients", "rotate-secret", "no-such-client"])
    (line,) = [line for line in audit_log_lines() if line.get("event") == "admin_command"]
    assert line["logger"] == "tillid.audit" and line["level"] == "INFO"
    assert line["command"] == "clients rotate-secret"
    assert line["arguments"] == {"client_id": "no-such-client"}
    assert line["outcome"] == "failure" and line["exit_code"] == 1
    assert "no-such-client" in line["error"]
    assert line["os_user"] == OS_USER and line["host"] == socket.gethostname()


def test_a_refused_command_is_recorded_as_a_failure_with_its_reason(runner):
    result = runner.invoke(args=["clients", "disable", "no-such-client"])
    assert result.exit_code == 1
    (entry,) = audit_entries(runner)
    assert (entry["command"], entry["outcome"], entry["exit_code"]) == (
        "clients disable", "failure", 1,
    )  # fmt: skip
    assert entry["error"] and entry["error"] in result.stderr


def test_a_partial_import_is_recorded_with_its_exit_status(runner, tmp_path):
    extract = tmp_path / "extract.csv"
    extract.write_text(
        "cpr,given_name,family_name\n0101901234,Anna,Jensen\nnot-a-cpr,Bo,Hansen\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["citizens", "import", str(extract)])
    assert result.exit_code == 3, result.output
    (entry,) = audit_entries(runner)
    assert entry["command"] == "citizens import"
    assert entry["arguments"] == {"csv_file": f"file:{extract}"}  # the name, not the content
    assert (entry["outcome"], entry["exit_code"]) == ("failure", 3)
    assert "Anna" not in json.dumps(entry)


def test_the_named_admin_is_recorded_beside_the_os_user(runner):
    result = runner.invoke(args=["keys", "list"], env={"TILLID_ADMIN": "Mette Frederiksen"})
    assert result.exit_code == 0
    (entry,) = audit_entries(runner)
    assert (entry["os_user"], entry["actor"]) == (OS_USER, "Mette Frederiksen")
    assert "as Mette Frederiksen" in runner.invoke(args=["audit", "list"]).stdout


def test_list_since_and_limit(app, runner):
    # An entry from January (entries are only ever added, so it is added as it was then).
    sql(app, "INSERT INTO audit_entry (started_at, duration_ms, os_user, host, command, "
        "arguments, outcome, exit_code) VALUES (:old, 5, 'root', 'ops1', 'keys list', '{}', "
        "'success', 0)", old=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))  # fmt: skip
    for _ in range(2):
        runner.invoke(args=["keys", "list"])
    assert len(audit_entries(runner, "--since", "2026-01-02")) == 2
    # January's, the two keys list and the audit list just before.
    assert len(audit_entries(runner, "--since", "2026-01-01T11:59")) == 4
    newest = audit_entries(runner, "--limit", "2")
    assert [entry["command"] for entry in newest] == ["audit list", "audit list"]
    assert newest[0]["id"] < newest[1]["id"]  # still oldest first
    lines = runner.invoke(args=["audit", "list"]).stdout.splitlines()
    assert lines[0].startswith("2026-01-01T12:00:00Z  ") and "success(0)  keys list  {}" in lines[0]
    refused = runner.invoke(args=["audit", "list", "--since", "yesterday"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output


def test_entries_cannot_be_changed_or_deleted_by_the_application(app, runner):
    runner.invoke(args=["keys", "list"])
    with app.app_context():
        entry = db.session.scalars(db.select(AuditEntry)).one()
        entry.outcome = entry.outcome.__class__.FAILURE
        with pytest.raises(AppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalars(db.select(AuditEntry)).one())
        with pytest.raises(AppendOnly):
            db.session.commit()
        db.session.rollback()
    assert audit_entries(runner)[0]["outcome"] == "success"


def test_postgresql_refuses_updates_and_deletes_outright(make_app):
    app = make_app("postgres")
    runner = app.test_cli_runner()
    runner.invoke(args=["keys", "list"])
    for statement in ("UPDATE audit_entry SET outcome = 'failure'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"):
            sql(app, statement)
    assert audit_entries(runner)[0]["outcome"] == "success"


def test_without_the_audit_table_commands_are_refused_not_run_unrecorded(make_app):
    app = make_app("sqlite")  # a database of its own: PostgreSQL's is shared by the session
    runner = app.test_cli_runner()
    sql(app, "DROP TABLE audit_entry")
    result = runner.invoke(args=SERVICE)
    assert result.exit_code == 1
    assert "no audit_entry table" in result.stderr and "flask db upgrade" in result.stderr
    assert sql(app, "SELECT COUNT(*) AS n FROM client")[0]["n"] == 0


def test_every_registered_command_is_hooked(app):
    """New commands need nothing of their own; this fails if one escapes the hook."""

    def commands(group):
        for command in group.commands.values():
            yield command
            if isinstance(command, click.Group):
                yield from commands(command)

    found = [c for c in commands(app.cli) if c.callback is not None]
    assert {"create", "rotate-secret", "erase", "archive", "rotate", "upgrade", "list"} <= {
        c.name for c in found
    }
    assert all(getattr(c.callback, "_tillid_audited", False) for c in found), [
        c.name for c in found if not getattr(c.callback, "_tillid_audited", False)
    ]


def test_the_real_flask_command_records_migrations_and_commands(tmp_path):
    """Through the `flask` executable an operator runs, on a fresh database."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tillid.db'}",
        "TILLID_INSTANCE_PATH": str(tmp_path),
        "TILLID_ADMIN": "ops on call",
        "LOG_LEVEL": "INFO",
    }
    env.pop("REDIS_URL", None)
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]

    def run(*args):
        return subprocess.run([*flask, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    assert run("db", "upgrade").returncode == 0
    keys = run("keys", "ensure")
    assert keys.returncode == 0, keys.stderr
    (logged,) = [
        json.loads(line) for line in keys.stderr.splitlines()
        if line.startswith("{") and '"admin_command"' in line
    ]  # fmt: skip
    assert logged["command"] == "keys ensure" and logged["actor"] == "ops on call"
    listed = run("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [(e["command"], e["outcome"], e["actor"]) for e in entries] == [
        ("db upgrade", "success", "ops on call"), ("keys ensure", "success", "ops on call"),
    ]  # fmt: skip
