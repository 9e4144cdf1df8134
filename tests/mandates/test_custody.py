"""Custody from the population register: the import's `custody` column (on a child's row, the
parents with custody) makes custody mandates, whatever the order of the rows; the same
extract again changes nothing; a parent no longer listed loses custody; a parent not in the
register, a bad cell, an adult are refused or left out with reasons. And `citizens create
--custody-of`, and the demo's parent and child."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from idp.mandates.register import CUSTODY_ATTRIBUTES
from idp.mandates.service import coming_of_age
from tests.conftest import sql

HEADER = "cpr,given_name,family_name,street,postcode,city,custody"
METTE, LARS, STRANGER = "0101801234", "0202821234", "0303751234"
EMIL, SOFIE, KARL = "1203154321", "0506104321", "0101004321"  # 2015, 2010, 2000 (an adult)


def _row(cpr, given, family="Holm", custody=""):
    return f"{cpr},{given},{family},Vesterbrogade 1,1620,København V,{custody}"


PARENTS = [_row(METTE, "Mette"), _row(LARS, "Lars")]
# The children first: their parents come later in the file.
CHILDREN = [_row(EMIL, "Emil", custody=f"{METTE};{LARS}"), _row(SOFIE, "Sofie", custody=METTE)]


def _import(runner, tmp_path, lines, name="extract.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["citizens", "import", str(path)])
    report = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result, report


def _custodies(app, *, in_force=True) -> dict[tuple[str, str], dict]:
    """(child, parent) by given name -> the custody mandate's row."""
    rows = sql(app, """
        SELECT m.*, c.given_name AS child, p.given_name AS parent FROM mandate m
        JOIN citizen c ON c.id = m.principal_id JOIN citizen p ON p.id = m.agent_id
        WHERE m.origin = 'custody'""")  # fmt: skip
    return {(row["child"], row["parent"]): dict(row) for row in rows
            if not in_force or row["ended_at"] is None}  # fmt: skip


def test_parents_after_their_children_in_the_file_get_custody_of_them(app, runner, tmp_path):
    result, report = _import(runner, tmp_path, [*CHILDREN, *PARENTS])
    assert result.exit_code == 0, result.output
    assert report["created"] == 4 and report["rejected"] == 0
    assert report["custody"] == {"granted": 3, "kept": 0, "ended": 0, "adults": 0}
    custodies = _custodies(app)
    assert set(custodies) == {("Emil", "Mette"), ("Emil", "Lars"), ("Sofie", "Mette")}
    emil = custodies[("Emil", "Mette")]
    attributes = emil["attributes"]
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes
    assert attributes == list(CUSTODY_ATTRIBUTES)
    assert emil["accepted_at"] is not None  # in force at once, no acceptance needed
    assert emil["service_kind"] is None  # every service that accepts representation
    client_ids = emil["client_ids"]
    assert (json.loads(client_ids) if isinstance(client_ids, str) else client_ids) == []
    until = emil["valid_until"]
    until = dt.datetime.fromisoformat(str(until)) if not isinstance(until, dt.datetime) else until
    assert until.replace(tzinfo=None) == coming_of_age(dt.date(2015, 3, 12)).replace(tzinfo=None)


def test_the_same_extract_again_changes_nothing(app, runner, tmp_path):
    _import(runner, tmp_path, [*CHILDREN, *PARENTS])
    before = sql(app, "SELECT id FROM mandate ORDER BY id")
    result, report = _import(runner, tmp_path, [*PARENTS, *CHILDREN])
    assert result.exit_code == 0, result.output
    assert report["unchanged"] == 4
    assert report["custody"] == {"granted": 0, "kept": 3, "ended": 0, "adults": 0}
    assert sql(app, "SELECT id FROM mandate ORDER BY id") == before


