"""mautrix-telegram as a real process on loopback, double-puppeting a user without Telegram.

The bridge runs from its own virtualenv (:mod:`testbed.bridge_venv`), exactly as an admin runs it:
``python -m mautrix_telegram -g`` writes the registration Synapse loads, then ``python -m
mautrix_telegram -c config.yaml`` starts it. Our config holds only the keys an admin sets (the
bridge fills in the rest from its shipped example and saves the result back, as it does for
admins); every start rewrites it, so what the bridge reads is what the caller asked for.

What makes it double-puppet without any chat network, as read in mautrix-telegram 0.15.3
(commit 53bf278f1e816642b5c9948d6d020e66dea4f3b8) and mautrix-python 0.20.8 (commit
dbf642555de16374108ba3745fdbe3bbabfa0a3f):

- ``mautrix_telegram/puppet.py`` ``Puppet.init_cls``: at start-up, ``try_start()`` for every row
  of the ``puppet`` table with a ``custom_mxid`` (``db/puppet.py`` ``all_with_custom_mxid``).
- ``mautrix/bridge/custom_puppet.py`` ``CustomPuppetMixin.start(retry_auto_login=True)``:
  ``whoami`` with the stored token; on ``M_UNKNOWN_TOKEN``, if the user's server is in
  ``login_shared_secret_map``, ``switch_mxid("auto", mxid)`` logs in with the shared secret
  (``_login_with_shared_secret``: the first of devture / password in ``GET /login``, device ID
  and name "Telegram Bridge"), or for an ``as_token:`` value stores ``"appservice-config"`` and acts
  with that token and ``?user_id=``. Then ``_leave_rooms_with_default_user``: for each portal room
  the Telegram ghost is in (``default_puppet_should_leave_room``: a portal that is not a private
  chat), the ghost leaves and the double puppet joins. A failure is logged as "Failed to initialize
  custom mxid" and the bridge runs on.
- ``mautrix_telegram/config.py``: a single ``bridge.login_shared_secret`` is copied into
  ``login_shared_secret_map`` under ``homeserver.domain`` when the config is upgraded.

The older release the testbed also runs, mautrix-telegram 0.14.0 (commit
4504973affd66002cfec4b89f7af4d345c2a3c1f) on mautrix-python 0.19.16 (commit
d92d61fa25c0aa50297ba198d42e92906fb5315f), takes the same path, but its
``_login_with_shared_secret`` always sends ``m.login.password`` and has no ``as_token:`` value:
any value but ``appservice`` is an HMAC key (both came in mautrix-python 0.20.1). Its
``wait_for_connection`` (``mautrix/bridge/matrix.py``) asks ``/versions`` as the bot before it
registers the bot, which today's Synapse refuses for an unregistered appservice user, so the
testbed registers the bot first (:meth:`TelegramBridge.register_appservice_user`), as a
deployment that ran an earlier release already has it.

So one ``puppet`` row (a made-up Telegram ID, ``custom_mxid`` = the user, a dead access token)
and one ``portal`` row (a group chat whose room the ghost is in) make the real bridge double-puppet
at its next start and act as the user by joining that room. ``telegram.server`` points at a closed
port on loopback, so a bug that made it dial Telegram would fail instead of leaving the machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from testbed.bridge_venv import BridgeVenv
from testbed.homeserver import (
    HOST,
    ClientListener,
    Homeserver,
    HomeserverError,
    JsonDict,
    free_port,
)
from testbed.process import ManagedProcess, ScratchProcess, read_log, tail

#: The last Python release of the bridge, on mautrix-python 0.20.x: both double-puppet methods.
CURRENT = BridgeVenv("mautrix-telegram")
#: The last release on mautrix-python 0.19.x, whose double puppeting predates ``as_token:``.
LEGACY = BridgeVenv("mautrix-telegram-0.14.0")


def release_name(venv: BridgeVenv) -> str:
    """How the README and the demo name a bridge: its release and its mautrix-python's."""
    return (
        f"mautrix-telegram {venv.pinned('mautrix-telegram')}"
        f" (mautrix-python {venv.pinned('mautrix')})"
    )


NAME = release_name(CURRENT)
LEGACY_NAME = release_name(LEGACY)
#: ``Puppet.login_device_name`` (``mautrix_telegram/puppet.py``): device ID and display name.
DEVICE = "Telegram Bridge"
#: ``appservice.bot_username`` in the shipped example config, which we leave as it is.
BOT_LOCALPART = "telegrambot"
#: ``bridge.username_template`` in the shipped example config.
GHOST_TEMPLATE = "telegram_{}"

