"""The access ledger through HTTP and the CLI: every release is logged, the log is a signed
RFC 9162 Merkle tree, and tampering with it in the database is caught and named."""

from __future__ import annotations

import base64
import json
import time

import pytest
from sqlalchemy import text

from clients.claims import CPR_CLAIM
from consent import checkpoint, merkle
from consent.ledger import sequencer
from idp.core.extensions import db
from tests.conftest import CitizenActions, sql
from tests.oidc.conftest import TAX_REDIRECT, Flow, redirect_params, register


def as_list(value) -> list:
    """A JSON column as raw SQL returns it: text on SQLite, already parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def entries(app) -> list:
    return sql(app, "SELECT * FROM ledger_entry ORDER BY id")


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["ledger", *args])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def bank(app, oidc):
    return oidc(register(app))  # profile and age, on consent


@pytest.fixture
def tax(app, oidc):
    return oidc(
        register(
            app,
            name="Skattestyrelsen",
            kind="public_authority",
            redirect_uri=TAX_REDIRECT,
            scope="openid profile cpr",
            legal_basis="public_task",
        )
    )


def test_a_login_and_a_userinfo_call_each_leave_an_entry(app, client, bank):
    tokens = bank.tokens()
    (login,) = entries(app)
    assert login["channel"] == "login" and login["client_name"] == "Nordbank"
    attributes = as_list(login["attributes"])
    assert attributes == ["given_name", "family_name", "name", "age_over_18"]
    assert login["legal_basis"] == "consent" and login["purpose"] == "To serve you"
    assert login["request_id"] and login["leaf_index"] is None  # not integrated yet
    client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert [e["channel"] for e in entries(app)] == ["login", "userinfo"]


def test_the_cpr_number_release_is_logged_with_its_basis(app, tax):
    tax.tokens()
    (entry,) = entries(app)
    attributes = as_list(entry["attributes"])
    assert CPR_CLAIM in attributes and entry["legal_basis"] == "public_task"
    assert entry["client_kind"] == "public_authority"


def test_nothing_is_logged_when_nothing_is_released(app, bank):
    redirect_params(bank.decide(bank.authorize(), decision="deny"))
    bank.new_nonce()
    bank.tokens(scope="openid")  # only the pairwise sub: no attribute left Tillid
    assert entries(app) == []


def test_integrate_signs_a_checkpoint_anyone_can_check(app, client, bank):
    bank.tokens()
    code, printed = cli(app, "integrate")
    assert code == 0 and printed["integrated"] is True and printed["tree_size"] == 1
    note = client.get("/ledger/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    key = client.get("/ledger/key").json
    opened = checkpoint.open_note(note.text, key["name"], base64.b64decode(key["public_key"]))
    assert opened.tree_size == 1 and base64.b64encode(opened.root_hash).decode() == printed["root"]
    assert note.headers["Tillid-Ledger-Key"] == key["verifier_key"]
    forged = note.text.replace("\n1\n", "\n2\n", 1)
    with pytest.raises(checkpoint.BadNote):
        checkpoint.open_note(forged, key["name"], base64.b64decode(key["public_key"]))


def test_status_shows_what_waits_for_integration_and_fails_when_it_waits_too_long(app, bank):
    bank.tokens()
    code, status = cli(app, "status")
    assert code == 0 and status["pending"] == 1 and status["tree_size"] == 0
    assert status["checkpoint_at"] is None and status["oldest_pending_seconds"] < 60
    sql(app, "UPDATE ledger_entry SET released_at = released_at - interval '1 hour'"
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        else "UPDATE ledger_entry SET released_at = datetime(released_at, '-1 hour')")  # fmt: skip
    code, status = cli(app, "status", "--max-wait", "600")
    assert code == 1 and status["pending"] == 1 and status["oldest_pending_seconds"] >= 3600
    cli(app, "integrate")
    code, status = cli(app, "status", "--max-wait", "600")
    assert code == 0 and status["pending"] == 0 and status["oldest_pending_at"] is None
    assert status["tree_size"] == 1 and status["checkpoint_at"]


def test_checkpoints_are_consistent_and_the_proof_says_so(app, client, bank):
    bank.tokens()
    cli(app, "integrate")
    first = checkpoint_of(client)
    for _ in range(4):
        bank.new_nonce()
        bank.tokens()
    cli(app, "integrate")
    second = checkpoint_of(client)
    assert (first.tree_size, second.tree_size) == (1, 5)
    proof = client.get("/ledger/proof/consistency", query_string={"first": 1, "second": 5}).json
    hashes = [base64.b64decode(p) for p in proof["proof"]]
    assert merkle.verify_consistency(1, 5, first.root_hash, second.root_hash, hashes)
    assert not merkle.verify_consistency(1, 5, b"\x00" * 32, second.root_hash, hashes)


def checkpoint_of(client) -> checkpoint.Checkpoint:
    """The latest signed checkpoint, checked with the published key."""
    note = client.get("/ledger/checkpoint").text
    key = client.get("/ledger/key").json
    return checkpoint.open_note(note, key["name"], base64.b64decode(key["public_key"]))


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"first": "a", "second": "1"},
        {"first": 0, "second": 1},
        {"first": 2, "second": 1},
        {"first": 1, "second": 99},
        {"first": "²", "second": "1"},
        {"first": "1", "second": "9" * 40},
    ],
)
def test_a_bad_consistency_request_is_a_problem(app, client, bank, query):
    bank.tokens()
    cli(app, "integrate")
    response = client.get("/ledger/proof/consistency", query_string=query)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_nothing_logged_yet_is_404(client):
    response = client.get("/ledger/checkpoint")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_reading_the_checkpoint_integrates_nothing(app, client, bank):
    """A reader serves what the sequencer has signed: fetching the checkpoint leaves a new
    entry pending and the tree as it was, before the first checkpoint and after it."""
    bank.tokens()
    for _ in range(2):
        nothing_yet = client.get("/ledger/checkpoint")
        assert nothing_yet.status_code == 404 and nothing_yet.mimetype == "application/problem+json"
        assert nothing_yet.json["detail"] == "No checkpoint has been signed yet."
    status = cli(app, "status")[1]
    assert (status["tree_size"], status["pending"], status["checkpoint_at"]) == (0, 1, None)
    assert cli(app, "integrate")[1]["tree_size"] == 1
    bank.new_nonce()
    bank.tokens()
    for _ in range(2):
        assert checkpoint_of(client).tree_size == 1
    status = cli(app, "status")[1]
    assert (status["tree_size"], status["pending"]) == (1, 1)
    assert sql(app, "SELECT tree_size FROM ledger_checkpoint") == [{"tree_size": 1}]
    assert cli(app, "integrate")[1]["tree_size"] == 2
    assert checkpoint_of(client).tree_size == 2


# --- tampering, with raw SQL, is caught and named ---------------------------------------------


@pytest.fixture
def logged(app, bank):
    """Six entries (three logins, each with a userinfo call), integrated twice."""
    for round_ in range(3):
        bank.new_nonce()
        tokens = bank.tokens()
        bank.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        if round_ in (0, 2):
            assert cli(app, "integrate")[0] == 0
    code, report = cli(app, "verify")
    assert code == 0 and report["ok"] is True and report["tree_size"] == 6
    assert report["checkpoints"] == 2 and report["problems"] == []
    return [e["id"] for e in entries(app)]


def test_a_changed_entry_is_named(app, logged):
    sql(app, "UPDATE ledger_entry SET purpose = 'nothing to see' WHERE id = :id", id=logged[2])
    code, report = cli(app, "verify")
    assert code == 1 and report["ok"] is False
    changed = "its content no longer matches its commitment"
    assert {"entry": logged[2], "leaf_index": 2, "problem": changed} in report["problems"]


def test_a_deleted_entry_is_named_by_its_leaf(app, logged):
    sql(app, "DELETE FROM ledger_entry WHERE id = :id", id=logged[4])
    code, report = cli(app, "verify")
    assert code == 1
    assert {"leaf_index": 4, "problem": "the entry at this leaf is missing"} in report["problems"]


def test_reordered_entries_are_named(app, logged):
    a, b = logged[0], logged[1]
    sql(app, "UPDATE ledger_entry SET leaf_index = -1 WHERE id = :id", id=a)
    sql(app, "UPDATE ledger_entry SET leaf_index = 0 WHERE id = :id", id=b)
    sql(app, "UPDATE ledger_entry SET leaf_index = 1 WHERE id = :id", id=a)
    code, report = cli(app, "verify")
    assert code == 1
    named = {p.get("entry") for p in report["problems"]}
    assert {a, b} <= named
    assert any("no longer give the signed root" in p["problem"] for p in report["problems"])


def test_a_rewritten_commitment_still_breaks_the_signed_root(app, logged):
    """An attacker who recomputes the entry's commitment and the stored leaf node still
    cannot sign a new checkpoint."""
    sql(app, "UPDATE ledger_entry SET purpose = 'rewritten' WHERE id = :id", id=logged[0])
    with app.app_context():
        from consent.ledger import LedgerEntry

        entry = db.session.get(LedgerEntry, logged[0])
        entry.commitment = entry.committed()
        leaf_node = 'UPDATE merkle_node SET hash = :h WHERE level = 0 AND "index" = 0'
        db.session.execute(text(leaf_node), {"h": merkle.leaf_hash(entry.commitment)})
        db.session.commit()
    code, report = cli(app, "verify")
    assert code == 1
    assert any(p.get("checkpoint") and "signed root" in p["problem"] for p in report["problems"])


def test_a_tampered_checkpoint_note_is_caught(app, logged):
    sql(app, "UPDATE ledger_checkpoint SET note = REPLACE(note, '\n6\n', '\n7\n')")
    code, report = cli(app, "verify")
    assert code == 1
    assert any("bad signature" in p["problem"] for p in report["problems"])


# --- erasure ------------------------------------------------------------------------------


def test_erasure_drops_old_contents_but_the_log_still_verifies(app, client, logged):
    anna = entries(app)[0]["citizen_id"]
    kept = cli(app, "erase", "--citizen", anna)  # the default: five years
    assert kept == (0, {"erased": 0, "retention_days": 5 * 365})
    code, printed = cli(app, "erase", "--citizen", anna, "--retention-days", "0")
    assert code == 0 and printed["erased"] == 6
    rows = entries(app)
    assert all(r["purpose"] is None and r["salt"] is None and r["erased_at"] for r in rows)
    assert all(r["commitment"] for r in rows)
    code, report = cli(app, "verify")
    assert code == 0 and report["ok"] is True and report["tree_size"] == 6
    page = client.get("/me/access-log")
    assert page.text.count("were erased after the retention period") == 6
    assert "Verified: this entry is in Tillid" in page.text


def test_erase_refuses_an_unknown_citizen(app):
    result = app.test_cli_runner().invoke(args=["ledger", "erase", "--citizen", "nobody"])
    assert result.exit_code != 0 and "no citizen with this id" in result.output


def test_the_integrator_thread_signs_new_entries_on_its_own(make_app):
    app = make_app(LEDGER_INTEGRATE_SECONDS=1)
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    assert citizens.login().status_code == 302
    Flow(app, citizens.client, register(app, legal_basis="contract")).tokens()
    stop = sequencer.start_integrator(app)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not sql(app, "SELECT * FROM ledger_checkpoint"):
            time.sleep(0.2)
    finally:
        stop.set()
    (signed,) = sql(app, "SELECT tree_size FROM ledger_checkpoint")
    assert signed["tree_size"] == 1
