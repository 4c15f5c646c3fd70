"""Throwaway PostgreSQL and Redis servers on loopback, for the worker deployment and the benchmark.

A Synapse worker deployment needs both (workers share one PostgreSQL database and talk over Redis),
so the suite starts its own instances from the Debian packages' binaries: each in a fresh temporary
directory, on 127.0.0.1 and a free port, without durability (nothing here must survive the test),
and always stopped and deleted on exit. We hold the server's own PID, never a wrapper's.

Only the standard library and the servers' own binaries are used.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from testbed.homeserver import HOST, free_port
from testbed.process import ManagedProcess, ScratchProcess, read_log, tail

#: Generous: initdb plus a cold start on a busy CI machine.
DEFAULT_STARTUP_TIMEOUT = 60.0

#: How long SIGTERM/SIGINT gets before SIGKILL.
STOP_GRACE_SECONDS = 10.0

INSTALL_HINT = (
    "install PostgreSQL and Redis with `scripts/install_services.sh` (on Debian/Ubuntu:"
    " `apt-get install -y postgresql redis-server`); tox's test environment runs that script"
    " itself"
)

#: PostgreSQL refuses to run as root; as root we run it as this (Debian's package creates it).
POSTGRES_OS_USER = "postgres"

#: The database role initdb creates; connections are trusted, and only from loopback.
POSTGRES_ROLE = "postgres"


class ServiceUnavailableError(RuntimeError):
    """A server's binaries are not installed; the message says how to install them."""


class ServiceStartupError(RuntimeError):
    """A server was installed but did not come up; the message carries the tail of its log."""


def find_postgres_bin_dir() -> Path | None:
    """The directory holding ``postgres`` and ``initdb``, or ``None``.

    Debian puts them in ``/usr/lib/postgresql/<major>/bin``, not on ``PATH``; the newest major
    version there wins. A ``postgres`` on ``PATH`` (other distributions) comes first.
    """
    on_path = shutil.which("postgres")
    if on_path is not None:
        directory = Path(on_path).resolve().parent
        if (directory / "initdb").is_file():
            return directory
    candidates = []
    for directory in Path("/usr/lib/postgresql").glob("*/bin"):
        major = directory.parent.name
        if major.isdigit() and (directory / "postgres").is_file():
            candidates.append((int(major), directory))
    return max(candidates)[1] if candidates else None


def find_redis_server() -> Path | None:
    found = shutil.which("redis-server")
    return Path(found) if found is not None else None


def missing_services() -> list[str]:
    """What is not installed, as sentences; empty when both servers can be started."""
    missing = []
    if find_postgres_bin_dir() is None:
        missing.append("PostgreSQL server binaries (postgres, initdb) are not installed")
    if find_redis_server() is None:
        missing.append("redis-server is not installed")
    return missing


def require_services() -> None:
    """Raise :class:`ServiceUnavailableError` naming what is missing and how to install it."""
    missing = missing_services()
    if missing:
        raise ServiceUnavailableError(f"{'; '.join(missing)}: {INSTALL_HINT}")


