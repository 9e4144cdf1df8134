"""The ledger's group commit through HTTP: a release is answered only once its entry is
durable, concurrent releases are answered each with its own entry, and a release whose
entry cannot be recorded is refused without its data (consent/ledger/group_commit.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import sql
from tests.consent.test_authority_api import _authority, _service_token
from tests.consent.test_ledger import entries
from tests.faults.processes import wait_until
from tests.oidc.conftest import register

# What makes every new ledger entry fail, as a broken disk or a bad migration would.
REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_entries BEFORE INSERT ON ledger_entry "
        "BEGIN SELECT RAISE(ABORT, 'no new entries'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_entries() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'no new entries'; END $$",
        "CREATE TRIGGER refuse_entries BEFORE INSERT ON ledger_entry "
        "FOR EACH ROW EXECUTE FUNCTION refuse_entries()",
    ],
}
WAITING_INSERT = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO ledger_entry%'"
)
ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_entries"],
    "postgresql": [
        "DROP TRIGGER refuse_entries ON ledger_entry",
        "DROP FUNCTION refuse_entries()",
    ],
}


def _dialect(app) -> str:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()


def _userinfo(app, access_token: str):
    return app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture
def bank(app, oidc):
    return oidc(register(app))


@pytest.fixture
def tax(app, oidc):
    """An authority, the sub it learnt at Anna's login there, and its API token."""
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]
    return authority, sub, _service_token(app, authority, "attributes:read")


def test_a_release_whose_entry_cannot_be_recorded_is_refused_without_its_data(app, bank):
    tokens = bank.tokens()
    assert [e["channel"] for e in entries(app)] == ["login"]
    dialect = _dialect(app)
    for statement in REFUSE[dialect]:
        sql(app, statement)
    try:
        refused = _userinfo(app, tokens["access_token"])
    finally:
        for statement in ALLOW[dialect]:
            sql(app, statement)
    assert refused.status_code == 503
    assert refused.json["error"] == "temporarily_unavailable"
    assert "given_name" not in refused.text and "Retry-After" in refused.headers
    assert [e["channel"] for e in entries(app)] == ["login"]

    answered = _userinfo(app, tokens["access_token"])
    assert answered.status_code == 200 and answered.json["given_name"]
    assert [e["channel"] for e in entries(app)] == ["login", "userinfo"]


def test_concurrent_releases_are_answered_only_once_their_entries_are_durable(app, tax):
    """While the ledger's table is locked, the authority's concurrent reads queue and none
    is answered; once it is free each is answered, and each has its own entry."""
    if _dialect(app) != "postgresql":
        pytest.skip("the committer's thread is PostgreSQL's; SQLite writes in the request")
    _, sub, headers = tax
    releases = 6
    answers: list = []
    lock = threading.Lock()

    def release(n: int) -> None:
        answer = app.test_client().get(
            f"/api/citizens/{sub}/attributes?claims=given_name",
            headers={**headers, "X-Request-ID": f"concurrent-{n}"},
        )
        with lock:
            answers.append(answer)

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    url = url.render_as_string(hide_password=False)
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watch:
        holder.execute("LOCK TABLE ledger_entry IN SHARE MODE")  # inserts wait for it
        threads = [threading.Thread(target=release, args=(n,)) for n in range(releases)]
        for thread in threads:
            thread.start()
        wait_until(lambda: watch.execute(WAITING_INSERT).fetchone()[0] > 0, 30,
                   "the committer's INSERT waited for the lock")  # fmt: skip
        assert answers == []  # every release waits for its entry: nobody has an answer yet
        holder.rollback()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200] * releases
    ids = {e["request_id"] for e in entries(app) if e["channel"] == "attribute_api"}
    assert ids == {f"concurrent-{n}" for n in range(releases)}