def test_a_parent_no_longer_listed_loses_custody_ended_by_the_register(app, runner, tmp_path):
    _import(runner, tmp_path, [*CHILDREN, *PARENTS])
    later = [_row(EMIL, "Emil", custody=METTE), _row(SOFIE, "Sofie", custody="")]
    result, report = _import(runner, tmp_path, later, name="later.csv")
    assert result.exit_code == 0, result.output
    assert report["custody"] == {"granted": 0, "kept": 1, "ended": 2, "adults": 0}
    assert set(_custodies(app)) == {("Emil", "Mette")}
    ended = {key: row for key, row in _custodies(app, in_force=False).items()
             if row["ended_at"] is not None}  # fmt: skip
    assert set(ended) == {("Emil", "Lars"), ("Sofie", "Mette")}
    assert {row["ended_by"] for row in ended.values()} == {"register"}
    # Listed again in a still later extract: a new custody, the ended one stays ended.
    _, report = _import(runner, tmp_path, [*CHILDREN], name="again.csv")
    assert report["custody"]["granted"] == 2
    assert set(_custodies(app)) == {("Emil", "Mette"), ("Emil", "Lars"), ("Sofie", "Mette")}


def test_an_extract_without_the_column_or_the_child_leaves_custody_alone(app, runner, tmp_path):
    _import(runner, tmp_path, [*CHILDREN, *PARENTS])
    path = tmp_path / "old-format.csv"
    path.write_text("cpr,given_name,family_name\n" + f"{EMIL},Emil,Holm\n", encoding="utf-8")
    result = runner.invoke(args=["citizens", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "custody" not in json.loads(result.stdout)
    _, report = _import(runner, tmp_path, [_row(SOFIE, "Sofie", custody=METTE)], name="one.csv")
    assert report["custody"] == {"granted": 0, "kept": 1, "ended": 0, "adults": 0}
    assert len(_custodies(app)) == 3  # Emil is in neither file's custody column: untouched


def test_a_parent_not_in_the_register_is_a_rejected_custody_until_imported(app, runner, tmp_path):
    lines = [_row(EMIL, "Emil", custody=f"{METTE} {STRANGER}"), PARENTS[0]]
    result, report = _import(runner, tmp_path, lines)
    assert result.exit_code == 3  # done, but not everything went in
    assert report["created"] == 2  # the child's own data is in
    assert report["rejected_rows"] == [{
        "line": 2,
        "field": "custody",
        "reason": "parent 2 of 2 is not in the register: import the parent, then this row again",
    }]  # fmt: skip
    assert STRANGER not in result.stdout  # the report names no CPR number
    assert set(_custodies(app)) == {("Emil", "Mette")}  # the known parent has it
    _import(runner, tmp_path, [_row(STRANGER, "Stine")], name="parent.csv")
    result, report = _import(runner, tmp_path, lines, name="again.csv")
    assert result.exit_code == 0, result.output
    assert report["custody"] == {"granted": 1, "kept": 1, "ended": 0, "adults": 0}
    assert set(_custodies(app)) == {("Emil", "Mette"), ("Emil", "Stine")}


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("not-a-cpr", "must be the CPR numbers of the parents, separated by semicolons"),
        (f"{METTE},{LARS}", None),  # a comma is a new cell: more cells than columns
        ("3102801234", "must be the CPR numbers of the parents, separated by semicolons"),
        (EMIL, "names the person themselves"),
        ("120315-4321", "names the person themselves"),
    ],
)
def test_a_bad_custody_cell_rejects_the_row_and_the_rest_go_in(app, runner, tmp_path, cell, reason):
    result, report = _import(runner, tmp_path, [*PARENTS, _row(EMIL, "Emil", custody=cell)])
    assert result.exit_code == 3
    assert report["created"] == 2  # the parents
    (rejected,) = report["rejected_rows"]
    assert rejected["line"] == 4
    if reason is None:
        assert rejected["reason"] == "more cells than columns"
    else:
        assert rejected == {"line": 4, "field": "custody", "reason": reason}
    assert _custodies(app) == {}
    assert not sql(app, "SELECT id FROM citizen WHERE given_name = 'Emil'")


