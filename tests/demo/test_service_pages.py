"""The demo services' pages over HTTP: in Danish by default and in English after the switch,
what they received in words, and a readable page (never a traceback or a bare string) for
every way a login can come back without a token."""

from __future__ import annotations

import re
import socket

import pytest

from demo import registry as demo_registry
from demo.service import create_service

ISSUER = "http://localhost:5999"  # no request here reaches it, but the one that must fail


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _service(template=demo_registry.BANK, issuer: str = ISSUER, ui_locales="da"):
    app = create_service(name=template.name, issuer=issuer, client_id="demo-client",
                         client_secret="not used here", scope=template.scope,
                         description=template.description, api_scopes=template.api_scopes,
                         ciba=template.ciba, ui_locales=ui_locales, kind=template.kind)  # fmt: skip
    return app.test_client()


def _text(response) -> str:
    """What a reader sees: the page's text without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def _readable(response, language: str) -> str:
    page = response.get_data(as_text=True)
    assert f'<html lang="{language}">' in page
    assert "Traceback" not in page and "werkzeug" not in page.lower()
    assert 'href="/static/dkfds/css/dkfds.min.css"' in page  # the design system's own files
    return _text(response)


def test_the_bank_speaks_danish_and_says_truthfully_what_it_receives():
    client = _service()
    text = _readable(client.get("/"), "da")
    assert "Det får Nordbank (demo) fra Tillid" in text
    # Its scope is "openid profile age": the names and whether over 18, nothing else.
    for label in ("Dit fornavn", "Dit efternavn", "Dit fulde navn", "Om du er over 18"):
        assert label in text
    for label in ("CPR-nummer</li>", "Din adresse", "Din fødselsdato"):
        assert label not in client.get("/").get_data(as_text=True)
    assert "Log ind med Tillid" in text


def test_the_tax_authority_lists_the_cpr_number_and_the_address():
    text = _readable(_service(demo_registry.TAX).get("/"), "da")
    assert "Dit CPR-nummer" in text and "Din adresse" in text
    # Its registration has the attribute and report APIs: it says it may look again later.
    assert "Senere, uden dig, kan den læse dine oplysninger igen" in text
    assert "Senere, uden dig" not in _text(_service(demo_registry.BANK).get("/"))


def test_the_switch_to_english_holds_for_the_following_pages():
    client = _service()
    switched = client.get("/language/en")
    assert switched.status_code == 302
    text = _readable(client.get("/"), "en")
    assert "What Nordbank (demo) receives from Tillid" in text
    assert "Whether you are over 18" in text
    assert 'hreflang="da"' in client.get("/").get_data(as_text=True)
    client.get("/language/xx")  # not a language: ignored
    _readable(client.get("/"), "en")


def test_without_a_language_of_its_own_the_service_follows_the_browser():
    client = _service(ui_locales=None)
    _readable(client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}), "en")
    _readable(client.get("/", headers={"Accept-Language": "da"}), "da")
    _readable(client.get("/"), "da")  # no preference: Danish


@pytest.mark.parametrize(
    ("query", "danish", "english"),
    [
        ({"error": "access_denied", "state": "s"}, "Intet blev delt med tjenesten",
         "Nothing was shared with the service"),
        ({"code": "c", "state": "never-sent"}, "Start loginet forfra", "Start the login again"),
        ({"error": "no_such_error", "state": "s"}, "loginet ikke kunne gennemføres",
         "the login could not be completed"),
    ],
    ids=["access_denied", "state mismatch or no session", "an unknown error"],
)  # fmt: skip
def test_a_login_that_comes_back_without_a_token_is_told_in_words(query, danish, english):
    client = _service()
    response = client.get("/callback", query_string={"iss": ISSUER, **query})
    assert response.status_code == 400
    text = _readable(response, "da")
    assert "Loginet blev ikke gennemført" in text and danish in text
    assert "<title>Loginet blev ikke gennemført – Nordbank (demo)</title>" in response.get_data(
        as_text=True
    )
    client.get("/language/en")
    response = client.get("/callback", query_string={"iss": ISSUER, **query})
    text = _readable(response, "en")
    assert "The login did not complete" in text and english in text


def test_an_answer_from_another_issuer_is_refused_in_words():
    response = _service().get("/callback", query_string={"iss": "https://evil.example",
                                                          "code": "c", "state": "s"})  # fmt: skip
    assert response.status_code == 400
    assert "Svaret kom ikke fra den identitetsudbyder" in _readable(response, "da")


def test_a_missing_page_and_an_action_without_a_login_are_readable_404s():
    client = _service(demo_registry.TAX)
    for response in (client.get("/no-such-page"), client.post("/lookup"), client.post("/ciba")):
        assert response.status_code == 404
        assert "Siden findes ikke" in _readable(response, "da")


def test_tillid_not_answering_is_a_readable_502():
    client = _service(issuer=f"http://127.0.0.1:{_closed_port()}")
    response = client.get("/login")
    assert response.status_code == 502
    assert "Tjenesten kunne ikke få forbindelse til Tillid" in _readable(response, "da")


RECEIVED = {
    "signed_with": {"alg": "RS256", "kid": "key-1"},
    "id_token": {
        "sub": "pairwise-sub", "iss": ISSUER, "aud": ["demo-client"], "exp": 1796300000,
        "iat": 1796299700, "auth_time": 1796299690, "nonce": "n",
        "acr": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
        "amr": ["pwd", "otp", "mfa"], "age_over_18": True, "name": "Ida Demo-Jensen",
    },
    "userinfo": {"sub": "pairwise-sub", "age_over_18": False, "birthdate": "1985-07-15",
                 "address": {"formatted": "Vesterbrogade 1\n1620 København V"}},
}  # fmt: skip


def test_what_the_service_received_is_shown_in_words_in_both_languages():
    """As the callback keeps it in the service's session: the ID token's claims and userinfo's."""
    client = _service()
    with client.session_transaction() as session:
        session["received"] = RECEIVED
    danish = _readable(client.get("/"), "da")
    for shown in (" Ja ", " Nej ", "NSIS Betydelig", "15. juli 1985", "Vesterbrogade 1",
                  "adgangskode, engangskode fra en app, to faktorer", "demo-client",
                  "Dit pseudonym hos denne tjeneste", "december 2026"):  # fmt: skip
        assert shown in danish, shown
    client.get("/language/en")
    english = _readable(client.get("/"), "en")
    for shown in (" Yes ", " No ", "NSIS Substantial", "July 15, 1985", "December",
                  "password, one-time code from an app, two factors",
                  "Your pseudonym at this service"):  # fmt: skip
        assert shown in english, shown
    for text in (danish, english):
        assert not re.search(r"\bTrue\b|\bFalse\b|\['|\b179629\d{4}\b", text), text


def test_demo_load_gives_each_demo_service_its_own_sector_even_one_registered_before(app):
    """A registration from before the demo services had sectors of their own (the sector then
    came from the shared host, localhost) gets its own at the next `demo load`."""
    from clients import service as client_registry

    with app.app_context():
        client_registry.register({
            "name": demo_registry.BANK.name, "kind": demo_registry.BANK.kind,
            "redirect_uris": [f"{demo_registry.BANK.url}/callback"],
            "scope": demo_registry.BANK.scope, "legal_basis": "consent", "purpose": "Before",
        })  # fmt: skip
        assert client_registry.find_by_name(demo_registry.BANK.name).sector_identifier == (
            "localhost"
        )
    result = app.test_cli_runner().invoke(args=["demo", "load", "--citizens", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        sectors = {
            service.name: client_registry.find_by_name(service.name).sector_identifier
            for service in demo_registry.DEMO_SERVICES
        }
    assert sectors == {"Skattestyrelsen (demo)": "skattestyrelsen.example",
                       "Nordbank (demo)": "nordbank.example"}  # fmt: skip
