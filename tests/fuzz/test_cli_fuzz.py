"""The operator CLI's options for any value: what parses runs, the rest is a usage error
(exit 2) or a clear refusal (exit 1) naming the problem, never a traceback."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import budget

dates = st.dates().map(lambda day: day.isoformat())
months = st.dates().map(lambda day: f"{day:%Y-%m}")
near_dates = st.sampled_from(
    ["", "2026", "2026-13", "2026-00", "2026-02-30", "0000-01", "9999-12", "9999-12-31",
     "0001-01-01", "2026-1", "26-01", "2026/01", "2026-01-01T00:00", "20260101", "2026-W01-1",
     "２０２６-０１", "2026-01\x00", "-2026-01"]
)  # fmt: skip
date_like = st.one_of(dates, months, near_dates, st.text(max_size=12))
recent_months = st.dates(dt.date(2020, 1, 1), dt.date(2200, 12, 31)).map(lambda d: f"{d:%Y-%m}")
numbers = st.one_of(st.integers(-5, 200).map(str), st.sampled_from(["", "x", "1e3", "²", "9" * 30]))
json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=10,
    ).map(json.dumps),
    st.text(max_size=20),
    st.just("[" * 3000),
)


@st.composite
def commands(draw) -> list[str]:
    which = draw(st.integers(0, 5))
    if which == 0:
        return ["ledger", "archive", "--before", draw(date_like)]
    if which == 1:
        # From 2020 on: each month from --from to now becomes a table on PostgreSQL.
        since = st.one_of(recent_months, near_dates.filter(lambda d: not d.startswith("0001")))
        return ["ledger", "partitions", "ensure", "--from", draw(since),
                "--months-ahead", draw(numbers)]  # fmt: skip
    if which == 2:
        return ["ledger", "erase", "--citizen", draw(st.text(max_size=40)),
                "--retention-days", draw(numbers)]  # fmt: skip
    if which == 3:
        return ["citizens", "activation-code", draw(st.text(max_size=14))]
    if which == 4:
        return ["citizens", "create", "--cpr", draw(st.text("0123456789-", max_size=12)),
                "--given-name", draw(st.text(max_size=12)),
                "--family-name", draw(st.text(max_size=12)),
                "--birthdate", draw(date_like),
                "--email", draw(st.text(max_size=12)),
                "--address-json", draw(json_texts)]  # fmt: skip
    return ["clients", "create", "--from-file", "-", "--name", draw(st.text(max_size=12))]


@settings(max_examples=budget(60))
@given(commands(), json_texts)
@example(["ledger", "partitions", "ensure", "--from", "9999-12", "--months-ahead", "5"], "")
@example(["ledger", "archive", "--before", "0001-01-01"], "")
@example(["citizens", "create", "--cpr", "0101901234", "--given-name", "A", "--family-name",
          "B", "--birthdate", "", "--email", "", "--address-json", "[" * 3000], "")  # fmt: skip
@example(["clients", "create", "--from-file", "-", "--name", "X"], "[" * 3000)
def test_any_option_value_is_run_or_refused_without_a_traceback(app, args, stdin):
    result = app.test_cli_runner().invoke(args=args, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args!r} raised") from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if result.exit_code:
        assert "Error" in result.output, (args, result.output)