def test_a_child_of_18_or_more_gets_no_custody(app, runner, tmp_path):
    result, report = _import(runner, tmp_path, [*PARENTS, _row(KARL, "Karl", custody=METTE)])
    assert result.exit_code == 0, result.output
    assert report["created"] == 3
    assert report["custody"] == {"granted": 0, "kept": 0, "ended": 0, "adults": 1}
    assert _custodies(app, in_force=False) == {}


def test_the_custody_holds_at_every_service_that_accepts_representation(app, runner, tmp_path):
    from clients.models import Client
    from idp.citizens.service import find_by_cpr
    from idp.core.extensions import db
    from idp.mandates.service import in_force_at
    from tests.oidc.conftest import register

    _import(runner, tmp_path, [*CHILDREN, *PARENTS])
    tax = register(app, name="Skat", kind="public_authority", scope="openid profile",
                   legal_basis="public_task")  # fmt: skip
    bank = register(app)
    sql(app, "UPDATE client SET accepts_representation = :yes WHERE client_id = :id",
        yes=True, id=tax.client_id)  # fmt: skip
    with app.app_context():
        mette = find_by_cpr(METTE)
        at_tax = in_force_at(mette.id, db.session.get(Client, tax.client_id))
        at_bank = in_force_at(mette.id, db.session.get(Client, bank.client_id))
        assert sorted(principal.given_name for _, principal in at_tax) == ["Emil", "Sofie"]
        assert at_bank == []  # the bank did not register for representation


def test_citizens_create_custody_of_a_registered_child(app, runner, tmp_path):
    _import(runner, tmp_path, [_row(EMIL, "Emil"), _row(KARL, "Karl")])
    base = ["citizens", "create", "--given-name", "Mette", "--family-name", "Holm"]
    unknown = runner.invoke(args=[*base, "--cpr", METTE, "--custody-of", STRANGER])
    assert unknown.exit_code == 1
    assert "custody-of: no citizen with that CPR number is registered" in unknown.output
    adult = runner.invoke(args=[*base, "--cpr", METTE, "--custody-of", KARL])
    assert adult.exit_code == 1 and "18 or older" in adult.output
    bad = runner.invoke(args=[*base, "--cpr", METTE, "--custody-of", "12345"])
    assert bad.exit_code == 1 and "custody-of: a CPR number has 10 digits" in bad.output
    assert not sql(app, "SELECT id FROM citizen WHERE given_name = 'Mette'")  # nothing made
    created = runner.invoke(args=[*base, "--cpr", METTE, "--custody-of", EMIL])
    assert created.exit_code == 0, created.output
    (mandate_id,) = json.loads(created.stdout)["custody"]
    assert _custodies(app)[("Emil", "Mette")]["id"] == mandate_id
    # The register then lists her too: the same mandate is kept.
    _, report = _import(runner, tmp_path, [_row(EMIL, "Emil", custody=METTE)], name="x.csv")
    assert report["custody"]["kept"] == 1


def test_the_demo_parent_holds_custody_of_the_demo_child_and_the_tax_authority_accepts_it(
    app, runner
):
    from demo import citizens as demo
    from demo import registry

    for _ in range(2):  # loaded twice: the same child, the same one custody
        result = runner.invoke(args=["demo", "load", "--citizens", "0"])
        assert result.exit_code == 0, result.output
    loaded = json.loads(result.stdout)
    assert loaded["demo_child"] == {
        "name": "Emil Demo-Jensen", "cpr": demo.DEMO_CHILD_CPR, "custody": demo.DEMO_USERNAME,
    }  # fmt: skip
    (custody,) = _custodies(app, in_force=False).values()
    assert (custody["child"], custody["parent"], custody["ended_at"]) == ("Emil", "Ida", None)
    (tax,) = sql(app, "SELECT * FROM client WHERE name = :n", n=registry.TAX.name)
    assert tax["accepts_representation"] in (True, 1)
    claims = tax["representation_claims"]
    claims = json.loads(claims) if isinstance(claims, str) else claims
    assert claims == list(registry.TAX.representation_claims)
    (bank,) = sql(app, "SELECT * FROM client WHERE name = :n", n=registry.BANK.name)
    assert bank["accepts_representation"] in (False, 0)
