"""What a citizen reads about a release, through HTTP: the consent page and the consents page
group attributes by purpose (each purpose once), name claims read "your name", a release on
another legal basis says it cannot be withdrawn and why, and withdrawing asks first."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.conftest import csrf_token
from tests.oidc.conftest import register

OPEN = "To serve you"  # the purpose `register` gives every claim
STATEMENTS = "To send you statements"
LAUNDERING = "The money laundering act requires it"


@pytest.fixture
def bank(app, tmp_path):
    """A bank asking by consent for the name (three claims) and, for another purpose, the
    e-mail address; and given the birthdate by a legal obligation."""
    spec = tmp_path / "bank.json"
    spec.write_text(json.dumps({"claims": {
        "email": {"legal_basis": "consent", "purpose": STATEMENTS},
        "birthdate": {"legal_basis": "legal_obligation", "purpose": LAUNDERING},
    }}))  # fmt: skip
    # The request names its scopes in another order than the registry: the pages do not.
    return register(app, scope="openid email birthdate profile",
                    extra=["--from-file", str(spec)])  # fmt: skip


def _text(page) -> str:
    """The page's words, without tags."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


def _purposes(page) -> list[str]:
    return re.findall(r"For: ([^<]+)</dt>", html.unescape(page.text))


def _attributes(page) -> list[str]:
    return [html.unescape(item) for item in re.findall(r"<li>([^<]+)</li>", page.text)]


def test_the_consent_page_states_each_purpose_once_with_its_attributes(app, client, oidc, bank):
    page = oidc(bank).authorize()
    assert page.status_code == 200
    words = _text(page)
    assert _purposes(page) == [OPEN, STATEMENTS, LAUNDERING]
    assert words.count(OPEN) == 1 and words.count(STATEMENTS) == 1
    # First, last and full name: one line, "your name".
    assert _attributes(page) == ["Your name", "Your e-mail address", "Your date of birth"]
    for part in ("Your first name", "Your last name", "Your full name"):
        assert part not in words
    assert "Why:" not in words  # no longer a sentence under each field


def test_a_legal_basis_notice_says_it_cannot_be_withdrawn_and_why(app, client, oidc, bank):
    words = _text(oidc(bank).authorize())
    notice = words[words.index("also receives, without asking you") :]
    assert "Given on the basis of a legal obligation. You cannot withdraw it." in notice
    assert "The law requires the service to have it, so it does not rest on your consent." in (
        notice
    )
    assert "You said yes" not in words and "change your mind" not in words


def test_a_public_authoritys_notice_names_its_task(app, client, oidc):
    authority = register(app, name="Skattestyrelsen", kind="public_authority",
                         redirect_uri="https://skat.example/callback",
                         scope="openid profile cpr", legal_basis="public_task")  # fmt: skip
    page = oidc(authority).authorize()
    words = _text(page)
    assert page.status_code == 200
    assert "Given on the basis of a task in the public interest. You cannot withdraw it." in words
    assert "The authority needs it for a task the law gives it" in words
    assert _attributes(page) == ["Your name", "Your CPR number"]
    assert "asks for your permission" not in words
    assert "You can see and withdraw" not in words


def test_the_consent_page_in_danish(app, client, oidc, bank):
    client.get("/language/da")
    words = _text(oidc(bank).authorize())
    assert "Dit navn" in words and "Dit fornavn" not in words
    assert "Givet på grundlag af en retlig forpligtelse. Du kan ikke trække det tilbage." in words
    assert "Til: To serve you" in words


def _consent_to(flow):
    page = flow.authorize()
    consent_order = _purposes(page)
    assert flow.decide(page).status_code == 302
    return consent_order


def test_the_consents_page_lists_purposes_in_the_order_of_the_consent_page(app, client, oidc, bank):
    consent_order = _consent_to(oidc(bank))
    page = client.get("/me/consents")
    assert page.status_code == 200
    assert _purposes(page) == consent_order == [OPEN, STATEMENTS, LAUNDERING]
    assert _attributes(page) == ["Your name", "Your e-mail address", "Your date of birth"]
    words = _text(page)
    # The birthdate is on a legal obligation: the notice, and nothing to withdraw for it.
    notice = words[words.index("Given on the basis of a legal obligation") :]
    assert "You cannot withdraw this." in notice and LAUNDERING in notice
    assert "Withdraw" not in notice


def test_a_service_told_but_never_asked_has_no_withdraw_button(app, client, oidc):
    authority = register(app, name="Skattestyrelsen", kind="public_authority",
                         redirect_uri="https://skat.example/callback",
                         scope="openid profile", legal_basis="public_task")  # fmt: skip
    _consent_to(oidc(authority))
    page = client.get("/me/consents")
    words = _text(page)
    assert "Skattestyrelsen" in words and "You cannot withdraw this." in words
    assert "/withdraw" not in page.text
    assert client.get(f"/me/consents/{authority.client_id}/withdraw").status_code == 404


def test_withdrawing_asks_first_naming_the_service_then_redirects_with_303(app, client, oidc, bank):
    _consent_to(oidc(bank))
    listing = client.get("/me/consents")
    link = f"/me/consents/{bank.client_id}/withdraw"
    assert f'href="{link}"' in listing.text
    assert f'action="{link}"' not in listing.text  # a link to the question, no form

    question = client.get(link)
    assert question.status_code == 200
    words = _text(question)
    assert "Withdraw your consent to Nordbank?" in words
    assert "Nordbank will no longer receive through Tillid:" in words
    # What it loses: the consent-based attributes, not the legal obligation's.
    assert _attributes(question) == ["Your name", "Your e-mail address"]
    assert client.get("/me/consents").text.count(OPEN) == 1  # nothing withdrawn yet

    done = client.post(link, data={"csrf_token": csrf_token(question)})
    assert done.status_code == 303 and done.headers["Location"] == "/me/consents"
    after = client.get("/me/consents")
    assert "Your consent to Nordbank is withdrawn. It must ask you again." in _text(after)
    assert OPEN not in _text(after) and LAUNDERING in _text(after)  # the notice stays
    assert client.get(link).status_code == 404  # nothing left to withdraw
    again = client.post(link, data={"csrf_token": csrf_token(question)})
    assert again.status_code == 404


def test_withdrawing_needs_the_token_and_is_in_danish_too(app, client, oidc, bank):
    _consent_to(oidc(bank))
    link = f"/me/consents/{bank.client_id}/withdraw"
    assert client.post(link).status_code == 400
    assert client.get("/me/consents/no-such-client/withdraw").status_code == 404
    client.get("/language/da")
    question = client.get(link)
    assert "Vil du trække dit samtykke til Nordbank tilbage?" in _text(question)
    done = client.post(link, data={"csrf_token": csrf_token(question)}, follow_redirects=True)
    assert "Dit samtykke til Nordbank er trukket tilbage." in _text(done)


def test_asked_again_with_nothing_new_the_page_shows_what_was_agreed(app, client, oidc, bank):
    flow = oidc(bank)
    _consent_to(flow)
    flow.new_nonce()
    again = flow.authorize(prompt="consent")
    assert again.status_code == 200
    words = _text(again)
    assert "You have already agreed that Nordbank receives" in words
    # What it agreed to, then (as always) what it is told.
    assert _purposes(again) == [OPEN, STATEMENTS, LAUNDERING]
    assert _attributes(again) == ["Your name", "Your e-mail address", "Your date of birth"]
