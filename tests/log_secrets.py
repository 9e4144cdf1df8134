"""Secrets never in logs, checked over the whole suite.

Every log record of every test is captured as the app's JSON handler would print it
(``idp.core.logs.JSONFormatter``, after its redaction), and searched at the end of each test for

- the secrets that test handed out or used: the registry below learns them as they pass
  through the test client, the CLI runner and ``requests``. From what is sent: passwords,
  codes and tokens in forms, query strings and JSON, Basic (also the test client's
  ``auth=`` pair) and Bearer credentials. From what comes back: cookies, codes and tokens
  in redirects, and the body of a JSON or HTML answer (tokens and client secrets in JSON,
  hidden inputs such as CSRF tokens and form_post codes, the TOTP key and the recovery
  codes a page shows). The test client's body is read only when the app made it whole
  (it has a Content-Length; a generator's stream, perhaps endless, is left unread), and it
  stays readable for the test; ``requests`` bodies unless the test asked for a stream.
  Plus the CLI's secret options and JSON output, what the fixtures make (``SECRET_KEY``,
  the data key) and what ``CitizenActions`` uses (passwords, TOTP seeds and codes);
- anything shaped like a secret whoever made it: a JWT (``eyJ….….``) or a PEM private key.

A leak fails the test that logged it (its call, or its teardown when a fixture logged it
then), with the leaks as the failure's report: so it works the same in a pytest-xdist worker
as in a single process. What is logged outside any test (collection, between tests) fails the
session at its end, through the xdist controller too. Logs of processes the tests start
(serve.py, the fault tests' servers) go to their own stderr and are not seen here; what
only a browser (the Chromium tests) or a Node client sees is not learnt, as their traffic
passes none of the three; the app's lines logged meanwhile are still searched for JWTs and
private keys.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import re
import threading
import urllib.parse
from dataclasses import dataclass

from idp.core.logs import JSONFormatter

JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# Shorter values could be found in a log line by chance; one-time codes (6 digits, or the
# 8 of a recovery code) are matched only as whole words instead.
MIN_SECRET_LENGTH = 8
_DIGITS = re.compile(r"\d{6,8}")

# Request and response fields whose values are secrets (forms, JSON, redirects, pages).
SECRET_FIELDS = frozenset({
    "password", "password_confirm", "new_password", "current_password", "otp",
    "code", "recovery_code", "activation_code", "code_verifier", "client_secret",
    "client_assertion", "refresh_token", "access_token", "id_token", "id_token_hint",
    "token", "auth_req_id", "device_code", "totp_secret", "secret", "csrf_token",
    "recovery_codes", "app_token",
})  # fmt: skip
# CLI options whose values are secrets.
SECRET_OPTIONS = frozenset({"--password", "--totp-secret", "--client-secret", "--secret"})

_HIDDEN_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r'\b(name|value)="([^"]*)"')
_TOTP_KEY = re.compile(r'<code class="secret" id="totp-secret">([^<]+)</code>')
_RECOVERY_LIST = re.compile(r'<ul class="recovery-codes"[^>]*>(.*?)</ul>', re.S)
_CODE_ITEM = re.compile(r"<code>([^<]+)</code>")


@dataclass(frozen=True)
class Leak:
    where: str  # the test's node id, or "(outside tests)"
    kind: str
    secret: str
    line: str

    @property
    def shown(self) -> str:
        return self.secret[:4] + "…" if len(self.secret) > 6 else "(a code)"

    def mask(self, text: str) -> str:
        """``text`` with the secret (also as JSON escapes it) replaced by its prefix."""
        return text.replace(self.secret, self.shown).replace(
            json.dumps(self.secret)[1:-1], self.shown
        )

    def describe(self) -> str:
        # Never the whole secret: the report itself is a log someone will read.
        return f"{self.where}: {self.kind} {self.shown} in: {self.mask(self.line)[:300]}"


class CapturingHandler(logging.Handler):
    """Keeps each record as the app's JSON line. Not a JSONFormatter handler itself, so the
    app's logs.configure (which replaces those) leaves it in place."""

    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self._json = JSONFormatter()
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._json.format(record)
        except Exception:  # a record the formatter chokes on is still checked
            line = f"{record.name} {record.msg!r} {record.args!r}"
        with self._lock:
            self.lines.append(line)

    def take(self) -> list[str]:
        with self._lock:
            lines, self.lines = self.lines, []
        return lines


