"""Running the third-party Node libraries of tests/interop/<dir>/ (each from its committed lock
file, installed by `make interop-deps`): skipped where they are not installed, unless
REQUIRE_E2E=1 (CI), where their absence fails the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

INTEROP = Path(__file__).parent


def require(directory: str, package: str) -> None:
    """Node and ``package`` installed in tests/interop/``directory``, or a skip (a failure
    under REQUIRE_E2E=1)."""
    if shutil.which("node") and (INTEROP / directory / "node_modules" / package).is_dir():
        return
    reason = f"Node and {package} are needed (make test runs npm ci in tests/interop/{directory})"
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def run(directory: str, script: str, *args: str, timeout: int = 60, env=None) -> dict:
    """The JSON a script printed last, after it exited 0."""
    done = subprocess.run(
        ["node", str(INTEROP / directory / script), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def verify(directory: str, issuer: str, credential: str, holder) -> dict:
    """A verify.mjs's report on ``credential`` from ``issuer``, held with ``holder``'s key."""
    return run(directory, "verify.mjs", issuer, credential,
               json.dumps(holder.as_dict(private=True)))  # fmt: skip
