"""A Synapse worker deployment on loopback: main process plus one ``generic_worker`` for ``/login``.

Set up the way Synapse's worker documentation describes (``docs/workers.md``): one shared
``homeserver.yaml`` on PostgreSQL with ``redis: enabled``, an ``instance_map`` whose ``main`` entry
is the main process's HTTP ``replication`` listener, and a worker config file
(``worker_app: synapse.app.generic_worker``, ``worker_name``, a ``client`` listener,
``worker_log_config``). The worker reads the shared file too, so the ``modules:`` list is loaded
by both processes, as an admin's deployment would. A reverse proxy would route ``/login`` to the
worker; tests talk to the worker's listener directly instead.

The main process is :class:`testbed.homeserver.Homeserver` (with one more listener), so every
helper of that class works on it; the worker has the HTTP helpers a bridge needs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from testbed.homeserver import (
    DEFAULT_STARTUP_TIMEOUT,
    HOST,
    STOP_GRACE_SECONDS,
    Homeserver,
    HomeserverError,
    JsonDict,
    StartupError,
    free_port,
)
from testbed.services import PostgresServer, RedisServer

#: What the worker is called in ``worker_name`` (and in Synapse's logs and metrics).
DEFAULT_WORKER_NAME = "login_worker"

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


class MainProcess(Homeserver):
    """The main process of a worker deployment: a :class:`Homeserver` plus a replication listener.

    Workers reach the main process over HTTP replication (e.g. to create the device and access
    token of a login they handle), at the address ``instance_map.main`` names.
    """

    def __init__(
        self, modules: Sequence[Mapping[str, Any]] = (), *, replication_port: int, **kwargs: Any
    ) -> None:
        super().__init__(modules, **kwargs)
        self.replication_port = replication_port

    def _config(self) -> JsonDict:
        config = super()._config()
        replication = {
            "port": self.replication_port,
            "bind_addresses": [HOST],
            "type": "http",
            "tls": False,
            "resources": [{"names": ["replication"], "compress": False}],
        }
        config["listeners"] = [*config["listeners"], replication]
        return config


class WorkerProcess:
    """One ``synapse.app.generic_worker`` process reading the main process's ``homeserver.yaml``."""

    def __init__(
        self,
        main: Homeserver,
        *,
        name: str = DEFAULT_WORKER_NAME,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        self._main = main
        self.name = name
        self._env = dict(env or {})
        self._startup_timeout = startup_timeout
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Write the worker's config next to the main process's, start it, wait for ``/health``."""
        if self._process is not None:
            raise RuntimeError("this worker is already running")
        if not self._port:
            self._port = free_port()
        self._write_config()
        with open(self._path("process.out"), "ab") as out:
            # A plain argument list, no shell: the PID we hold is the worker's own.
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "synapse.app.generic_worker",
                    "-c",
                    str(self._main.config_path),
                    "-c",
                    str(self.config_path),
                ],
                cwd=self._main.data_dir,
                env={**os.environ, **self._env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL). Its files stay with the main process's."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # -- what tests read ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the worker's client listener (where ``/login`` would be routed)."""
        return f"http://{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def server_name(self) -> str:
        return self._main.server_name

    @property
    def config_path(self) -> Path:
        return self._path("worker.yaml")

    def log_text(self) -> str:
        """Everything the worker has logged (INFO and up), e.g. the module's accept/refuse lines."""
        return _read(self._path("worker.log"))

    def output_text(self) -> str:
        return _read(self._path("process.out"))

    # -- HTTP (the same signatures as Homeserver's) ------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> tuple[int, JsonDict]:
        """One HTTP request to the worker; (status, parsed JSON); never raises on a status."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1:<port>, built here
            self.url + path, data=data, headers=headers, method=method
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                status: int = response.status
                raw: bytes = response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = None
        return status, parsed if isinstance(parsed, dict) else {"_raw": text}

    def get(self, path: str, access_token: str | None = None) -> tuple[int, JsonDict]:
        return self.request("GET", path, None, access_token)

    def post(
        self, path: str, body: Mapping[str, Any], access_token: str | None = None
    ) -> tuple[int, JsonDict]:
        return self.request("POST", path, body, access_token)

    def login(self, body: Mapping[str, Any]) -> tuple[int, JsonDict]:
        """``POST /login`` on the worker with ``body`` as given."""
        return self.post("/_matrix/client/v3/login", body)

    def login_flows(self) -> list[str]:
        """The login types the worker advertises; they come from the worker's own modules."""
        status, body = self.get("/_matrix/client/v3/login")
        if status != 200:
            raise HomeserverError("GET /login on the worker", status, body)
        return [flow["type"] for flow in body["flows"]]

    def whoami(self, access_token: str) -> tuple[int, JsonDict]:
        return self.get("/_matrix/client/v3/account/whoami", access_token)

    # -- internals ---------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self._main.data_dir / f"{self.name}.{name}"

    def _write_config(self) -> None:
        """The worker's own file; JSON is YAML. Its log config is the main one's, renamed."""
        log_config = json.loads((self._main.data_dir / "log.config").read_text(encoding="utf-8"))
        for handler in log_config.get("handlers", {}).values():
            if "filename" in handler:
                handler["filename"] = str(self._path("worker.log"))
        log_config_path = self._path("log.config")
        log_config_path.write_text(json.dumps(log_config, indent=2), encoding="utf-8")
        worker_config = {
            "worker_app": "synapse.app.generic_worker",
            "worker_name": self.name,
            "worker_listeners": [
                {
                    "type": "http",
                    "port": self._port,
                    "bind_addresses": [HOST],
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "worker_log_config": str(log_config_path),
        }
        self.config_path.write_text(json.dumps(worker_config, indent=2), encoding="utf-8")

    def _wait_until_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                raise StartupError(
                    f"the Synapse worker {self.name} exited with code {returncode} during start-up",
                    self.output_text(),
                    self.log_text(),
                )
            try:
                with _OPENER.open(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise StartupError(
                    f"the Synapse worker {self.name} was not healthy after"
                    f" {self._startup_timeout:.0f} s",
                    self.output_text(),
                    self.log_text(),
                )
            time.sleep(0.1)


class WorkerDeployment:
    """Main process + one ``generic_worker``, on a fresh database of ``postgres`` and on ``redis``.

    ``modules`` and ``extra_config`` are as for :class:`Homeserver` and go into the shared config,
    so both processes load the same modules. Both processes are always stopped, and the data
    directory deleted, on exit, including when start-up fails inside ``with``. The PostgreSQL and
    Redis servers belong to the caller (one pair can serve many deployments).
    """

    def __init__(
        self,
        modules: Sequence[Mapping[str, Any]] = (),
        *,
        postgres: PostgresServer,
        redis: RedisServer,
        server_name: str = "test.local",
        extra_config: Mapping[str, Any] | None = None,
        worker_name: str = DEFAULT_WORKER_NAME,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        self._postgres = postgres
        self._redis = redis
        self._modules = [dict(module) for module in modules]
        self._server_name = server_name
        self._extra_config = dict(extra_config or {})
        self._worker_name = worker_name
        self._env = dict(env or {})
        self._startup_timeout = startup_timeout
        self._main: MainProcess | None = None
        self._worker: WorkerProcess | None = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        if self._main is not None:
            raise RuntimeError("this deployment is already running")
        replication_port = free_port()
        database = self._postgres.create_database()
        shared_config: JsonDict = {
            "database": self._postgres.synapse_database_config(database),
            "redis": self._redis.synapse_redis_config(),
            "instance_map": {"main": {"host": HOST, "port": replication_port}},
            **self._extra_config,
        }
        self._main = MainProcess(
            self._modules,
            replication_port=replication_port,
            server_name=self._server_name,
            extra_config=shared_config,
            env=self._env,
            startup_timeout=self._startup_timeout,
        )
        self._main.start()
        self._worker = WorkerProcess(
            self._main,
            name=self._worker_name,
            env=self._env,
            startup_timeout=self._startup_timeout,
        )
        self._worker.start()

    def close(self) -> None:
        """Stop the worker, then the main process, and delete the data directory."""
        try:
            if self._worker is not None:
                self._worker.stop()
        finally:
            self._worker = None
            if self._main is not None:
                self._main.close()
                self._main = None

    @property
    def main(self) -> MainProcess:
        if self._main is None:
            raise RuntimeError("this deployment is not running")
        return self._main

    @property
    def worker(self) -> WorkerProcess:
        if self._worker is None:
            raise RuntimeError("this deployment is not running")
        return self._worker


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
