"""The compatibility matrix, measured: which bridge family double-puppets in which configuration.

For every module configuration (:data:`MODULE_CONFIGS`) and every Synapse ``password_config``
(:data:`PASSWORD_CONFIGS`) this starts a real Synapse with the module, runs the login code of every
family in :data:`testbed.bridges.FAMILIES` against it, and proves each token it gets: ``whoami``
must name the user, and a message sent with the token must show the user as its sender.

The compatibility tables of ``docs/compatibility.md`` are the output of ``python -m
testbed.compat``, never written by hand; ``tests/e2e/test_e2e_bridges.py`` runs the same
measurement, checks every cell against a table of expected results written out in the test, and
checks that the page shows what was measured.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mautrix

from synapse_dp_auth.admin.appservice import next_steps
from synapse_dp_auth.admin.appservice.registration import DEFAULT_ID
from synapse_dp_auth.admin.shared import families as family_model
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from testbed import bridge_process, generated_sections
from testbed.bridges import (
    APPSERVICE_FAMILIES,
    FAMILIES,
    JS_DIR,
    LOGIN_TYPE_PASSWORD,
    LOGIN_TYPE_SHARED_SECRET,
    AppserviceLogin,
    AppserviceResult,
    BridgeLogin,
    LoginResult,
)
from testbed.homeserver import Homeserver

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"

#: The user every bridge family double-puppets in a measured server.
USER_LOCALPART = "alice"

#: The page the generated tables go in, and their sections (see :mod:`testbed.generated_sections`).
PAGE = generated_sections.COMPATIBILITY_PAGE
TABLE_SECTION = "compat-table"
TABLE_START, TABLE_END = generated_sections.markers(TABLE_SECTION)
#: The appservice method's table.
APPSERVICE_SECTION = "compat-appservice"


@dataclass(frozen=True)
class Setting:
    """One named configuration choice: ``options`` go into ``homeserver.yaml`` as given."""

    key: str
    label: str
    options: Mapping[str, Any]


#: The module's ``config:`` on top of ``shared_secret``, in the order the table lists them.
MODULE_CONFIGS: tuple[Setting, ...] = (
    Setting("defaults", "defaults", {}),
    Setting(
        "password-only",
        "password only",
        {"com_devture_shared_secret_auth_support_enabled": False},
    ),
    Setting(
        "custom-type-only",
        "custom type only",
        {"m_login_password_support_enabled": False},
    ),
)

#: Synapse's own ``password_config`` (empty: left out, i.e. Synapse's default).
PASSWORD_CONFIGS: tuple[Setting, ...] = (
    Setting("passwords-on", "(default)", {}),
    Setting("passwords-off", "`enabled: false`", {"enabled": False}),
    Setting("no-localdb", "`localdb_enabled: false`", {"localdb_enabled": False}),
)

#: The rows whose mautrix-python cell a real bridge process confirmed as well: the table marks
#: them, and ``tests/e2e/test_e2e_bridge_process.py`` runs the bridge in exactly these (and fails if
#: the page's cell says otherwise than the bridge did).
BRIDGE_PROCESS_ROWS: tuple[tuple[str, str], ...] = (
    ("defaults", "passwords-on"),
    ("defaults", "passwords-off"),
    ("custom-type-only", "passwords-on"),
)
BRIDGE_PROCESS_MARK = "†"
_BRIDGE_PROCESS_NOTE = (
    f"{BRIDGE_PROCESS_MARK}: a real bridge process confirmed this too: {bridge_process.NAME},"
    " started on its own against that server with one double puppet in its database, did the"
    " same: it logged in with that type and then joined a room as the user, or it was refused"
    " with that reason and did nothing as the user."
)

#: What a real process of a bridge on mautrix-python before 0.20.1 did
#: (tests/e2e/test_e2e_bridge_process.py checks it, and that the compatibility page says it).
LEGACY_NOTE = (
    "mautrix-python before 0.20.1 is another family: it always sends password, and takes"
    " `as_token:<token>` for a shared secret. A real bridge process,"
    f" {bridge_process.LEGACY_NAME}, double-puppeted with the module's defaults, was refused"
    ' where `GET /login` lists only devture (HTTP 400 "Password login has been disabled."),'
    " and, given `as_token:<token>`, logged in with an HMAC keyed by that whole value, which the"
    " module refused. mautrix's docs name telegram 0.14.2, facebook 0.5.1, instagram 0.3.1 and"
    " twitter 0.1.7 as the first releases that take `as_token:`; the last Python release of the"
    " signal bridge (0.4.3) is on 0.19.x: its login is the"
    f" {family_model.MAUTRIX_SIGNAL_PYTHON.name} column."
)
# mautrix/signal v0.4.3 (commit 64bfed8f05e1e30edd719f2f9a33098ee89229d8), requirements.txt:
# mautrix>=0.19.14,<0.20; v0.5.0 is the Go rewrite.

_BOT_SDK_VERSION = json.loads((JS_DIR / "package.json").read_text(encoding="utf-8"))[
    "dependencies"
]["matrix-bot-sdk"]

#: What each family is, for the legend: real code (versions as installed), or a restatement.
FAMILY_NOTES: dict[str, str] = {
    "mautrix-python": f"mautrix-python {mautrix.__version__}'s own `_login_with_shared_secret`"
    " (real code): the first of devture / password in the server's list",
    "mautrix-go-legacy": "mautrix-go `bridge` v0.16-v0.23 (restated): devture if listed, else"
    " password",
    "matrix-corporal": "matrix-corporal (restated): always password",
    "mautrix-go-bots": "Go bots on mautrix-go's client (restated): always devture",
    "mx-puppet-bridge": f"matrix-bot-sdk {_BOT_SDK_VERSION} `passwordLogin` under Node (real"
    " code): always password",
    family_model.MAUTRIX_IMESSAGE.name: "mautrix-imessage `custompuppet.go` @ 300ba6d0e556"
    " (restated): always password",
    family_model.MAUTRIX_SLACK_LEGACY.name: "mautrix-slack before bridgev2, `custompuppet.go` @"
    " 98d157b18285 (restated): always password",
    family_model.MAUTRIX_SIGNAL_PYTHON.name: "mautrix-signal 0.4.x (Python) on mautrix-python 0.19,"
    " `mautrix/bridge/custom_puppet.py` @ v0.19.16 (restated): always password",
}

_SHORT_TYPES = {LOGIN_TYPE_PASSWORD: "password", LOGIN_TYPE_SHARED_SECRET: "devture"}


def module_entry(secret: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``modules:`` entry for our module with ``secret`` and ``options``."""
    return {"module": MODULE, "config": {"shared_secret": secret, **options}}


