"""Attacks on the citizen's portal and the authorities' API: reading another citizen's ledger
(IDOR), and stored HTML or SQL injection through every free-text field the portal shows.

Already tested elsewhere: a proof of an entry that is not yours (tests/consent/
test_access_log.py::test_nobody_else_sees_my_entries_or_proofs), a sub of another sector
at the attribute API (tests/consent/test_authority_api.py::
test_a_sub_never_given_to_this_sector_finds_nobody), reports only for the authority itself
(test_an_authority_reports_only_for_itself), another citizen's session or authenticator
(tests/idp/test_sessions.py::test_a_citizen_cannot_end_another_citizens_session,
tests/idp/test_second_factor.py::test_another_citizens_authenticator_is_not_found), another
citizen's phone request (tests/idp/test_phone_requests.py::
test_a_request_is_answered_once_and_only_by_its_citizens_phone)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import CitizenActions, csrf_token, login, sql
from tests.oidc.conftest import Flow, Service, register
from tests.security.conftest import SoftAuthenticator, pair_phone, register_passkey

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE_BREAK = '"><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE citizen; --"
TEMPLATE = "{{ 7*7 }}{% print 1 %}"
# What must never appear in a page as it was typed (a browser would run it) ...
RAW = ["<script>alert(1)", "<img src=x onerror", '"><img']
# ... and what shows it was rendered, escaped (and template syntax shown, not evaluated).
ESCAPED = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
           "&#39;; DROP TABLE citizen; --", "{{ 7*7 }}"]  # fmt: skip
TAX_REDIRECT = "https://skat.example/callback"
CIBA = "urn:openid:params:grant-type:ciba"


def _authority(app, *, name: str, purpose: str, redirect_uri: str = TAX_REDIRECT) -> Service:
    scope = "openid profile attributes:read ledger:report"
    spec = {"name": name, "kind": "public_authority", "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "client_credentials", CIBA], "scope": scope,
            "legal_basis": "public_task", "purpose": purpose}  # fmt: skip
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", "-"],
                                          input=json.dumps(spec))  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return Service(created["client_id"], created["client_secret"], redirect_uri, scope)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _service_token(client, service: Service, scope: str) -> dict:
    response = client.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                           auth=(service.client_id, service.client_secret))  # fmt: skip
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


# --- stored HTML and SQL injection ---------------------------------------------------------------


@pytest.fixture
def poisoned(app, client, citizens):
    """Anna's account, with a payload in every free-text field that reaches the portal: her
    names and address (from the register), a service's name and purpose, an authority's
    reported purpose and reference and its CIBA binding message, her authenticators' and
    phone's names, a device's user agent."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    address = {"street": ATTRIBUTE_BREAK, "postcode": "1620", "city": TEMPLATE}
    citizens.create(username="anna", given_name=SCRIPT, family_name=SQL,
                    address_json=json.dumps(address))  # fmt: skip
    assert citizens.login().status_code == 302
    pages = {}

    bank = register(app, name=f"{SCRIPT} Bank", redirect_uri="https://bank.example/callback",
                    extra=["--post-logout-redirect-uri", "https://bank.example/bye"])  # fmt: skip
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", f"{ATTRIBUTE_BREAK} Shop", "--kind", "private_service",
        "--redirect-uri", "https://shop.example/cb", "--scope", "openid profile age",
        "--legal-basis", "consent", "--purpose", f"{SCRIPT} {SQL} {TEMPLATE}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    shop = Service(created["client_id"], created["client_secret"], "https://shop.example/cb",
                   "openid profile age")  # fmt: skip

    shop_flow = Flow(app, client, shop)
    pages["consent page"] = shop_flow.authorize()
    shop_flow.tokens()
    bank_flow = Flow(app, client, bank)
    bank_tokens = bank_flow.tokens()

    tax = _authority(app, name=f"{TEMPLATE} Skat", purpose=ATTRIBUTE_BREAK)
    tax_flow = Flow(app, client, tax)
    pages["notice page"] = tax_flow.authorize()
    sub = tax_flow.id_token(tax_flow.tokens())["sub"]
    reporter = _service_token(client, tax, "ledger:report")
    report = client.post("/api/ledger/reports", headers=reporter,
                         json={"sub": sub, "attributes": ["given_name"], "purpose": SCRIPT,
                               "legal_basis": "public_task", "reference": SQL,
                               "looked_up_at": _now()})  # fmt: skip
    assert report.status_code in (200, 201), report.json

    authenticator = client.get("/api/me/authenticators").json["authenticators"][0]["id"]
    page = client.get("/me/security")
    renamed = client.post(f"/me/security/{authenticator}/rename",
                          data={"csrf_token": csrf_token(page), "name": SCRIPT})  # fmt: skip
    assert renamed.status_code == 303
    pages["flash after rename"] = client.get("/me/security")
    register_passkey(client, SoftAuthenticator(), name=ATTRIBUTE_BREAK)
    phone = pair_phone(app, client, SoftAuthenticator(), name=TEMPLATE + SQL)

    elsewhere = CitizenActions(app, app.test_client())
    elsewhere.client.environ_base["HTTP_USER_AGENT"] = f"Mozilla/5.0 {SCRIPT}"
    assert elsewhere.login().status_code == 302

    pages["logout page for a service"] = client.get("/logout?" + urlencode({
        "id_token_hint": bank_tokens["id_token"],
        "post_logout_redirect_uri": "https://bank.example/bye"}))  # fmt: skip
    for path in ("/me", "/me/access-log", "/me/consents", "/me/security", "/me/sessions"):
        pages[path] = client.get(path)
    # A service's binding message, shown on the phone with the request it comes with.
    asked = client.post("/bc-authorize", auth=(tax.client_id, tax.client_secret), data={
        "login_hint": sub, "scope": "openid profile", "binding_message": SCRIPT})  # fmt: skip
    assert asked.status_code == 200, asked.json
    pages["phone app"] = phone.get("/app")
    return pages