def test_entries_of_every_kind_verify_everywhere(tmp_path, app, client, oidc):
    """A release's entry is written as a row by the committer, a reported lookup's as an ORM
    entry in the report's transaction: both commit to the same canonical content, so every
    one verifies in `flask ledger verify`, in the citizen's log (its proof) and with the
    standalone verifier, whatever it holds (a token's validity, a report's reference, a
    service's name outside ASCII)."""
    authority = _authority(app, name="Skattestyrelsen Ærø")
    flow = oidc(authority)
    tokens = flow.tokens()
    sub = flow.id_token(tokens)["sub"]
    assert _userinfo(app, tokens["access_token"]).status_code == 200
    headers = _service_token(app, authority, "attributes:read ledger:report")
    api = app.test_client()
    read = api.get(f"/api/citizens/{sub}/attributes?claims=given_name", headers=headers)
    assert read.status_code == 200
    report = {"sub": sub, "attributes": ["address"], "purpose": "Ejendomsskat på Ærø",
              "legal_basis": "public_task", "looked_up_at": "2026-11-01T09:30:00+01:00",
              "reference": "sag-4711"}  # fmt: skip
    assert api.post("/api/ledger/reports", headers=headers, json=report).status_code == 201
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0

    verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert json.loads(verified.stdout)["ok"] is True, verified.stdout
    key = client.get("/ledger/key").json["verifier_key"]
    contents = {}
    for entry in client.get("/api/me/access-log").json["entries"]:
        assert entry["verified"], entry
        proof = client.get(entry["proof"]).json
        document = tmp_path / f"{entry['channel']}.json"
        document.write_text(json.dumps(proof))
        checked = subprocess.run([sys.executable, "-m", "consent.verify", str(document), key],
                                 capture_output=True, text=True)  # fmt: skip
        assert checked.returncode == 0 and json.loads(checked.stdout)["ok"], checked.stdout
        contents[entry["channel"]] = json.loads(proof["content"])
    assert set(contents) == {"login", "userinfo", "attribute_api", "reported_lookup"}
    assert {content["client_name"] for content in contents.values()} == {"Skattestyrelsen Ærø"}
    assert "token_valid_until" in contents["userinfo"]
    assert contents["reported_lookup"]["reference"] == "sag-4711"


def _waiting_for_the_committer() -> int:
    """Threads of this process waiting for the committer to answer their entries."""
    return sum(
        frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("group_commit.py")
        for frame in sys._current_frames().values()
    )


def test_a_row_that_breaks_its_batch_fails_only_its_own_release(app, tax):
    """Six concurrent releases wait in one batch; one of them the database refuses (a check
    its row fails). That release is refused without its data; the five others are answered,
    each with its entry."""
    if _dialect(app) != "postgresql":
        pytest.skip("the committer's batches are PostgreSQL's; SQLite writes in the request")
    _, sub, headers = tax
    sql(app, "CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             "IF NEW.request_id = 'poisoned' THEN RAISE EXCEPTION 'refused' "
             "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$")  # fmt: skip
    sql(app, "CREATE TRIGGER refuse_poisoned BEFORE INSERT ON ledger_entry "
             "FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()")  # fmt: skip
    names = ["first", "a", "b", "poisoned", "c", "d"]
    answers: dict = {}

    def release(name: str) -> None:
        answers[name] = app.test_client().get(
            f"/api/citizens/{sub}/attributes?claims=given_name",
            headers={**headers, "X-Request-ID": name},
        )

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    url = url.render_as_string(hide_password=False)
    threads = [threading.Thread(target=release, args=(name,)) for name in names]
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watch:
        holder.execute("LOCK TABLE ledger_entry IN SHARE MODE")  # inserts wait for it
        threads[0].start()  # its batch (itself) waits for the lock; the others queue behind
        wait_until(lambda: watch.execute(WAITING_INSERT).fetchone()[0] > 0, 30,
                   "the committer's INSERT waited for the lock")  # fmt: skip
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: _waiting_for_the_committer() == len(names), 30,
                   "every release waited for the committer")  # fmt: skip
        holder.rollback()
    for thread in threads:
        thread.join()
    refused = answers.pop("poisoned")
    assert refused.status_code == 503 and "given_name" not in refused.text
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        answers, 200
    )
    ids = {e["request_id"] for e in entries(app) if e["channel"] == "attribute_api"}
    assert ids == set(answers)


def test_a_stopped_committer_gives_its_connection_back_and_still_records_releases(app, tax):
    """The committer keeps a connection of its own between batches (IDLE_SECONDS); stopped
    (an app that is done, as at the end of each test here), it lets go of it at once, so the
    engine's dispose closes it. A release after that is still recorded."""
    if _dialect(app) != "postgresql":
        pytest.skip("the committer's thread is PostgreSQL's; SQLite writes in the request")
    from consent.ledger import group_commit
    from idp.core.extensions import db

    _, sub, headers = tax
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    committers = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND query LIKE 'INSERT INTO ledger_entry%'"
    )

    def release(name: str) -> int:
        return (
            app.test_client()
            .get(
                f"/api/citizens/{sub}/attributes?claims=given_name",
                headers={**headers, "X-Request-ID": name},
            )
            .status_code
        )

    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as watch:
        assert release("before-the-stop") == 200
        assert watch.execute(committers).fetchone()[0] == 1  # held for the next batch
        group_commit.stop(app)
        with app.app_context():
            db.engine.dispose()
        wait_until(lambda: watch.execute(committers).fetchone()[0] == 0, 10,
                   "the committer's connection was closed")  # fmt: skip
        assert release("after-the-stop") == 200
    ids = {e["request_id"] for e in entries(app) if e["channel"] == "attribute_api"}
    assert {"before-the-stop", "after-the-stop"} <= ids
