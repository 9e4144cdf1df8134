"""Two citizens at two browsers, services that accept representation, and the grant form as a
citizen fills it in (tests/mandates/test_portal.py; the Chromium tour reuses none of it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from zoneinfo import ZoneInfo

from idp.core.extensions import store
from tests.conftest import CitizenActions, csrf_token, sql

PASSWORD = "correct horse battery"
# Valid, distinct CPR numbers: 1 January 1990, 2 February 1985, 3 March 1980.
ANNA_CPR, BO_CPR, CARL_CPR = "0101900001", "0202850002", "0303800003"
MANDATE_ID_RE = re.compile(r'data-mandate-id="([0-9a-f]{32})" data-status="([a-z_]+)"')


def person(app, username: str, cpr: str, given: str, family: str) -> CitizenActions:
    """A citizen with an authenticator app, logged in with both factors in a browser of their
    own (its own cookie jar)."""
    actions = CitizenActions(app, app.test_client())
    actions.create(username=username, cpr=cpr, given_name=given, family_name=family)
    assert actions.login(username).status_code == 302
    return actions


def service(app, name: str, kind: str = "public_authority", accepts: bool = True) -> str:
    """A registered service (through the CLI); ``accepts``: registered to accept
    representation, set in SQL until `clients create --accepts-representation` lands."""
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", name, "--kind", kind,
        "--grant-type", "client_credentials", "--scope", "",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.stdout)["client_id"]
    if accepts:
        sql(app, "UPDATE client SET accepts_representation = :yes WHERE client_id = :id",
            yes=True, id=client_id)  # fmt: skip
    return client_id


def in_days(days: int) -> str:
    """The date ``days`` from today in Denmark (a mandate's dates are Danish)."""
    today = dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    return (today + dt.timedelta(days=days)).isoformat()


def grant_form(**fields) -> dict:
    """The grant form as a citizen fills it in: Bo, for all services, with the name, until in
    a year; ``fields`` change or (None) leave out a field."""
    data = {"agent_cpr": "020285-0002", "agent_name": "Bo Nielsen", "covers": "all",
            "attributes": ["name"], "valid_until": in_days(365)}  # fmt: skip
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def give(browser, **fields):
    """Open the grant form and send it (with the page's CSRF token): the answer."""
    page = browser.get("/me/mandates/new")
    assert page.status_code == 200, page.headers.get("Location")
    return browser.post("/me/mandates/new", data={**grant_form(**fields),
                                                  "csrf_token": csrf_token(page)})  # fmt: skip


def mandates_on_page(browser) -> list[tuple[str, str]]:
    """(mandate id, status) of each card on the citizen's mandate page, in page order."""
    page = browser.get("/me/mandates")
    assert page.status_code == 200
    return MANDATE_ID_RE.findall(page.text)


def act(browser, mandate_id: str, action: str):
    """Open the confirmation page of ``action`` ("accept" or "end") and confirm it."""
    page = browser.get(f"/me/mandates/{mandate_id}/{action}")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    return browser.post(f"/me/mandates/{mandate_id}/{action}",
                        data={"csrf_token": csrf_token(page)})  # fmt: skip


def mandate_rows(app) -> list[dict]:
    return sql(app, "SELECT * FROM mandate ORDER BY created_at")


def age_second_factor(app, browser, seconds: float) -> None:
    """Move the browser's last second factor ``seconds`` back, as if the citizen had left the
    computer then (what the store holds for this browser's session)."""
    cookie = browser.get_cookie("tillid_sso")
    with app.app_context():
        key = store.key("sso", hashlib.sha256(cookie.value.encode()).hexdigest())
        held = json.loads(store.redis.get(key))
        held["second_factor_at"] -= seconds
        store.redis.set(key, json.dumps(held), ex=store.redis.ttl(key))
