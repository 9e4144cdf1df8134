"""The design system's files in idp/static/dkfds/ are exactly what the pinned dkfds package builds.

They are committed (so `make run` needs no npm); this rebuilds them from the package that
frontend/package-lock.json pins and compares byte for byte, so a hand edit or a stale
rebuild after a new pin fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
PACKAGE = FRONTEND / "node_modules" / "dkfds"
COMMITTED = ROOT / "idp" / "static" / "dkfds"


def _pinned_version() -> str:
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    return lock["packages"]["node_modules/dkfds"]["version"]


@pytest.fixture(scope="module")
def package() -> Path:
    """The installed dkfds; installed from the lock file when it is not there yet."""
    installed = PACKAGE / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != _pinned_version():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("REQUIRE_E2E") == "1":
                pytest.fail("REQUIRE_E2E=1 but npm is not installed")
            pytest.skip("npm is not installed")
        subprocess.run(
            [npm, "ci", "--prefix", str(FRONTEND), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return PACKAGE


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_pin_is_exact_and_the_installed_package_is_it(package):
    declared = json.loads((FRONTEND / "package.json").read_text())["dependencies"]["dkfds"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", declared), "pin dkfds exactly (npm --save-exact)"
    assert declared == _pinned_version()
    assert json.loads((package / "package.json").read_text())["version"] == declared


def test_committed_files_are_what_the_build_makes_from_the_pinned_package(package, tmp_path):
    out = tmp_path / "dkfds"
    subprocess.run(
        [
            sys.executable,
            str(FRONTEND / "build_assets.py"),
            "--package",
            str(package),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    built, committed = _tree(out), _tree(COMMITTED)
    assert sorted(committed) == sorted(built), "run `make assets` and commit idp/static/dkfds/"
    changed = [name for name in built if built[name] != committed[name]]
    assert not changed, f"differ from the package's build: {changed[:5]}"


def test_the_readme_names_the_pinned_version_and_the_licence_is_kept():
    readme = (COMMITTED / "README.md").read_text()
    assert f"`dkfds` version {_pinned_version()} " in readme
    licence = (COMMITTED / "LICENSE.md").read_text()
    assert "MIT" in licence and "Open Font License" in licence and "Apache" in licence


def test_every_url_in_the_stylesheet_that_a_browser_fetches_resolves(client):
    """Each @font-face's WOFF2 source and each icon the CSS uses is served from /static/dkfds."""
    css = client.get("/static/dkfds/css/dkfds.min.css")
    assert css.status_code == 200
    urls = set(re.findall(r"url\(([^)]+\.(?:woff2|svg))\)", css.get_data(as_text=True)))
    assert len(urls) > 100
    for url in sorted(urls):
        path = "/static/dkfds/" + url.removeprefix("../")
        answer = client.get(path)
        assert answer.status_code == 200, path
        answer.close()
