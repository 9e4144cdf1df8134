"""The citizen's own account: my data with its sources, the JSON twins under /api/me (SSO
session or a token with scope `me`), and the export (GDPR Art. 15 and 20)."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from tests.conftest import csrf_token
from tests.oidc.conftest import Service, register


def test_my_page_shows_what_is_held_and_where_it_comes_from(client, oidc):
    page = client.get("/me")
    assert page.status_code == 200
    assert "The Civil Registration System (CPR)" in page.text
    assert "Vesterbrogade 1" in page.text and "anna@example.org" in page.text
    assert "Contact details delivered with the register extract" in page.text
    assert "-XXXX" in page.text  # the CPR number masked on the page


def test_the_json_twin_of_my_data_names_each_source(client, oidc):
    body = client.get("/api/me").json
    held = {a["name"]: a for a in body["attributes"]}
    assert held["given_name"]["value"] == "Anna" and held["given_name"]["source"] == "cpr_register"
    assert held["email"]["source"] == "contact_details"
    assert held["username"] == {**held["username"], "value": "anna", "source": "tillid"}
    assert held["cpr"]["value"].endswith("-XXXX")
    assert set(body["sources"]) == {"cpr_register", "contact_details", "tillid"}


def test_the_json_twins_need_a_login_and_answer_401_problems(client, citizens):
    for path in ("/api/me", "/api/me/consents", "/api/me/sessions", "/api/me/authenticators",
                 "/api/me/access-log"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.mimetype == "application/problem+json"
    citizens.create()
    page = client.get("/login")  # a password alone is Low: not enough
    client.post("/login", data={"csrf_token": csrf_token(page), "username": "anna",
                                "password": "correct horse battery"})  # fmt: skip
    assert client.get("/api/me").status_code == 401


def test_sessions_and_authenticators_have_json_twins(client, oidc):
    sessions = client.get("/api/me/sessions").json["sessions"]
    assert len(sessions) == 1 and sessions[0]["this_session"] is True
    assert sessions[0]["level"].endswith("/Substantial")
    authenticators = client.get("/api/me/authenticators").json["authenticators"]
    assert [a["kind"] for a in authenticators] == ["totp"]
    assert authenticators[0]["blocked"] is False


def test_export_as_json_holds_everything_including_the_access_log(app, client, oidc):
    bank = register(app)
    oidc(bank).tokens()
    response = client.get("/me/export.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="tillid-my-data.json"'
    assert "no-store" in response.headers["Cache-Control"]
    exported = response.json
    held = {a["name"]: a["value"] for a in exported["data"]["attributes"]}
    assert len(held["cpr"]) == 10  # the citizen's own export carries the full number
    assert {e["service"]["name"] for e in exported["access_log"]} == {"Nordbank"}
    assert exported["access_log"][0]["attributes"]
    assert [c["service"]["name"] for c in exported["consents"]] == ["Nordbank"]
    assert exported["authenticators"] and exported["sessions"]


def test_export_as_csv_files_defuses_spreadsheet_formulas(app, client, oidc):
    hostile = register(app, name='=HYPERLINK("https://evil.example","Click")')
    oidc(hostile).tokens()
    response = client.get("/me/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert set(archive.namelist()) == {"data.csv", "access_log.csv", "consents.csv",
                                       "authenticators.csv", "sessions.csv"}  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(archive.read("access_log.csv").decode("utf-8-sig"))))
    assert rows and all(row["service.name"].startswith("'=HYPERLINK") for row in rows)
    data = list(csv.DictReader(io.StringIO(archive.read("data.csv").decode("utf-8-sig"))))
    assert {"name": "given_name", "value": "Anna"}.items() <= data[1].items()


def test_export_needs_a_login(client):
    assert client.get("/me/export.json").status_code == 302
    assert client.get("/me/export.zip").status_code == 302


def _account_reader(app) -> Service:
    return register(app, name="Mit Overblik", scope="openid me")


def test_an_app_with_scope_me_reads_the_account_after_consent(app, client, oidc):
    reader = _account_reader(app)
    flow = oidc(reader)
    consent_page = flow.authorize()
    assert "To read your Tillid account" in consent_page.text
    token = flow.tokens()["access_token"]
    reading = app.test_client()  # the app's own server: no citizen cookie
    auth = {"Authorization": f"Bearer {token}"}
    mine = reading.get("/api/me", headers=auth)
    assert mine.status_code == 200 and mine.json["attributes"][1]["value"] == "Anna"
    assert reading.get("/api/me/access-log", headers=auth).status_code == 200
    consents = reading.get("/api/me/consents", headers=auth).json["consents"]
    assert consents[0]["attributes"] == [{"name": "tillid_account_read", "purpose": "To serve you"}]
    # Reading is all a token may do.
    refused = reading.delete(f"/api/me/consents/{reader.client_id}", headers=auth)
    assert refused.status_code == 403
    # The citizen withdraws on the portal: the same live token stops at once.
    page = client.get(f"/me/consents/{reader.client_id}/withdraw")  # asks first
    client.post(f"/me/consents/{reader.client_id}/withdraw", data={"csrf_token": csrf_token(page)})
    after = reading.get("/api/me", headers=auth)
    assert after.status_code == 403 and after.json["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in after.headers["WWW-Authenticate"]


def test_a_token_without_scope_me_or_without_a_citizen_reads_nothing(app, client, oidc):
    bank = register(app)
    token = oidc(bank).tokens()["access_token"]
    reading = app.test_client()
    no_scope = reading.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert no_scope.status_code == 403 and no_scope.json["error"] == "insufficient_scope"
    forged = reading.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401 and forged.json["error"] == "invalid_token"


def test_scope_me_is_always_by_consent(runner):
    explicit = json.dumps({"name": "X", "kind": "private_service", "scope": "openid me",
                           "redirect_uris": ["https://x.example/cb"],
                           "claims": {"tillid_account_read": {"legal_basis": "contract",
                                                              "purpose": "p"}}})  # fmt: skip
    result = runner.invoke(args=["clients", "create", "--from-file", "-"], input=explicit)
    assert result.exit_code != 0 and "needs their consent" in result.output
    implied = runner.invoke(args=["clients", "create", "--name", "Y", "--kind", "private_service",
                                  "--redirect-uri", "https://y.example/cb", "--scope",
                                  "openid profile me", "--legal-basis", "contract",
                                  "--purpose", "p"])  # fmt: skip
    assert implied.exit_code == 0, implied.output
    shown = runner.invoke(args=["clients", "show", json.loads(implied.output)["client_id"]])
    policies = json.loads(shown.output)["claims"]
    assert policies["tillid_account_read"]["legal_basis"] == "consent"
    assert policies["given_name"]["legal_basis"] == "contract"


def test_withdrawing_through_the_api_needs_the_csrf_token(app, client, oidc):
    bank = register(app)
    oidc(bank).tokens()
    without = client.delete(f"/api/me/consents/{bank.client_id}")
    assert without.status_code == 400
    token = csrf_token(client.get(f"/me/consents/{bank.client_id}/withdraw"))
    done = client.delete(f"/api/me/consents/{bank.client_id}", headers={"X-CSRFToken": token})
    assert done.status_code == 204
    assert client.get("/api/me/consents").json["consents"] == []
    again = client.delete(f"/api/me/consents/{bank.client_id}", headers={"X-CSRFToken": token})
    assert again.status_code == 404 and again.mimetype == "application/problem+json"