def find_setting(settings: tuple[Setting, ...], key: str) -> Setting:
    for setting in settings:
        if setting.key == key:
            return setting
    raise KeyError(f"no setting {key!r}; known: {', '.join(s.key for s in settings)}")


def js_clients_problem() -> str | None:
    """Why the Node clients cannot run here, or ``None`` when they can."""
    if shutil.which("node") is None:
        return "`node` (Node.js 20 or later) is not on PATH"
    if not (JS_DIR / "node_modules" / "matrix-bot-sdk").is_dir():
        return f"{JS_DIR / 'node_modules'} is missing: run `npm ci --prefix tests/js`"
    return None


@dataclass(frozen=True)
class Cell:
    """One family's double-puppet login against one configuration, and what its token could do.

    ``whoami_user_id`` and ``message_sender`` are only set when the login returned a token: the
    answer of ``whoami``, and the sender the server recorded for a message sent with the token.
    """

    family: str
    user_id: str
    login: LoginResult
    whoami_user_id: str | None = None
    message_sender: str | None = None

    @property
    def works(self) -> bool:
        """Logged in AND the token acts as the user: what a double puppet is for."""
        return (
            self.login.ok
            and self.whoami_user_id == self.user_id
            and self.message_sender == self.user_id
        )


@dataclass(frozen=True)
class Row:
    """Everything measured on one server: its ``GET /login`` list and every family's cell."""

    module_config: Setting
    password_config: Setting
    flows: tuple[str, ...]
    cells: Mapping[str, Cell]


