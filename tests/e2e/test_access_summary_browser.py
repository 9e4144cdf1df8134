"""The access log's summary in real Chromium: at 320, 375 and 1280 px the chart fits, the page
never scrolls sideways, the CSP has nothing to complain about and axe finds nothing serious.
The releases are those of tests/consent/test_access_summary.py, made for real."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.consent.test_access_summary import releases  # noqa: F401 (a fixture)
from tests.e2e.conftest import csp_violations
from tests.oidc.conftest import oidc  # noqa: F401 (a fixture)


@pytest.fixture
def served(app):
    """The test's app on a port, for a real browser (the same database as ``releases``)."""
    server = make_server("localhost", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.mark.parametrize("width", [320, 375, 1280])  # 320: WCAG 1.4.10 reflow
def test_in_chromium_the_chart_fits_breaks_no_csp_and_passes_axe(
    browser,
    served,
    citizens,
    releases,  # noqa: F811 (the fixture imported above)
    width,
):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
    page = context.new_page()
    complaints = csp_violations(page)
    page.goto(served + "/me/access-log")
    page.get_by_label("User ID").fill("anna")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_label("Code from your authenticator app").fill(citizens.totp_code("anna"))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/me/access-log")

    chart = page.get_by_role("img", name="How many times each service or authority")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, "the chart fits the screen"
    # What sticks out, if anything (for the message).
    wide = page.evaluate(
        "w => [...document.querySelectorAll('main *')]"
        ".filter(e => e.getBoundingClientRect().right > w).map(e => e.outerHTML.slice(0, 80))",
        width,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wide[:5]
    # Its text is legible: at least 12 CSS pixels high once the viewBox is scaled.
    label_height = page.locator("#chart-services text").first.bounding_box()["height"]
    assert label_height >= 12
    table = page.get_by_role("table", name="Times each service or authority received")
    assert table.get_by_role("row", name="Skattestyrelsen 4").is_visible()

    page.get_by_text("What do the legal bases mean?").click()
    assert page.get_by_text("A public authority needs this to do a task").is_visible()

    serious = [v for v in Axe().run(page).response["violations"]
               if v["impact"] in ("serious", "critical")]  # fmt: skip
    context.close()
    assert not complaints, complaints
    assert not serious, [(v["id"], [n["html"][:120] for n in v["nodes"]]) for v in serious]
