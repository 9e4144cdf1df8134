"""The citizen's language, through HTTP: the Danish default, the browser's Accept-Language,
the remembered switch, a service's ui_locales, and dates in the language and time zone."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from clients.models import Client
from consent import ledger
from idp.citizens.models import Citizen
from idp.core.extensions import db
from tests.conftest import CitizenActions, activate
from tests.oidc.conftest import Flow, register

ROOT = Path(__file__).resolve().parents[2]
# The login page's heading, with or without a service ("Log på hos …" / "Log in to …").
DANISH = "<h1>Log på"
ENGLISH = "<h1>Log in to"
YEAR = 365 * 24 * 60 * 60


def language_of(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.text)
    assert match, "the page names no language"
    return match.group(1)


def assert_danish(response) -> None:
    assert language_of(response) == "da"
    assert DANISH in response.text and ENGLISH not in response.text


def assert_english(response) -> None:
    assert language_of(response) == "en"
    assert ENGLISH in response.text and DANISH not in response.text


@pytest.fixture
def danish_app(make_app):
    """The product's default: Danish."""
    return make_app(DEFAULT_LANGUAGE="da")


@pytest.fixture
def client(danish_app):
    return danish_app.test_client()


# The default and the browser


def test_danish_by_default_without_accept_language(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert_danish(page)
    assert "Bruger-ID" in page.text and "Adgangskode" in page.text


def test_accept_language_english_gives_english(client):
    assert_english(client.get("/login", headers={"Accept-Language": "en"}))
    assert_english(client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}))


def test_accept_language_danish_wins_over_an_english_default(make_app):
    client = make_app(DEFAULT_LANGUAGE="en").test_client()
    assert_english(client.get("/login"))
    assert_danish(client.get("/login", headers={"Accept-Language": "da-DK,da;q=0.9"}))
    assert_danish(client.get("/login", headers={"Accept-Language": "de;q=0.9, da;q=0.5"}))


def test_a_language_tillid_does_not_speak_falls_back_to_the_default(client):
    assert_danish(client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}))