#: What the ``puppet`` row holds before the bridge starts: a token Synapse never issued, so
#: ``whoami`` answers M_UNKNOWN_TOKEN, exactly as for a session ``sessions revoke`` ended.
DEAD_TOKEN = "syt_bm90IGlzc3VlZA_NeverIssuedByThisServer_000000"
#: What ``switch_mxid`` stores instead of a token for an ``as_token:`` value.
APPSERVICE_CONFIG = "appservice-config"

#: ``mautrix/util/program.py`` logs this once every start-up action (double puppets included) ran.
READY_LINE = "Startup actions complete"
#: ``CustomPuppetMixin.try_start`` logs this (with the traceback) when double puppeting failed.
FAILED_LINE = "Failed to initialize custom mxid"

STARTUP_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 10.0
_ENV_OVERRIDE_PREFIX = "MAUTRIX_TELEGRAM_"  # the bridge reads config overrides from these

#: Callables run by :meth:`TelegramBridge.close` before the directory goes (its logs still there),
#: e.g. the test suite's check for tokens in logs. Tests add and remove their own.
CLOSE_HOOKS: list[Callable[[TelegramBridge], None]] = []


class BridgeStartError(RuntimeError):
    """The bridge did not start or did not finish its start-up; the message has its log tail."""

    def __init__(self, reason: str, output: str, log: str) -> None:
        super().__init__(
            f"{reason}\n--- bridge stdout/stderr (tail) ---\n{tail(output, 40)}"
            f"\n--- bridge log (tail) ---\n{tail(log, 60)}"
        )


def problem() -> str | None:
    """Why the bridges cannot run here, or ``None`` when they can."""
    return CURRENT.problem() or LEGACY.problem()


def shared_secret_map(server_name: str, secret: str) -> dict[str, Any]:
    """``bridge:`` options for the module's method: the map mautrix-python bridges read."""
    return {"login_shared_secret_map": {server_name: secret}}


def single_shared_secret(secret: str) -> dict[str, Any]:
    """``bridge:`` options in the older single-key form, which the bridge's upgrade converts."""
    return {"login_shared_secret": secret}


def appservice_secret(server_name: str, as_token: str) -> dict[str, Any]:
    """``bridge:`` options for the appservice method (``synapse_dp_auth appservice``'s token)."""
    return {"login_shared_secret_map": {server_name: AS_TOKEN_PREFIX + as_token}}


@dataclass(frozen=True)
class Registration:
    """What ``-g`` generated: the file for ``app_service_config_files`` and the bridge's tokens."""

    path: Path
    as_token: str
    hs_token: str


