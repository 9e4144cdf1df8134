"""What every `flask` command of Tillid's shares: its answer is one JSON document on stdout."""

from __future__ import annotations

import json

import click


def emit(payload) -> None:
    """Print ``payload`` as indented JSON (UTF-8 as it is; dates and the like as strings)."""
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
