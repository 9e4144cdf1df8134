"""Citizens and services talking to a running Tillid over plain HTTP, every answer recorded:
a whole login as a browser does it (authorize, password, code from the authenticator app,
the notice page, back to the service), the service's token exchange, userinfo and the
authorities' APIs."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import requests

PASSWORD = "Solsikke-Fjord-fault-7"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the code is read off the redirect
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# Paths a browser reaches (their errors are pages); every other path is an API (JSON).
BROWSER_PATHS = ("/authorize", "/login")


@dataclass
class Answer:
    """One request and what came back (status None: no answer at all)."""

    method: str
    path: str
    status: int | None
    content_type: str
    retry_after: str | None
    seconds: float
    sent_at: float  # time.monotonic() when sent
    body: str
    request_id: str

    @property
    def ended_at(self) -> float:
        return self.sent_at + self.seconds

    @property
    def for_browser(self) -> bool:
        return self.path.startswith(BROWSER_PATHS)

    def __str__(self) -> str:
        return (f"{self.method} {self.path} -> {self.status} {self.content_type} "
                f"in {self.seconds:.2f} s: {self.body[:160]!r}")  # fmt: skip


class Recorder:
    """Sends requests for many threads and keeps every answer."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def send(self, session: requests.Session, method: str, url: str, **options):
        """The response, or None when none came (refused, reset, timed out); recorded."""
        url = urljoin(self.base_url, url)
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id, **options.pop("headers", {})}
        started = time.monotonic()
        try:
            response = session.request(method, url, headers=headers, allow_redirects=False,
                                       timeout=15, **options)  # fmt: skip
        except requests.RequestException as exc:
            response = None
            error = f"{type(exc).__name__}: {exc}"
        answer = Answer(
            method, urlsplit(url).path,
            response.status_code if response is not None else None,
            response.headers.get("Content-Type", "") if response is not None else "",
            response.headers.get("Retry-After") if response is not None else None,
            time.monotonic() - started, started,
            response.text[:8000] if response is not None else error,  # past the page head
            request_id,
        )  # fmt: skip
        with self._lock:
            self.answers.append(answer)
        return response, answer

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.sent_at >= moment]


class OutOfCodes(RuntimeError):
    """Every seeded citizen's codes for now are spent."""


class Codes:
    """Authenticator-app codes never accepted before (Tillid refuses a replay): per citizen,
    each time step once, from the current one and the one either side that Tillid accepts."""

    def __init__(self, seeds: dict[str, str]):
        self.seeds, self.used, self._lock = seeds, set(), threading.Lock()
        self._cycle = itertools.cycle(sorted(seeds))

    def next(self) -> tuple[str, str, tuple]:
        """A citizen, their code, and the code's mark (for ``unsent``)."""
        with self._lock:
            for _ in range(len(self.seeds)):
                username = next(self._cycle)
                now = time.time()
                step = int(now // 30)
                # The previous step only while it is surely still accepted.
                for candidate in (step, step + 1, *([step - 1] if now % 30 < 25 else [])):
                    if (username, candidate) not in self.used:
                        self.used.add((username, candidate))
                        code = pyotp.TOTP(self.seeds[username]).generate_otp(candidate)
                        return username, code, (username, candidate)
        raise OutOfCodes("more logins than the seeded citizens' codes allow: seed more")

    def unsent(self, mark: tuple) -> None:
        """The code never reached Tillid (the login stopped before): it is still good."""
        with self._lock:
            self.used.discard(mark)


@dataclass
class Service:
    client_id: str
    client_secret: str
    scope: str = "openid profile"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _form(page: requests.Response, **fields) -> dict | None:
    token = _CSRF.search(page.text)
    return {"csrf_token": token.group(1), **fields} if token else None


def _next_of(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.url).query).get("next", [""])[0]


@dataclass
class Login:
    tokens: dict
    token_request_id: str  # the token exchange's X-Request-ID, which its ledger entry keeps


def log_in(http: Recorder, service: Service, codes: Codes) -> Login | None:
    """One whole login at ``service`` and its token exchange, or None when a step was not
    answered as a working Tillid answers it (what came back is recorded)."""
    browser = requests.Session()

    def follow(response):
        """Follow Tillid's redirects; the service's redirect URI (a str) or the last page."""
        while response is not None and response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(REDIRECT_URI):
                return location
            response, _ = http.send(browser, "GET", location)
        return response if response is not None and response.status_code == 200 else None

    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": service.client_id,
              "redirect_uri": REDIRECT_URI, "scope": service.scope,
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    page = follow(http.send(browser, "GET", "/authorize", params=params)[0])
    if page is None or isinstance(page, str) or not (form := _form(page)):
        return None
    username, code, mark = codes.next()
    form.update(username=username, password=PASSWORD, next=_next_of(page))
    page = follow(http.send(browser, "POST", "/login", data=form)[0])
    if page is None or isinstance(page, str) or not (form := _form(page)):
        codes.unsent(mark)
        return None
    form.update(otp=code, next=_next_of(page))
    answer = follow(http.send(browser, "POST", "/login/code", data=form)[0])
    if answer is not None and not isinstance(answer, str):  # the notice page, the first time
        form = _form(answer, decision="allow")
        answer = form and follow(http.send(browser, "POST", answer.url, data=form)[0])
    if not isinstance(answer, str):
        return None
    returned = parse_qs(urlsplit(answer).query)
    if "code" not in returned:
        return None
    exchange = {"grant_type": "authorization_code", "code": returned["code"][0],
                "redirect_uri": REDIRECT_URI, "code_verifier": verifier}  # fmt: skip
    response, sent = http.send(requests.Session(), "POST", "/token", data=exchange,
                               auth=(service.client_id, service.client_secret))  # fmt: skip
    if response is None or response.status_code != 200:
        return None
    return Login(response.json(), sent.request_id)


class LoginTraffic:
    """Citizens logging in at ``service`` from ``threads`` threads, one whole login after
    another, until stopped; ``logins`` holds each completed one with when it finished."""

    def __init__(self, http: Recorder, service: Service, codes: Codes, threads: int = 3):
        self.http, self.service, self.codes = http, service, codes
        self.logins: list[tuple[float, Login]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                login = log_in(self.http, self.service, self.codes)
            except OutOfCodes:
                return  # this thread's part of the load ends here; the others go on
            if login is not None:
                self.logins.append((time.monotonic(), login))
            else:
                self._stop.wait(0.05)  # refused: try again, without spinning

    def __enter__(self) -> LoginTraffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def completed_since(self, moment: float) -> int:
        return sum(1 for finished, _ in list(self.logins) if finished >= moment)


def userinfo(http: Recorder, session: requests.Session, access_token: str):
    return http.send(session, "GET", "/userinfo",
                     headers={"Authorization": f"Bearer {access_token}"})  # fmt: skip


def service_token(http: Recorder, service: Service, scope: str) -> str:
    response, answer = http.send(requests.Session(), "POST", "/token",
                                 data={"grant_type": "client_credentials", "scope": scope},
                                 auth=(service.client_id, service.client_secret))  # fmt: skip
    assert response is not None and response.status_code == 200, str(answer)
    return response.json()["access_token"]
