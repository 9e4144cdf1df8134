"""Security headers on every kind of response, and templates a strict CSP can serve."""

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "idp" / "templates"


def _responses(client, citizens):
    citizens.create()
    yield "login page", client.get("/login")
    yield "activation page", client.get("/activate")
    yield "not found page", client.get("/no-such-page")
    yield "problem json", client.get("/api/no-such-thing")
    yield "static file", client.get("/static/css/tillid.css")
    yield "health json", client.get("/healthz")
    yield "refused form", client.post("/login", data={})
    yield "redirect", citizens.login()
    yield "logged-in page", client.get("/me/sessions")


def test_every_response_carries_the_security_headers(client, citizens):
    for name, response in _responses(client, citizens):
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp, name
        assert "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "no-referrer", name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert "Strict-Transport-Security" not in headers, f"{name}: HSTS on plain http"
        assert headers.get("X-Request-ID"), name


def test_pages_are_not_cached_but_static_files_may_be(client, citizens):
    citizens.create()
    citizens.login()
    assert client.get("/me").headers["Cache-Control"] == "no-store"
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/css/tillid.css").headers.get("Cache-Control", "")


def test_hsts_on_an_https_issuer(make_app):
    app = make_app(ISSUER="https://login.example.dk")
    response = app.test_client().get("/login", base_url="https://login.example.dk")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_style(template):
    html = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html), "style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
