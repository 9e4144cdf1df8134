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


@pytest.fixture
def serve_tour(make_app):
    """tour.serve for an app with settings of the test's own (on top of tour.CONFIG)."""
    running = []

    def serve(**config):
        served = tour.serve(make_app(**{**tour.CONFIG, **config}))
        running.append(served)
        return served.__enter__()

    yield serve
    for served in running:
        served.__exit__(None, None, None)
