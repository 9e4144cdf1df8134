"""The summary atop the access log: the last twelve calendar months per service and per
attribute, as a chart (inline SVG with a name and a description) and as tables, and its JSON
twin; with the legal bases explained. Releases happen for real: logins at services and
lookups reported by an authority (which may report one up to the retention period back)."""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
import zoneinfo

import pytest
from babel.dates import format_date
from jsonschema import Draft202012Validator, ValidationError

from tests.conftest import CitizenActions, sql
from tests.consent.test_authority_api import _authority, _report, _service_token
from tests.oidc.conftest import register

ZONE = zoneinfo.ZoneInfo("Europe/Copenhagen")  # DISPLAY_TIMEZONE's default
SVG = "{http://www.w3.org/2000/svg}"


def _first_day_of_window(today: dt.date) -> dt.datetime:
    """Midnight in Copenhagen on the first day of the month eleven months back."""
    year, month = today.year, today.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return dt.datetime(year, month, 1, tzinfo=ZONE)


@pytest.fixture
def releases(app, client, oidc):
    """Anna's log: a bank login (consent), a tax-authority login and three lookups it reported
    in the window (one at its very first instant), and two just outside it."""
    bank = register(app)
    oidc(bank).tokens()
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]
    headers = _service_token(app, authority, "attributes:read ledger:report")
    start = _first_day_of_window(dt.datetime.now(ZONE).date())
    times = {
        "in-1": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        "in-2": dt.datetime.now(dt.UTC) - dt.timedelta(days=40),
        "first-instant": start,
        "just-before": start - dt.timedelta(seconds=1),
        "thirteen-months-ago": start - dt.timedelta(days=31),
    }
    api = app.test_client()
    for reference, moment in times.items():
        attributes = ["address", "name"] if reference == "in-2" else ["address"]
        report = _report(sub, reference=reference, attributes=attributes,
                         looked_up_at=moment.isoformat())  # fmt: skip
        response = api.post("/api/ledger/reports", headers=headers, json=report)
        assert response.status_code == 201, response.json
    return authority, bank


def _fragment(html: str, tag: str, element_id: str) -> ET.Element:
    """One element of the page, parsed as XML (the page writes these well-formed)."""
    found = re.search(rf'<{tag}\b[^>]*\bid="{element_id}".*?</{tag}>', html, re.S)
    assert found, f"no <{tag} id={element_id!r}>"
    # Our own page, not untrusted input.
    return ET.fromstring(found.group(0).replace("&nbsp;", "\u00a0"))  # noqa: S314


def _table(html: str, element_id: str) -> dict[str, list[str]]:
    table = _fragment(html, "table", element_id)
    assert table.find("caption") is not None and table.find("caption").text.strip()
    assert all(th.get("scope") == "col" for th in table.find("thead").iter("th"))
    rows = {}
    for row in table.find("tbody").iter("tr"):
        header = row.find("th")
        assert header.get("scope") == "row"
        rows["".join(header.itertext()).strip()] = [td.text for td in row.iter("td")]
    return rows


def test_counts_per_service_and_attribute_are_those_written(app, client, releases):
    summary = client.get("/api/me/access-log/summary")
    assert summary.status_code == 200
    body = summary.json
    authority, bank = releases
    services = {s["client_id"]: s for s in body["services"]}
    # The tax authority: its login and three reports in the window (two were outside it).
    assert services[authority.client_id]["releases"] == 4
    assert services[authority.client_id]["name"] == "Skattestyrelsen"
    assert services[bank.client_id]["releases"] == 1
    assert body["total"] == 5 and body["erased"] == 0
    attributes = {a["attribute"]: (a["releases"], a["services"]) for a in body["attributes"]}
    # address: the tax login and its three reports; name: both logins and one report.
    assert attributes["address"] == (4, 1)
    assert attributes["name"] == (3, 2)
    assert attributes["age_over_18"] == (1, 1)
    assert body["timezone"] == "Europe/Copenhagen"
    start = _first_day_of_window(dt.datetime.now(ZONE).date())
    assert body["from"] == start.date().isoformat()

    # The same numbers, counted here from every entry in the database.
    rows = sql(app, "SELECT client_id, attributes, released_at FROM ledger_entry")
    assert len(rows) == 7
    counted: dict[str, int] = {}
    for row in rows:
        names, released_at = row["attributes"], row["released_at"]
        when = released_at if isinstance(released_at, dt.datetime) else None
        if when is None:
            when = dt.datetime.fromisoformat(str(released_at))
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        if when >= start:
            for name in json.loads(names) if isinstance(names, str) else names:
                counted[name] = counted.get(name, 0) + 1
    assert {name: count for name, (count, _) in attributes.items()} == counted


