"""Importing a population-register extract: idempotent by CPR, bad rows reported, never fatal."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.citizens.models import Citizen
from idp.core.extensions import db

HEADER = "cpr,given_name,family_name,birthdate,email,phone,street,postcode,city,municipality_code"
ROWS = [
    "010190-1235,Anna,Jensen,1990-01-01,anna@example.org,+45 12345678,Vesterbrogade 1,1620,"
    "København V,101",
    "0202851234,Bo,Nielsen,,,,,,,",
    "150700-4321,Carl,Holm,2000-07-15,,,,8000,Aarhus C,751",
]


def _import(runner, tmp_path, lines, name="extract.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    result = runner.invoke(args=["citizens", "import", str(path)])
    report = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result, report


def _names(app) -> dict[str, str]:
    with app.app_context():
        return {c.given_name: c.family_name for c in db.session.scalars(select(Citizen))}


def test_import_creates_then_is_idempotent(app, runner, tmp_path):
    result, report = _import(runner, tmp_path, [HEADER, *ROWS])
    assert result.exit_code == 0, result.output
    assert report == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0,
                      "rejected_rows": []}  # fmt: skip
    again, report = _import(runner, tmp_path, [HEADER, *ROWS])
    assert again.exit_code == 0
    assert report["created"] == 0 and report["unchanged"] == 3
    assert len(_names(app)) == 3


def test_a_changed_row_updates_the_citizen(app, runner, tmp_path):
    _import(runner, tmp_path, [HEADER, *ROWS])
    changed = ROWS[1].replace("Nielsen", "Nielsen-Holm")
    result, report = _import(runner, tmp_path, [HEADER, ROWS[0], changed, ROWS[2]])
    assert result.exit_code == 0
    assert report["updated"] == 1 and report["unchanged"] == 2
    assert _names(app)["Bo"] == "Nielsen-Holm"


def test_bad_rows_are_reported_and_good_rows_still_go_in(app, runner, tmp_path):
    lines = [
        HEADER,
        ROWS[0],
        "3102901234,Bad,Date,,,,,,,",  # line 3
        "0303901234,,NoGivenName,,,,,,,",  # line 4
        ROWS[1],
        "0404901234,Post,Code,,,,,DK-1,,",  # line 6
        "0505901234,Too,Many,,,,,,,,extra",  # line 7
        "0606901234,Bad,Birthdate,1990-06-07,,,,,,",  # line 8
        "0707901234,Bell\x07,Char,,,,,,,",  # line 9
        ROWS[2],
    ]
    result, report = _import(runner, tmp_path, lines)
    assert result.exit_code == 3  # done, but not everything went in
    assert report["created"] == 3
    rejected = {row["line"]: row for row in report["rejected_rows"]}
    assert set(rejected) == {3, 4, 6, 7, 8, 9}
    assert rejected[3]["field"] == "cpr"
    assert rejected[4]["field"] == "given_name"
    assert rejected[6]["field"] == "address.postcode"
    assert "more cells" in rejected[7]["reason"]
    assert rejected[8]["field"] == "birthdate"
    assert "control" in rejected[9]["reason"]
    assert set(_names(app)) == {"Anna", "Bo", "Carl"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("cpr,given_name", "missing column(s): family_name"),
        (HEADER + ",shoe_size", "unknown column(s): shoe_size"),
        ("", "missing column(s)"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(app, runner, tmp_path, header, message):
    result, _ = _import(runner, tmp_path, [header, ROWS[0]])
    assert result.exit_code != 0
    assert message in result.output
    assert _names(app) == {}


def test_a_file_that_is_not_utf8_is_refused(app, runner, tmp_path):
    result, _ = _import(runner, tmp_path, [HEADER, ROWS[0]], encoding="latin-1")
    assert result.exit_code != 0
    assert "not UTF-8" in result.output
    assert _names(app) == {}


def test_a_byte_order_mark_and_windows_line_ends_are_fine(app, runner, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *ROWS]) + "\r\n").encode())
    result = runner.invoke(args=["citizens", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 3


def test_a_missing_file_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(args=["citizens", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code != 0
    assert "nope.csv" in result.output
