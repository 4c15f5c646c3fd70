"""A real bridge process double-puppets on a real Synapse: mautrix-telegram, no Telegram.

mautrix-telegram 0.15.3 (mautrix-python 0.20.8) runs from its own virtualenv as an admin runs it
(``testbed.bridge_process``). One row in its ``puppet`` table (a made-up Telegram ID whose double
puppet is the user, with a dead access token) makes it double-puppet at start-up, exactly as it
does after ``synapse_dp_auth sessions revoke``; one ``portal`` row whose room the Telegram ghost is
in makes it act as the user: the ghost leaves and the bridge joins the room AS the user. Each test
checks what the bridge did as the user (the room's membership events, the user's devices, the
token the bridge stored), not only that a login happened.

Several runs share one Synapse (the module's default config, the bridge's registration and the
double-puppet registration that ``synapse_dp_auth appservice`` writes), one bridge at a time, each
with a fresh copy of the bridge's directory. The compatibility table's rows that a bridge process
confirms (``compat.BRIDGE_PROCESS_ROWS``) each get the server that row describes.

The older mautrix-telegram 0.14.0, on mautrix-python 0.19.16, is a family of its own: it always
logs in with ``m.login.password`` and knows no ``as_token:`` value (``compat.LEGACY_NOTE``).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from constants import REPO_ROOT
from e2e_support import require_bridge_process

from synapse_dp_auth.admin import cli
from synapse_dp_auth.login_records import ADMIN_PATH
from synapse_dp_auth.token import make_token
from testbed import compat, logscan
from testbed.bridge_process import (
    APPSERVICE_CONFIG,
    BOT_LOCALPART,
    DEAD_TOKEN,
    DEVICE,
    FAILED_LINE,
    LEGACY,
    Registration,
    TelegramBridge,
    appservice_secret,
    new_telegram_id,
    shared_secret_map,
    single_shared_secret,
)
from testbed.bridges import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET
from testbed.homeserver import Homeserver

SERVER = "test.local"
SHARED_ROW = ("defaults", "passwords-on")


@dataclass(frozen=True)
class Shared:
    homeserver: Homeserver
    template: TelegramBridge
    secret: str
    double_puppet_as_token: str

    @property
    def registration(self) -> Registration:
        return self.template.generate_registration()


@dataclass(frozen=True)
class Portal:
    """A user set up for double puppeting: their own login, the bridge rows, the portal room."""

    user_id: str
    #: The user's devices before the bridge ran (registering made one).
    own_devices: dict[str, str | None]
    telegram_id: int
    room_id: str


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin command takes proxies from the environment, as curl does; not for loopback."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def start_homeserver(row: tuple[str, str], secret: str, *registrations: Path) -> Homeserver:
    """A not-yet-started Synapse configured as that row of the compatibility table says."""
    return compat.start_homeserver(
        compat.find_setting(compat.MODULE_CONFIGS, row[0]),
        compat.find_setting(compat.PASSWORD_CONFIGS, row[1]),
        secret,
        server_name=SERVER,
        app_service_config_files=registrations,
    )


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    require_bridge_process()
    secret = secrets.token_hex(32)
    directory = tmp_path_factory.mktemp("double-puppet-registration")
    dp_path, dp_token = compat.write_double_puppet_registration(directory, SERVER)
    with closing(TelegramBridge(SERVER)) as template:
        registration = template.generate_registration()
        with start_homeserver(SHARED_ROW, secret, registration.path, dp_path) as homeserver:
            # The first start creates the bridge's database; each test starts from a copy.
            template.configure(homeserver.url, shared_secret_map(SERVER, secret))
            template.start()
            template.stop()
            yield Shared(homeserver, template, secret, dp_token)


@pytest.fixture
def bridge(shared: Shared) -> Iterator[TelegramBridge]:
    with closing(shared.template.copy()) as fresh:
        yield fresh


def set_up_portal(homeserver: Homeserver, bridge: TelegramBridge, localpart: str) -> Portal:
    """A user, and the two bridge rows that make the bridge double-puppet them."""
    user_id = homeserver.register_user(localpart)
    telegram_id = new_telegram_id()
    room_id = bridge.create_portal_room(homeserver, telegram_id)
    bridge.add_double_puppet(telegram_id, user_id, DEAD_TOKEN)
    bridge.add_portal(new_telegram_id(), room_id)
    own_devices = homeserver.device_names(user_id)
    assert DEVICE not in own_devices
    return Portal(user_id, own_devices, telegram_id, room_id)


def joined_as_the_user(homeserver: Homeserver, bridge: TelegramBridge, portal: Portal) -> bool:
    return bridge.joined_as(homeserver, portal.room_id, portal.telegram_id, portal.user_id)


def assert_logged_in_and_acted(
    homeserver: Homeserver, bridge: TelegramBridge, portal: Portal, login_type: str
) -> str:
    """The bridge logged in with the module, and acted as the user; returns its stored token."""
    log = bridge.log_text()
    assert f"Logged in for {portal.user_id} using shared secret" in log, log
    assert f"Initialized custom mxid: {portal.user_id}" in log
    assert (
        f"Shared-secret login as {portal.user_id} accepted ({login_type}) on new device {DEVICE},"
        in homeserver.log_text()
    )
    token = bridge.double_puppet_token(portal.telegram_id)
    assert token is not None and token != DEAD_TOKEN
    status, whoami = homeserver.whoami(token)
    assert (status, whoami.get("user_id"), whoami.get("device_id")) == (
        200,
        portal.user_id,
        DEVICE,
    )
    assert homeserver.device_names(portal.user_id) == {**portal.own_devices, DEVICE: DEVICE}
    assert joined_as_the_user(homeserver, bridge, portal)
    return token


def assert_refused_and_did_nothing(
    homeserver: Homeserver, bridge: TelegramBridge, portal: Portal
) -> str:
    """The bridge could not double-puppet: nothing done as the user; returns its log."""
    log = bridge.log_text()
    assert FAILED_LINE in log, log
    assert f"Initialized custom mxid: {portal.user_id}" not in log
    assert bridge.double_puppet_token(portal.telegram_id) == DEAD_TOKEN
    assert homeserver.device_names(portal.user_id) == portal.own_devices
    events = bridge.memberships(homeserver, portal.room_id)
    assert [user for user, _, _ in events if user == portal.user_id] == []
    ghost_memberships = [
        membership for user, membership, _ in events if user == bridge.ghost_id(portal.telegram_id)
    ]
    assert ghost_memberships[-1:] == ["join"], events
    return log


# -- the module's method -----------------------------------------------------------------------


def test_login_shared_secret_map(shared: Shared, bridge: TelegramBridge) -> None:
    portal = set_up_portal(shared.homeserver, bridge, "alice")
    bridge.configure(shared.homeserver.url, shared_secret_map(SERVER, shared.secret))
    bridge.start()
    assert_logged_in_and_acted(shared.homeserver, bridge, portal, LOGIN_TYPE_PASSWORD)

    # What the suite's log check (conftest.py) reads of this bridge: its log, with nothing found,
    # though the secret or the login token would be.
    outputs = bridge.all_output()
    assert "Logged in for" in outputs["bridge.log"]
    assert logscan.findings(outputs, bridge.secrets_ever) == []
    for leak in (shared.secret, make_token(shared.secret, portal.user_id)):
        leaked = {**outputs, "bridge.log": outputs["bridge.log"] + f"oops {leak}\n"}
        assert len(logscan.findings(leaked, bridge.secrets_ever)) == 1


def test_single_login_shared_secret_key(shared: Shared, bridge: TelegramBridge) -> None:
    """mautrix-telegram's config upgrade copies ``bridge.login_shared_secret`` into the map."""
    portal = set_up_portal(shared.homeserver, bridge, "bob")
    bridge.configure(shared.homeserver.url, single_shared_secret(shared.secret))
    bridge.start()
    assert_logged_in_and_acted(shared.homeserver, bridge, portal, LOGIN_TYPE_PASSWORD)
    saved = bridge.saved_config()["bridge"]
    assert saved["login_shared_secret_map"] == {SERVER: shared.secret}
    assert "login_shared_secret" not in saved