def test_error_pages_speak_the_language_too(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert language_of(page) == "da"
    assert "Siden findes ikke" in page.text and "Fejlkode 404." in page.text
    assert "requested URL was not found" not in page.text  # werkzeug's English default
    english = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "The page does not exist" in english.text


# The switch


def test_the_switch_sets_a_year_long_cookie_and_goes_back(client):
    response = client.get("/language/en", query_string={"next": "/login?username=anna"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?username=anna"
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("tillid_lang=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0] == "tillid_lang=en"
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert f"max-age={YEAR}" in attributes
    expires = next(a for a in attributes if a.startswith("expires="))
    assert str(dt.datetime.now(dt.UTC).year + 1) in expires


def test_the_switch_is_remembered_on_the_next_pages(client, danish_app):
    assert_danish(client.get("/login"))
    client.get("/language/en", query_string={"next": "/login"})
    assert_english(client.get("/login", headers={"Accept-Language": "da"}))
    activation = client.get("/activate")  # every page, not only the one switched on
    assert language_of(activation) == "en" and "Activate your account" in activation.text
    assert language_of(client.get("/no-such-page")) == "en"
    # A browser that has only the cookie (its form session gone) still gets English.
    browser = danish_app.test_client()
    browser.set_cookie("tillid_lang", "en")
    assert_english(browser.get("/login", headers={"Accept-Language": "da"}))
    client.get("/language/da", query_string={"next": "/login"})
    assert_danish(client.get("/login", headers={"Accept-Language": "en"}))


def test_every_page_links_to_the_other_language_back_to_itself(client):
    page = client.get("/login?username=anna")
    links = re.findall(r'<a href="(/language/[^"]+)"[^>]*hreflang="([a-z]+)"', page.text)
    assert [lang for _href, lang in links] == ["en"]
    switched = client.get(html.unescape(links[0][0]))
    assert switched.status_code == 302
    assert switched.headers["Location"] == "/login?username=anna"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "\\\\evil.example",
        " //evil.example",
        "/%2F/evil.example",
        "",
    ],
)
def test_the_switch_never_leads_to_another_site(client, target):
    response = client.get("/language/en", query_string={"next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil.example" not in location or location.startswith("/%2F"), location
    assert_english(client.get("/login"))  # the language still changed


@pytest.mark.parametrize("code", ["fr", "EN", "dk", "da-DK", "xx%00", "e" * 300])
def test_an_unknown_language_changes_nothing(client, code):
    response = client.get(f"/language/{code}", query_string={"next": "/login"})
    if "%00" in code:  # a NUL anywhere in a request is a 400 before any view
        assert response.status_code == 400
    else:
        assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not any(c.startswith("tillid_lang=") for c in response.headers.getlist("Set-Cookie"))
    assert_danish(client.get("/login"))


def test_odd_switch_requests_are_refused_without_a_500(client):
    for path in ["/language/", "/language/en/extra", "/language/%0d%0aSet-Cookie:x=1"]:
        assert client.get(path).status_code in (302, 404), path
    for target in ["/login\r\nSet-Cookie: x=1", "/\tevil.example", "/login\x7f"]:
        response = client.get("/language/en", query_string={"next": target})
        assert response.status_code == 302 and response.headers["Location"] == "/", target
        assert "x=1" not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.post("/language/en").status_code == 405


# A service's ui_locales


def _service(app):
    """A registered service, with the signing keys its tokens need (as `flask keys ensure`
    makes them: without them /authorize is a 503 until an operator makes them)."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    return register(app)


def _login_page_after_authorize(client, flow, accept_language, **params):
    response = client.get(
        "/authorize",
        query_string=flow.params(**params),
        headers={"Accept-Language": accept_language},
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login"
    return location, client.get(location, headers={"Accept-Language": accept_language})


def test_ui_locales_en_makes_the_login_english_whatever_the_browser_says(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    _, page = _login_page_after_authorize(client, flow, "da-DK,da;q=0.9", ui_locales="en")
    assert_english(page)


def test_ui_locales_takes_the_first_language_tillid_speaks(make_app):
    app = make_app(DEFAULT_LANGUAGE="en")
    client = app.test_client()
    flow = Flow(app, client, _service(app))
    _, page = _login_page_after_authorize(client, flow, "en", ui_locales="fr-CA fr da en")
    assert_danish(page)


def test_ui_locales_of_languages_tillid_does_not_speak_leave_the_choice_alone(client, danish_app):
    flow = Flow(danish_app, client, _service(danish_app))
    _, page = _login_page_after_authorize(client, flow, "en", ui_locales="fr de")
    assert_english(page)  # the browser's Accept-Language decides


def test_the_switch_after_ui_locales_wins(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    login, page = _login_page_after_authorize(client, flow, "da", ui_locales="en")
    assert_english(page)
    switched = client.get("/language/da", query_string={"next": login})
    assert switched.headers["Location"] == login
    assert_danish(client.get(login, headers={"Accept-Language": "en"}))


def test_ui_locales_in_a_pushed_request_counts_too(danish_app, client):
    service = _service(danish_app)
    flow = Flow(danish_app, client, service)
    pushed = danish_app.test_client().post(
        "/par", data=flow.params(ui_locales="en"), auth=(service.client_id, service.client_secret)
    )
    assert pushed.status_code == 201, pushed.json
    query = {"client_id": service.client_id, "request_uri": pushed.json["request_uri"]}
    response = client.get("/authorize", query_string=query, headers={"Accept-Language": "da"})
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert_english(client.get(response.headers["Location"], headers={"Accept-Language": "da"}))


def test_discovery_lists_the_languages(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["ui_locales_supported"] == ["da", "en"]


# Dates, times and refusals written in the language, in Europe/Copenhagen


def _citizen_on_my_page(app, client) -> CitizenActions:
    citizens = CitizenActions(app, client)
    citizens.create(birthdate="1990-01-01")
    with app.app_context():
        citizen = db.session.scalar(select(Citizen).where(Citizen.username == "anna"))
        # 22:30 UTC on 30 June is half past midnight on 1 July in Copenhagen (summer time).
        citizen.activated_at = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
        db.session.commit()
    assert citizens.login().status_code == 302
    return citizens


def test_my_page_writes_dates_in_danish_in_copenhagen_time(danish_app, client):
    _citizen_on_my_page(danish_app, client)
    page = client.get("/me")
    assert page.status_code == 200 and language_of(page) == "da"
    assert "1. januar 1990" in page.text
    assert "1. juli 2026 kl. 00.30" in page.text
    assert "January" not in page.text and "Jun 30" not in page.text


def test_my_page_writes_dates_in_english_in_copenhagen_time(danish_app, client):
    _citizen_on_my_page(danish_app, client)
    client.get("/language/en", query_string={"next": "/me"})
    page = client.get("/me")
    assert language_of(page) == "en"
    # Day, month in words, year: never 7/1/2026 or Jul 1 (read as 7 January elsewhere).
    assert "1 January 1990" in page.text
    assert "1 July 2026, 00:30" in page.text
    assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b", page.text)
    assert "Jul 1" not in page.text and "AM" not in page.text


def test_the_time_zone_is_the_operators_choice(make_app, monkeypatch):
    monkeypatch.setenv("DISPLAY_TIMEZONE", "UTC")
    app = make_app(DEFAULT_LANGUAGE="da")
    client = app.test_client()
    _citizen_on_my_page(app, client)
    assert "30. juni 2026 kl. 22.30" in client.get("/me").text


def test_an_activation_refusal_is_in_danish(danish_app, client):
    citizens = CitizenActions(danish_app, client)
    cpr = citizens.next_cpr()
    citizens.create(username=None, cpr=cpr)
    page = activate(client, cpr, citizens.letter(cpr), "anna", "anna-has-a-long-password")
    assert page.status_code == 400 and language_of(page) == "da"
    assert "Adgangskoden må ikke indeholde dit bruger-ID." in page.text
    assert "must not contain" not in page.text


# What the page scripts say


def _script_messages(page) -> dict:
    match = re.search(r"<meta name=\"tillid-messages\" content='([^']*)'>", page.text)
    assert match, "the page carries no texts for its scripts"
    return json.loads(html.unescape(match.group(1)))


def test_the_scripts_texts_come_in_the_pages_language(client):
    danish = _script_messages(client.get("/login"))
    english = _script_messages(client.get("/login", headers={"Accept-Language": "en"}))
    assert danish["phoneApproved"] == "Godkendt. Du kan gå tilbage til din browser."
    assert english["phoneApproved"] == "Approved. You can go back to your browser."
    assert danish.keys() == english.keys()
    assert all(danish[key] != english[key] for key in danish)


def test_every_text_a_script_asks_for_is_on_the_page(client):
    offered = _script_messages(client.get("/login")).keys()
    asked = set()
    for script in (ROOT / "idp/static/js").glob("*.js"):
        asked |= set(re.findall(r"\btext\('([A-Za-z]+)'", script.read_text()))
    assert asked, "no script asks for a text: is the pattern still right?"
    assert asked <= offered, f"scripts ask for texts no page carries: {asked - offered}"


def test_an_authenticator_the_operator_set_up_is_named_in_the_citizens_language(danish_app, client):
    citizens = CitizenActions(danish_app, client)
    citizens.create()  # through the flask command, with an authenticator app
    assert citizens.login().status_code == 302
    page = client.get("/me/security")
    assert "Autentificeringsapp" in page.text and "Authenticator app" not in page.text


def test_numbers_are_written_in_the_language(danish_app, client):
    """1234 releases in the access log's summary: 1.234 in Danish, 1,234 in English."""
    citizens = CitizenActions(danish_app, client)
    citizens.create()
    service = register(danish_app, name="Skattestyrelsen", kind="public_authority",
                       scope="openid address", legal_basis="public_task")  # fmt: skip
    with danish_app.test_request_context():
        citizen = db.session.scalar(select(Citizen).where(Citizen.username == "anna"))
        registered = db.session.scalar(select(Client).where(Client.client_id == service.client_id))
        for _ in range(1234):
            ledger.append(citizen_id=citizen.id, client=registered, channel=ledger.Channel.LOGIN,
                          attributes=["address"], purpose="Property tax",
                          legal_basis="public_task")  # fmt: skip
        ledger.commit()
    assert citizens.login().status_code == 302
    danish = client.get("/me/access-log")
    assert danish.status_code == 200
    assert "I alt 1.234 videregivelser af dine oplysninger." in danish.text
    english = client.get("/me/access-log", headers={"Accept-Language": "en"})
    assert "In all, 1,234 releases of your information." in english.text


def test_apis_for_developers_answer_in_english_the_citizens_own_in_their_language(client):
    """A service's developer reads the ledger and OAuth answers; the citizen's apps show
    theirs (/api/me) to the citizen."""
    developer = client.get("/ledger/proof/consistency", query_string={"first": "x"})
    assert developer.status_code == 400
    assert developer.json["title"] == "The request could not be understood"
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.json["title"] == "The page does not exist"
    citizens_own = client.get("/api/me/access-log/1/proof")
    assert citizens_own.status_code == 401
    assert citizens_own.json["title"] == "Du skal logge på"
