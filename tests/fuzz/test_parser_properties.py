"""The input parsers, for any input: CPR numbers (idp/citizens/cpr.py), the `claims`
request parameter (idp/oidc/claims_request.py), REDIS_URL (idp/core/config.py) and the operator
CLI's options. Each reads what it should and refuses everything else with its own clear
error, never another exception."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clients.claims import CITIZEN_CLAIMS
from idp.citizens import cpr
from idp.core import config
from idp.oidc import claims_request
from tests.fuzz.conftest import budget

# --- CPR numbers -----------------------------------------------------------------------

# The CPR office's table, written as the years each seventh digit can stand for.
YEARS_OF_SEVENTH_DIGIT = {
    **{digit: [range(1900, 2000)] for digit in (0, 1, 2, 3)},
    **{digit: [range(2000, 2037), range(1937, 2000)] for digit in (4, 9)},
    **{digit: [range(2000, 2058), range(1858, 1900)] for digit in (5, 6, 7, 8)},
}


def full_year(seventh_digit: int, two_digit_year: int) -> int:
    (year,) = [
        year
        for years in YEARS_OF_SEVENTH_DIGIT[seventh_digit]
        for year in years
        if year % 100 == two_digit_year
    ]
    return year


@st.composite
def cpr_numbers(draw):
    """A real CPR number: a date of birth in the table's range and a serial whose seventh
    digit can stand for that year."""
    born = draw(st.dates(min_value=dt.date(1858, 1, 1), max_value=dt.date(2057, 12, 31)))
    digits = [
        d for d, spans in YEARS_OF_SEVENTH_DIGIT.items() if any(born.year in s for s in spans)
    ]
    serial = f"{draw(st.sampled_from(digits))}{draw(st.integers(0, 999)):03d}"
    return born, f"{born:%d%m%y}{serial}"


blank = st.sampled_from(["", " ", "\t", "\n", " \u00a0"])


@settings(max_examples=budget(80))
@given(cpr_numbers(), st.booleans(), blank, blank)
def test_a_real_cpr_number_parses_with_or_without_the_dash(number, dash, before, after):
    born, canonical = number
    written = f"{canonical[:6]}-{canonical[6:]}" if dash else canonical
    assert cpr.parse(before + written + after) == canonical
    assert cpr.birthdate(canonical) == born
    assert cpr.masked(canonical) == f"{canonical[:6]}-XXXX"


@settings(max_examples=budget(80))
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
@example("2902004000")  # 29 February 2000 (a leap year)
@example("2902001234")  # 29 February 1900 (not one)
@example("0101585000")  # 1858, the earliest year there is
def test_ten_digits_are_a_cpr_number_exactly_when_they_hold_a_real_date(digits):
    day, month, year = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    try:
        expected = dt.date(full_year(int(digits[6]), year), month, day)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(cpr.InvalidCPR, match="are a date, DDMMYY"):
            cpr.parse(digits)
    else:
        assert cpr.parse(digits) == digits
        assert cpr.birthdate(digits) == expected


near_misses = st.one_of(
    st.text(max_size=14),
    st.text(alphabet="0123456789-", max_size=14),
    # Digits other scripts write (Arabic-Indic, fullwidth): Python calls them digits.
    st.text(alphabet="0123456789\u0661\u0662\uff11\uff12\u00b2", min_size=10, max_size=11),
    st.builds(
        lambda a, b, s: f"{a}{s}{b}",
        st.text("0123456789", min_size=6, max_size=6),
        st.text("0123456789", min_size=4, max_size=4),
        st.sampled_from(["--", " ", "/", ".", "\u2010", "\u2013", "\x00", "-\n"]),
    ),
)


@settings(max_examples=budget(80))
@given(near_misses)
@example("010190-12345")
@example("0101901234\x00")
@example("\uff10\uff11\uff10\uff11\uff19\uff10\uff11\uff12\uff13\uff14")  # fullwidth digits
def test_anything_else_is_refused_with_a_clear_error(text):
    try:
        canonical = cpr.parse(text)
    except cpr.InvalidCPR as refused:
        assert str(refused)  # says what a CPR number looks like
        return
    # Accepted: then it was a CPR number, written one of the two ways.
    assert canonical.isascii() and canonical.isdigit() and len(canonical) == 10
    assert text.strip() in (canonical, f"{canonical[:6]}-{canonical[6:]}")


# --- the claims request parameter ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
claim_names = st.sampled_from(sorted(CITIZEN_CLAIMS)) | st.sampled_from(
    ["acr", "sub", "auth_time", "unknown", ""]
)
claim_specs = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "essential": st.booleans(),
        "values": st.lists(st.text(max_size=6), max_size=3),
        "value": st.text(max_size=6),
    },
)
claims_documents = st.fixed_dictionaries(
    {},
    optional={
        "userinfo": st.dictionaries(claim_names, claim_specs, max_size=6),
        "id_token": st.dictionaries(claim_names, claim_specs, max_size=6),
        "extra": json_values,
    },
)


def _parse_or_refuse(raw: str) -> claims_request.ClaimsRequest | None:
    try:
        return claims_request.parse(raw)
    except InvalidRequestError as refused:
        assert refused.description.startswith("claims: ")
        return None


@settings(max_examples=budget(80))
@given(claims_documents)
def test_a_well_formed_claims_request_asks_for_the_known_claims_it_names(document):
    parsed = _parse_or_refuse(json.dumps(document))
    if parsed is None:  # only a sub given twice differently is refused here
        subs = {
            spec["value"]
            for target in ("userinfo", "id_token")
            for name, spec in document.get(target, {}).items()
            if name == "sub" and spec and "value" in spec
        }
        assert len(subs) > 1
        return
    for target in ("userinfo", "id_token"):
        named = [n for n in document.get(target, {}) if n in CITIZEN_CLAIMS]
        assert getattr(parsed, target) == tuple(named)
    assert set(parsed.all_claims) <= CITIZEN_CLAIMS


@settings(max_examples=budget(80))
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=60)))
@example('{"userinfo": {"email": 5}}')
@example('{"id_token": {"acr": {"values": "Substantial"}}}')
@example('{"id_token": {"acr": {"essential": "yes"}}}')
@example('{"id_token": {"sub": {"value": 7}}}')
@example('{"userinfo": ' + "[" * 2000 + "]" * 2000 + "}")  # nested past Python's recursion
@example("[" * 4096)
@example("1" * 4097)
def test_any_claims_parameter_is_read_or_refused_as_invalid_request(raw):
    parsed = _parse_or_refuse(raw)
    if parsed is not None:
        assert set(parsed.all_claims) <= CITIZEN_CLAIMS


# --- REDIS_URL -------------------------------------------------------------------------

SECRET = "S3cr3tPw"
hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)
ports = st.integers(1, 65535)
any_text = st.text(max_size=20)


@settings(max_examples=budget(80))
@given(
    st.lists(st.tuples(hosts, ports), min_size=1, max_size=4),
    st.sampled_from(["", "tillid:", ":"]),
    st.sampled_from(["", "/", "/0"]),
)
def test_a_cluster_url_gives_its_startup_nodes(nodes, credentials, path):
    password = f"{SECRET}" if credentials else ""
    auth = f"{credentials}{password}@" if credentials else ""
    url = f"redis+cluster://{auth}{','.join(f'{h}:{p}' for h, p in nodes)}{path}"
    options = config.redis_cluster(url)
    assert options["startup_nodes"] == [(h.lower(), p) for h, p in nodes]
    assert options.get("password") == (password or None)


@settings(max_examples=budget(100))
@given(
    scheme=st.sampled_from(["redis+cluster", "redis", "rediss", "unix", "http", "", "REDIS"]),
    user=st.text(max_size=6).filter(lambda u: "@" not in u),
    around=st.tuples(any_text, any_text),
    rest=st.text(max_size=40),
)
@example(scheme="redis+cluster", user="", around=("/", ""), rest="h:7000")
@example(scheme="redis+cluster", user="u", around=("", "?x"), rest="h:7000")
@example(scheme="redis+cluster", user="", around=("", ""), rest="[::1:7000")
@example(scheme="redis+cluster", user="", around=("", ""), rest="h:7000,[")
def test_any_redis_url_is_read_or_refused_without_repeating_its_password(
    scheme, user, around, rest, tmp_path_factory
):
    """REDIS_URL is read where the app starts; a bad one is a ConfigurationError, and its
    message never repeats the password (it goes to logs and terminals)."""
    password = around[0] + SECRET + around[1]
    url = f"{scheme}://{user}:{password}@{rest}"
    overrides = {"REDIS_URL": url, "SECRET_KEY": "k", "TILLID_DATA_KEY": "k"}
    try:
        loaded = config.load(str(tmp_path_factory.getbasetemp()), overrides)
    except config.ConfigurationError as refused:
        assert SECRET not in str(refused)
        return
    assert loaded["REDIS_URL"] == url
    options = config.redis_cluster(url)
    if options is not None:
        assert all(host and 0 < port < 65536 for host, port in options["startup_nodes"])
