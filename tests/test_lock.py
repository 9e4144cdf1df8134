"""The lock file (requirements/lock.txt) covers pyproject.toml, and the venv holds exactly it.

`make lock` writes the lock from pyproject.toml; `make install` installs it (hashes checked)
and removes what it does not pin. These fail when a dependency was added or its range changed
in pyproject.toml without `make lock`, or when the venv running the suite is not the locked
set (docs/dependencies.md).
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_spec = importlib.util.spec_from_file_location("lockfile", ROOT / "requirements" / "lockfile.py")
lockfile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lockfile)
# What the lock is made for (the Makefile's `lock` target): CPython 3.11 on Linux x86_64.
LOCKED_FOR = {**default_environment(), "python_version": "3.11", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64"}  # fmt: skip


def _declared() -> list[Requirement]:
    """Every requirement of pyproject.toml: the runtime ones and each extra's, except the
    extras that name Tillid itself (`dev`)."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if canonicalize_name(r.name) != "tillid"]


def test_the_lock_pins_every_dependency_within_its_range():
    pins = lockfile.pins()
    outside = []
    for requirement in _declared():
        if requirement.marker and not requirement.marker.evaluate(LOCKED_FOR):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin[0], prereleases=True):
            outside.append(f"{requirement} (locked: {pin[0] if pin else 'nothing'})")
    assert not outside, (
        "pyproject.toml and requirements/lock.txt disagree (run `make lock`): " + "; ".join(outside)
    )


def test_every_pin_is_exact_and_hashed():
    pins = lockfile.pins()
    assert len(pins) > len(_declared())  # the dependencies' own dependencies too
    assert all(hashes for _version, hashes in pins.values())
    text = (ROOT / "requirements" / "lock.txt").read_text()
    assert "make lock" in text.splitlines()[1]  # how to make it again, in its header
    assert "-e " not in text and "file://" not in text  # nothing from this machine alone


def test_the_venv_holds_exactly_the_locked_versions():
    """What `make install` installs in a fresh clone: each pin at its version, nothing more."""
    installed = lockfile.installed()
    differ = [
        f"{name}: locked {version}, installed {installed.get(name, 'nothing')}"
        for name, (version, _hashes) in lockfile.pins().items()
        if installed.get(name) != version
    ]
    assert not differ, "the venv is not the locked set (run `make install`): " + "; ".join(differ)
    assert lockfile.unlocked() == [], "installed but not locked (`make install` removes them)"