def start_homeserver(
    module_config: Setting,
    password_config: Setting,
    secret: str,
    *,
    server_name: str = "test.local",
    enable_metrics: bool = False,
    app_service_config_files: Sequence[Path] = (),
) -> Homeserver:
    """A not-yet-started :class:`Homeserver` with the module set up as the two settings say."""
    extra = {"password_config": dict(password_config.options)} if password_config.options else {}
    return Homeserver(
        [module_entry(secret, module_config.options)],
        server_name=server_name,
        extra_config=extra,
        enable_metrics=enable_metrics,
        app_service_config_files=app_service_config_files,
    )


def run_cell(
    homeserver: Homeserver, family: str, login: BridgeLogin, user_id: str, secret: str
) -> Cell:
    """Run ``family``'s ``login`` for ``user_id`` and, if it got a token, prove what it does."""
    result = login(homeserver.url, user_id, secret)
    if not result.ok or result.access_token is None:
        return Cell(family=family, user_id=user_id, login=result)
    status, whoami = homeserver.whoami(result.access_token)
    whoami_user = whoami.get("user_id") if status == 200 else None
    sender = homeserver.sender_of_new_message(result.access_token, f"double-puppeted by {family}")
    return Cell(
        family=family,
        user_id=user_id,
        login=result,
        whoami_user_id=whoami_user if isinstance(whoami_user, str) else None,
        message_sender=sender,
    )


def measure_row(
    module_config: Setting,
    password_config: Setting,
    *,
    families: Mapping[str, BridgeLogin] = FAMILIES,
    server_name: str = "test.local",
) -> Row:
    """Start a throwaway server for one configuration, run every family, stop it.

    Each row gets its own server, secret and user, so no row can depend on another.
    """
    secret = secrets.token_hex(32)
    with start_homeserver(module_config, password_config, secret, server_name=server_name) as hs:
        user_id = hs.register_user(USER_LOCALPART, secrets.token_urlsafe(16))
        flows = tuple(hs.login_flows())
        cells = {
            family: run_cell(hs, family, login, user_id, secret)
            for family, login in families.items()
        }
    return Row(module_config, password_config, flows, cells)


class Matrix:
    """The rows of the compatibility matrix, each measured once, when first asked for."""

    def __init__(self, *, server_name: str = "test.local") -> None:
        self._server_name = server_name
        self._rows: dict[tuple[str, str], Row] = {}

    def row(self, module_key: str, password_key: str) -> Row:
        key = (module_key, password_key)
        if key not in self._rows:
            self._rows[key] = measure_row(
                find_setting(MODULE_CONFIGS, module_key),
                find_setting(PASSWORD_CONFIGS, password_key),
                server_name=self._server_name,
            )
        return self._rows[key]

    def rows(self) -> Iterator[Row]:
        """Every row, in table order."""
        for module_config in MODULE_CONFIGS:
            for password_config in PASSWORD_CONFIGS:
                yield self.row(module_config.key, password_config.key)


# -- the Markdown table ----------------------------------------------------------------------


def short_type(login_type: str) -> str:
    return _SHORT_TYPES.get(login_type, login_type)


def _row_key(row: Row) -> tuple[str, str]:
    return row.module_config.key, row.password_config.key


def _failure_note(cell: Cell) -> str:
    """Why a cell failed, in words that do not change from run to run (no IDs, no ports)."""
    login = cell.login
    if login.ok:
        return (
            f"logged in, but the token acted as {cell.whoami_user_id} / {cell.message_sender},"
            f" not as {cell.user_id}"
        )
    if login.login_type is None:
        return f'the client sends no login request ({cell.family}: "{login.error}")'
    return f'HTTP {login.status} {login.errcode}: "{login.error}"'


