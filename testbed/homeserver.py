"""A real Synapse homeserver process on loopback, for end-to-end tests.

Synapse's in-process harness is fast but skips start-up (module loading, ``parse_config``, the
real listener, worker-free HTTP stack). This launcher runs ``python -m synapse.app.homeserver``
exactly as an admin would, with SQLite in a throw-away directory, so tests can check what an admin
and a bridge would actually see: start-up errors, ``GET /login``, log lines, real access tokens.

Only the standard library is used, so the launcher itself adds no test dependency beyond Synapse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from testbed.process import ManagedProcess, ScratchProcess, read_log, tail

JsonDict = dict[str, Any]

#: Loopback only: nothing in a test may listen on, or talk to, anything else.
HOST = "127.0.0.1"

#: Generous, because a cold start on a busy CI machine can take far longer than the usual 3 s.
DEFAULT_STARTUP_TIMEOUT = 60.0

#: How long SIGTERM gets before SIGKILL; Synapse normally stops in well under a second.
STOP_GRACE_SECONDS = 5.0

#: Enough for any test; the defaults (e.g. 5 logins per address) make a test suite flaky with 429s.
_UNLIMITED = {"per_second": 10_000, "burst_count": 10_000}
_RATE_LIMITS: JsonDict = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_room_creation": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_profile": _UNLIMITED,
}

#: A urllib opener that never uses a proxy from the environment: the server is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _as_user(path: str, user_id: str | None) -> str:
    """``path`` with the appservice ``user_id`` query parameter, when there is one."""
    if user_id is None:
        return path
    return f"{path}?{urllib.parse.urlencode({'user_id': user_id})}"


#: Callables run by :meth:`Homeserver.close` before the data directory goes, e.g. to read the logs
#: of every server a test suite starts. Tests add and remove their own.
CLOSE_HOOKS: list[Callable[[Homeserver], None]] = []


class StartupError(RuntimeError):
    """Synapse did not come up. The message carries the tails of its output and log.

    Start-up failures (a ``ConfigError`` from a module's ``parse_config``, a bad option) are what
    some tests assert on, so the text must be readable from the exception alone.
    """

    def __init__(self, reason: str, output: str, log: str) -> None:
        self.reason = reason
        self.output = output
        self.log = log
        super().__init__(
            f"{reason}\n--- Synapse stdout/stderr (tail) ---\n{tail(output, 60)}"
            f"\n--- homeserver.log (tail) ---\n{tail(log, 60)}"
        )


class HomeserverError(RuntimeError):
    """A helper's request got an unexpected answer; status and body are kept for the assertion."""

    def __init__(self, what: str, status: int, body: JsonDict) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{what} failed with HTTP {status}: {body}")


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (the OS picks it, so no guessing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ClientListener:
    """HTTP helpers for a Synapse client listener at :attr:`url`: the main process or a worker.

    Subclasses provide ``url``. Requests go straight to loopback (never through a proxy from the
    environment) and return the status with the parsed body, so a test can assert on either.
    """

    #: Added to the description in a :class:`HomeserverError`, to tell processes apart.
    _where = ""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> tuple[int, JsonDict]:
        """One HTTP request; returns (status, parsed JSON) and never raises on an error status.

        A body that is not a JSON object comes back as ``{"_raw": text}``.
        """
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        return self.raw_request(method, path, data, headers)

    def raw_request(
        self, method: str, path: str, data: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, JsonDict]:
        """:meth:`request` with the body bytes and headers as given (e.g. a body not in JSON)."""
        url = self.url + path  # always http://127.0.0.1:<port>/...: we built it
        req = urllib.request.Request(url, data=data, headers=dict(headers), method=method)  # noqa: S310
        try:
            with _OPENER.open(req, timeout=30) as response:
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

    def put(
        self, path: str, body: Mapping[str, Any], access_token: str | None = None
    ) -> tuple[int, JsonDict]:
        return self.request("PUT", path, body, access_token)

    def delete(self, path: str, access_token: str | None = None) -> tuple[int, JsonDict]:
        return self.request("DELETE", path, None, access_token)

    def login(self, body: Mapping[str, Any]) -> tuple[int, JsonDict]:
        """``POST /login`` with ``body`` as given, so tests control every field."""
        return self.post("/_matrix/client/v3/login", body)

    def login_flows(self) -> list[str]:
        """The login types ``GET /login`` advertises, in the server's order (clients care).

        A worker advertises what its own copy of the modules registered.
        """
        status, body = self.get("/_matrix/client/v3/login")
        if status != 200:
            raise HomeserverError(f"GET /login{self._where}", status, body)
        return [flow["type"] for flow in body["flows"]]

    def whoami(self, access_token: str) -> tuple[int, JsonDict]:
        return self.get("/_matrix/client/v3/account/whoami", access_token)

    def _is_healthy(self) -> bool:
        """Whether ``/health`` answers 200 (Synapse's listeners are up and serving)."""
        try:
            with _OPENER.open(self.url + "/health", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False  # not listening yet


def oauth_delegation_config(endpoint: str | None = None) -> JsonDict:
    """``extra_config`` that delegates auth to the Matrix Authentication Service (MAS).

    What Synapse 1.163.2 needs to accept ``matrix_authentication_service.enabled: true``: an
    endpoint and a secret, and password login off (it refuses ``password_config.enabled`` and
    ``enable_registration`` with delegation; the launcher already leaves registration off).
    No MAS runs: by default the endpoint is a loopback port nothing listens on, which is enough
    for Synapse to start and reach its module checks; requests with an ordinary access token
    then fail, while appservice tokens are Synapse's own and keep working.
    """
    return {
        "matrix_authentication_service": {
            "enabled": True,
            "endpoint": endpoint or f"http://{HOST}:{free_port()}/",
            "secret": secrets.token_hex(32),
        },
        "password_config": {"enabled": False},
    }


class Homeserver(ScratchProcess, ClientListener):
    """One Synapse process with its own data directory; use it as a context manager.

    ``modules`` is the ``modules:`` list exactly as it would appear in ``homeserver.yaml`` (may be
    empty, so the same tests can run against a server without our module). ``extra_config`` is
    merged over the generated config at the top level, so a test can replace whole sections
    (``password_config``, ``rc_login``, ...; see :func:`oauth_delegation_config`). ``env`` is
    added to the process environment. ``app_service_config_files`` are appservice registration
    files, listed in ``app_service_config_files`` as an admin would (Synapse reads them at
    start-up and refuses to start on a bad one). ``synapse_rate_limits`` keeps Synapse's own
    default rate limits, which the launcher otherwise lifts, for measuring what an admin's
    server does.

    The process and the directory are always cleaned up on exit, including when start-up fails
    inside ``with``.
    """

    def __init__(
        self,
        modules: Sequence[Mapping[str, Any]] = (),
        *,
        server_name: str = "test.local",
        extra_config: Mapping[str, Any] | None = None,
        enable_metrics: bool = False,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        app_service_config_files: Sequence[str | os.PathLike[str]] = (),
        synapse_rate_limits: bool = False,
    ) -> None:
        self._modules = [dict(module) for module in modules]
        self._modules_ever = list(self._modules)
        self._server_name = server_name
        self._extra_config = dict(extra_config or {})
        self._app_service_config_files = [os.fspath(path) for path in app_service_config_files]
        self._synapse_rate_limits = synapse_rate_limits
        self._enable_metrics = enable_metrics
        self._env = dict(env or {})
        self._startup_timeout = startup_timeout
        super().__init__(ManagedProcess("Synapse", stop_grace=STOP_GRACE_SECONDS))
        # Fixed for the server's life, so a restart with new config keeps its tokens valid.
        self._registration_secret = secrets.token_hex(32)
        self._macaroon_secret = secrets.token_hex(32)
        self._form_secret = secrets.token_hex(32)
        self._port = 0
        self._metrics_port = 0
        self._admin_token: str | None = None
        self._txn = 0

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Create the data directory, generate keys, start Synapse and wait for ``/health``.

        Raises ``StartupError`` (with Synapse's output) if it exits or is not healthy in time;
        the process is stopped by then, but the directory stays until ``close()``.
        """
        if self._process.started:
            raise RuntimeError("this homeserver is already running")
        if self._dir is None:
            self._create_directory("synapse-testbed-")
            self._port = free_port()
            self._metrics_port = free_port() if self._enable_metrics else 0
            self._write_config()
            self._generate_keys()
        self._spawn()

    def restart(
        self,
        *,
        env: Mapping[str, str] | None = None,
        modules: Sequence[Mapping[str, Any]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
        app_service_config_files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        """Stop the process and start a new one on the same data directory and port.

        ``env`` replaces the extra environment (e.g. another ``PYTHONHASHSEED``); ``modules``,
        ``extra_config`` and ``app_service_config_files``, when given, replace the earlier ones,
        e.g. to rotate a secret or install a registration. Users, tokens and devices survive, as
        they would for an admin restarting Synapse.
        """
        self.stop()
        if env is not None:
            self._env = dict(env)
        if modules is not None:
            self._modules = [dict(module) for module in modules]
            self._modules_ever += self._modules
        if extra_config is not None:
            self._extra_config = dict(extra_config)
        if app_service_config_files is not None:
            self._app_service_config_files = [os.fspath(p) for p in app_service_config_files]
        if any(x is not None for x in (modules, extra_config, app_service_config_files)):
            self._write_config()
        self.start()

    def close(self) -> None:
        """Stop the process and delete the data directory. Safe to call more than once.

        Each of :data:`CLOSE_HOOKS` first sees the stopped server, its logs still on disk.
        """
        try:
            if self._dir is not None:
                self.stop()
                for hook in list(CLOSE_HOOKS):
                    hook(self)
        finally:
            try:
                super().close()
            finally:
                self._admin_token = None  # its user was in the deleted database

    @classmethod
    def start_expecting_failure(
        cls,
        modules: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> StartupError:
        """Start a server that must refuse to start, and return the ``StartupError`` it raised.

        Takes the constructor's arguments. If Synapse does start, it is stopped and an
        ``AssertionError`` is raised, so a test cannot pass by accident.
        """
        homeserver = cls(modules, **kwargs)
        try:
            homeserver.start()
        except StartupError as error:
            return error
        finally:
            homeserver.close()
        raise AssertionError("Synapse started, but a start-up failure was expected")

    # -- what tests read ---------------------------------------------------------------------

    @property
    def server_name(self) -> str:
        return self._server_name

    @property
    def url(self) -> str:
        """Base URL of the client listener, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{HOST}:{self._port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus listener; only with ``enable_metrics=True``."""
        if not self._enable_metrics:
            raise RuntimeError("this homeserver was started without enable_metrics=True")
        return f"http://{HOST}:{self._metrics_port}/_synapse/metrics"

    @property
    def data_dir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("this homeserver has no data directory (not started, or closed)")
        return self._dir

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self._server_name}"

    def log_text(self) -> str:
        """Everything Synapse has logged so far (INFO and up), e.g. to find a module's lines."""
        return read_log(self.data_dir / "homeserver.log")

    def all_output(self) -> dict[str, str]:
        """Every log and output file in the data directory (workers' too), by file name."""
        names = sorted(
            path.name for path in self.data_dir.iterdir() if path.suffix in (".log", ".out")
        )
        return {name: read_log(self.data_dir / name) for name in names}

    @property
    def modules_ever(self) -> list[dict[str, Any]]:
        """Every ``modules:`` entry this server has been started with, across restarts."""
        return [dict(module) for module in self._modules_ever]

    def output_text(self) -> str:
        """Synapse's own stdout/stderr, where errors before logging is set up end up."""
        return read_log(self.data_dir / "process.out")

    # -- Matrix helpers ----------------------------------------------------------------------

    def password_login(self, user_id: str, password: str) -> tuple[int, JsonDict]:
        """An ordinary ``m.login.password`` login, as Element would send it."""
        return self.login(
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": password,
            }
        )

    def register_user(
        self, localpart: str, password: str | None = None, admin: bool = False
    ) -> str:
        """Create a user through the shared-secret admin API and return the full user ID.

        Goes through ``/_synapse/admin/v1/register`` (nonce + HMAC-SHA1, as Synapse documents),
        so it works however login and registration are configured.
        """
        return str(self._register(localpart, password, admin)["user_id"])

    @property
    def admin_token(self) -> str:
        """Access token of a server admin, registered the first time it is needed."""
        if self._admin_token is None:
            body = self._register(f"testbed-admin-{secrets.token_hex(4)}", None, admin=True)
            self._admin_token = str(body["access_token"])
        return self._admin_token

    def deactivate_user(self, user_id: str, erase: bool = False) -> None:
        """Deactivate ``user_id`` with the admin API, as an admin offboarding someone would."""
        path = f"/_synapse/admin/v1/deactivate/{urllib.parse.quote(user_id, safe='')}"
        status, body = self.post(path, {"erase": erase}, self.admin_token)
        if status != 200:
            raise HomeserverError(f"deactivating {user_id}", status, body)

    def device_names(self, user_id: str) -> dict[str, str | None]:
        """The user's devices (Synapse's admin API): device ID -> display name."""
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id, safe='')}/devices"
        status, body = self.get(path, self.admin_token)
        if status != 200:
            raise HomeserverError(f"listing the devices of {user_id}", status, body)
        return {str(d["device_id"]): d.get("display_name") for d in body["devices"]}

    def create_room(self, access_token: str, *, as_user: str | None = None) -> str:
        path = _as_user("/_matrix/client/v3/createRoom", as_user)
        status, body = self.post(path, {}, access_token)
        if status != 200:
            raise HomeserverError("createRoom", status, body)
        return str(body["room_id"])

    def send_text(
        self, access_token: str, room_id: str, text: str, *, as_user: str | None = None
    ) -> str:
        """Send an ``m.text`` message and return its event ID."""
        self._txn += 1
        path = (
            f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id, safe='')}"
            f"/send/m.room.message/testbed{self._txn}"
        )
        body_ = {"msgtype": "m.text", "body": text}
        status, body = self.put(_as_user(path, as_user), body_, access_token)
        if status != 200:
            raise HomeserverError("sending a message", status, body)
        return str(body["event_id"])

    def event_sender(
        self, access_token: str, room_id: str, event_id: str, *, as_user: str | None = None
    ) -> str:
        room, event = (urllib.parse.quote(x, safe="") for x in (room_id, event_id))
        path = _as_user(f"/_matrix/client/v3/rooms/{room}/event/{event}", as_user)
        status, body = self.get(path, access_token)
        if status != 200:
            raise HomeserverError("fetching an event", status, body)
        return str(body["sender"])

    def sender_of_new_message(
        self,
        access_token: str,
        text: str = "hello from the testbed",
        *,
        as_user: str | None = None,
    ) -> str:
        """Create a room, post a message and return the sender the server recorded for it.

        ``whoami`` only shows a token is accepted; this shows the token can act as its user, which
        is what a bridge's double puppet is for. With ``as_user``, ``access_token`` is an
        appservice's ``as_token`` and every request carries ``?user_id=``, as a bridge using the
        appservice method sends them.
        """
        room_id = self.create_room(access_token, as_user=as_user)
        event_id = self.send_text(access_token, room_id, text, as_user=as_user)
        return self.event_sender(access_token, room_id, event_id, as_user=as_user)

    def appservice_whoami(self, as_token: str, user_id: str) -> tuple[int, JsonDict]:
        """``whoami?user_id=``: the check a bridge makes before it double-puppets that way."""
        return self.get(_as_user("/_matrix/client/v3/account/whoami", user_id), as_token)

    # -- internals ---------------------------------------------------------------------------

    def _register(self, localpart: str, password: str | None, admin: bool) -> JsonDict:
        password = password if password is not None else secrets.token_urlsafe(24)
        status, body = self.get("/_synapse/admin/v1/register")
        if status != 200:
            raise HomeserverError("getting a registration nonce", status, body)
        nonce = str(body["nonce"])
        message = b"\x00".join(
            part.encode("utf-8")
            for part in (nonce, localpart, password, "admin" if admin else "notadmin")
        )
        mac = hmac.new(self._registration_secret.encode("utf-8"), message, hashlib.sha1)
        status, body = self.post(
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        if status != 200:
            raise HomeserverError(f"registering {localpart}", status, body)
        return body

    def _config(self) -> JsonDict:
        data_dir = self.data_dir
        listeners: list[JsonDict] = [
            {
                "port": self._port,
                "bind_addresses": [HOST],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        if self._enable_metrics:
            listeners.append(
                {"port": self._metrics_port, "bind_addresses": [HOST], "type": "metrics"}
            )
        config: JsonDict = {
            "server_name": self._server_name,
            "public_baseurl": f"{self.url}/",
            "pid_file": str(data_dir / "homeserver.pid"),
            "listeners": listeners,
            "database": {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}},
            "log_config": str(data_dir / "log.config"),
            "media_store_path": str(data_dir / "media_store"),
            "signing_key_path": str(data_dir / "signing.key"),
            "registration_shared_secret": self._registration_secret,
            "macaroon_secret_key": self._macaroon_secret,
            "form_secret": self._form_secret,
            "report_stats": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "url_preview_enabled": False,
            "enable_metrics": self._enable_metrics,
            "modules": self._modules,
            **({} if self._synapse_rate_limits else _RATE_LIMITS),
        }
        if self._app_service_config_files:
            config["app_service_config_files"] = list(self._app_service_config_files)
        config.update(self._extra_config)
        return config

    def _write_config(self) -> None:
        """Write ``homeserver.yaml`` and the log config. JSON is valid YAML, so no YAML library."""
        data_dir = self.data_dir
        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                    "%(request)s - %(message)s"
                }
            },
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filters": ["context"],
                    "filename": str(data_dir / "homeserver.log"),
                    "encoding": "utf-8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (data_dir / "log.config").write_text(json.dumps(log_config, indent=2), encoding="utf-8")
        self.config_path.write_text(json.dumps(self._config(), indent=2), encoding="utf-8")

    def _command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path), *extra]

    def _process_env(self) -> dict[str, str]:
        return {**os.environ, **self._env}

    def _generate_keys(self) -> None:
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            self._command("--generate-keys"),
            cwd=self.data_dir,
            env=self._process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=self._startup_timeout,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout.decode("utf-8", errors="replace")
            raise StartupError(
                f"synapse --generate-keys exited with code {result.returncode}", output, ""
            )

    def _spawn(self) -> None:
        self._process.start(
            self._command(),
            cwd=self.data_dir,
            output=self.data_dir / "process.out",
            env=self._process_env(),
            is_ready=self._is_healthy,
            timeout=self._startup_timeout,
            poll_interval=0.1,
            failure=lambda reason: StartupError(reason, self.output_text(), self.log_text()),
            ready_word="healthy",
        )