def test_the_page_shows_a_chart_with_a_name_and_a_table_with_the_same_numbers(client, releases):
    page = client.get("/me/access-log")
    assert page.status_code == 200
    html = page.text
    assert "The last 12 months at a glance" in html
    assert "In all, 5 releases of your information." in html

    chart = _fragment(html, "svg", "chart-services")
    assert chart.get("role") == "img"
    title = chart.find(f"{SVG}title")
    assert chart.get("aria-labelledby") == title.get("id")
    assert "each service or authority" in title.text
    description = chart.find(f"{SVG}desc")
    assert chart.get("aria-describedby") == description.get("id")
    assert description.text == "Skattestyrelsen: 4 times; Nordbank: 1 time."
    bars = chart.findall(f"{SVG}rect")
    assert len(bars) == 2 and int(bars[0].get("width")) > int(bars[1].get("width"))
    assert [t.text for t in chart.findall(f"{SVG}text")] == [
        "Skattestyrelsen", "4", "Nordbank", "1",
    ]  # fmt: skip
    assert "style=" not in html[html.index("<svg") : html.rindex("</svg>")]

    assert _table(html, "table-services") == {"Skattestyrelsen": ["4"], "Nordbank": ["1"]}
    attributes = _table(html, "table-attributes")
    assert attributes["Your address"] == ["4", "1"]
    # The first, last and full name are one row, "Your name": an entry counts once for it.
    assert attributes["Your name"] == ["3", "2"]
    assert not {"Your first name", "Your last name", "Your full name"} & set(attributes)
    assert attributes["Whether you are over 18 (not your age or birthdate)"] == ["1", "1"]
    words = _fragment(html, "svg", "chart-attributes").find(f"{SVG}desc").text
    assert "Your address: 4 times, to 1 service or authority" in words
    assert "Your name: 3 times, to 2 services and authorities" in words


def _row_link(html: str, label: str) -> str:
    found = re.search(rf'<th scope="row"><a href="([^"]+)">{re.escape(label)}</a>', html)
    assert found, f"no link for {label!r}"
    return found.group(1).replace("&amp;", "&")


def test_a_row_leads_to_its_entries_in_the_window(client, releases):
    """The period filter's days are Copenhagen days too: the lookup at the window's first
    instant (23:00 UTC the day before) is among the service's entries, as in its count."""
    html = client.get("/me/access-log").text
    entries = client.get(_row_link(html, "Skattestyrelsen"))
    assert entries.status_code == 200
    assert "4 entries." in entries.text
    named = client.get(_row_link(html, "Your name"))
    assert named.status_code == 200 and "3 entries." in named.text


def test_an_attribute_the_filter_does_not_offer_is_counted_without_a_link(app, client, releases):
    """An older entry may name an attribute Tillid no longer releases: it counts, and its row
    does not lead to a filter that would refuse it."""
    from clients.models import Client
    from consent import ledger
    from idp.core.extensions import db

    authority, _ = releases
    citizen_id = sql(app, "SELECT DISTINCT citizen_id FROM ledger_entry")[0]["citizen_id"]
    with app.test_request_context():
        ledger.append(
            citizen_id=citizen_id,
            client=db.session.get(Client, authority.client_id),
            channel=ledger.Channel.ATTRIBUTE_API,
            attributes=["shoe_size"],
            purpose="Old",
            legal_basis="public_task",
        )
        ledger.commit()
    html = client.get("/me/access-log").text
    assert _table(html, "table-attributes")["shoe_size"] == ["1", "1"]
    assert '<th scope="row">shoe_size</th>' in html


def test_another_citizens_releases_never_count(app, client, releases):
    authority, _ = releases
    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", cpr="0101901999")
    headers = _service_token(app, authority, "ledger:report")
    report = {**_report("x", reference="bodil-1"), "looked_up_at": dt.datetime.now(dt.UTC)
              .isoformat()}  # fmt: skip
    del report["sub"]
    response = app.test_client().post("/api/ledger/reports", headers=headers,
                                      json={**report, "cpr": "0101901999"})  # fmt: skip
    assert response.status_code == 201, response.json

    assert client.get("/api/me/access-log/summary").json["total"] == 5
    assert bodil.login("bodil").status_code == 302
    hers = bodil.client.get("/api/me/access-log/summary").json
    assert hers["total"] == 1 and hers["attributes"] == [
        {"attribute": "address", "releases": 1, "services": 1}
    ]
    assert [s["name"] for s in hers["services"]] == ["Skattestyrelsen"]


def _service_options(html: str) -> list[str]:
    select = re.search(r'<select class="form-select" id="service".*?</select>', html, re.S)
    return re.findall(r'<option value="([^"]+)"', select.group(0))


