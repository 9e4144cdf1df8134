"""CPR numbers: format, the date they encode, and the century rule of the seventh digit."""

import datetime as dt

import pytest

from idp.citizens import cpr

# The CPR office's table: the seventh digit (the first of the serial) and the two-digit
# year give the century. Each row is a boundary of the table.
CENTURIES = [
    ("0101000000", dt.date(1900, 1, 1)),  # 0–3: always 1900–1999
    ("3112993999", dt.date(1999, 12, 31)),
    ("0101004000", dt.date(2000, 1, 1)),  # 4 and 9: 00–36 is 2000–2036 …
    ("3112364999", dt.date(2036, 12, 31)),
    ("0101374000", dt.date(1937, 1, 1)),  # … 37–99 is 1937–1999
    ("3112994999", dt.date(1999, 12, 31)),
    ("0101009000", dt.date(2000, 1, 1)),
    ("3112369999", dt.date(2036, 12, 31)),
    ("0101379000", dt.date(1937, 1, 1)),
    ("3112999999", dt.date(1999, 12, 31)),
    ("0101005000", dt.date(2000, 1, 1)),  # 5–8: 00–57 is 2000–2057 …
    ("0101375000", dt.date(2037, 1, 1)),
    ("3112578999", dt.date(2057, 12, 31)),
    ("0101585000", dt.date(1858, 1, 1)),  # … 58–99 is 1858–1899
    ("3112998999", dt.date(1899, 12, 31)),
]


@pytest.mark.parametrize(("number", "born"), CENTURIES, ids=[n for n, _ in CENTURIES])
def test_the_seventh_digit_gives_the_century(number, born):
    assert cpr.birthdate(cpr.parse(number)) == born


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("0101901234", "0101901234"),
        ("010190-1234", "0101901234"),
        (" 010190-1234 ", "0101901234"),
        ("0101901234\n", "0101901234"),
    ],
)
def test_both_written_forms_give_the_same_canonical_number(written, canonical):
    assert cpr.parse(written) == canonical
    assert cpr.birthdate(canonical) == dt.date(1990, 1, 1)


@pytest.mark.parametrize(
    ("number", "born"),
    [
        ("2902004000", dt.date(2000, 2, 29)),  # 2000 was a leap year
        ("2902961234", dt.date(1996, 2, 29)),
        ("2902205000", dt.date(2020, 2, 29)),
    ],
)
def test_29_february_of_a_leap_year_is_a_date(number, born):
    assert cpr.birthdate(cpr.parse(number)) == born


def test_numbers_without_the_old_modulus_11_check_are_valid():
    # Since 2007 not every CPR number satisfies modulus 11; 0101901234 does not.
    weights = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1]
    assert sum(int(d) * w for d, w in zip("0101901234", weights, strict=True)) % 11 != 0
    assert cpr.parse("0101901234") == "0101901234"


@pytest.mark.parametrize(
    "number",
    [
        "3102901234",  # 31 February
        "3002011234",  # 30 February
        "3104901234",  # 31 April
        "2902011234",  # 29 February 1901, not a leap year
        "2902001234",  # 29 February 1900 (seventh digit 1): 1900 was no leap year
        "2902585000",  # 29 February 1858 (seventh digit 5, year 58): no leap year
        "0013901234",  # month 13
        "0100901234",  # month 0
        "3201901234",  # day 32
        "0001901234",  # day 0
    ],
)
def test_a_number_whose_first_six_digits_are_no_date_is_refused(number):
    with pytest.raises(cpr.InvalidCPR, match="date"):
        cpr.parse(number)


@pytest.mark.parametrize(
    "number",
    [
        "010190123",  # nine digits
        "01019012345",  # eleven digits
        "010190-123",
        "01019-01234",  # the dash in the wrong place
        "010190--1234",
        "010190_1234",
        "010190–1234",  # an en dash
        "0101 901234",
        "010190 1234",
        "O10190l234",  # letters that look like digits
        "+0101901234",
        "",
        "   ",
        "٠١٠١٩٠١٢٣٤",  # Arabic-Indic digits are digits to Python, not to the CPR office
        "０１０１９０１２３４",  # fullwidth digits, likewise
    ],
)
def test_a_badly_written_number_is_refused(number):
    with pytest.raises(cpr.InvalidCPR, match="10 digits"):
        cpr.parse(number)


def test_masked_form_hides_the_serial():
    assert cpr.masked("0101901234") == "010190-XXXX"