class TelegramBridge(ScratchProcess):
    """One bridge directory (config, registration, SQLite database, log) and its process.

    :meth:`generate_registration` first (Synapse must load the file before the bridge starts),
    then :meth:`configure` and :meth:`start`. :meth:`copy` makes a fresh directory with the same
    registration and database, so several runs can share one Synapse, one at a time.
    """

    def __init__(self, server_name: str, venv: BridgeVenv = CURRENT) -> None:
        super().__init__(ManagedProcess(venv.name, stop_grace=STOP_GRACE_SECONDS))
        self._server_name = server_name
        self._venv = venv
        self._appservice_port = 0
        self._registration: Registration | None = None
        self._homeserver_url = f"http://{HOST}:1"  # replaced by configure()
        self._bridge_options: dict[str, Any] = {}
        self._secrets_ever: set[str] = set()

    # -- set-up ------------------------------------------------------------------------------

    def generate_registration(self) -> Registration:
        """Write a config and run ``python -m mautrix_telegram -g``, as an admin does first."""
        if self._registration is not None:
            return self._registration
        directory = self._create_directory("mautrix-telegram-")
        self._appservice_port = free_port()
        self._write_config(tokens=None)
        result = subprocess.run(  # noqa: S603 - the bridge's own interpreter, our arguments
            [*self._command(), "-r", str(directory / "registration.yaml"), "-g"],
            cwd=directory,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise BridgeStartError(
                f"mautrix-telegram -g exited with code {result.returncode}",
                result.stdout + result.stderr,
                "",
            )
        path = directory / "registration.yaml"
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        self._registration = Registration(path, str(loaded["as_token"]), str(loaded["hs_token"]))
        return self._registration

    def copy(self) -> TelegramBridge:
        """A stopped copy in a new directory: same registration, database and port."""
        if self._registration is None or self._dir is None:
            raise RuntimeError("generate_registration() first")
        if self._process.started:
            raise RuntimeError("stop the bridge before copying it")
        other = TelegramBridge(self._server_name, self._venv)
        directory = other._create_directory("mautrix-telegram-")
        for name in ("registration.yaml", "bridge.db"):
            if (self._dir / name).exists():
                shutil.copy2(self._dir / name, directory / name)
        other._appservice_port = self._appservice_port
        other._registration = Registration(
            directory / "registration.yaml",
            self._registration.as_token,
            self._registration.hs_token,
        )
        other._homeserver_url = self._homeserver_url
        return other

    def configure(self, homeserver_url: str, bridge_options: Mapping[str, Any]) -> None:
        """The homeserver and the ``bridge:`` double-puppet keys for the next :meth:`start`."""
        self._homeserver_url = homeserver_url
        self._bridge_options = dict(bridge_options)
        self._secrets_ever |= _secrets_in(bridge_options)

    def start(self) -> None:
        """Start the bridge and wait until its start-up actions (double puppets too) are done."""
        registration = self.generate_registration()
        self._write_config(tokens=registration)
        log_path = self.directory / "bridge.log"
        offset = len(read_log(log_path))
        self._process.start(
            self._command(),
            cwd=self.directory,
            output=self.directory / "process.out",
            env=self._env(),
            is_ready=lambda: READY_LINE in read_log(log_path)[offset:],
            timeout=STARTUP_TIMEOUT,
            poll_interval=0.05,
            failure=lambda reason: BridgeStartError(reason, self.output_text(), self.log_text()),
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the bridge, run :data:`CLOSE_HOOKS`, delete the directory."""
        try:
            if self._dir is not None:
                self.stop()
                for hook in list(CLOSE_HOOKS):
                    hook(self)
        finally:
            super().close()

    # -- the bridge's database ---------------------------------------------------------------

    def add_double_puppet(self, telegram_id: int, user_id: str, access_token: str) -> None:
        """The ``puppet`` row of a Telegram user whose double puppet is ``user_id``.

        Columns from ``mautrix_telegram/db/upgrade/v00_latest_revision.py``; the rest default.
        """
        with self._database() as db:
            db.execute(
                "INSERT INTO puppet (id, custom_mxid, access_token) VALUES (?, ?, ?)",
                (telegram_id, user_id, access_token),
            )

    def add_portal(self, telegram_chat_id: int, room_id: str) -> None:
        """The ``portal`` row of a Telegram group chat bridged to ``room_id``."""
        with self._database() as db:
            db.execute(
                "INSERT INTO portal (tgid, tg_receiver, peer_type, mxid, megagroup)"
                " VALUES (?, ?, 'chat', ?, false)",
                (telegram_chat_id, telegram_chat_id, room_id),
            )

    def double_puppet_token(self, telegram_id: int) -> str | None:
        """The access token the bridge stored for that puppet's double puppet."""
        with self._database() as db:
            row = db.execute(
                "SELECT access_token FROM puppet WHERE id = ?", (telegram_id,)
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # -- the Matrix side of a portal ---------------------------------------------------------

    def ghost_id(self, telegram_id: int) -> str:
        return f"@{GHOST_TEMPLATE.format(telegram_id)}:{self._server_name}"

    @property
    def bot_id(self) -> str:
        return f"@{BOT_LOCALPART}:{self._server_name}"

    def create_portal_room(self, homeserver: ClientListener, telegram_id: int) -> str:
        """A public room made by the bridge's bot that the Telegram user's ghost is in.

        Done with the bridge's own as_token, as the bridge does when it bridges a chat; the bot
        stays in the room, so the room outlives the ghost leaving it.
        """
        for localpart in (BOT_LOCALPART, GHOST_TEMPLATE.format(telegram_id)):
            self.register_appservice_user(homeserver, localpart)
        as_token = self.generate_registration().as_token
        status, body = homeserver.post(
            _as(self.bot_id, "/_matrix/client/v3/createRoom"), {"preset": "public_chat"}, as_token
        )
        if status != 200:
            raise HomeserverError("createRoom", status, body)
        room_id = str(body["room_id"])
        self.join_as_ghost(homeserver, telegram_id, room_id)
        return room_id

    def register_appservice_user(self, homeserver: ClientListener, localpart: str) -> None:
        """Register one of the bridge's users (its bot, a ghost) with its as_token, as the
        bridge does; one that exists already is fine."""
        status, body = homeserver.post(
            "/_matrix/client/v3/register",
            {"type": "m.login.application_service", "username": localpart},
            self.generate_registration().as_token,
        )
        if status != 200 and body.get("errcode") != "M_USER_IN_USE":
            raise HomeserverError(f"registering {localpart}", status, body)

    def join_as_ghost(self, homeserver: ClientListener, telegram_id: int, room_id: str) -> None:
        path = f"/_matrix/client/v3/join/{urllib.parse.quote(room_id, safe='')}"
        as_token = self.generate_registration().as_token
        status, body = homeserver.post(_as(self.ghost_id(telegram_id), path), {}, as_token)
        if status != 200:
            raise HomeserverError("joining as the ghost", status, body)

    def memberships(self, homeserver: ClientListener, room_id: str) -> list[tuple[str, str, str]]:
        """Every membership event in the room, oldest first: (user, membership, sender).

        Read as the bridge's bot, which never leaves the room.
        """
        room = urllib.parse.quote(room_id, safe="")
        path = _as(self.bot_id, f"/_matrix/client/v3/rooms/{room}/messages", dir="b", limit="100")
        status, body = homeserver.get(path, self.generate_registration().as_token)
        if status != 200:
            raise HomeserverError("reading the room", status, body)
        return [
            (str(e["state_key"]), str(e["content"].get("membership")), str(e["sender"]))
            for e in reversed(body["chunk"])
            if e.get("type") == "m.room.member"
        ]

    def joined_as(
        self, homeserver: ClientListener, room_id: str, telegram_id: int, user_id: str
    ) -> bool:
        """Whether the ghost left the portal room and ``user_id`` joined it, sending the join
        as ``user_id``: what the bridge does with a new double puppet."""
        events = self.memberships(homeserver, room_id)
        ghost = self.ghost_id(telegram_id)
        return (ghost, "leave", ghost) in events and (user_id, "join", user_id) in events

    # -- what tests read ---------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError("this bridge has no directory (not set up, or closed)")
        return self._dir

    def log_text(self) -> str:
        """The bridge's log (DEBUG for mautrix's ``mau`` loggers, as its example config has)."""
        return read_log(self.directory / "bridge.log")

    def output_text(self) -> str:
        """stdout and stderr: where errors before logging is set up end up."""
        return read_log(self.directory / "process.out")

    def all_output(self) -> dict[str, str]:
        """Every log and output file in the directory, by name."""
        names = sorted(p.name for p in self.directory.iterdir() if p.suffix in (".log", ".out"))
        return {name: read_log(self.directory / name) for name in names}

    def saved_config(self) -> JsonDict:
        """The config as the bridge saved it back after upgrading what we wrote."""
        loaded = yaml.safe_load((self.directory / "config.yaml").read_text(encoding="utf-8"))
        return dict(loaded)

    @property
    def secrets_ever(self) -> set[str]:
        """Every double-puppet secret (and as_token) this bridge has been configured with."""
        return set(self._secrets_ever)

    # -- internals ---------------------------------------------------------------------------

    def _command(self) -> list[str]:
        return [
            str(self._venv.python),
            "-m",
            "mautrix_telegram",
            "-c",
            str(self.directory / "config.yaml"),
        ]

    @staticmethod
    def _env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(_ENV_OVERRIDE_PREFIX)}

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        path = self.directory / "bridge.db"
        if not path.exists():
            raise RuntimeError("the bridge has not created its database yet: start it once")
        with closing(sqlite3.connect(path)) as db, db:
            yield db

    def _write_config(self, tokens: Registration | None) -> None:
        """Only the keys an admin sets; JSON, which is YAML. The bridge adds the rest and saves."""
        directory = self.directory
        port = self._appservice_port
        appservice: JsonDict = {
            "address": f"http://{HOST}:{port}",
            "hostname": HOST,
            "port": port,
            # Relative to the bridge's working directory (its own), as the example config shows:
            # mautrix-python before 0.20 drops the leading "/" of an absolute path.
            "database": "sqlite:bridge.db",
            "provisioning": {"enabled": False},
            "bot_avatar": "remove",  # the example's avatar is an mxc URI on another server
        }
        if tokens is not None:
            appservice |= {"as_token": tokens.as_token, "hs_token": tokens.hs_token}
        config = {
            "homeserver": {"address": self._homeserver_url, "domain": self._server_name},
            "appservice": appservice,
            "bridge": {"permissions": {self._server_name: "full"}, **self._bridge_options},
            "telegram": {
                # Placeholders: the config refuses only the example's own values.
                "api_id": 1,
                "api_hash": "00000000000000000000000000000000",
                "bot_token": "disabled",
                # A closed port on loopback: dialling Telegram would fail here, not leave.
                "server": {"enabled": True, "dc": 2, "ip": HOST, "port": free_port()},
            },
            "logging": _logging_config(directory / "bridge.log"),
        }
        (directory / "config.yaml").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _as(user_id: str, path: str, **query: str) -> str:
    """``path`` as an appservice request on behalf of ``user_id``."""
    return f"{path}?{urllib.parse.urlencode({'user_id': user_id, **query})}"


def _secrets_in(bridge_options: Mapping[str, Any]) -> set[str]:
    values = list(dict(bridge_options.get("login_shared_secret_map") or {}).values())
    if "login_shared_secret" in bridge_options:
        values.append(bridge_options["login_shared_secret"])
    found = set()
    for value in map(str, values):
        found.add(value)
        if value.startswith(AS_TOKEN_PREFIX):
            found.add(value.removeprefix(AS_TOKEN_PREFIX))
    return found


def _logging_config(path: Path) -> JsonDict:
    """The example config's levels (``mau`` at DEBUG), into one file and not the console."""
    return {
        "version": 1,
        "formatters": {"normal": {"format": "[%(asctime)s] [%(levelname)s@%(name)s] %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "normal",
                "filename": str(path),
                "encoding": "utf-8",
            }
        },
        "loggers": {
            "mau": {"level": "DEBUG"},
            "telethon": {"level": "INFO"},
            "aiohttp": {"level": "INFO"},
        },
        "root": {"level": "DEBUG", "handlers": ["file"]},
    }


@dataclass(frozen=True)
class DoublePuppetRun:
    """What one start of the bridge did for a user: as seen by Synapse, the bridge's database,
    its log, and the portal room."""

    user_id: str
    #: The login type of the module's "accepted" log line for the user (``None``: no login).
    login_type: str | None
    new_devices: tuple[str, ...]
    stored_token: str | None
    #: ``whoami`` with what the bridge stored (its token, or the ``as_token`` with ``user_id``).
    acts_as: str | None
    joined_as_user: bool
    #: The last line of the bridge's traceback when it failed to double-puppet.
    failure: str | None

    @property
    def works(self) -> bool:
        return self.failure is None and self.acts_as == self.user_id and self.joined_as_user


def double_puppet_once(
    homeserver: Homeserver, template: TelegramBridge, localpart: str, options: Mapping[str, Any]
) -> DoublePuppetRun:
    """A new user, a copy of ``template`` whose database says to double-puppet them (with
    :data:`DEAD_TOKEN`) in a portal room, one start of the bridge with ``options``: what it did."""
    with closing(template.copy()) as bridge:
        user_id = homeserver.register_user(localpart)
        telegram_id = new_telegram_id()
        room_id = bridge.create_portal_room(homeserver, telegram_id)
        bridge.add_double_puppet(telegram_id, user_id, DEAD_TOKEN)
        bridge.add_portal(new_telegram_id(), room_id)
        before = homeserver.device_names(user_id)
        bridge.configure(homeserver.url, options)
        bridge.start()
        stored = bridge.double_puppet_token(telegram_id)
        as_token = next((s for s in _secrets_in(options) if s.startswith(AS_TOKEN_PREFIX)), None)
        if stored == APPSERVICE_CONFIG and as_token is not None:
            status, whoami = homeserver.appservice_whoami(
                as_token.removeprefix(AS_TOKEN_PREFIX), user_id
            )
        else:
            status, whoami = homeserver.whoami(stored or DEAD_TOKEN)
        accepted = re.search(
            rf"Shared-secret login as {re.escape(user_id)} accepted \((\S+)\)",
            homeserver.log_text(),
        )
        log = bridge.log_text()
        failure = None
        if FAILED_LINE in log:
            failure = _exception_line(log[log.rindex(FAILED_LINE) :]) or FAILED_LINE
        return DoublePuppetRun(
            user_id=user_id,
            login_type=accepted[1] if accepted else None,
            new_devices=tuple(sorted(set(homeserver.device_names(user_id)) - set(before))),
            stored_token=stored,
            acts_as=str(whoami.get("user_id")) if status == 200 else None,
            joined_as_user=bridge.joined_as(homeserver, room_id, telegram_id, user_id),
            failure=failure,
        )


def _exception_line(log_from_failure: str) -> str | None:
    """The last line of the traceback that follows a log line: the exception and its message."""
    traceback = []
    for line in log_from_failure.splitlines()[1:]:
        if line.startswith("["):  # the next log record
            break
        traceback.append(line)
    return traceback[-1].strip() if traceback and traceback[-1].strip() else None


def new_telegram_id() -> int:
    """A made-up Telegram ID: nothing ever asks Telegram about it."""
    return 100_000_000 + secrets.randbelow(800_000_000)
