"""`flask audit list`, and the hook that writes every operator command to the audit log."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import time

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from idp.audit import service
from idp.audit.models import Outcome
from idp.core.dbtypes import utcnow

audit_cli = AppGroup("audit", help="The admin audit log: every operator command.")

# Marks a callback already wrapped: the command objects live at module level, so every app
# built in one process (tests build many) shares them.
_AUDITED = "_tillid_audited"
# `flask db …` creates (and `db downgrade` may drop) the audit table itself.
_MIGRATIONS = "db"


@audit_cli.command("list")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    help="Only commands started at or after this UTC date or time.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of lines.")
def list_command(since, limit, as_json):
    """Operator commands, oldest first: when, who, what (secrets redacted), how it ended."""
    found = service.entries(since.replace(tzinfo=dt.UTC) if since else None, limit)
    if as_json:
        click.echo(json.dumps([service.as_dict(entry) for entry in found], indent=2))
        return
    for entry in found:
        who = entry.os_user + (f" as {entry.actor}" if entry.actor else "")
        line = (
            f"{entry.started_at:%Y-%m-%dT%H:%M:%SZ}  {who}@{entry.host}  "
            f"{entry.outcome.value}({entry.exit_code})  {entry.command}  "
            f"{json.dumps(entry.arguments, ensure_ascii=False)}"
        )
        click.echo(line + (f"  error: {entry.error}" if entry.error else ""))


def audit_every_command(group: click.Group) -> None:
    """Write every command under ``group`` to the audit log (the one hook: commands need
    nothing of their own). Read-only commands too: see docs/operations.md, "Admin audit log"."""
    for command in list(group.commands.values()):
        _audit(command)
        if isinstance(command, click.Group):
            audit_every_command(command)


def _audit(command: click.Command) -> None:
    """Record ``command`` (a group only when run without a subcommand) as it ends."""
    callback = command.callback
    if callback is None or getattr(callback, _AUDITED, False):
        return
    is_group = isinstance(command, click.Group)

    def audited(*args, **kwargs):
        context = click.get_current_context()
        if is_group and context.invoked_subcommand is not None:
            return callback(*args, **kwargs)  # the subcommand records itself
        with _recorded(context):
            return callback(*args, **kwargs)

    # with_appcontext: the entry is written in the app's database even when the command's
    # own callback would push its app context only later.
    wrapped = with_appcontext(functools.update_wrapper(audited, callback))
    setattr(wrapped, _AUDITED, True)
    command.callback = wrapped


def _command_path(context: click.Context) -> list[click.Context]:
    """The contexts from the first group below `flask` (or below the app's own group, as a
    test runner invokes it) down to the command."""
    chain = []
    while context is not None:
        chain.append(context)
        context = context.parent
    chain.reverse()
    root = chain[0].command
    if isinstance(root, FlaskGroup) or root is current_app.cli:
        chain = chain[1:]
    return chain


@contextlib.contextmanager
def _recorded(context: click.Context):
    chain = _command_path(context)
    command = " ".join(c.info_name or c.command.name or "?" for c in chain)
    arguments: dict = {}
    for level in chain:
        arguments.update(service.redact_arguments(level.params))
    migrations = command.split(" ", 1)[0] == _MIGRATIONS
    if not migrations:
        try:
            service.require_table()
        except service.AuditTableMissing as missing:
            raise click.ClickException(str(missing)) from None
    started_at, clock = utcnow(), time.perf_counter()

    def record(outcome: Outcome, exit_code: int, error: str | None) -> bool:
        return service.record(
            command=command,
            arguments=arguments,
            started_at=started_at,
            duration_ms=round((time.perf_counter() - clock) * 1000),
            outcome=outcome,
            exit_code=exit_code,
            error=error,
            table_may_be_missing=migrations,
        )

    try:
        yield
    except BaseException as exc:
        record(*_ending(exc))
        raise
    if not record(Outcome.SUCCESS, 0, None):
        raise click.ClickException(
            "the command ran, but its audit entry could not be stored (the log has it)"
        )


def _ending(exc: BaseException) -> tuple[Outcome, int, str | None]:
    """Outcome, exit status and error message of a command that raised ``exc``."""
    if isinstance(exc, click.exceptions.Exit | SystemExit):
        code = exc.exit_code if isinstance(exc, click.exceptions.Exit) else exc.code
        if code in (0, None):
            return Outcome.SUCCESS, 0, None
        status = code if isinstance(code, int) else 1
        return Outcome.FAILURE, status, None if isinstance(code, int) else str(code)
    if isinstance(exc, click.ClickException):
        return Outcome.FAILURE, exc.exit_code, exc.format_message()
    if isinstance(exc, click.Abort):
        return Outcome.FAILURE, 1, "aborted"
    if isinstance(exc, KeyboardInterrupt):
        return Outcome.INTERRUPTED, 130, "interrupted"
    return Outcome.FAILURE, 1, f"{type(exc).__name__}: {exc}"