def test_attack_stored_html_injection_in_every_portal_field(poisoned):
    for name, page in poisoned.items():
        assert page.status_code == 200, name
        for raw in RAW:
            assert raw not in page.text, (name, raw)
    everything = "".join(page.text for page in poisoned.values())
    for escaped in ESCAPED:
        assert escaped in everything, escaped  # shown, escaped: neither dropped nor run
    assert ESCAPED[0] in poisoned["phone app"].text  # the binding message


def test_attack_stored_sql_injection_leaves_the_data_intact(app, client, poisoned):
    assert sql(app, "SELECT count(*) AS n FROM citizen")[0]["n"] == 1  # the table, and Anna
    data = client.get("/api/me").json
    values = {item["name"]: item["value"] for item in data["attributes"]}
    assert values["given_name"] == SCRIPT and values["family_name"] == SQL
    assert values["street"] == ATTRIBUTE_BREAK and values["city"] == TEMPLATE
    names = {a["name"] for a in client.get("/api/me/authenticators").json["authenticators"]}
    assert {SCRIPT, ATTRIBUTE_BREAK, TEMPLATE + SQL} <= names
    log = client.get("/api/me/access-log").json["entries"]
    assert SCRIPT in {entry["purpose"] for entry in log}
    assert f"{ATTRIBUTE_BREAK} Shop" in {entry["service"]["name"] for entry in log}
    export = client.get("/me/export.json")
    assert SQL in export.text and export.mimetype == "application/json"
    with zipfile.ZipFile(io.BytesIO(client.get("/me/export.zip").data)) as archive:
        csv_text = "".join(archive.read(n).decode() for n in archive.namelist())
    assert "DROP TABLE citizen" in csv_text


# --- IDOR: another citizen's ledger ---------------------------------------------------------------


@pytest.fixture
def anna_and_bodil(app, client, oidc):
    """Anna with releases in her log; Bodil, logged in with two factors, in another browser."""
    bank = register(app)
    oidc(bank).tokens()
    ids = [entry["id"] for entry in client.get("/api/me/access-log").json["entries"]]
    assert ids
    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", family_name="Holm", cpr="0101901999")
    assert bodil.login("bodil").status_code == 302
    return bank, ids, bodil


