"""The citizen's access log: the page, its JSON twin, and proofs an outsider can check."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest

from consent import checkpoint, merkle, verify
from consent.ledger import proofs
from idp.core.extensions import db
from tests.conftest import CitizenActions, login, sibling_app, sql
from tests.oidc.conftest import TAX_REDIRECT, register


@pytest.fixture
def two_services(app, oidc):
    """Anna has logged in at a bank (consent) and at the tax authority (public task)."""
    bank = oidc(register(app))
    bank.tokens()
    tax = oidc(register(app, name="Skattestyrelsen", kind="public_authority",
                        redirect_uri=TAX_REDIRECT, scope="openid profile cpr",
                        legal_basis="public_task"))  # fmt: skip
    tax.tokens()
    return bank, tax


def integrate(app) -> None:
    """What the integrator does every LEDGER_INTEGRATE_SECONDS on a server."""
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0


def test_the_page_lists_each_release_newest_first_verified(app, client, two_services):
    integrate(app)
    page = client.get("/me/access-log")
    assert page.status_code == 200
    text = page.text
    assert text.index("<h2>Skattestyrelsen<") < text.index("<h2>Nordbank<"), "newest first"
    assert "Your CPR number" in text and "a task in the public interest" in text
    assert "Whether you are over 18" in text and "your consent" in text
    assert text.count("Verified: this entry is in Tillid") == 2


def test_the_page_filters_by_service_attribute_and_channel(client, two_services):
    _, tax = two_services
    only_tax = client.get("/me/access-log", query_string={"service": tax.service.client_id})
    assert "Skattestyrelsen" in only_tax.text and "2 entries" not in only_tax.text
    assert "<h2>Nordbank</h2>" not in only_tax.text
    by_claim = client.get("/me/access-log", query_string={"attribute": "age_over_18"})
    assert "<h2>Nordbank</h2>" in by_claim.text and "<h2>Skattestyrelsen</h2>" not in by_claim.text
    none = client.get("/me/access-log", query_string={"channel": "attribute_api"})
    assert "Nothing here yet." in none.text


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01"},
        {"page": "0"},
        {"page": "x"},
        {"page": "²"},
        {"page": "9" * 30},
        {"channel": "carrier-pigeon"},
        {"attribute": "shoe_size"},
    ],
)
def test_a_bad_filter_is_a_clear_400(client, two_services, query):
    assert client.get("/me/access-log", query_string=query).status_code == 400
    api = client.get("/api/me/access-log", query_string=query)
    assert api.status_code == 400 and api.mimetype == "application/problem+json"


def test_the_json_twin_and_a_proof_an_outsider_checks(tmp_path, app, client, two_services):
    integrate(app)
    listing = client.get("/api/me/access-log").json
    assert listing["total"] == 2 and all(e["verified"] for e in listing["entries"])
    newest = listing["entries"][0]
    assert newest["service"]["name"] == "Skattestyrelsen" and newest["channel"] == "login"
    proof = client.get(newest["proof"]).json
    assert json.loads(proof["content"])["client_name"] == "Skattestyrelsen"

    document = tmp_path / "proof.json"
    document.write_text(json.dumps(proof))
    checked = subprocess.run([sys.executable, "-m", "consent.verify", str(document),
                              proof["verifier_key"]], capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True

    forged = {**proof, "content": proof["content"].replace("public_task", "consent")}
    document.write_text(json.dumps(forged))
    checked = subprocess.run([sys.executable, "-m", "consent.verify", str(document),
                              proof["verifier_key"]], capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 1
    assert "does not match its leaf" in checked.stdout


def test_nobody_else_sees_my_entries_or_proofs(app, two_services):
    someone = CitizenActions(app, app.test_client())
    someone.create(username="bodil", given_name="Bodil", cpr="0101901999")
    assert someone.login("bodil").status_code == 302
    assert someone.client.get("/api/me/access-log").json["total"] == 0
    assert someone.client.get("/api/me/access-log/1/proof").status_code == 404
    huge = someone.client.get("/api/me/access-log/99999999999999999999/proof")
    assert huge.status_code == 404 and huge.mimetype == "application/problem+json"


def test_the_json_twin_needs_a_two_factor_session(app, citizens, two_services):
    stranger = app.test_client()
    response = stranger.get("/api/me/access-log")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert login(stranger, "anna", "correct horse battery").status_code == 302  # password only
    assert stranger.get("/api/me/access-log").status_code == 401


def test_a_pending_entry_shows_as_pending_and_its_proof_waits_for_the_integrator(app, client, oidc):
    """Reads never integrate: a new entry shows as pending on the page (in English and in
    Danish) and in its JSON twin, and its proof is a 409 however often it is asked for, until
    `flask ledger integrate` signs a checkpoint over it; then the proof verifies."""
    oidc(register(app)).tokens()
    english = client.get("/me/access-log")
    assert "Pending: not yet in the signed log." in english.text
    assert "Verified: this entry is in Tillid" not in english.text
    danish = client.get("/me/access-log", headers={"Accept-Language": "da"})
    assert "Afventer: endnu ikke i den signerede log." in danish.text
    (entry,) = client.get("/api/me/access-log").json["entries"]
    assert entry["pending"] is True and entry["verified"] is None
    details = {}
    for language in ("en", "da", "en"):
        waiting = client.get(entry["proof"], headers={"Accept-Language": language})
        assert waiting.status_code == 409 and waiting.mimetype == "application/problem+json"
        assert waiting.headers["Retry-After"] == str(app.config["LEDGER_INTEGRATE_SECONDS"])
        details[language] = waiting.json["detail"]
    assert "not yet in the signed log" in details["en"]
    assert "endnu ikke i den signerede log" in details["da"]
    # Nothing of the above wrote to the tree.
    assert sql(app, "SELECT leaf_index FROM ledger_entry") == [{"leaf_index": None}]
    assert sql(app, "SELECT count(*) AS n FROM ledger_checkpoint") == [{"n": 0}]

    integrate(app)
    (entry,) = client.get("/api/me/access-log").json["entries"]
    assert entry["pending"] is False and entry["verified"] is True
    page = client.get("/me/access-log").text
    assert "Verified: this entry is in Tillid" in page and "Pending:" not in page
    proof = client.get(entry["proof"])
    assert proof.status_code == 200
    name, key = verify.parse_verifier_key(proof.json["verifier_key"])
    assert verify.check(proof.json, name, key) == []


def test_an_entry_changed_after_it_was_signed_is_shown_as_not_verified(app, client, two_services):
    """Pending is only ever an entry without a leaf: a signed entry whose content no longer
    matches its leaf is named as failing its proof, not as waiting for one."""
    integrate(app)
    sql(app, "UPDATE ledger_entry SET purpose = 'rewritten' WHERE client_name = 'Nordbank'")
    entries = {e["service"]["name"]: e for e in client.get("/api/me/access-log").json["entries"]}
    assert entries["Nordbank"]["verified"] is False and entries["Nordbank"]["pending"] is False
    assert entries["Skattestyrelsen"]["verified"] is True
    page = client.get("/me/access-log").text
    assert page.count("Not verified: its proof does not hold against Tillid's signed log.") == 1
    assert "Pending:" not in page


def _proof_ids(page_text: str) -> list[int]:
    """The entries a log page lists, by the links to their proofs, in its order."""
    return [int(found) for found in re.findall(r"/api/me/access-log/([0-9]+)/proof", page_text)]


def test_proofs_hold_as_the_tree_grows_past_what_each_worker_keeps(
    app, client, oidc, citizens, monkeypatch
):
    """Each worker keeps the top levels of the tree in memory (consent/ledger/proofs.py):
    proofs from one that read the tree before it grew (new complete subtrees at the kept
    levels, the kept levels moving up as the tree doubles), and from another worker, and
    after an erasure, all verify with the standalone verifier, against every tree size."""
    monkeypatch.setattr(proofs, "UPPER_LEVELS", 2)  # tiny trees outgrow the kept levels
    bank = oidc(register(app))
    second = sibling_app(app)  # another worker: its own process state, the same database
    for known in ("tests.totp_secrets", "tests.totp_steps"):  # Anna's authenticator app
        second.extensions[known] = app.extensions[known]
    elsewhere = CitizenActions(second, second.test_client())
    assert elsewhere.login().status_code == 302
    roots: dict[int, bytes] = {}

    def every_proof_holds(browser, size: int) -> list[dict]:
        listing = browser.get("/api/me/access-log", query_string={"page": 1}).json
        assert listing.get("total") == size, listing
        assert all(e["verified"] for e in listing["entries"])
        page = browser.get("/me/access-log")
        assert _proof_ids(page.text) == [e["id"] for e in listing["entries"]]
        assert page.text.count("Verified: this entry is in Tillid") == size
        documents = [browser.get(e["proof"]).json for e in listing["entries"]]
        for document in documents:
            name, key = verify.parse_verifier_key(document["verifier_key"])
            assert document["tree_size"] == size and verify.check(document, name, key) == []
            roots[size] = checkpoint.open_note(document["checkpoint"], name, key).root_hash
        return documents

    size = 0
    for grown_to in (3, 4, 7, 9):
        while size < grown_to:
            bank.new_nonce()
            bank.tokens()  # a login: one entry
            size += 1
        integrate(app)
        for browser in (client, elsewhere.client):
            documents = every_proof_holds(browser, size)
    for first in roots:
        answer = client.get("/ledger/proof/consistency", query_string={"first": first,
                                                                       "second": size})  # fmt: skip
        proof = [base64.b64decode(p) for p in answer.json["proof"]]
        assert merkle.verify_consistency(first, size, roots[first], roots[size], proof)

    anna = json.loads(documents[0]["content"])["citizen_id"]
    erased = app.test_cli_runner().invoke(
        args=["ledger", "erase", "--citizen", anna, "--retention-days", "0"]
    )
    assert json.loads(erased.stdout)["erased"] == size
    for browser in (client, elsewhere.client):
        documents = every_proof_holds(browser, size)
        assert all(document["content"] is None for document in documents)
    with second.app_context():
        db.session.remove()