def render_table(rows: Iterable[Row]) -> str:
    """The compatibility page's table section: a Markdown table and its legend.

    Deterministic for a given Synapse and module: failure reasons become numbered notes, in the
    order they first appear.
    """
    row_list = list(rows)
    families = list(row_list[0].cells) if row_list else list(FAMILIES)
    notes: dict[str, int] = {}
    header = ["module config", "Synapse `password_config`", "`GET /login` lists", *families]
    lines = [header]
    for row in row_list:
        listed = [short_type(t) for t in row.flows if t in _SHORT_TYPES]
        cells = [row.module_config.label, row.password_config.label, ", ".join(listed) or "neither"]
        for family in families:
            cell = row.cells[family]
            sent = short_type(cell.login.login_type) if cell.login.login_type else "nothing sent"
            if cell.works:
                text = f"✓ {sent}"
            else:
                number = notes.setdefault(_failure_note(cell), len(notes) + 1)
                text = f"✗ {sent} [{number}]"
            if family == "mautrix-python" and _row_key(row) in BRIDGE_PROCESS_ROWS:
                text += f" {BRIDGE_PROCESS_MARK}"
            cells.append(text)
        lines.append(cells)

    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def markdown(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    out = [
        "<!-- generated by `python -m testbed.compat`: do not edit by hand -->",
        markdown(header),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(markdown(line) for line in lines[1:]),
    ]
    out += [
        "",
        "✓ *type*: the bridge logged in with that login type, `whoami` answered the user, and a"
        " message sent with the token shows the user as its sender. ✗ *type* [n]: it sent that"
        " type and failed, for reason n. *password* is `m.login.password` with the token as the"
        " password; *devture* is `com.devture.shared_secret_auth`.",
        "",
        _BRIDGE_PROCESS_NOTE,
        "",
        LEGACY_NOTE,
        "",
        "Module configs: *defaults* is `shared_secret` alone; *password only* adds"
        " `com_devture_shared_secret_auth_support_enabled: false`; *custom type only* adds"
        " `m_login_password_support_enabled: false`.",
        "",
        "Families:",
        *(f"- {family}: {FAMILY_NOTES.get(family, '')}" for family in families),
    ]
    if notes:
        out += ["", "Failures:"]
        out += [f"{number}. {text}" for text, number in notes.items()]
    return "\n".join(out) + "\n"


def shown_table(section: str = TABLE_SECTION) -> str | None:
    """What the compatibility page shows between the markers of ``section`` (``None``: the
    markers are missing)."""
    return generated_sections.section(generated_sections.read(PAGE), section)


# -- the appservice method -------------------------------------------------------------------


#: What each family's appservice-method client is: real code, or a restatement (and of what).
APPSERVICE_CLIENTS: dict[str, str] = {
    family_model.MAUTRIX_GO_BRIDGEV2.name: "restated from mautrix-go"
    " `bridgev2/matrix/doublepuppet.go`",
    "mautrix-python": f"mautrix-python {mautrix.__version__}'s own `CustomPuppetMixin` and"
    " `IntentAPI` (real code)",
    "mautrix-go-legacy": "restated from mautrix-go `bridge/doublepuppet.go`",
}


#: The appservice table's rows: every family ``synapse_dp_auth appservice`` lists, then the
#: bridges that log in as one of the password-only families do and cannot use the method either.
APPSERVICE_TABLE_FAMILIES: tuple[family_model.Family, ...] = (
    *family_model.EVERY_FAMILY,
    family_model.MAUTRIX_IMESSAGE,
    family_model.MAUTRIX_SLACK_LEGACY,
    family_model.MAUTRIX_SIGNAL_PYTHON,
)


@dataclass(frozen=True)
class AppserviceRow:
    """One family on the appservice method: what it did with ``as_token:<token>`` (``result``,
    ``None`` for a family that cannot use it) and, for bridgev2, with a plain shared secret.
    ``supported`` and ``note`` come from :mod:`synapse_dp_auth.admin.shared.families`."""

    family: str
    supported: bool
    note: str
    user_id: str
    result: AppserviceResult | None = None
    plain_secret: AppserviceResult | None = None

    @property
    def works(self) -> bool:
        return self.result is not None and self.result.works_for(self.user_id)


def write_double_puppet_registration(directory: Path, server_name: str) -> tuple[Path, str]:
    """The registration file ``synapse_dp_auth appservice`` writes (its own code), and its token."""
    path = directory / "doublepuppet.yaml"
    registration = next_steps.create(path, server_name, DEFAULT_ID)
    return path, str(registration["as_token"])


def measure_appservice(
    *,
    server_name: str = "test.local",
    clients: Mapping[str, AppserviceLogin] = APPSERVICE_FAMILIES,
) -> list[AppserviceRow]:
    """A throwaway Synapse WITHOUT this module, with the double-puppet registration loaded; each
    family that can use the method double-puppets a user with ``as_token:<token>``.

    bridgev2 also gets a plain shared secret, to show that it ignores one.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="compat-appservice-") as directory:
        path, as_token = write_double_puppet_registration(Path(directory), server_name)
        with Homeserver(server_name=server_name, app_service_config_files=[path]) as hs:
            user_id = hs.register_user(USER_LOCALPART, secrets.token_urlsafe(16))
            for family in APPSERVICE_TABLE_FAMILIES:
                supported = family.appservice_setting is not None
                client = clients.get(family.name)
                row = AppserviceRow(family.name, supported, family.appservice_note, user_id)
                if client is None or not supported:
                    rows.append(row)
                    continue
                result = client(hs.url, user_id, AS_TOKEN_PREFIX + as_token)
                plain = None
                if family is family_model.MAUTRIX_GO_BRIDGEV2:
                    plain = client(hs.url, user_id, secrets.token_hex(32))
                rows.append(dataclasses.replace(row, result=result, plain_secret=plain))
    return rows


def _appservice_cell(row: AppserviceRow) -> str:
    if not row.supported:
        return f"— cannot: {row.note}"
    result = row.result
    if result is None:
        return "not measured"
    if row.works:
        text = "✓ whoami and a message as the user, no login"
    elif not result.used:
        text = "✗ the client ignored the value"
    else:
        text = f"✗ acted as {result.whoami_user_id} / {result.message_sender}: {result.error}"
    if row.plain_secret is not None:
        plain = "ignored (no request sent)" if not row.plain_secret.used else "used (!)"
        text += f"; a plain shared secret there: {plain}"
    if row.family == "mautrix-python":
        text += f" {BRIDGE_PROCESS_MARK}"
    return text


def render_appservice_table(rows: Iterable[AppserviceRow]) -> str:
    """The compatibility page's appservice section: a Markdown table and its legend."""
    lines = [["bridge family", "client code", "`as_token:<token>` as its double-puppet secret"]]
    for row in rows:
        lines.append([row.family, APPSERVICE_CLIENTS.get(row.family, "—"), _appservice_cell(row)])
    widths = [max(len(line[i]) for line in lines) for i in range(3)]

    def markdown(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    return (
        "\n".join(
            [
                "<!-- generated by `python -m testbed.compat --appservice`: do not edit by"
                " hand -->",
                markdown(lines[0]),
                "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                *(markdown(line) for line in lines[1:]),
                "",
                "Measured on a Synapse without this module, with the registration that"
                " `synapse_dp_auth appservice` writes (`url: null`, a non-exclusive"
                " `@.*:<server>` user namespace) in `app_service_config_files`. ✓: the client's"
                " `whoami?user_id=`"
                " answered the user, and a message it sent shows the user as its sender. The"
                " restatements are only as good as their reading of the source they name.",
                "",
                f"{BRIDGE_PROCESS_MARK}: a real bridge process confirmed this too:"
                f" {bridge_process.NAME}, started on its own with `as_token:<token>` and one"
                " double puppet in its database, acted as the user (joined a room as them) with"
                " no login and no new device (on a Synapse that also loaded this module, unused).",
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m testbed.compat``: measure the whole matrix and print the page's section;
    ``--appservice``: the appservice method's section instead."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--appservice"]:
        print(render_appservice_table(measure_appservice()), end="")
        return 0
    if args:
        print("usage: python -m testbed.compat [--appservice]", file=sys.stderr)
        return 2
    problem = js_clients_problem()
    if problem is not None:
        print(f"cannot run the mx-puppet-bridge client: {problem}", file=sys.stderr)
        return 2
    print(render_table(Matrix().rows()), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