def _entry_routes(app):
    return [rule for rule in app.url_map.iter_rules() if "entry_id" in rule.arguments]


def test_attack_idor_on_every_ledger_entry_route(app, anna_and_bodil):
    """Every route that names a ledger entry by id answers Bodil 404 for each of Anna's."""
    _, ids, bodil = anna_and_bodil
    routes = _entry_routes(app)
    assert routes
    adapter = app.url_map.bind("localhost")
    for rule in routes:
        for entry_id in ids:
            url = adapter.build(rule.endpoint, {"entry_id": entry_id})
            answer = bodil.client.get(url)
            assert answer.status_code == 404, url
            assert "Anna" not in answer.text and "Nordbank" not in answer.text, url


def test_attack_idor_through_the_listings_and_their_filters(app, client, anna_and_bodil):
    """Filters name Anna's service and entries; Bodil's listings and exports still hold only
    Bodil's own."""
    bank, _, bodil = anna_and_bodil
    lists = {
        "page": bodil.client.get("/me/access-log", query_string={"service": bank.client_id}),
        "json": bodil.client.get("/api/me/access-log", query_string={"service": bank.client_id}),
        "export": bodil.client.get("/me/export.json"),
        "consents": bodil.client.get("/api/me/consents"),
        "me": bodil.client.get("/api/me"),
    }
    for name, answer in lists.items():
        assert answer.status_code == 200, name
        assert "Anna" not in answer.text and "Nordbank" not in answer.text, name
    assert lists["json"].json["total"] == 0
    with zipfile.ZipFile(io.BytesIO(bodil.client.get("/me/export.zip").data)) as archive:
        assert not any(b"Nordbank" in archive.read(n) for n in archive.namelist())


def test_attack_idor_with_an_app_token_of_another_citizen(app, client, anna_and_bodil):
    """An app Bodil allowed to read her account gets Bodil's log, never Anna's entries."""
    _, ids, bodil = anna_and_bodil
    reader = register(app, name="Mit Overblik", redirect_uri="https://app.example/cb",
                      scope="openid me")  # fmt: skip
    token = Flow(app, bodil.client, reader).tokens()["access_token"]
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    listed = api.get("/api/me/access-log", headers=auth)
    assert listed.status_code == 200
    assert not set(ids) & {entry["id"] for entry in listed.json["entries"]}
    for entry_id in ids:
        assert api.get(f"/api/me/access-log/{entry_id}/proof", headers=auth).status_code == 404


def test_attack_idor_withdrawing_another_citizens_consent(app, client, anna_and_bodil):
    bank, _, bodil = anna_and_bodil
    token = csrf_token(bodil.client.get("/me/security"))
    by_api = bodil.client.delete(f"/api/me/consents/{bank.client_id}",
                                 headers={"X-CSRFToken": token})  # fmt: skip
    assert by_api.status_code == 404
    by_form = bodil.client.post(f"/me/consents/{bank.client_id}/withdraw",
                                data={"csrf_token": token})  # fmt: skip
    assert by_form.status_code in (302, 404)
    consents = client.get("/api/me/consents").json["consents"]
    assert [c["service"]["client_id"] for c in consents] == [bank.client_id]


def test_attack_idor_one_authority_reads_a_citizen_by_another_authoritys_sub(app, client, oidc):
    """Two authorities, two sectors: the sub one of them learnt is no key at the other."""
    skat = _authority(app, name="Skattestyrelsen", purpose="Tax")
    kommune = _authority(app, name="Kommunen", purpose="Housing",
                         redirect_uri="https://kommune.example/cb")  # fmt: skip
    skat_flow, kommune_flow = oidc(skat), oidc(kommune)
    skat_sub = skat_flow.id_token(skat_flow.tokens())["sub"]
    kommune_sub = kommune_flow.id_token(kommune_flow.tokens())["sub"]
    headers = _service_token(client, kommune, "attributes:read ledger:report")
    api = app.test_client()
    own = api.get(f"/api/citizens/{kommune_sub}/attributes?claims=given_name", headers=headers)
    assert own.status_code == 200  # the control
    other = api.get(f"/api/citizens/{skat_sub}/attributes?claims=given_name", headers=headers)
    assert other.status_code == 404 and "Anna" not in other.text
    report = api.post("/api/ledger/reports", headers=headers, json={
        "sub": skat_sub, "attributes": ["given_name"], "purpose": "x",
        "legal_basis": "public_task", "looked_up_at": _now()})  # fmt: skip
    assert report.status_code == 404