class _Service(ScratchProcess):
    """What both servers share: a temp dir, one process on :data:`HOST` and ``port``."""

    name = "service"

    #: Asks the server to stop; SIGKILL follows after :data:`STOP_GRACE_SECONDS`.
    stop_signal: int = signal.SIGTERM

    def __init__(self, *, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        super().__init__(
            ManagedProcess(self.name, stop_grace=STOP_GRACE_SECONDS, stop_signal=self.stop_signal)
        )
        self._startup_timeout = startup_timeout
        self.port = 0

    @property
    def host(self) -> str:
        return HOST

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError(f"this {self.name} server has no directory (not started, or closed)")
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def log_text(self) -> str:
        return read_log(self.log_path) if self._dir is not None else ""

    def _spawn(
        self, command: Sequence[str], is_ready: Callable[[], bool], **popen_kwargs: Any
    ) -> None:
        """Start the server, its output in :attr:`log_path`, and wait until ``is_ready()``."""
        self._process.start(
            command,
            cwd=self.directory,
            output=self.log_path,
            is_ready=is_ready,
            timeout=self._startup_timeout,
            poll_interval=0.05,
            failure=self._startup_error,
            **popen_kwargs,
        )

    def _startup_error(self, reason: str) -> ServiceStartupError:
        log = tail(self.log_text(), 40)
        return ServiceStartupError(f"{reason}\n--- {self.name} log (tail) ---\n{log}")


class PostgresServer(_Service):
    """A throwaway PostgreSQL cluster: ``initdb`` into a temp dir, ``postgres`` on loopback.

    Run as the ``postgres`` OS user when we are root (PostgreSQL refuses root). The cluster uses
    the C locale and UTF-8, which Synapse requires, so a plain ``CREATE DATABASE`` suits it. It
    runs without fsync: it holds nothing worth keeping, and tests and benchmark runs stay fast.
    """

    name = "PostgreSQL"

    #: PostgreSQL's "fast" shutdown: disconnect clients, stop at once.
    stop_signal = signal.SIGINT

    def __init__(self, *, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self._bin: Path | None = None
        self._databases = 0

    def start(self) -> None:
        if self._process.started:
            raise RuntimeError("this PostgreSQL server is already running")
        require_services()
        self._bin = find_postgres_bin_dir()
        assert self._bin is not None
        popen_kwargs = self._drop_root()
        directory = self._create_directory("testbed-postgres-")
        if popen_kwargs:
            os.chown(directory, popen_kwargs["user"], popen_kwargs["group"])
        data = directory / "data"
        initdb = subprocess.run(  # noqa: S603 - the server's binary, our arguments
            [
                str(self._bin / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                POSTGRES_ROLE,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            cwd=directory,
            capture_output=True,
            timeout=self._startup_timeout,
            check=False,
            **popen_kwargs,
        )
        if initdb.returncode != 0:
            output = (initdb.stdout + initdb.stderr).decode("utf-8", errors="replace")
            raise ServiceStartupError(f"initdb exited with code {initdb.returncode}\n{output}")
        self.port = free_port()
        self._spawn(
            [
                str(self._bin / "postgres"),
                "-D",
                str(data),
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-k",
                str(directory),  # the Unix socket lives in our temp dir, not /var/run
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            self._accepts_connections,
            **popen_kwargs,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its name."""
        if name is None:
            self._databases += 1
            name = f"synapse{self._databases}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        result = self._client("createdb", name)
        if result.returncode != 0:
            raise ServiceStartupError(f"createdb {name} failed: {result.stderr.strip()}")
        return name

    def synapse_database_config(self, database: str, *, cp_max: int = 10) -> dict[str, Any]:
        """The ``database:`` section of ``homeserver.yaml`` for ``database`` on this server."""
        return {
            "name": "psycopg2",
            "args": {
                "user": POSTGRES_ROLE,
                "host": HOST,
                "port": self.port,
                "dbname": database,
                "cp_min": 1,
                "cp_max": cp_max,
            },
        }

    @property
    def version(self) -> str:
        """E.g. ``postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``."""
        bin_dir = self._bin or find_postgres_bin_dir()
        if bin_dir is None:
            return "not installed"
        result = subprocess.run(  # noqa: S603 - the server's binary
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip()

    def _accepts_connections(self) -> bool:
        return self._client("pg_isready", "--quiet").returncode == 0

    def _client(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        return subprocess.run(  # noqa: S603 - PostgreSQL's own client programs
            [
                str(self._bin / program),
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--username",
                POSTGRES_ROLE,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
        )

    @staticmethod
    def _drop_root() -> dict[str, Any]:
        """Popen arguments that run the server as ``postgres`` when we are root, else nothing."""
        if os.geteuid() != 0:
            return {}
        try:
            account = pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            raise ServiceUnavailableError(
                f"running as root, but there is no `{POSTGRES_OS_USER}` user to run PostgreSQL"
                f" as (PostgreSQL refuses to run as root): {INSTALL_HINT}"
            ) from None
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


class RedisServer(_Service):
    """A throwaway ``redis-server`` on loopback: no persistence, its files in a temp dir."""

    name = "Redis"

    def start(self) -> None:
        if self._process.started:
            raise RuntimeError("this Redis server is already running")
        require_services()
        redis_server = find_redis_server()
        assert redis_server is not None
        directory = self._create_directory("testbed-redis-")
        self.port = free_port()
        self._spawn(
            [
                str(redis_server),
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--daemonize",
                "no",
            ],
            self.ping,
        )

    def ping(self) -> bool:
        """Whether the server answers ``PING`` with ``PONG``."""
        try:
            with socket.create_connection((HOST, self.port), timeout=2) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def synapse_redis_config(self) -> dict[str, Any]:
        """The ``redis:`` section of ``homeserver.yaml`` for this server."""
        return {"enabled": True, "host": HOST, "port": self.port}

    @property
    def version(self) -> str:
        redis_server = find_redis_server()
        if redis_server is None:
            return "not installed"
        result = subprocess.run(  # noqa: S603 - the server's binary
            [str(redis_server), "--version"], capture_output=True, text=True, check=False
        )
        return result.stdout.strip()
