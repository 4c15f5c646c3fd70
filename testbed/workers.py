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
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from testbed.homeserver import (
    DEFAULT_STARTUP_TIMEOUT,
    HOST,
    STOP_GRACE_SECONDS,
    ClientListener,
    Homeserver,
    JsonDict,
    StartupError,
    free_port,
)
from testbed.process import Lifecycle, ManagedProcess, read_log
from testbed.services import PostgresServer, RedisServer

#: What the worker is called in ``worker_name`` (and in Synapse's logs and metrics).
DEFAULT_WORKER_NAME = "login_worker"


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


class WorkerProcess(ClientListener):
    """One ``synapse.app.generic_worker`` process reading the main process's ``homeserver.yaml``.

    It has the HTTP helpers of :class:`Homeserver` (the same :class:`ClientListener`), aimed at
    the worker's own client listener.
    """

    _where = " on the worker"

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
        self._process = ManagedProcess(f"the Synapse worker {name}", stop_grace=STOP_GRACE_SECONDS)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Write the worker's config next to the main process's, start it, wait for ``/health``."""
        if self._process.started:
            raise RuntimeError("this worker is already running")
        if not self._port:
            self._port = free_port()
        self._write_config()
        self._process.start(
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
            output=self._path("process.out"),
            env={**os.environ, **self._env},
            is_ready=self._is_healthy,
            timeout=self._startup_timeout,
            poll_interval=0.1,
            failure=lambda reason: StartupError(reason, self.output_text(), self.log_text()),
            ready_word="healthy",
        )

    def stop(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL). Its files stay with the main process's."""
        self._process.stop()

    # -- what tests read ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the worker's client listener (where ``/login`` would be routed)."""
        return f"http://{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def server_name(self) -> str:
        return self._main.server_name

    @property
    def config_path(self) -> Path:
        return self._path("worker.yaml")

    def log_text(self) -> str:
        """Everything the worker has logged (INFO and up), e.g. the module's accept/refuse lines."""
        return read_log(self._path("worker.log"))

    def output_text(self) -> str:
        return read_log(self._path("process.out"))

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


class WorkerDeployment(Lifecycle):
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

    def restart(self, *, modules: Sequence[Mapping[str, Any]]) -> None:
        """Stop both processes and start them again with ``modules`` (e.g. to rotate a secret).

        The database, users, devices and tokens stay, as for an admin restarting a deployment.
        """
        self.worker.stop()
        self.main.restart(modules=modules)
        self.worker.start()

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
