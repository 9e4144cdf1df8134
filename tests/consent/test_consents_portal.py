"""/me/consents: the citizen sees and withdraws consents; withdrawing ends the refresh tokens."""

from __future__ import annotations

from tests.conftest import csrf_token
from tests.oidc.conftest import register


def test_withdrawing_a_consent_ends_the_services_refresh_tokens_and_asks_again(app, client, oidc):
    bank = register(app, scope="openid profile offline_access",
                    extra=["--grant-type", "authorization_code",
                           "--grant-type", "refresh_token"])  # fmt: skip
    flow = oidc(bank)
    tokens = flow.tokens()
    page = client.get("/me/consents")
    assert page.status_code == 200 and "<h2>Nordbank</h2>" in page.text
    assert "Your name" in page.text

    question = client.get(f"/me/consents/{bank.client_id}/withdraw")
    withdrawn = client.post(f"/me/consents/{bank.client_id}/withdraw",
                            data={"csrf_token": csrf_token(question)})  # fmt: skip
    assert withdrawn.status_code == 303
    assert "You have not agreed to share anything." in client.get("/me/consents").text
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(bank.client_id, bank.client_secret))  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    flow.new_nonce()
    again = flow.authorize()
    assert again.status_code == 200 and "Share your information with Nordbank?" in again.text


def test_withdrawing_needs_the_form_and_a_consent(app, client, oidc):
    bank = register(app)
    oidc(bank).tokens()
    page = client.get(f"/me/consents/{bank.client_id}/withdraw")
    no_token = client.post(f"/me/consents/{bank.client_id}/withdraw")
    assert no_token.status_code == 400
    unknown = client.post("/me/consents/no-such-client/withdraw",
                          data={"csrf_token": csrf_token(page)})  # fmt: skip
    assert unknown.status_code == 404
    assert "<h2>Nordbank</h2>" in client.get("/me/consents").text
