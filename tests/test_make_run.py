"""`make run`: the server's start line names the address, the terminal is spared the requests
for static files, and the welcome waits until the IdP answers (it is printed last)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

from demo.cli import wait_until_up
from tests.test_config import CONFIG_VARIABLES, REPO, VENV_BIN, _free_port


def _serve_and_read_log(tmp_path, **env_extra) -> tuple[str, str]:
    """Start the server as `make run` does, ask for a page and a static file, stop it; returns
    its address and everything it wrote to the terminal."""
    bind = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(TILLID_INSTANCE_PATH=str(tmp_path / "instance"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", BIND=bind, **env_extra)  # fmt: skip
    process = subprocess.Popen([str(VENV_BIN / "python"), "serve.py"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{bind}/healthz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://{bind}/static/dkfds/css/dkfds.min.css", timeout=5):
            pass
        with urllib.request.urlopen(f"http://{bind}/healthz", timeout=5):
            pass
        time.sleep(0.5)  # the log lines are written after the answers
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    return bind, output


def test_the_server_names_its_address_and_make_run_leaves_static_files_out(tmp_path):
    bind, output = _serve_and_read_log(tmp_path, ACCESS_LOG_STATIC="0")
    assert f"Listening at: http://{bind}\n" in output, output
    assert '"path": "/healthz"' in output
    assert '"/static/' not in output, output

    _, output = _serve_and_read_log(tmp_path / "default")  # as production runs it: all of them
    assert '"path": "/static/<path:filename>"' in output, output


def test_the_welcome_waits_for_the_idp_and_says_when_it_does_not_answer(live_server, make_app):
    _, base_url = live_server
    closed = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    assert wait_until_up([f"{base_url}/readyz"], 10) == []
    assert time.monotonic() - started < 5
    assert wait_until_up([f"{base_url}/readyz", f"{closed}/readyz"], 1) == [f"{closed}/readyz"]

    nobody = make_app(ISSUER=closed)
    result = nobody.test_cli_runner().invoke(args=["demo", "welcome", "--wait", "1"])
    assert result.exit_code != 0
    assert f"no answer within 1 s from {closed}/readyz" in result.output
    assert "Log in as" not in result.output  # no welcome to a server that is not there


def test_the_welcome_says_where_to_go_and_how_to_log_in(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    output = runner.invoke(args=["demo", "welcome"]).output
    issuer = app.config["ISSUER"]
    assert f"Tillid is running at {issuer}/login" in output
    assert "Log in as user ID 'demo'" in output
    assert "Demo service: Skattestyrelsen (demo) at http://localhost:5001" in output
    assert "Demo service: Nordbank (demo) at http://localhost:5002" in output
    assert "then choose her son Emil Demo-Jensen, who is in her custody" in output
    assert f"Log out at {issuer}/logout and both demo services are told" in output
    assert "Metrics (Prometheus)" not in output  # no METRICS_BIND: none served


def test_the_welcome_says_where_the_metrics_are_when_served(app, monkeypatch):
    monkeypatch.setenv("METRICS_BIND", "127.0.0.1:9464")
    output = app.test_cli_runner().invoke(args=["demo", "welcome"]).output
    assert "Metrics (Prometheus): http://127.0.0.1:9464/metrics" in output
