"""The PID rulebook's birth place and nationalities in the citizen registry: the register
import, `flask citizens create`, the demo data, and clear refusals of bad country codes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from demo import citizens as demo
from idp.citizens.models import Citizen
from idp.core.extensions import db
from tests.idp.test_registry import _import

HEADER = "cpr,given_name,family_name,birth_country,birth_region,birth_locality,nationalities"


def _pid_fields(app) -> dict[str, tuple]:
    with app.app_context():
        return {
            c.given_name: (c.place_of_birth, c.nationalities)
            for c in db.session.scalars(select(Citizen))
        }


def test_the_import_reads_birth_places_and_nationalities(app, runner, tmp_path):
    result, report = _import(runner, tmp_path, [
        HEADER,
        "0101901234,Anna,Jensen,dk,Region Hovedstaden,København,DK",
        "0202851234,Bo,Nielsen,SE,,Malmö,SE;DK",
        "0303801234,Carl,Holm,,,,",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert report["created"] == 3
    assert _pid_fields(app) == {
        "Anna": ({"country": "DK", "region": "Region Hovedstaden", "locality": "København"},
                 ["DK"]),
        "Bo": ({"country": "SE", "locality": "Malmö"}, ["SE", "DK"]),
        "Carl": ({}, []),  # the register had none: the PID will say so (IncompletePID)
    }  # fmt: skip


def test_a_changed_nationality_updates_the_citizen(app, runner, tmp_path):
    _import(runner, tmp_path, [HEADER, "0202851234,Bo,Nielsen,SE,,Malmö,SE"])
    result, report = _import(runner, tmp_path, [HEADER, "0202851234,Bo,Nielsen,SE,,Malmö,SE;DK"])
    assert report["updated"] == 1, result.output
    again, report = _import(runner, tmp_path, [HEADER, "0202851234,Bo,Nielsen,SE,,Malmö,SE DK"])
    assert report["unchanged"] == 1, again.output
    assert _pid_fields(app)["Bo"][1] == ["SE", "DK"]


def test_unknown_country_codes_are_rejected_rows_with_the_reason(app, runner, tmp_path):
    result, report = _import(runner, tmp_path, [
        HEADER,
        "0101901234,Anna,Jensen,XX,,,DK",  # line 2
        "0202851234,Bo,Nielsen,SE,,,SE;ZZ",  # line 3
        "0303801234,Carl,Holm,DNK,,,",  # line 4: alpha-3, not alpha-2
        "0404801234,Dora,Lund,DK,,,DK",
    ])  # fmt: skip
    assert result.exit_code == 3
    rejected = {row["line"]: row for row in report["rejected_rows"]}
    assert rejected[2]["field"] == "place_of_birth.country"
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in rejected[2]["reason"]
    assert rejected[3]["field"] == "nationalities" and "'ZZ'" in rejected[3]["reason"]
    assert rejected[4]["field"] == "place_of_birth.country"
    assert set(_pid_fields(app)) == {"Dora"}


def test_create_takes_birth_place_and_nationalities(app, runner):
    result = runner.invoke(args=[
        "citizens", "create", "--cpr", "0101901234", "--given-name", "Anna",
        "--family-name", "Jensen", "--birth-country", "de", "--birth-locality", "Flensburg",
        "--nationality", "DE", "--nationality", "dk",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _pid_fields(app)["Anna"] == ({"country": "DE", "locality": "Flensburg"}, ["DE", "DK"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--birth-country", "XK"], "birth_country: 'XK' is not an ISO 3166-1 alpha-2"),
        (["--nationality", "Danish"], "nationalities: 'Danish' is not an ISO 3166-1 alpha-2"),
        (["--birth-locality", "x" * 101], "birth_locality: is longer than 100 characters"),
        (["--birth-region", "Bell\x07"], "birth_region: contains control characters"),
    ],
)
def test_create_refuses_bad_pid_fields_clearly(app, runner, args, message):
    result = runner.invoke(args=[
        "citizens", "create", "--cpr", "0101901234", "--given-name", "Anna",
        "--family-name", "Jensen", *args,
    ])  # fmt: skip
    assert result.exit_code == 1
    assert message.replace("birth_country", "place_of_birth.country") in result.output
    assert "Traceback" not in result.output
    assert _pid_fields(app) == {}


def test_the_demo_citizens_have_what_a_pid_needs(app, runner):
    result = runner.invoke(args=["demo", "load", "--citizens", "12", "--seed", "7"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        people = {
            c.cpr: (c.place_of_birth, c.nationalities) for c in db.session.scalars(select(Citizen))
        }
    assert people.pop(demo.DEMO_CPR) == (
        {"country": "DK", "region": "Region Hovedstaden", "locality": "København"},
        ["DK"],
    )
    assert people.pop(demo.PENDING_DEMO_CPR) == ({}, [])  # a name and a CPR number only
    assert people.pop(demo.DEMO_CHILD_CPR) == (  # Ida's son, in her custody
        {"country": "DK", "region": "Region Hovedstaden", "locality": "København"},
        ["DK"],
    )
    assert len(people) == 12
    for place, nationalities in people.values():
        assert place["country"] and place["locality"] and nationalities
