"""The real services a fault test breaks, each started here on a free port in a folder of its
own: a redis-server, a PostgreSQL cluster (initdb, pg_ctl) and Tillid under serve.py. Never
the shared PostgreSQL on 5432 or Redis on 6379 that the rest of the suite uses."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, seconds: float, what: str, every: float = 0.1) -> None:
    """Poll ``check`` until it is true (exceptions count as not yet); fail saying ``what``
    did not happen."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not up yet: refused, starting, loading
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what} within {seconds} s (last: {last!r})")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def unexpected_errors(log: Path, limit: int = 5) -> str:
    """The server log's errors other than the expected "backend unavailable" lines: the
    app's error lines and the server's "Error handling request" with their tracebacks."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    found = []
    for number, line in enumerate(lines):
        if "Error handling request" in line:
            found.append("\n".join(lines[number : number + 60]))
        elif '"ERROR"' in line and "backend unavailable" not in line:
            found.append(line[-3000:])
    return "\n".join(found[:limit])


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: PG_BIN, Debian's newest, or the PATH's."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)  # fmt: skip
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_binaries() -> list[str]:
    missing = [name for name in ("redis-server",) if not shutil.which(name)]
    folder = postgres_bin()
    if folder is None or not (folder / "pg_ctl").exists():
        missing.append("initdb/pg_ctl (PostgreSQL server)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser (PostgreSQL refuses to run as root)")
    if not (VENV_BIN / "granian").exists():
        missing.append("granian")
    return missing


class PrivateRedis:
    """A redis-server that keeps nothing on disk, stopped and started at will on one port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder),
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            wait_until(client.ping, 10, f"redis-server on {self.port} answered")
        finally:
            client.close()

    def pause(self) -> None:
        """Hung: it still accepts connections (the kernel does) but never answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Gone at once, as a crashed server is (and with nothing saved, it comes back empty)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of our own: initdb into ``folder``, pg_ctl on a free port, trust
    authentication for the superuser ``postgres``. PostgreSQL refuses to run as root, so as
    root each command runs as the OS user postgres (who then owns ``folder``)."""

    def __init__(self, folder: Path):
        self.bin = postgres_bin()
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.paused: list[int] = []  # the processes ``pause`` stopped
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, cwd=self.folder, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{program} {' '.join(args[:3])} failed:\n{done.stderr}\n{tail(self.log)}"
            )

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # fsync off: these tests stop the server process, never the machine, and the kernel
        # keeps what was written (a commit is still written to the WAL before it answers).
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.folder} -c fsync=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session and shuts down cleanly; ``immediate`` is a crash (the
        next start recovers from the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def pause(self) -> None:
        """Hung, as a server whose disk or host froze: the postmaster and every process it
        started are stopped (SIGSTOP). The kernel still accepts connections and takes what is
        sent; nothing answers. The postmaster goes first, so it starts no process meanwhile."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        self.paused = [postmaster]
        os.kill(postmaster, signal.SIGSTOP)
        found = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                               text=True).stdout  # fmt: skip
        for pid in map(int, found.split()):
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signal.SIGSTOP)
                self.paused.append(pid)

    def resume(self) -> None:
        for pid in reversed(self.paused):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.paused = []

    def execute(self, statement: str, database: str = "postgres") -> None:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def rows(self, query: str, database: str, params=None) -> list[tuple]:
        with psycopg.connect(self.url(database)) as conn:
            return conn.execute(query, params).fetchall()


class Server:
    """Tillid as production runs it: serve.py (granian) from the repository, in a process
    group of its own so that the main process and every worker can be killed at once."""

    def __init__(self, env: dict, folder: Path, port: int):
        self.env, self.port, self.log = env, port, folder / "server.log"
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "python"), "serve.py"],
                cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        try:
            wait_until(lambda: requests.get(f"{self.url}/readyz", timeout=2).ok, 60,
                       "Tillid answered /readyz")  # fmt: skip
        except BaseException:
            self.stop()
            raise AssertionError(f"Tillid did not start:\n{tail(self.log)}") from None

    def workers(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True).stdout  # fmt: skip
        return sorted(map(int, found.split()))

    def group_alive(self) -> bool:
        """Whether any process of the server's group (main or worker) still runs (a zombie
        does not count: it is dead, only not yet reaped by whoever inherited it)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[2]) == self.process.pid and fields[0] != "Z":
                return True
        return False

    def kill(self) -> None:
        """SIGKILL to the main process and every worker at once: nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_until(lambda: not self.group_alive(), 10, "every server process was gone")

    def stop(self) -> None:
        """Gone, main process and workers (the test is over: no need to wait for a graceful end)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        """A `flask --app wsgi` command, as an operator runs it beside the server."""
        command = [str(VENV_BIN / "flask"), "--app", "wsgi", *args]
        return subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