class SecretRegistry:
    """The secrets the current test (or, outside tests, the session) has seen."""

    def __init__(self):
        self.session: set[str] = set()
        self.test: set[str] | None = None
        self._lock = threading.Lock()  # live-server and load-test threads add too
        self.learn_from_requests = True

    @contextlib.contextmanager
    def made_up_requests(self):
        """What the test client sends meanwhile is made up (a fuzzer's junk, or a public word
        such as a scope drawn into a secret's field): not learned as a secret, or the next log
        line that names that scope would count as a leak. The secrets the app hands out are
        still learned from its answers; the test adds the real ones it sends itself."""
        self.learn_from_requests = False
        try:
            yield
        finally:
            self.learn_from_requests = True

    def add(self, value, kind: str = "secret") -> None:
        if isinstance(value, list | tuple | set):
            for item in value:
                self.add(item, kind)
            return
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH and not _DIGITS.fullmatch(value):
            return
        if value.startswith("[") and value.endswith("]"):
            return  # what stands in for a secret ("[redacted]"), as `flask audit list` shows
        forms = {value}
        if "-" in value or " " in value:  # codes are accepted with or without separators
            compact = value.replace("-", "").replace(" ", "")
            if len(compact) >= MIN_SECRET_LENGTH:
                forms.add(compact)
        with self._lock:
            (self.test if self.test is not None else self.session).update(forms)

    def current(self) -> set[str]:
        with self._lock:
            return self.session | (self.test or set())

    # --- what passes through the test client, the CLI and requests ---------------------

    def add_fields(self, fields) -> None:
        """Form fields, query parameters or a JSON object: the secret ones by name."""
        if isinstance(fields, dict):
            items = fields.items()
        elif hasattr(fields, "items"):
            items = fields.items(multi=True) if hasattr(fields, "getlist") else fields.items()
        else:
            return
        for name, value in items:
            if isinstance(value, dict | list) and name not in SECRET_FIELDS:
                self.add_json(value)
            elif name in SECRET_FIELDS:
                self.add(value, name)

    def add_json(self, document) -> None:
        if isinstance(document, dict):
            self.add_fields(document)
        elif isinstance(document, list):
            for item in document:
                self.add_json(item)

    def add_encoded(self, text) -> None:
        """An urlencoded body or query string."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and "=" in text:
            self.add_fields(dict(urllib.parse.parse_qsl(text, keep_blank_values=False)))

    def add_url(self, url) -> None:
        if not isinstance(url, str):
            return
        parts = urllib.parse.urlsplit(url)
        self.add_encoded(parts.query)
        self.add_encoded(parts.fragment)

    def add_authorization(self, header) -> None:
        if not isinstance(header, str) or " " not in header:
            return
        scheme, credentials = header.split(" ", 1)
        self.add(credentials, "authorization")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials).decode()
            except ValueError:
                return
            self.add(decoded.partition(":")[2], "client_secret")

    def add_page(self, html: str) -> None:
        for tag in _HIDDEN_INPUT.findall(html):
            attributes = dict(_ATTRIBUTE.findall(tag))
            if attributes.get("name") in SECRET_FIELDS:
                self.add(attributes.get("value"), attributes["name"])
        for key in _TOTP_KEY.findall(html):
            self.add(key.replace(" ", ""), "totp_secret")
        for block in _RECOVERY_LIST.findall(html):
            self.add(_CODE_ITEM.findall(block), "recovery_code")

    def add_response(self, headers, body: bytes, content_type: str) -> None:
        for name, value in headers:
            if name.lower() == "set-cookie":
                self.add(value.split(";", 1)[0].partition("=")[2], "cookie")
            elif name.lower() == "location":
                self.add_url(value)
        if not body:
            return
        if "json" in content_type:
            with contextlib.suppress(ValueError):
                self.add_json(json.loads(body))
        elif "html" in content_type:
            self.add_page(body.decode("utf-8", "replace"))

    def add_cli(self, args, output: str) -> None:
        args = [str(arg) for arg in args or []]
        for option, value in itertools.pairwise(args):
            if option in SECRET_OPTIONS:
                self.add(value, option.lstrip("-"))
        with contextlib.suppress(ValueError):
            self.add_json(json.loads(output))


class LogSecretCheck:
    def __init__(self):
        self.handler = CapturingHandler()
        self.registry = SecretRegistry()
        self.leaks: list[Leak] = []
        self.where = "(outside tests)"

    def begin(self, nodeid: str) -> None:
        self._check()  # whatever was logged between tests, against the session's secrets
        self.where = nodeid
        with self.registry._lock:
            self.registry.test = set()

    def test_leaks(self) -> list[Leak]:
        """The current test's leaks logged since it began or since the last call: they are
        its own failure, not the session's."""
        return self.scan(self.handler.take())

    def end(self) -> None:
        self._check()  # what was logged after its teardown's report: the session's
        self.where = "(outside tests)"
        with self.registry._lock:
            self.registry.test = None

    def finish(self) -> list[Leak]:
        """The leaks logged outside any test, the session's to fail on."""
        self._check()
        return self.leaks

    def scan(self, lines: list[str]) -> list[Leak]:
        """The leaks in ``lines``, against the secrets known now."""
        if not lines:
            return []
        searched = [_values_of(line) for line in lines]
        text = "\n".join(searched)
        secrets = self.registry.current()
        # The JSON line escapes quotes, backslashes and non-ASCII letters: look for both.
        needles = {}
        for secret in secrets:
            if not _DIGITS.fullmatch(secret):
                for form in (secret, json.dumps(secret)[1:-1]):
                    if form in text:
                        needles[form] = secret
        codes = [s for s in secrets if _DIGITS.fullmatch(s)]
        code_pattern = None
        if codes:
            alternatives = "|".join(map(re.escape, codes))
            code_pattern = re.compile(rf"(?<![0-9A-Za-z])({alternatives})(?![0-9A-Za-z])")
        found = []
        for line, values in zip(lines, searched, strict=True):
            found += [
                Leak(self.where, "known secret", secret, line)
                for form, secret in needles.items()
                if form in values
            ]
            if code_pattern:
                found += [
                    Leak(self.where, "one-time code", match.group(1), line)
                    for match in code_pattern.finditer(values)
                ]
            found += [
                Leak(self.where, "JWT", match.group(0), line)
                for match in JWT_SHAPED.finditer(values)
            ]
            if PRIVATE_KEY.search(values):
                found.append(Leak(self.where, "private key", "-----BEGIN", line))
        return found

    def _check(self) -> None:
        self.leaks += self.scan(self.handler.take())