def test_wrong_secret(shared: Shared, bridge: TelegramBridge) -> None:
    portal = set_up_portal(shared.homeserver, bridge, "carol")
    bridge.configure(shared.homeserver.url, shared_secret_map(SERVER, secrets.token_hex(32)))
    bridge.start()
    log = assert_refused_and_did_nothing(shared.homeserver, bridge, portal)
    assert "Invalid username or password" in log
    assert (
        f"Shared-secret login as {portal.user_id} refused ({LOGIN_TYPE_PASSWORD}):"
        in shared.homeserver.log_text()
    )


def sessions_of(homeserver: Homeserver, user_id: str, count: int) -> list[dict[str, Any]]:
    """The module's records of ``user_id``'s logins, once there are ``count`` (batched: ~1 s)."""
    query = urllib.parse.urlencode({"user_id": user_id})
    deadline = time.monotonic() + 10
    while True:
        status, body = homeserver.get(f"{ADMIN_PATH}?{query}", homeserver.admin_token)
        assert status == 200, body
        if len(body["sessions"]) >= count or time.monotonic() > deadline:
            return list(body["sessions"])
        time.sleep(0.2)


def test_sessions_revoke_then_restart(
    shared: Shared,
    bridge: TelegramBridge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After ``sessions revoke``, the restarted bridge logs in again, and acts with the new
    session; the module recorded both logins."""
    homeserver = shared.homeserver
    portal = set_up_portal(homeserver, bridge, "dave")
    bridge.configure(homeserver.url, shared_secret_map(SERVER, shared.secret))
    bridge.start()
    first_token = assert_logged_in_and_acted(homeserver, bridge, portal, LOGIN_TYPE_PASSWORD)
    [first] = sessions_of(homeserver, portal.user_id, 1)
    assert first["device_id"] == DEVICE

    token_file = tmp_path / "admin.token"
    token_file.write_text(homeserver.admin_token + "\n", encoding="utf-8")
    capsys.readouterr()
    revoke = ["sessions", "revoke", homeserver.url, "--admin-token-file", str(token_file)]
    code = cli.main([*revoke, "--user", portal.user_id, "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Deleted 1 device(s) of {portal.user_id}." in out
    assert homeserver.whoami(first_token)[0] == 401
    assert homeserver.device_names(portal.user_id) == portal.own_devices

    # Meanwhile the Telegram user's ghost is in another portal room; then the admin restarts.
    bridge.stop()
    second_room = bridge.create_portal_room(homeserver, portal.telegram_id)
    bridge.add_portal(new_telegram_id(), second_room)
    bridge.start()

    log = bridge.log_text()
    assert log.count(f"Logged in for {portal.user_id} using shared secret") == 2
    token = bridge.double_puppet_token(portal.telegram_id)
    assert token not in (None, first_token, DEAD_TOKEN)
    status, whoami = homeserver.whoami(str(token))
    assert (status, whoami.get("user_id"), whoami.get("device_id")) == (200, portal.user_id, DEVICE)
    assert homeserver.device_names(portal.user_id) == {**portal.own_devices, DEVICE: DEVICE}
    assert joined_as_the_user(homeserver, bridge, dataclasses.replace(portal, room_id=second_room))
    records = sessions_of(homeserver, portal.user_id, 2)
    assert [r["device_id"] for r in records] == [DEVICE, DEVICE]
    assert max(r["logged_in_ts"] for r in records) > first["logged_in_ts"]


# -- the appservice method ---------------------------------------------------------------------


def test_as_token(shared: Shared, bridge: TelegramBridge) -> None:
    """``as_token:`` with the registration ``synapse_dp_auth appservice`` wrote: no login, no
    device; the bridge acts as the user through that token."""
    homeserver = shared.homeserver
    portal = set_up_portal(homeserver, bridge, "erin")
    bridge.configure(homeserver.url, appservice_secret(SERVER, shared.double_puppet_as_token))
    bridge.start()
    log = bridge.log_text()
    assert f"Initialized custom mxid: {portal.user_id}" in log, log
    assert f"Logged in for {portal.user_id}" not in log
    assert bridge.double_puppet_token(portal.telegram_id) == APPSERVICE_CONFIG
    status, whoami = homeserver.appservice_whoami(shared.double_puppet_as_token, portal.user_id)
    assert (status, whoami.get("user_id")) == (200, portal.user_id)
    assert homeserver.device_names(portal.user_id) == portal.own_devices
    assert f"Shared-secret login as {portal.user_id}" not in homeserver.log_text()
    assert joined_as_the_user(homeserver, bridge, portal)
    # The compatibility page's appservice table says so.
    table = compat.shown_table(compat.APPSERVICE_SECTION) or ""
    [row] = [line for line in table.splitlines() if line.startswith("| mautrix-python ")]
    assert "✓" in row and compat.BRIDGE_PROCESS_MARK in row, row


# -- the compatibility table's rows ------------------------------------------------------------


def shown_cell(module_key: str, password_key: str) -> str:
    """The compatibility table's mautrix-python cell in that row."""
    module_label = compat.find_setting(compat.MODULE_CONFIGS, module_key).label
    password_label = compat.find_setting(compat.PASSWORD_CONFIGS, password_key).label
    table = compat.shown_table() or ""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    column = header.index("mautrix-python")
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[:2] == [module_label, password_label]:
            return cells[column]
    raise AssertionError(f"no compatibility table row for {module_label} / {password_label}")


def shown_note(number: str) -> str:
    table = compat.shown_table() or ""
    match = re.search(rf"^{number}\. (.*)$", table, flags=re.MULTILINE)
    assert match is not None, number
    return match[1]


#: What the bridge process does in each row that the table says it confirmed: the login type
#: it sends (the first of devture / password that ``GET /login`` lists) and whether it works.
EXPECTED_ROWS = {
    ("defaults", "passwords-on"): (LOGIN_TYPE_PASSWORD, True),
    ("defaults", "passwords-off"): (LOGIN_TYPE_SHARED_SECRET, True),
    ("custom-type-only", "passwords-on"): (LOGIN_TYPE_PASSWORD, False),
}


def test_every_row_the_table_marks_is_tested() -> None:
    assert set(EXPECTED_ROWS) == set(compat.BRIDGE_PROCESS_ROWS)


@pytest.mark.parametrize("row", sorted(set(EXPECTED_ROWS) - {SHARED_ROW}))
def test_compat_row(shared: Shared, row: tuple[str, str]) -> None:
    """The bridge process does what the compatibility table says mautrix-python does there."""
    login_type, works = EXPECTED_ROWS[row]
    cell = shown_cell(*row)
    short = compat.short_type(login_type)
    assert cell.startswith(f"✓ {short}" if works else f"✗ {short}"), cell
    assert compat.BRIDGE_PROCESS_MARK in cell
    with (
        start_homeserver(row, shared.secret, shared.registration.path) as homeserver,
        closing(shared.template.copy()) as bridge,
    ):
        portal = set_up_portal(homeserver, bridge, "frank")
        bridge.configure(homeserver.url, shared_secret_map(SERVER, shared.secret))
        bridge.start()
        if works:
            assert_logged_in_and_acted(homeserver, bridge, portal, login_type)
            return
        log = assert_refused_and_did_nothing(homeserver, bridge, portal)
        # The reason the table gives for that cell is what the bridge met.
        note = re.fullmatch(r"✗ \w+ \[(\d+)\].*", cell)
        assert note is not None, cell
        reason = re.search(r'"(.*)"', shown_note(note[1]))
        assert reason is not None and reason[1] in log, (shown_note(note[1]), log)


def test_shared_row_is_marked() -> None:
    """The shared server's row (the map test above) is marked in the table as confirmed."""
    login_type, works = EXPECTED_ROWS[SHARED_ROW]
    cell = shown_cell(*SHARED_ROW)
    assert works and cell.startswith(f"✓ {compat.short_type(login_type)}")
    assert compat.BRIDGE_PROCESS_MARK in cell


# -- mautrix-python before 0.20.1 --------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """mautrix-telegram 0.14.0 on the module's defaults, with the double-puppet registration."""
    require_bridge_process()
    secret = secrets.token_hex(32)
    directory = tmp_path_factory.mktemp("legacy-double-puppet-registration")
    dp_path, dp_token = compat.write_double_puppet_registration(directory, SERVER)
    with closing(TelegramBridge(SERVER, LEGACY)) as template:
        registration = template.generate_registration()
        with start_homeserver(SHARED_ROW, secret, registration.path, dp_path) as homeserver:
            template.register_appservice_user(homeserver, BOT_LOCALPART)
            template.configure(homeserver.url, shared_secret_map(SERVER, secret))
            template.start()
            template.stop()
            yield Shared(homeserver, template, secret, dp_token)


def test_legacy_logs_in_with_the_module(legacy: Shared) -> None:
    with closing(legacy.template.copy()) as bridge:
        portal = set_up_portal(legacy.homeserver, bridge, "alice")
        bridge.configure(legacy.homeserver.url, shared_secret_map(SERVER, legacy.secret))
        bridge.start()
        assert_logged_in_and_acted(legacy.homeserver, bridge, portal, LOGIN_TYPE_PASSWORD)


def test_legacy_takes_as_token_for_a_shared_secret(legacy: Shared) -> None:
    """``as_token:<token>`` is an HMAC key to this bridge: it logs in with a token the module
    refuses, and does nothing as the user."""
    homeserver = legacy.homeserver
    with closing(legacy.template.copy()) as bridge:
        portal = set_up_portal(homeserver, bridge, "bob")
        bridge.configure(homeserver.url, appservice_secret(SERVER, legacy.double_puppet_as_token))
        bridge.start()
        log = assert_refused_and_did_nothing(homeserver, bridge, portal)
    assert "Didn't get an access token: Invalid username or password" in log
    assert (
        f"Shared-secret login as {portal.user_id} refused ({LOGIN_TYPE_PASSWORD}):"
        " the token does not match the shared secret" in homeserver.log_text()
    )
    assert compat.LEGACY_NOTE in (REPO_ROOT / compat.PAGE).read_text(encoding="utf-8")


def test_legacy_sends_a_password_where_only_devture_is_listed(legacy: Shared) -> None:
    """Where today's mautrix-python sends com.devture.shared_secret_auth (Synapse's own password
    login off), this bridge still sends m.login.password, and Synapse refuses it."""
    row = ("defaults", "passwords-off")
    with (
        start_homeserver(row, legacy.secret, legacy.registration.path) as homeserver,
        closing(legacy.template.copy()) as bridge,
    ):
        assert compat.short_type(LOGIN_TYPE_SHARED_SECRET) in shown_cell(*row)
        bridge.register_appservice_user(homeserver, BOT_LOCALPART)
        portal = set_up_portal(homeserver, bridge, "carol")
        bridge.configure(homeserver.url, shared_secret_map(SERVER, legacy.secret))
        bridge.start()
        log = assert_refused_and_did_nothing(homeserver, bridge, portal)
        assert "Didn't get an access token: Password login has been disabled." in log
