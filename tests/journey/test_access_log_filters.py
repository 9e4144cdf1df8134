"""The access log's filters answer as a form does: a field in error is named in the page's
language, next to it and in a summary that links to it; a From after the To is pointed out;
the page answers 400 with the form (never a 500, never the filter silently dropped)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def anna(citizens):
    citizens.create()
    assert citizens.login().headers["Location"] == "/me"
    return citizens.client


def field_error(html: str, field: str) -> str:
    tag = re.search(rf'<(?:input|select) [^>]*\bid="{field}"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in tag and f'aria-describedby="{field}-error"' in tag
    pattern = rf'<span class="form-error-message" id="{field}-error">.*?</span>(.*?)</span>'
    return re.search(pattern, html, re.S).group(1)


def summary(html: str) -> str:
    return re.search(r'class="alert alert-error error-summary".*?</ul>', html, re.S).group(0)


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "yesterday", "20260101"])
def test_a_date_that_is_no_date_is_named_at_its_field(anna, bad):
    response = anna.get("/me/access-log", query_string={"from": "2026-01-01", "to": bad})
    assert response.status_code == 400
    html = response.text
    assert "“To” is not a date" in field_error(html, "to")
    assert 'href="#to"' in summary(html) and "To: “To” is not a date" in summary(html)
    assert "aria-invalid" not in re.search(r'<input [^>]*id="from"[^>]*>', html).group(0)
    assert f'value="{bad}"' in html, "the form keeps what was sent"
    assert "<title>Error: Who received your information" in html
    assert 'id="access-log"' not in html, "no entries for filters that cannot be read"


def test_from_after_to_is_pointed_out(anna):
    response = anna.get("/me/access-log", query_string={"from": "2026-05-02", "to": "2026-05-01"})
    assert response.status_code == 400
    message = field_error(response.text, "from")
    assert "“From” is after “To”" in message
    assert 'href="#from"' in summary(response.text)


def test_the_same_day_twice_is_fine(anna):
    response = anna.get("/me/access-log", query_string={"from": "2026-05-01", "to": "2026-05-01"})
    assert response.status_code == 200 and "error-summary" not in response.text


def test_in_danish_the_fields_are_named_in_danish(anna):
    response = anna.get(
        "/me/access-log",
        query_string={"from": "2026-05-02", "to": "nej"},
        headers={"Accept-Language": "da"},
    )
    assert response.status_code == 400
    assert "“Til” er ikke en dato" in field_error(response.text, "to")
    assert "Til: “Til” er ikke en dato" in summary(response.text)


def test_every_field_in_error_is_named_at_once(anna):
    response = anna.get(
        "/me/access-log",
        query_string={"channel": "pigeon", "attribute": "shoe_size", "page": "0", "from": "x"},
    )
    assert response.status_code == 400
    assert "“How”" in field_error(response.text, "channel")
    assert "“Information”" in field_error(response.text, "attribute")
    assert "“From” is not a date" in field_error(response.text, "from")
    assert "The page number must be a whole number from 1." in summary(response.text)


def test_the_api_answers_problem_details_with_each_parameter(anna):
    response = anna.get(
        "/api/me/access-log", query_string={"from": "2026-05-02", "to": "2026-05-01"}
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == [
        {"parameter": "from", "detail": response.json["errors"][0]["detail"]}
    ]
    assert "is after" in response.json["detail"]
