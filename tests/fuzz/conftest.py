"""Fuzzing's time budget and reproducibility.

By default (CI) every fuzz test is derandomized: the same examples every run, so a failure
reproduces on any machine, and the whole of tests/fuzz stays well under two minutes on two
cores. ``FUZZ_EXAMPLES=N`` fuzzes longer locally: random examples, N per test, and failures
kept in ``.hypothesis/`` so the next run tries them first (``--hypothesis-seed`` picks a
seed).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from idp.core.config import RATE_LIMITS
from tests.idp.test_phone_requests import demo_citizen, phone_app  # noqa: F401 (fixtures)
from tests.oidc.conftest import oidc  # noqa: F401 (a fixture: a logged-in citizen, services)
from tests.oidc.test_client_authentication import clients  # noqa: F401 (a fixture)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)

# Each test's app fixture is built once and reused by all its examples, on purpose: the
# examples share one real database and store, as requests to one server do.
_SHARED = dict(
    deadline=None,  # a shared 2-core machine: timing is not what these tests check
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("ci", derandomize=True, database=None, max_examples=100, **_SHARED)
settings.register_profile(
    "long",
    max_examples=FUZZ_EXAMPLES or 100,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    **_SHARED,
)
settings.load_profile("long" if FUZZ_EXAMPLES else "ci")


def budget(ci_examples: int) -> int:
    """Examples for one test: ``ci_examples`` in CI (sized to its cost), or FUZZ_EXAMPLES."""
    return FUZZ_EXAMPLES or ci_examples


@pytest.fixture
def app(make_app):
    """Fuzzing sends hundreds of requests from one address: with the usual per-source
    limits most would be a 429 before they reached the code under test."""
    lifted = "100000 per minute"
    return make_app(**{name: lifted for name in RATE_LIMITS})