# --- SQL injection in lookups and filters ---------------------------------------------------

SQL_PROBES = ["' OR '1'='1", "1 OR 1=1", "'; DROP TABLE ledger_entry; --", "%' --", "\\'"]


@pytest.mark.parametrize("probe", SQL_PROBES)
def test_attack_sql_injection_in_filters_and_lookups(app, client, anna_and_bodil, probe):
    _, ids, bodil = anna_and_bodil
    for field in ("service", "attribute", "channel", "from", "to", "page"):
        page = bodil.client.get("/me/access-log", query_string={field: probe})
        assert page.status_code in (200, 400), field
        assert "Nordbank" not in page.text, field
        listed = bodil.client.get("/api/me/access-log", query_string={field: probe})
        assert listed.status_code in (200, 400), field
        if listed.status_code == 200:
            assert listed.json["total"] == 0, field
    token = csrf_token(bodil.client.get("/me/security"))
    withdrawn = bodil.client.delete("/api/me/consents/" + quote(probe, safe=""),
                                    headers={"X-CSRFToken": token})  # fmt: skip
    assert withdrawn.status_code == 404
    assert login(app.test_client(), probe, probe).status_code in (400, 401)
    assert len(client.get("/api/me/access-log").json["entries"]) == len(ids)  # intact
    assert sql(app, "SELECT count(*) AS n FROM citizen")[0]["n"] == 2


def test_attack_idor_an_authority_reads_another_authoritys_report_by_its_reference(
    app, client, oidc
):
    """A report with a `reference` an authority has used returns that entry (a safe retry):
    another authority naming the same reference gets an entry of its own, never the first's."""
    skat = _authority(app, name="Skattestyrelsen", purpose="Tax")
    kommune = _authority(app, name="Kommunen", purpose="Housing",
                         redirect_uri="https://kommune.example/cb")  # fmt: skip
    subs = {}
    for service in (skat, kommune):
        flow = oidc(service)
        subs[service.client_id] = flow.id_token(flow.tokens())["sub"]
    api = app.test_client()
    reports = {}
    for service, purpose in ((skat, "Skat's own secret purpose"), (kommune, "Housing benefit")):
        headers = _service_token(client, service, "ledger:report")
        report = {"sub": subs[service.client_id], "attributes": ["given_name"],
                  "purpose": purpose, "legal_basis": "public_task", "looked_up_at": _now(),
                  "reference": "case-1"}  # fmt: skip
        reports[service.client_id] = api.post("/api/ledger/reports", headers=headers, json=report)
    first, second = reports[skat.client_id], reports[kommune.client_id]
    assert first.status_code == 201 and second.status_code == 201, second.json
    assert second.json["entry_id"] != first.json["entry_id"]
    assert "secret" not in second.text


def test_attack_idor_the_public_ledger_endpoints_carry_no_entry_bodies(app, client, anna_and_bodil):
    """Checkpoints and consistency proofs are for anyone: hashes and signatures only."""
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    stranger = app.test_client()
    checkpoint = stranger.get("/ledger/checkpoint")
    assert checkpoint.status_code == 200
    size = int(checkpoint.text.splitlines()[1])  # a C2SP note: origin, tree size, root hash
    proof = stranger.get("/ledger/proof/consistency", query_string={"first": 1, "second": size})
    answers = [checkpoint, stranger.get("/ledger/key"), proof]
    for answer in answers:
        assert answer.status_code == 200, answer.request.path
        for private in ("Anna", "Jensen", "Nordbank", "To serve you", "given_name"):
            assert private not in answer.text, (answer.request.path, private)