def test_the_page_counts_and_offers_the_whole_log_not_only_the_window(app, client, releases):
    """The page's count and its filter of services come from the same pass as the summary,
    but cover the whole log: the two lookups before the window are entries too, and a
    service whose only entries are that old is still offered; another citizen's never."""
    authority, bank = releases
    html = client.get("/me/access-log").text
    assert client.get("/api/me/access-log/summary").json["total"] == 5
    assert "7 entries." in html
    assert sorted(_service_options(html)) == sorted([authority.client_id, bank.client_id])

    # The bank's one entry moved before the window (as an operator could: it then no
    # longer verifies, which is not what this test is about).
    sql(app, "UPDATE ledger_entry SET released_at = :old WHERE client_id = :bank",
        old=_first_day_of_window(dt.datetime.now(ZONE).date()) - dt.timedelta(days=3),
        bank=bank.client_id)  # fmt: skip
    html = client.get("/me/access-log").text
    assert "7 entries." in html
    assert bank.client_id in _service_options(html)
    assert "Nordbank" not in client.get("/api/me/access-log/summary").text
    filtered = client.get("/me/access-log", query_string={"service": bank.client_id})
    assert "1 entry." in filtered.text

    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", cpr="0101901999")
    assert bodil.login("bodil").status_code == 302
    hers = bodil.client.get("/me/access-log").text
    assert "0 entries." in hers and _service_options(hers) == []


def test_an_empty_log_says_so_without_a_chart(app):
    someone = CitizenActions(app, app.test_client())
    someone.create(username="carl", given_name="Carl")
    assert someone.login("carl").status_code == 302
    page = someone.client.get("/me/access-log")
    assert page.status_code == 200
    assert "No service or authority has received anything about you" in page.text
    assert 'role="img"' not in page.text and "<table" not in page.text
    assert someone.client.get("/api/me/access-log/summary").json == {
        "from": _first_day_of_window(dt.datetime.now(ZONE).date()).date().isoformat(),
        "to": someone.client.get("/api/me/access-log/summary").json["to"],
        "timezone": "Europe/Copenhagen",
        "total": 0,
        "erased": 0,
        "by_agents": 0,
        "acted_for": 0,
        "services": [],
        "attributes": [],
    }


def test_erased_entries_count_as_releases_but_for_no_attribute(app, client, releases):
    citizen_id = sql(app, "SELECT DISTINCT citizen_id FROM ledger_entry")[0]["citizen_id"]
    erased = app.test_cli_runner().invoke(
        args=["ledger", "erase", "--citizen", citizen_id, "--retention-days", "0"]
    )
    assert erased.exit_code == 0, erased.output
    body = client.get("/api/me/access-log/summary").json
    assert body["total"] == 5 and body["erased"] == 5 and body["attributes"] == []
    html = client.get("/me/access-log").text
    assert "Of these, 5 had their details erased at the end of the retention period" in html
    assert 'id="chart-services"' in html and 'id="chart-attributes"' not in html


def test_the_legal_bases_are_explained_and_each_entry_links_to_its_own(client, releases):
    html = client.get("/me/access-log").text
    assert "What do the legal bases mean?" in html
    for basis in ("consent", "contract", "legal_obligation", "vital_interest", "public_task",
                  "legitimate_interest"):  # fmt: skip
        assert f'<dt id="basis-{basis}">' in html
    assert "A public authority needs this to do a task the law gives it" in html
    assert '<a href="#basis-public_task">a task in the public interest</a>' in html
    assert '<a href="#basis-consent">your consent</a>' in html


def test_the_summary_needs_a_two_factor_session(app, releases):
    response = app.test_client().get("/api/me/access-log/summary")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_the_window_reads_in_the_citizens_language(client, releases):
    first = _first_day_of_window(dt.datetime.now(ZONE).date()).date()
    english = client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    # Day, month in words, year ("From 1 January 2026 to"), never "January 1, 2026".
    assert f"From {format_date(first, 'd MMMM y', locale='en')} to" in english
    danish = client.get("/me/access-log", headers={"Accept-Language": "da"})
    assert danish.status_code == 200 and 'lang="da"' in danish.text
    assert format_date(first, "long", locale="da") in danish.text  # "1. januar 2026"
    assert _table(danish.text, "table-services")["Skattestyrelsen"] == ["4"]


def test_the_json_twin_matches_its_openapi_schema(client, releases):
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"]["/api/me/access-log/summary"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    body = client.get("/api/me/access-log/summary").json
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)
    with pytest.raises(ValidationError):  # the schema is exact: nothing unknown slips by
        Draft202012Validator({**schema, "components": spec["components"]}).validate(
            {**body, "extra": 1}
        )
