"""serve.py, the production server (granian): workers, their sockets, a dead worker replaced,
a graceful stop, trusted proxies, the settings it reads. Real servers over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from tests.conftest import TEST_REDIS_URL
from tests.test_config import CONFIG_VARIABLES, REPO, VENV_BIN, _free_port

sys.path.insert(0, str(REPO))
import serve


class Served:
    """serve.py in a process group of its own, on SQLite (or Redis, if given)."""

    def __init__(self, tmp_path: Path, **env_extra: str):
        self.bind = f"127.0.0.1:{_free_port()}"
        self.url = f"http://{self.bind}"
        env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
        env.update(
            {
                "TILLID_INSTANCE_PATH": str(tmp_path / "instance"),
                "BIND": self.bind,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
                **env_extra,
            }
        )
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.log = tmp_path / "serve.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(VENV_BIN / "python"), "serve.py"], cwd=REPO,
                                            env=env, stdout=log, stderr=log,
                                            start_new_session=True)  # fmt: skip

    def wait_until_answering(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                assert requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
                return
            except requests.ConnectionError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, f"no answer in {seconds} s"
                time.sleep(0.2)

    def workers(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True).stdout  # fmt: skip
        return sorted(map(int, found.split()))

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def served(tmp_path):
    started = []

    def start(**env: str) -> Served:
        server = Served(tmp_path / str(len(started)), **env)
        started.append(server)
        server.wait_until_answering()
        return server

    yield start
    for server in started:
        server.stop()


def _pids(ss_line_text: str) -> set[int]:
    return {int(chunk.split(",")[0]) for chunk in ss_line_text.split("pid=")[1:]}


def _owners(port: int, state: str) -> set[int]:
    out = subprocess.run(["ss", "-Htnp", "state", state, f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return _pids(out)


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(served):
    server = served()
    [worker] = server.workers()
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.workers() in ([], [worker]):
        assert time.monotonic() < deadline, "no new worker in 30 s"
        time.sleep(0.2)
    [replacement] = server.workers()
    assert replacement != worker
    server.wait_until_answering()
    assert server.process.poll() is None  # the same main process


def test_bodies_arrive_whole_in_memory_or_streamed_and_head_has_none(served):
    """Through granian, a page, a JSON answer and a static file each arrive whole, with their
    length, and HEAD gets the length but no body."""
    server = served()
    page = requests.get(f"{server.url}/login", timeout=10)
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert int(page.headers["Content-Length"]) == len(page.content)
    discovery = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10)
    assert discovery.json()["issuer"]
    assert int(discovery.headers["Content-Length"]) == len(discovery.content)
    stylesheet = REPO / "idp/static/css/tillid.css"
    static = requests.get(f"{server.url}/static/css/tillid.css", timeout=10)
    assert static.status_code == 200 and static.content == stylesheet.read_bytes()
    head = requests.head(f"{server.url}/login", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(page.content)


def test_sigterm_answers_the_request_in_hand_then_stops(served):
    server = served()
    host, port = server.bind.split(":")
    body = b"grant_type=client_credentials"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST /token HTTP/1.1\r\nHost: " + server.bind.encode()
                           + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                           + b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])  # fmt: skip
        time.sleep(0.5)  # the request is in hand, its body not yet all there
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer  # no client credentials: answered
    assert server.process.wait(timeout=40) == 0
    assert server.workers() == []


def test_sigterm_while_the_worker_still_loads_the_app_stops_it_at_once(tmp_path):
    """The stop is not lost (granian's worker sets its handlers only once the app is loaded),
    so it does not wait the 30 s after which a worker that did not stop is killed."""
    server = Served(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not server.workers():  # forked: now loading the app
            assert server.process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0, server.log.read_text()
        assert "refused to gracefully stop" not in server.log.read_text()
    finally:
        server.stop()


@pytest.mark.skipif(not TEST_REDIS_URL, reason="several workers need TEST_REDIS_URL")
def test_each_worker_listens_on_a_socket_of_its_own_and_keep_alive_connections_reach_all(
    served,
):
    server = served(WEB_CONCURRENCY="2", REDIS_URL=TEST_REDIS_URL,
                    TILLID_STORE_PREFIX=f"tillid-test:{os.getpid()}:serve:")  # fmt: skip
    workers = server.workers()
    assert len(workers) == 2
    port = int(server.bind.rsplit(":", 1)[1])
    deadline = time.monotonic() + 30  # the first worker answers while the other still loads
    while _owners(port, "listening") != set(workers):  # SO_REUSEPORT: a socket each
        assert time.monotonic() < deadline, _owners(port, "listening")
        time.sleep(0.2)
    # A burst of keep-alive connections, as a load balancer opens them: the kernel spreads
    # them over both workers' sockets (all 24 on one: a chance of 2 in 16 million).
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    try:
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for connection in connections:
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        assert _owners(port, "established") == set(workers)
    finally:
        for connection in connections:
            connection.close()


def _token_statuses(url: str, forwarded_for: list[str | None]) -> list[int]:
    """POST /token without client credentials (each counts against its source address)."""
    return [requests.post(f"{url}/token", data={"grant_type": "client_credentials"},
                          headers={"X-Forwarded-For": address} if address else {},
                          timeout=10).status_code for address in forwarded_for]  # fmt: skip


def test_x_forwarded_for_counts_only_from_the_trusted_proxies(served):
    addresses = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    limits = {"TRUSTED_PROXY_COUNT": "1", "TOKEN_RATE_LIMIT": "2 per minute"}
    # From a trusted proxy (the default, 127.0.0.1): each forwarded client has its budget.
    trusting = served(**limits)
    assert _token_statuses(trusting.url, addresses) == [401] * 4
    assert _token_statuses(trusting.url, [None, None, None]) == [401, 401, 429]
    # The same headers from a peer that is no trusted proxy: one source, 127.0.0.1.
    wary = served(**limits, FORWARDED_ALLOW_IPS="192.0.2.0/24")
    assert _token_statuses(wary.url, addresses) == [401, 401, 429, 429]


def _seen(middleware: serve.TrustedProxies, remote_addr: str, **headers: str) -> dict:
    response = Client(middleware).get("/", headers=headers,
                                      environ_base={"REMOTE_ADDR": remote_addr})  # fmt: skip
    return response.json


def _echo(environ, start_response):
    """What the app would see: the request's scheme and its X-Forwarded-For."""
    request = Request(environ)
    seen = {"scheme": request.scheme, "forwarded_for": request.headers.get("X-Forwarded-For")}
    return Response(json.dumps(seen), mimetype="application/json")(environ, start_response)


@pytest.mark.parametrize(
    ("allowed", "peer", "trusted"),
    [("127.0.0.1", "127.0.0.1", True), ("127.0.0.1", "10.0.0.7", False),
     ("10.0.0.0/8, 192.0.2.1", "10.20.30.40", True), ("10.0.0.0/8", "::ffff:10.1.2.3", True),
     ("10.0.0.0/8", "2001:db8::1", False), ("*", "203.0.113.5", True),
     ("127.0.0.1", "", True)],  # a Unix socket's peer has no address
)  # fmt: skip
def test_forwarded_headers_reach_the_app_only_from_allowed_peers(allowed, peer, trusted):
    seen = _seen(serve.TrustedProxies(_echo, allowed), peer,
                 **{"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"})  # fmt: skip
    if trusted:
        assert seen == {"scheme": "https", "forwarded_for": "198.51.100.9"}
    else:
        assert seen == {"scheme": "http", "forwarded_for": None}


def test_forwarded_allow_ips_that_is_no_address_is_refused(tmp_path):
    server = Served(tmp_path, FORWARDED_ALLOW_IPS="10.0.0.0/8,proxy.example")
    assert server.process.wait(timeout=60) != 0
    assert "FORWARDED_ALLOW_IPS" in server.log.read_text()


def test_the_process_environment_stays_out_of_each_request(monkeypatch):
    """As granian builds each request's environ: the process environment, then the request."""
    monkeypatch.setenv("TILLID_TEST_SECRET", "s3cret")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    middleware = serve.WithoutProcessEnvironment(
        lambda environ, start: Response(json.dumps(sorted(environ)))(environ, start)
    )
    environ = dict(os.environ) | {"REQUEST_METHOD": "GET", "PATH_INFO": "/",
                                  "SERVER_NAME": "x", "SERVER_PORT": "80",
                                  "wsgi.url_scheme": "http", "HTTP_ACCEPT": "*/*"}  # fmt: skip
    seen = json.loads(b"".join(middleware(environ, lambda status, headers: None)))
    assert "TILLID_TEST_SECRET" not in seen and "HTTP_PROXY" not in seen
    assert "PATH" not in seen and {"REQUEST_METHOD", "HTTP_ACCEPT"} <= set(seen)


@pytest.mark.parametrize(
    ("env", "said"),
    [({"WEB_CONCURRENCY": "2"}, "refusing to start 2 workers"),
     ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY must be a whole number"),
     ({"WEB_THREADS": "0"}, "WEB_THREADS must be a whole number"),
     ({"BIND": "5000"}, "BIND must be HOST:PORT or unix:PATH"),
     ({"GUNICORN_THREADS": "8"}, "GUNICORN_THREADS is no longer read"),
     ],
)  # fmt: skip
def test_settings_it_cannot_run_with_are_refused_with_a_clear_line(tmp_path, env, said):
    server = Served(tmp_path, **env)
    assert server.process.wait(timeout=60) != 0
    output = server.log.read_text()
    assert said in output and "Traceback" not in output, output
