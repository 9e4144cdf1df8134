"""Fixtures for the accessibility checks: a Tillid in Danish by default (as it ships) with
the demo services, and the browser of tests/e2e."""

from __future__ import annotations

import pytest

from tests.a11y import tour
from tests.e2e.conftest import browser  # noqa: F401 (the session's Chromium)


@pytest.fixture
def tour_site(make_app):
    """A live Tillid with keys, the demo citizen and three demo services (tour.serve)."""
    with tour.serve(make_app(**tour.CONFIG)) as site:
        yield site