def _values_of(line: str) -> str:
    """What a log line says, without the names of its JSON fields: those are the code's own
    words (`"arguments"`, `"event"`), not data, so a test that used such a word as a secret
    (the fuzzers draw strings from the code's constants) does not find it "leaked" there."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    values: list[str] = []

    def collect(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str):
            # As written, and as the line escapes it (quotes, backslashes, non-ASCII letters).
            values.extend(dict.fromkeys((value, json.dumps(value)[1:-1])))
        else:
            values.append(json.dumps(value))

    collect(record)
    return "\n".join(values)


CHECK = LogSecretCheck()


def _learn_request(registry: SecretRegistry, args, kwargs) -> None:
    data = kwargs.get("data")
    if isinstance(data, dict):
        registry.add_fields(data)
    else:
        registry.add_encoded(data)
    registry.add_json(kwargs.get("json"))
    query = kwargs.get("query_string")
    if isinstance(query, dict):
        registry.add_fields(query)
    else:
        registry.add_encoded(query)
    if args and isinstance(args[0], str):
        registry.add_url(args[0])
    auth = kwargs.get("auth")  # the test client makes the Basic header of a pair itself
    if isinstance(auth, tuple) and len(auth) == 2:
        registry.add(auth[1], "client_secret")
    headers = kwargs.get("headers") or {}
    for name, value in headers.items() if hasattr(headers, "items") else headers:
        if name.lower() == "authorization":
            registry.add_authorization(value)
        elif name.lower() == "dpop":
            registry.add(value, "dpop")


def _whole_body(response) -> bytes:
    """The body of a test-client answer the registry reads (JSON or HTML), left readable for
    the test. The test client hands every body over as an iterator, so ``is_streamed`` is
    true for all of them and tells nothing; a body the app made whole is told by its
    Content-Length instead (werkzeug sets it for a body that is a sequence, never for one a
    generator makes as it goes: an event stream or a long poll, perhaps endless). Only such
    a whole body is read: it is in memory already, and ``get_data`` keeps it as a list, so
    the test reads the same bytes afterwards. A streamed body stays the test's to read."""
    content_type = response.headers.get("Content-Type", "")
    if response.headers.get("Content-Length") is None or "event-stream" in content_type:
        return b""
    if "json" not in content_type and "html" not in content_type:
        return b""  # nothing the registry reads (a file, an image, a metrics page)
    return response.get_data()


