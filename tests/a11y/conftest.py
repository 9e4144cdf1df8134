"""Fixtures for the accessibility checks: a Tillid in Danish by default (as it ships) with
the demo services, and a Chromium (tests/e2e's launch settings)."""

from __future__ import annotations

import gc

import pytest

from tests.a11y import tour
from tests.e2e import conftest as e2e


def _open_browser():
    """A Chromium another directory's session fixture (tests/e2e's) has open, if any.

    Playwright's sync API runs once per thread: while one is open, starting a second fails,
    and pytest offers no public way to reach another directory's fixture value.
    """
    from playwright.sync_api import Browser

    for found in gc.get_objects():
        if isinstance(found, Browser) and found.is_connected():
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """Chromium for these tests: one already open (when tests/e2e ran first in this
    session), else our own for the module, closed before another directory's tests start
    theirs (a full run takes tests/a11y first)."""
    running = _open_browser()
    if running is not None:
        yield running
    else:
        yield from e2e.browser.__wrapped__()


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
