"""The citizen's wallet page (/me/wallet) through HTTP: the credentials issued to their
wallets, revoking one (the status list's bit and an entry in the access log), and "Add to your
wallet" (a credential offer at NSIS High only), with every refusal."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from idp.citizens import service as citizen_registry
from idp.core.extensions import db
from idp.wallet import offers
from idp.wallet.configurations import PID_SD_JWT
from idp.wallet.models import CredentialStatus
from tests.conftest import CitizenActions, csrf_token, login
from tests.wallet.helpers import payload, wallet_key
from tests.wallet.issuance import citizen_at_high
from tests.wallet.portal_helpers import (
    PASSWORD,
    PID_FIELDS,
    WALLET_NAME,
    cards,
    issue,
    logged_in_with_a_wallet,
)
from tests.wallet.test_status_list import _status


@pytest.fixture
def setup(app, client, citizens):
    return logged_in_with_a_wallet(app, citizens)


def test_the_page_lists_the_credentials_newest_first_with_their_wallet_key_and_contents(
    app,
    client,
    setup,
):
    cpr, wallet_id = setup
    key = wallet_key()
    first = issue(app, cpr, wallet_id, key)
    second = issue(app, cpr, wallet_id)
    page = client.get("/me/wallet")
    assert page.status_code == 200
    html = page.text
    listed = cards(html)
    assert [c["status"] for c in listed] == ["valid", "valid"]
    assert listed[0]["id"] > listed[1]["id"]  # the newer first
    assert html.count(WALLET_NAME) >= 2
    assert f">{key.thumbprint()[:8]}</code>" in html  # the device key, short
    assert "SD-JWT VC" in html
    # The attributes as the claim registry names them for the citizen.
    for label in ("Your place of birth", "Your nationalities", "Your date of birth"):
        assert label in html
    assert payload(first)["vct"] == payload(second)["vct"] == "urn:eudi:pid:1"
    assert 'href="/me/wallet/offer"' in html
    assert client.get("/me").text.count('href="/me/wallet"') == 1  # linked from /me


def test_the_page_needs_a_login(app, setup):
    assert app.test_client().get("/me/wallet").status_code == 302


def test_revoking_a_credential_sets_its_bit_and_is_in_the_access_log(app, client, setup):
    cpr, wallet_id = setup
    credential = issue(app, cpr, wallet_id)
    other = issue(app, cpr, wallet_id)
    ((credential_id, _),) = [(c["id"], c) for c in cards(client.get("/me/wallet").text)][1:]
    confirm = client.get(f"/me/wallet/{credential_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    done = client.post(f"/me/wallet/{credential_id}/revoke",
                       data={"csrf_token": csrf_token(confirm)})  # fmt: skip
    assert done.status_code == 303 and done.headers["Location"] == "/me/wallet"
    page = client.get("/me/wallet").text
    assert "The credential is revoked." in page
    assert [c["status"] for c in cards(page)] == ["valid", "revoked"]
    assert _status(client, credential)[0] == 1
    assert _status(client, other)[0] == 0  # the other one stays valid

    # The citizen's log: the revocation against the wallet, on its channel, read well.
    log = client.get("/api/me/access-log").json
    revocations = [e for e in log["entries"] if e["channel"] == "wallet_revocation"]
    assert len(revocations) == 1
    assert revocations[0]["service"] == {"client_id": wallet_id, "name": WALLET_NAME,
                                         "kind": "wallet"}  # fmt: skip
    assert "place_of_birth" in revocations[0]["attributes"]
    html = client.get("/me/access-log").text
    assert "Revoked in your wallet" in html and "Issued to your wallet" in html
    assert "Your digital identity wallet." in html
    assert "The revoked credential held" in html

    # Again (another tab): harmless, nothing more in the log.
    again = client.post(f"/me/wallet/{credential_id}/revoke",
                        data={"csrf_token": csrf_token(confirm)})  # fmt: skip
    assert again.status_code == 303
    assert "already revoked" in client.get("/me/wallet").text
    log = client.get("/api/me/access-log").json
    assert len([e for e in log["entries"] if e["channel"] == "wallet_revocation"]) == 1


def test_the_summary_counts_an_issuance_as_a_release_and_a_revocation_as_none(
    app,
    client,
    setup,
):
    cpr, wallet_id = setup
    issue(app, cpr, wallet_id)
    (credential_id,) = [c["id"] for c in cards(client.get("/me/wallet").text)]
    page = client.get(f"/me/wallet/{credential_id}/revoke")
    client.post(f"/me/wallet/{credential_id}/revoke", data={"csrf_token": csrf_token(page)})
    log = client.get("/api/me/access-log").json
    channels = sorted(e["channel"] for e in log["entries"])
    assert channels == ["wallet_issuance", "wallet_revocation"]
    summary = client.get("/api/me/access-log/summary").json
    assert summary["total"] == 1
    services = summary["services"]
    assert [(s["client_id"], s["kind"], s["releases"]) for s in services] == [
        (wallet_id, "wallet", 1)
    ]


def test_revoking_needs_the_csrf_token(app, client, setup):
    cpr, wallet_id = setup
    credential = issue(app, cpr, wallet_id)
    (credential_id,) = [c["id"] for c in cards(client.get("/me/wallet").text)]
    refused = client.post(f"/me/wallet/{credential_id}/revoke")
    assert refused.status_code == 400
    assert _status(client, credential)[0] == 0


def test_another_citizens_credential_is_not_found_and_not_revoked(app, client, setup, citizens):
    _, wallet_id = setup
    other_cpr = citizens.next_cpr()
    citizens.create(username=None, cpr=other_cpr, **PID_FIELDS)
    theirs = issue(app, other_cpr, wallet_id)
    with app.app_context():
        (their_id,) = db.session.scalars(db.select(CredentialStatus.id)).all()
    page = client.get("/me/wallet")
    assert cards(page.text) == []
    assert "No credential has been issued" in page.text
    page = client.get("/me/sessions")  # a page with a CSRF token
    assert client.get(f"/me/wallet/{their_id}/revoke").status_code == 404
    attempt = client.post(f"/me/wallet/{their_id}/revoke",
                          data={"csrf_token": csrf_token(page)})  # fmt: skip
    assert attempt.status_code == 404
    assert "<h1>" in attempt.text  # a page, not a bare error
    assert _status(client, theirs)[0] == 0
    assert client.post("/me/wallet/999999/revoke",
                       data={"csrf_token": csrf_token(page)}).status_code == 404  # fmt: skip


def test_a_credential_of_a_deleted_wallet_registration_is_revoked_without_a_log_entry(
    app,
    client,
    setup,
):
    cpr, wallet_id = setup
    credential = issue(app, cpr, wallet_id)
    with app.app_context():
        db.session.execute(db.text("UPDATE wallet_credential_status SET client_id = NULL"))
        db.session.commit()
    page = client.get("/me/wallet")
    assert "A wallet that is no longer registered" in page.text
    (credential_id,) = [c["id"] for c in cards(page.text)]
    page = client.get(f"/me/wallet/{credential_id}/revoke")
    client.post(f"/me/wallet/{credential_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert _status(client, credential)[0] == 1
    log = client.get("/api/me/access-log").json
    assert [e["channel"] for e in log["entries"]] == ["wallet_issuance"]


# --- Add to your wallet ---------------------------------------------------------------------


def test_a_citizen_who_cannot_reach_high_is_told_what_they_need(app, client, setup):
    """The app is this citizen's only second factor (Substantial): no step-up could reach
    High, so the page says what it takes instead of sending them round in a circle."""
    for refused in (
        client.get("/me/wallet/offer"),
        client.post(
            "/me/wallet/offer", data={"csrf_token": csrf_token(client.get("/me/sessions"))}
        ),
    ):
        assert refused.status_code == 403
        assert 'id="needs-high"' in refused.text and "passkey bound to one device" in refused.text
        assert "tx-code" not in refused.text


def _high_browser(app, citizens: CitizenActions, username: str, **fields):
    """A citizen proved by the activation letter whose first second factor is a passkey, which
    is then bound at High: the CPR number, and a browser logged in with the passkey."""
    cpr = citizens.next_cpr()
    browser, _passkey = citizen_at_high(app, citizens, username, cpr=cpr, pid_fields=False,
                                        **fields)  # fmt: skip
    return cpr, browser


def test_at_high_the_offer_is_shown_with_its_qr_code_link_and_transaction_code(app, citizens):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    cpr, browser = _high_browser(app, citizens, "sigrid", **PID_FIELDS)
    page = browser.get("/me/wallet/offer")
    assert page.status_code == 200
    shown = browser.post("/me/wallet/offer", data={"csrf_token": csrf_token(page)})
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    html = shown.text
    assert re.search(r'<img id="offer-qr" src="data:image/svg\+xml', html)
    link = re.search(r'<a id="offer-link" href="([^"]+)"', html).group(1)
    assert link.startswith("openid-credential-offer://?credential_offer=")
    offer = json.loads(unquote(link.split("credential_offer=", 1)[1]))
    grant = offer["grants"][offers.GRANT_TYPE]
    assert offer["credential_configuration_ids"] == [PID_SD_JWT]
    tx_code = re.search(r'id="tx-code"><span aria-hidden="true">(\d{6})</span>', html).group(1)
    assert "5 minutes" in html and "The wallet asks for this code" in html
    # The offer redeems as the lead's token endpoint will: once, to this citizen, at High.
    with app.app_context():
        citizen = citizen_registry.find_by_cpr(cpr)
        with pytest.raises(offers.WrongTxCode):
            offers.redeem(grant["pre-authorized_code"], "")
        redeemed = offers.redeem(grant["pre-authorized_code"], tx_code)
        assert redeemed.citizen_id == citizen.id
        assert redeemed.level.endswith("High")
        assert redeemed.configuration_ids == [PID_SD_JWT]
        with pytest.raises(offers.InvalidCode):
            offers.redeem(grant["pre-authorized_code"], tx_code)


def test_the_offer_form_needs_the_csrf_token(app, citizens):
    _, browser = _high_browser(app, citizens, "sigrid", **PID_FIELDS)
    assert browser.post("/me/wallet/offer").status_code == 400


def test_a_registry_record_without_place_of_birth_gets_no_offer(app, citizens):
    _, browser = _high_browser(app, citizens, "bodil")  # no place of birth, no nationality
    page = browser.get("/me/wallet/offer")
    assert page.status_code == 409
    assert 'id="needs-registry"' in page.text


def _enrol_app(browser) -> str:
    """Add an authenticator app from a fresh session: its secret, read off the page."""
    page = browser.get("/me/security/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1)
    secret = secret.replace(" ", "")
    done = browser.post("/me/security/totp", data={
        "csrf_token": csrf_token(page), "otp": pyotp.TOTP(secret).now(), "name": "Phone",
    })  # fmt: skip
    assert done.status_code in (302, 303), done.text
    return secret


def test_below_high_the_offer_is_sent_to_the_step_up(app, citizens):
    """A citizen who can reach High (a High passkey) but logged in with the app (Substantial):
    the offer page and its form both send them to prove High, and back to the offer page."""
    _, high = _high_browser(app, citizens, "sigrid", **PID_FIELDS)
    secret = _enrol_app(high)
    browser = app.test_client()
    answer = login(browser, "sigrid", PASSWORD)
    code = browser.get("/login/code")
    later = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used this step's code
    done = browser.post("/login/code", data={"csrf_token": csrf_token(code), "next": "/me",
                                             "otp": later})  # fmt: skip
    assert answer.status_code == 302 and done.status_code == 302, done.text
    asked = browser.get("/me/wallet/offer")
    assert asked.status_code == 303
    location = urlsplit(asked.headers["Location"])
    assert location.path == "/login/code"
    query = parse_qs(location.query)
    assert query["need"] == ["high"] and query["next"] == ["/me/wallet/offer"]
    page = browser.get("/me/sessions")
    made = browser.post("/me/wallet/offer", data={"csrf_token": csrf_token(page)})
    assert made.status_code == 303 and made.headers["Location"] == asked.headers["Location"]
    assert "tx-code" not in made.text


def test_the_pages_are_in_danish_too(app, client, setup):
    cpr, wallet_id = setup
    issue(app, cpr, wallet_id)
    client.get("/language/da", query_string={"next": "/me/wallet"})
    page = client.get("/me/wallet").text
    assert '<html lang="da">' in page
    assert "<h1>Din identitet i din identitetstegnebog</h1>" in page
    assert "Gyldigt" in page and "Tilbagekald" in page and "Dit fødested" in page
    refused = client.get("/me/wallet/offer").text
    assert "NSIS Høj" in refused
    log = client.get("/me/access-log").text
    assert "Udstedt til din identitetstegnebog" in log
    assert "Din digitale identitetstegnebog." in log


def test_an_expired_credential_reads_expired_and_has_nothing_to_revoke(app, client, setup):
    cpr, wallet_id = setup
    issue(app, cpr, wallet_id)
    with app.app_context():
        db.session.execute(
            db.text("UPDATE wallet_credential_status SET expires_at = :past"),
            {"past": "2020-01-01 00:00:00.000000"},
        )
        db.session.commit()
    page = client.get("/me/wallet").text
    (listed,) = cards(page)
    assert listed["status"] == "expired" and "Expired" in page
    assert f"/me/wallet/{listed['id']}/revoke" not in page
    # Its confirmation page leads back to the list: there is nothing to revoke.
    back = client.get(f"/me/wallet/{listed['id']}/revoke")
    assert back.status_code == 303 and back.headers["Location"] == "/me/wallet"


def test_two_revocations_at_once_ledger_once(app, client, setup):
    """The citizen's tab and the operator at the same moment: one revocation, one entry (the
    second waits on the row lock, then finds it revoked). PostgreSQL's row lock: SQLite,
    for development, serialises its writers instead and is not raced here."""
    import threading

    from idp.wallet import credentials

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the row lock is PostgreSQL's")
    cpr, wallet_id = setup
    issue(app, cpr, wallet_id)
    with app.app_context():
        citizen_id = citizen_registry.find_by_cpr(cpr).id
    start = threading.Barrier(4)
    won = []

    def revoke() -> None:
        with app.app_context():
            (issued,) = credentials.of_citizen(citizen_id)
            start.wait()
            won.append(credentials.revoke(issued))
            db.session.remove()

    threads = [threading.Thread(target=revoke) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]
    log = client.get("/api/me/access-log").json["entries"]
    assert [e["channel"] for e in log].count("wallet_revocation") == 1
