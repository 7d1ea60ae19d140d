"""A throwaway PostgreSQL server for the tests: ``initdb`` a cluster in a temporary
directory and run it on a free port of 127.0.0.1, bounded in time.

PostgreSQL refuses to run as root: as root, the cluster belongs to the
unprivileged ``nobody`` user (the directory is chowned to it and the server
runs as it). Authentication is ``trust`` on loopback only; the unix socket
lives in the temporary directory. The server is started directly (not through
``pg_ctl``) in its own process group, so :meth:`PgServer.kill` can ``kill -9``
the whole server, as a crash would, and :meth:`PgServer.start` recover it.

Fixtures: ``pg_server`` (one cluster per test session) and ``pg_url`` (a fresh
database on it per test). Both skip, with the reason, only where the
PostgreSQL binaries or psycopg are missing.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pytest

#: How long a start or stop may take before the test fails.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def find_bin_dir() -> Optional[str]:
    """The directory holding ``initdb`` and ``postgres`` (Debian's newest first), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "postgres"), os.X_OK) and os.access(
            os.path.join(candidate, "initdb"), os.X_OK
        ):
            return candidate
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return os.path.dirname(os.path.realpath(found))
    return None


def skip_reason() -> Optional[str]:
    """Why PostgreSQL tests cannot run here (None: they can)."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, postgres) not found: "
            "apt-get install postgresql (.ci/run does)"
        )
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed: pip install 'auditora[postgres]'"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One temporary cluster; :meth:`start`, :meth:`stop`, :meth:`kill`, :meth:`close`."""

    def __init__(self, settings: Optional[Dict[str, str]] = None) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(skip_reason())
        self.bin_dir = bin_dir
        self.root = tempfile.mkdtemp(prefix="auditora-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.settings = {"fsync": "off", "max_connections": "100", **(settings or {})}
        self.log_path = os.path.join(self.root, "server.log")
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._user: Dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        os.chmod(self.root, 0o700)
        self._run(
            [
                os.path.join(bin_dir, "initdb"),
                "-D",
                self.data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )

    def _run(self, argv: List[str]) -> None:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=START_TIMEOUT,
            cwd=self.root,
            env=self._env(),
            check=False,
            **self._user,
        )
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')}")

    def _env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str = "") -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (bounded)."""
        assert not self.running(), "already running"
        argv = [os.path.join(self.bin_dir, "postgres"), "-D", self.data, "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}"]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env(),
                start_new_session=True,  # its own process group: kill() ends all of it
                **self._user,
            )
        deadline = time.monotonic() + START_TIMEOUT
        import psycopg

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log()}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"postgres did not start in time:\n{self.log()}") from None
                time.sleep(0.1)

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """A fast shutdown (SIGINT), then SIGKILL past :data:`STOP_TIMEOUT`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """``kill -9`` the server and every backend of it, as a crash would."""
        proc = self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(STOP_TIMEOUT)
        # Backends notice the postmaster's death on their own; wait until none is left
        # (their shared memory would keep a new postmaster from starting).
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.05)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _skip_if_missing() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One running PostgreSQL server for the test session."""
    _skip_if_missing()
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
