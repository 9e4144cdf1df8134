"""CPR numbers: format, the date they encode, and the century rule of the seventh digit."""

import datetime as dt

import pytest

from idp.citizens import cpr


@pytest.mark.parametrize(
    ("number", "born"),
    [
        ("0101901234", dt.date(1990, 1, 1)),
        ("010190-1234", dt.date(1990, 1, 1)),
        ("311299" + "3999", dt.date(1999, 12, 31)),
        ("010136" + "4000", dt.date(2036, 1, 1)),
        ("010137" + "4000", dt.date(1937, 1, 1)),
        ("010157" + "5000", dt.date(2057, 1, 1)),
        ("010158" + "8000", dt.date(1858, 1, 1)),
        ("290200" + "4000", dt.date(2000, 2, 29)),
        ("010136" + "9000", dt.date(2036, 1, 1)),
        ("010137" + "9000", dt.date(1937, 1, 1)),
        (" 0101901234 ", dt.date(1990, 1, 1)),
    ],
)
def test_a_valid_number_gives_its_birthdate(number, born):
    canonical = cpr.parse(number)
    assert len(canonical) == 10 and canonical.isdigit()
    assert cpr.birthdate(canonical) == born


def test_numbers_without_the_old_modulus_11_check_are_valid():
    # Since 2007 not every CPR number satisfies modulus 11; 0101901234 does not.
    weights = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1]
    assert sum(int(d) * w for d, w in zip("0101901234", weights, strict=True)) % 11 != 0
    assert cpr.parse("0101901234") == "0101901234"


@pytest.mark.parametrize(
    "number",
    [
        "3102901234",  # 31 February
        "2902011234",  # 29 February 1901, not a leap year
        "2902001234",  # 29 February 1900 (seventh digit 1): 1900 was no leap year
        "0013901234",  # month 13
        "0001901234",  # day 0
        "010190123",  # nine digits
        "01019012345",  # eleven digits
        "010190_1234",
        "0101 901234",
        "O10190l234",
        "",
        "٠١٠١٩٠١٢٣٤",  # Arabic-Indic digits are digits to Python, not to the CPR office
    ],
)
def test_invalid_numbers_are_refused(number):
    with pytest.raises(cpr.InvalidCPR):
        cpr.parse(number)


def test_masked_form_hides_the_serial():
    assert cpr.masked("0101901234") == "010190-XXXX"
