"""A release at userinfo is ledgered once per access token: a repeat of it under the same
token (same client, attributes, purpose and legal basis) adds no entry, and the entry of the
first says, and commits to, until when the token was valid. Through HTTP and the CLI."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, text

from clients.models import ClaimPolicy
from consent import verify
from idp.core import crypto
from idp.core.extensions import db
from tests.conftest import csrf_token, sql
from tests.consent.test_ledger import as_list, cli
from tests.oidc.conftest import register
from tests.security.conftest import second_worker  # noqa: F401 (a fixture)


def userinfo_entries(app) -> list:
    return sql(app, "SELECT * FROM ledger_entry WHERE channel = 'userinfo' ORDER BY id")


def call(flow, tokens: dict):
    response = flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200, response.json
    return response.json


def expiry(tokens: dict) -> dt.datetime:
    return dt.datetime.fromtimestamp(crypto.unverified_jwt_part(tokens["access_token"], 1)["exp"],
                                     dt.UTC)  # fmt: skip


def as_utc(value) -> dt.datetime:
    """A timestamp as raw SQL returns it: text on SQLite, a datetime on PostgreSQL."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def test_a_repeat_under_the_same_token_adds_no_entry(app, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    first = call(bank, tokens)
    (entry,) = userinfo_entries(app)
    assert as_list(entry["attributes"]) == ["given_name", "family_name", "name", "age_over_18"]
    assert as_utc(entry["token_valid_until"]) == expiry(tokens)
    for _ in range(3):
        assert call(bank, tokens) == first  # the same answer, every time
    assert len(userinfo_entries(app)) == 1
    # The login's entry (an ID token, no access token) records no token.
    (login,) = sql(app, "SELECT token_valid_until FROM ledger_entry WHERE channel = 'login'")
    assert login["token_valid_until"] is None


def test_another_token_is_another_entry(app, oidc):
    bank = oidc(register(app))
    first = bank.tokens()
    call(bank, first)
    bank.new_nonce()
    second = bank.tokens()
    call(bank, second)
    call(bank, first)
    call(bank, second)
    entries = userinfo_entries(app)
    assert len(entries) == 2
    assert {as_utc(e["token_valid_until"]) for e in entries} <= {expiry(first), expiry(second)}


def test_a_worker_that_never_saw_the_token_learns_its_releases_from_the_store(
    app,
    oidc,
    second_worker,  # noqa: F811 (the fixture)
):
    """Another worker (its own process state, the same database and store) reads the marks
    of the token's releases with the token's record: a repeat there adds no entry, and a
    first release there (another token) is ledgered once, whichever worker repeats it."""
    bank = oidc(register(app))
    first = bank.tokens()
    answer = call(bank, first)
    other = second_worker.test_client()

    def call_there(tokens: dict):
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        response = other.get("/userinfo", headers=bearer)
        assert response.status_code == 200, response.json
        return response.json

    assert [call_there(first) for _ in range(2)] == [answer, answer]
    assert len(userinfo_entries(app)) == 1
    bank.new_nonce()
    second = bank.tokens()
    call_there(second)
    call_there(second)
    call(bank, second)
    assert len(userinfo_entries(app)) == 2


def _change_policy(app, client_id: str, claim: str, **changes) -> None:
    """What an operator's change to a registration does (through the ORM, so this process's
    registration cache drops it at once, as a change made by the app does)."""
    with app.app_context():
        named = (ClaimPolicy.client_id == client_id, ClaimPolicy.claim == claim)
        policy = db.session.scalar(select(ClaimPolicy).where(*named))
        if changes.pop("delete", False):
            db.session.delete(policy)
        for name, value in changes.items():
            setattr(policy, name, value)
        db.session.commit()