def _wrap_test_client() -> None:
    from flask.testing import FlaskClient

    original = FlaskClient.open
    if getattr(original, "_log_secrets", False):
        return

    def open_and_learn(self, *args, **kwargs):
        registry = CHECK.registry
        if registry.learn_from_requests:
            _learn_request(registry, args, kwargs)
        response = original(self, *args, **kwargs)
        registry.add_response(
            response.headers.items(),
            _whole_body(response),
            response.headers.get("Content-Type", ""),
        )
        return response

    open_and_learn._log_secrets = True
    FlaskClient.open = open_and_learn


def _wrap_cli_runner() -> None:
    from flask.testing import FlaskCliRunner

    original = FlaskCliRunner.invoke
    if getattr(original, "_log_secrets", False):
        return

    def invoke_and_learn(self, cli=None, args=None, **kwargs):
        result = original(self, cli, args, **kwargs)
        CHECK.registry.add_cli(args, result.stdout)
        return result

    invoke_and_learn._log_secrets = True
    FlaskCliRunner.invoke = invoke_and_learn


def _wrap_requests() -> None:
    import requests

    original = requests.Session.send
    if getattr(original, "_log_secrets", False):
        return

    def send_and_learn(self, request, **kwargs):
        registry = CHECK.registry
        registry.add_url(request.url)
        registry.add_authorization(request.headers.get("Authorization"))
        if "json" in request.headers.get("Content-Type", "") and request.body:
            with contextlib.suppress(ValueError):
                registry.add_json(json.loads(request.body))
        else:
            registry.add_encoded(request.body)
        response = original(self, request, **kwargs)
        registry.add([cookie.value for cookie in response.cookies], "cookie")
        registry.add_response(
            [("Location", response.headers.get("Location"))],
            b"" if kwargs.get("stream") else response.content,
            response.headers.get("Content-Type", ""),
        )
        return response

    send_and_learn._log_secrets = True
    requests.Session.send = send_and_learn


def install() -> None:
    """Capture every record from now on, and learn secrets where tests meet the app."""
    root = logging.getLogger()
    if CHECK.handler not in root.handlers:
        root.addHandler(CHECK.handler)
    _wrap_test_client()
    _wrap_cli_runner()
    _wrap_requests()
