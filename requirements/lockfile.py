"""The lock file (requirements/lock.txt) as data, for `make install` and tests/test_lock.py.

    python requirements/lockfile.py unlocked   # installed distributions the lock does not pin
    python requirements/lockfile.py only NAME  # NAME's pin with its hashes (`make lock`'s uv)

Only the standard library: it runs in a new venv before anything else is there.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parent / "lock.txt"
# What a venv holds that is not a dependency: the installer, the build tools a Python 3.11
# venv starts with, and Tillid itself (installed editable, from the work tree).
NOT_DEPENDENCIES = frozenset({"pip", "setuptools", "wheel", "tillid"})

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares it (packaging's canonicalize_name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path = LOCK) -> dict[str, tuple[str, list[str]]]:
    """Each locked distribution (by canonical name): its version and its hashes."""
    locked: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in lock.read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            current = canonical(pin.group(1))
            locked[current] = (pin.group(2), [])
        elif current is not None:
            locked[current][1].extend(_HASH.findall(line))
    return locked


def installed() -> dict[str, str]:
    """Every distribution this interpreter sees, by canonical name."""
    return {
        canonical(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }


def unlocked(lock: Path = LOCK) -> list[str]:
    """The installed distributions the lock does not pin (left from before, or installed by
    hand): `make install` removes them, so the venv holds exactly the locked set."""
    locked = pins(lock)
    return sorted(
        name for name in installed() if name not in locked and name not in NOT_DEPENDENCIES
    )


def only(name: str, lock: Path = LOCK) -> str:
    """``name``'s pin as a requirements line with its hashes."""
    version, hashes = pins(lock)[canonical(name)]
    return " ".join([f"{canonical(name)}=={version}", *(f"--hash={h}" for h in hashes)])


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["unlocked"]:
            print("\n".join(unlocked()))
        case ["only", name]:
            print(only(name))
        case _:
            sys.exit(__doc__)