def test_changed_claims_purpose_or_basis_under_the_same_token_are_new_entries(app, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    client_id = bank.service.client_id
    call(bank, tokens)
    # Another purpose for one claim: that claim is now released for another reason.
    _change_policy(app, client_id, "age_over_18", purpose="To check your age")
    released = call(bank, tokens)
    assert "age_over_18" in released
    # Another legal basis for it (a contract): again another release.
    _change_policy(app, client_id, "age_over_18", legal_basis="contract")
    call(bank, tokens)
    # Fewer claims: the registration no longer names the name.
    _change_policy(app, client_id, "name", delete=True)
    assert "name" not in call(bank, tokens)
    call(bank, tokens)  # and a repeat of that adds nothing
    described = [(as_list(e["attributes"]), e["purpose"], e["legal_basis"])
                 for e in userinfo_entries(app)]  # fmt: skip
    assert described == [
        (["given_name", "family_name", "name", "age_over_18"], "To serve you", "consent"),
        (["given_name", "family_name", "name"], "To serve you", "consent"),
        (["age_over_18"], "To check your age", "consent"),
        (["age_over_18"], "To check your age", "contract"),
        (["given_name", "family_name"], "To serve you", "consent"),
    ]


def test_a_withdrawn_consent_takes_effect_at_once_and_releases_nothing(app, client, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    page = client.get(f"/me/consents/{bank.service.client_id}/withdraw")  # asks first
    withdrawn = client.post(f"/me/consents/{bank.service.client_id}/withdraw",
                            data={"csrf_token": csrf_token(page)})  # fmt: skip
    assert withdrawn.status_code in (302, 303)
    # The token still lives, but nothing released on consent leaves any more, so nothing
    # is ledgered: the mark of the earlier release does not stand in for the consent.
    assert set(call(bank, tokens)) == {"sub"}
    assert len(userinfo_entries(app)) == 1


def _refuse_ledger_writes(app) -> None:
    """The database refuses the next ledger entry, as a failing commit would: on PostgreSQL
    a trigger cancels it (as a statement timeout would), on SQLite the table is gone."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(
                "CREATE FUNCTION refuse_entry() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'refused' USING ERRCODE = 'query_canceled'; END $$"))  # fmt: skip
            db.session.execute(text("CREATE TRIGGER refuse_entry BEFORE INSERT ON ledger_entry "
                                    "FOR EACH ROW EXECUTE FUNCTION refuse_entry()"))  # fmt: skip
        else:
            db.session.execute(text("ALTER TABLE ledger_entry RENAME TO ledger_entry_away"))
        db.session.commit()


def _accept_ledger_writes(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP TRIGGER refuse_entry ON ledger_entry"))
            db.session.execute(text("DROP FUNCTION refuse_entry()"))
        else:
            db.session.execute(text("ALTER TABLE ledger_entry_away RENAME TO ledger_entry"))
        db.session.commit()


def test_a_first_release_whose_commit_fails_leaves_no_mark(app, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    _refuse_ledger_writes(app)
    failed = bank.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    _accept_ledger_writes(app)
    assert failed.status_code == 503 and failed.json["error"] == "temporarily_unavailable"
    assert userinfo_entries(app) == []
    # Nothing was remembered: the next call is the first release, and is ledgered.
    call(bank, tokens)
    assert len(userinfo_entries(app)) == 1
    call(bank, tokens)
    assert len(userinfo_entries(app)) == 1


def test_the_log_says_until_when_the_token_was_valid(app, client, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    listing = client.get("/api/me/access-log").json
    by_channel = {e["channel"]: e for e in listing["entries"]}
    valid_until = dt.datetime.fromisoformat(by_channel["userinfo"]["token_valid_until"])
    assert valid_until == expiry(tokens)
    assert by_channel["login"]["token_valid_until"] is None
    english = client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert english.count("Received with an access token valid until") == 1
    assert "When is a release written here?" in english and "is not written again" in english
    danish = client.get("/me/access-log", headers={"Accept-Language": "da"}).text
    assert danish.count("Modtaget med et adgangstoken, der var gyldigt til") == 1
    assert "Hvornår bliver en videregivelse skrevet her?" in danish
    exported = json.loads(client.get("/me/export.json").data)
    (exported_entry,) = [e for e in exported["access_log"] if e["channel"] == "userinfo"]
    assert exported_entry["token_valid_until"] == by_channel["userinfo"]["token_valid_until"]


def test_the_entry_commits_to_its_token_validity_and_old_entries_still_prove(app, client, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    key = client.get("/ledger/key").json["verifier_key"]
    name, public_key = verify.parse_verifier_key(key)
    contents = {}
    for entry in client.get("/api/me/access-log").json["entries"]:
        proof = client.get(entry["proof"]).json
        assert verify.check(proof, name, public_key) == [], entry["channel"]
        contents[entry["channel"]] = json.loads(proof["content"])
    # The login's entry is as every entry before migration 0016 was: no token in its content.
    assert "token_valid_until" not in contents["login"]
    assert dt.datetime.fromisoformat(contents["userinfo"]["token_valid_until"]) == expiry(tokens)
    code, report = cli(app, "verify")
    assert code == 0 and report["ok"]
    # Moving the validity in the database breaks the entry's commitment, and the audit says so.
    sql(app, "UPDATE ledger_entry SET token_valid_until = :later WHERE channel = 'userinfo'",
        later=expiry(tokens) + dt.timedelta(days=1))  # fmt: skip
    code, report = cli(app, "verify")
    assert code != 0 and not report["ok"]
    assert any("no longer matches its commitment" in p["problem"] for p in report["problems"])


def test_the_store_remembers_no_token_citizen_or_claim(app, oidc):
    """What is remembered of a release is keyed hashes only, kept until the token expires."""
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    jti = crypto.unverified_jwt_part(tokens["access_token"], 1)["jti"]
    with app.app_context():
        (citizen_id,) = db.session.scalars(text("SELECT id FROM citizen")).all()
        store = app.extensions["tillid_store"]
        prefix = app.extensions["tillid_store_prefix"]
        (key,) = store.keys(f"{prefix}ledgered:*")
        members = store.smembers(key)
        remaining = store.ttl(key)
    stored = b" ".join([key, *members]).decode()
    assert len(members) == 1
    for secret in (jti, citizen_id, "given_name", "To serve you", "consent"):
        assert secret not in stored
    assert 0 < remaining <= (expiry(tokens) - dt.datetime.now(dt.UTC)).total_seconds() + 1
