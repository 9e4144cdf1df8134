"""The citizen's language is the citizen's, through HTTP: a service's ui_locales holds for its
own login only and never replaces the choice made with the switch; English pages show no
Danish defaults and write dates day, month in words, year."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from idp.authenticators import totp
from idp.authenticators.models import Authenticator
from idp.citizens.models import Citizen
from idp.core.extensions import db
from tests.conftest import CitizenActions, csrf_token
from tests.i18n.test_language import _service, language_of
from tests.oidc.conftest import Flow, redirect_params


@pytest.fixture
def danish_app(make_app):
    return make_app(DEFAULT_LANGUAGE="da")


@pytest.fixture
def client(danish_app):
    return danish_app.test_client()


def _logged_in(app, client) -> CitizenActions:
    citizens = CitizenActions(app, client)
    citizens.create()
    assert citizens.login().status_code == 302
    return citizens


def test_ui_locales_holds_for_its_login_and_the_switch_choice_comes_back(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    _logged_in(danish_app, client)
    client.get("/language/en", query_string={"next": "/me"})
    assert language_of(client.get("/me")) == "en"

    consent = flow.authorize(ui_locales="da")  # the service speaks Danish
    assert consent.status_code == 200 and language_of(consent) == "da"
    assert "Vil du dele dine oplysninger med Nordbank?" in consent.text
    # Never written over the citizen's choice: no cookie for it.
    assert not any("tillid_lang" in c for c in consent.headers.getlist("Set-Cookie"))
    answered = flow.decide(consent, ui_locales="da")
    assert "code" in redirect_params(answered)

    portal = client.get("/me")
    assert language_of(portal) == "en" and "Your information" in portal.text
    assert language_of(client.get("/login?force=1")) == "en"  # the login is over: its wish too


def test_ui_locales_never_reaches_the_portal_even_mid_login(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    _logged_in(danish_app, client)
    client.get("/language/en", query_string={"next": "/me"})
    assert language_of(flow.authorize(ui_locales="da")) == "da"
    # The citizen leaves the login for their page in another tab: their language.
    assert language_of(client.get("/me")) == "en"
    assert language_of(client.get("/me/consents")) == "en"
    # Back on the login's page, the service's language still holds until it is answered.
    assert language_of(flow.authorize(ui_locales="da")) == "da"


def test_without_a_choice_the_browsers_language_returns_after_the_login(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    citizens = CitizenActions(danish_app, client)
    citizens.create()
    english = {"Accept-Language": "en"}
    login = client.get("/authorize", query_string=flow.params(ui_locales="da"), headers=english)
    assert login.status_code == 302
    assert language_of(client.get(login.headers["Location"], headers=english)) == "da"
    back_to = parse_qs(urlsplit(login.headers["Location"]).query)["next"][0]
    assert citizens.login(next_url=back_to).status_code == 302
    consent = client.get("/authorize", query_string=flow.params(ui_locales="da"), headers=english)
    assert language_of(consent) == "da"
    flow.decide(consent)
    assert language_of(client.get("/me", headers=english)) == "en"


def test_the_default_authenticator_name_is_in_the_pages_language(danish_app, client):
    _logged_in(danish_app, client)  # its authenticator app named in Danish, the default
    with danish_app.app_context():
        stored = db.session.scalar(select(Authenticator.name))
    assert stored == "Autentificeringsapp"
    danish = client.get("/me/security")
    assert "Autentificeringsapp" in danish.text
    client.get("/language/en", query_string={"next": "/me"})
    english = client.get("/me/security")
    assert language_of(english) == "en"
    assert "<h2>Authenticator app</h2>" in english.text
    assert "Autentificeringsapp" not in english.text


def test_a_name_the_citizen_chose_is_never_translated(danish_app, client):
    _logged_in(danish_app, client)
    with danish_app.app_context():
        authenticator = db.session.scalar(select(Authenticator))
        authenticator.name = "Min gamle telefon"
        db.session.commit()
    client.get("/language/en", query_string={"next": "/me"})
    assert "<h2>Min gamle telefon</h2>" in client.get("/me/security").text


_ENGLISH_MOMENT = re.compile(
    r"\b\d{1,2} (January|February|March|April|May|June|July|August|September|October"
    r"|November|December) \d{4}, \d{2}:\d{2}\b"
)
_DANISH_MOMENT = re.compile(r"\b\d{1,2}\. [a-zæøå]+ \d{4} kl\. \d{2}\.\d{2}\b")
_NUMERIC_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")


def test_every_portal_page_writes_dates_day_month_year(danish_app, client):
    flow = Flow(danish_app, client, _service(danish_app))
    _logged_in(danish_app, client)
    flow.tokens()  # a consent and entries in the log, each with its time
    pages = ("/me", "/me/sessions", "/me/consents", "/me/access-log", "/me/security")
    for path in pages:
        danish = client.get(path)
        assert danish.status_code == 200, path
        assert not _NUMERIC_DATE.search(danish.text), path
    client.get("/language/en", query_string={"next": "/me"})
    for path in pages:
        english = client.get(path)
        assert language_of(english) == "en", path
        assert not _NUMERIC_DATE.search(english.text), path
        assert not re.search(r"\b(AM|PM)\b", english.text), path
    assert _ENGLISH_MOMENT.search(client.get("/me/sessions").text)
    assert _ENGLISH_MOMENT.search(client.get("/me/consents").text)
    assert _ENGLISH_MOMENT.search(client.get("/me/security").text)
    client.get("/language/da", query_string={"next": "/me"})
    assert _DANISH_MOMENT.search(client.get("/me/consents").text)
    assert _DANISH_MOMENT.search(client.get("/me/sessions").text)


def test_removing_an_unnamed_authenticator_names_it_in_the_pages_language(danish_app, client):
    _logged_in(danish_app, client)
    with danish_app.app_context():
        citizen = db.session.scalar(select(Citizen))
        first = db.session.scalar(select(Authenticator)).id
        totp.enrol_confirmed(citizen, pyotp.random_base32(), name="Min anden app")
        db.session.commit()
    client.get("/language/en", query_string={"next": "/me"})
    page = client.get("/me/security")
    removed = client.post(
        f"/me/security/{first}/remove", data={"csrf_token": csrf_token(page)}, follow_redirects=True
    )
    assert removed.status_code == 200
    assert "“Authenticator app” is removed." in removed.text
    assert "Autentificeringsapp" not in removed.text
