"""The demo: a throwaway Synapse with the module, and real bridge login code double-puppeting on it.

``python -m testbed.demo`` starts one homeserver per module configuration (defaults, password
only, custom type only), lets every bridge family log in as a user with the shared secret, and
prints what a Synapse admin wants to know: which login types the server offers, which one each
bridge sent, whether it worked, and whom the token belongs to. Then the appservice method: one
homeserver without the module, with the double-puppet registration, and every family given
``as_token:<token>``. Last, a real bridge process (mautrix-telegram) double-puppets a user once
per method. Exit status 0 means mautrix-python bridges double-puppet with the module's default
configuration and with the appservice method, and the bridge process did both.

``python -m testbed.demo --serve`` keeps one homeserver (default configuration) running until
Ctrl-C or SIGTERM, and prints its secret, a user and a ready-to-paste ``curl`` login.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import shlex
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from types import FrameType
from typing import Any

import synapse

import synapse_dp_auth
from synapse_dp_auth.token import make_token
from testbed import bridge_process, compat
from testbed.bridges import (
    APPSERVICE_FAMILIES,
    FAMILIES,
    LOGIN_TYPE_PASSWORD,
    LOGIN_TYPE_SHARED_SECRET,
    AppserviceLogin,
    BridgeLogin,
)
from testbed.homeserver import HomeserverError, StartupError

SERVER_NAME = "demo.local"
USER_LOCALPART = compat.USER_LOCALPART

#: Families whose login is the clients' own code, not a restatement (see testbed.bridges).
REAL_CLIENTS = frozenset({"mautrix-python", "mx-puppet-bridge"})


#: Explanations for the failures an admin will meet, printed only when they were observed.
WHY_IT_FAILS: dict[str, dict[str, str]] = {
    "password-only": {
        "mautrix-go-bots": "it always sends com.devture.shared_secret_auth, which is switched off.",
    },
    "custom-type-only": {
        "mautrix-python": "it sends the first of the two types that GET /login lists, and Synapse"
        " always lists m.login.password first; with m_login_password_support_enabled: false the"
        " token is then checked as an ordinary password, and refused.",
    },
}


def quiet_logging() -> None:
    """Keep library chatter (aiohttp, mautrix, warnings) out of a report meant for people."""
    logging.getLogger().addHandler(logging.NullHandler())
    for name in ("aiohttp", "mau", "mautrix", "testbed", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    warnings.simplefilter("ignore")


def say(text: str = "") -> None:
    print(text, flush=True)


def _yaml_options(options: Mapping[str, Any]) -> str:
    shown = ["shared_secret: ..."]
    shown += [f"{key}: {json.dumps(value)}" for key, value in options.items()]
    return "{" + ", ".join(shown) + "}"


def _result_text(cell: compat.Cell) -> tuple[str, str]:
    """(verdict, detail) for one family's attempt, in the admin's words."""
    login = cell.login
    if cell.works:
        return "OK", f"whoami: {cell.whoami_user_id}, sends messages as {cell.message_sender}"
    if login.ok:
        return "FAILED", f"token acts as {cell.whoami_user_id}, not {cell.user_id}"
    if login.login_type is None:
        return "FAILED", f"no usable login type offered ({login.error})"
    return "FAILED", f"HTTP {login.status} {login.errcode}: {login.error}"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]


def report_row(row: compat.Row, number: int, total: int) -> None:
    config = row.module_config
    say(f"[{number}/{total}] module config: {config.label}  {_yaml_options(config.options)}")
    say(f"  GET /login offers (in this order): {', '.join(row.flows)}")
    lines = [["bridge family", "client", "sends", "result", "details"]]
    for family, cell in row.cells.items():
        verdict, detail = _result_text(cell)
        client = "real code" if family in REAL_CLIENTS else "restated"
        sent = cell.login.login_type or "(nothing)"
        lines.append([family, client, sent, verdict, detail])
    for line in _table(lines):
        say(line)
    for family, why in WHY_IT_FAILS.get(config.key, {}).items():
        if family in row.cells and not row.cells[family].works:
            say(f"  Why {family} fails here: {why}")
    say()


def report_appservice(rows: Sequence[compat.AppserviceRow]) -> None:
    say(
        "Appservice method: a homeserver WITHOUT the module, with the double-puppet registration"
        " (as `synapse_dp_auth appservice` writes it: url null, users '@.*:demo\\.local$',"
        " not exclusive) in app_service_config_files; each bridge family gets"
        " `as_token:<token>` as its double-puppet secret, and no login happens."
    )
    lines = [["bridge family", "client", "result", "details"]]
    for row in rows:
        if not row.supported:
            lines.append([row.family, "-", "CANNOT", row.note])
            continue
        client = "real code" if row.family in REAL_CLIENTS else "restated"
        result = row.result
        if row.works and result is not None:
            detail = f"whoami: {result.whoami_user_id}, sends messages as {result.message_sender}"
            if row.plain_secret is not None and not row.plain_secret.used:
                detail += "; a plain shared secret there is ignored (no request sent)"
            lines.append([row.family, client, "OK", detail])
        else:
            error = result.error if result is not None else "not run"
            lines.append([row.family, client, "FAILED", str(error)])
    for line in _table(lines):
        say(line)
    say()


def _bridge_run_text(run: bridge_process.DoublePuppetRun) -> tuple[str, str]:
    """(verdict, what the bridge did) for one run of the real bridge."""
    if not run.works:
        return "FAILED", run.failure or f"acts as {run.acts_as}, joined: {run.joined_as_user}"
    if run.login_type is None:
        how = "no login, no new device"
    else:
        devices = ", ".join(f'"{device}"' for device in run.new_devices)
        how = f"logged in with {run.login_type}, new device {devices}"
    return "OK", f"{how}; joined the portal room as {run.acts_as}"


def report_bridge_process() -> bool:
    """A real bridge process double-puppets a user once per method; True if both worked."""
    say(
        f"A real bridge process: {bridge_process.NAME}, run as an admin runs it on a"
        " homeserver with the module (default config), its own registration and the double-puppet"
        " one; it never contacts Telegram. Its database names a Telegram user whose double puppet"
        " is the Matrix user, with a dead access token (as after `sessions revoke`), and a portal"
        " room that Telegram user's ghost is in; at start-up the bridge double-puppets."
    )
    secret = secrets.token_hex(32)
    defaults = compat.find_setting(compat.MODULE_CONFIGS, "defaults")
    passwords_on = compat.find_setting(compat.PASSWORD_CONFIGS, "passwords-on")
    with (
        tempfile.TemporaryDirectory(prefix="demo-bridge-") as directory,
        closing(bridge_process.TelegramBridge(SERVER_NAME)) as template,
    ):
        registration = template.generate_registration()
        dp_path, dp_token = compat.write_double_puppet_registration(Path(directory), SERVER_NAME)
        with compat.start_homeserver(
            defaults,
            passwords_on,
            secret,
            server_name=SERVER_NAME,
            app_service_config_files=[registration.path, dp_path],
        ) as homeserver:
            # The first start creates the bridge's database; each run starts from a copy of it.
            template.configure(
                homeserver.url, bridge_process.shared_secret_map(SERVER_NAME, secret)
            )
            template.start()
            template.stop()
            methods = [
                (
                    "shared secret (module)",
                    "alice",
                    "login_shared_secret_map: {demo.local: ...}",
                    bridge_process.shared_secret_map(SERVER_NAME, secret),
                ),
                (
                    "appservice",
                    "bob",
                    "login_shared_secret_map: {demo.local: as_token:...}",
                    bridge_process.appservice_secret(SERVER_NAME, dp_token),
                ),
            ]
            lines = [["method", "bridge config", "user", "result", "what the bridge did"]]
            all_work = True
            for label, localpart, shown, options in methods:
                run = bridge_process.double_puppet_once(homeserver, template, localpart, options)
                verdict, detail = _bridge_run_text(run)
                all_work = all_work and run.works
                lines.append([label, shown, run.user_id, verdict, detail])
    for line in _table(lines):
        say(line)
    say()
    return all_work


def run_report(
    families: Mapping[str, BridgeLogin],
    skipped: str | None = None,
    configs: Sequence[compat.Setting] = compat.MODULE_CONFIGS,
    appservice: Mapping[str, AppserviceLogin] = APPSERVICE_FAMILIES,
    bridge_skipped: str | None = None,
) -> int:
    """Print the report; 0 only if mautrix-python double-puppets with the default config and
    with the appservice method, and the real bridge process (unless skipped) did both."""
    started = time.monotonic()
    say(
        f"synapse_dp_auth {synapse_dp_auth.__version__} demo on Synapse {synapse.__version__}:"
        f" each module config gets a throwaway homeserver on 127.0.0.1 (SQLite, deleted"
        f" afterwards, Synapse's own password login left on) with a user"
        f" @{USER_LOCALPART}:{SERVER_NAME}; each bridge family then logs in as that user with the"
        " shared secret, as its double puppet."
    )
    if skipped:
        say(f"(mx-puppet-bridge not run: {skipped})")
    say()
    passwords_on = compat.find_setting(compat.PASSWORD_CONFIGS, "passwords-on")
    defaults_works = False
    for number, config in enumerate(configs, start=1):
        row = compat.measure_row(config, passwords_on, families=families, server_name=SERVER_NAME)
        report_row(row, number, len(configs))
        if config.key == "defaults" and "mautrix-python" in row.cells:
            defaults_works = row.cells["mautrix-python"].works
    rows = compat.measure_appservice(server_name=SERVER_NAME, clients=appservice)
    report_appservice(rows)
    appservice_works = any(row.family == "mautrix-python" and row.works for row in rows)
    if bridge_skipped:
        say(f"(the real bridge process not run: {bridge_skipped})")
        bridge_works = True
    else:
        bridge_works = report_bridge_process()
    elapsed = time.monotonic() - started
    if defaults_works and appservice_works and bridge_works:
        say(
            "Result: with the default config, mautrix-python bridges double-puppet"
            " (m.login.password with the token), and with the appservice method (as_token:)"
            + ("" if bridge_skipped else "; a real bridge process did both")
            + f". Done in {elapsed:.0f} s; all servers stopped."
        )
        return 0
    if not defaults_works:
        say("Result: FAILED: mautrix-python bridges cannot double-puppet with the default config.")
    elif not appservice_works:
        say("Result: FAILED: mautrix-python bridges cannot double-puppet with as_token:.")
    else:
        say("Result: FAILED: the real bridge process did not double-puppet by both methods.")
    return 1


# -- --serve ------------------------------------------------------------------------------------


def curl_login(url: str, body: Mapping[str, Any]) -> str:
    return (
        f"curl -sS -X POST {shlex.quote(url + '/_matrix/client/v3/login')}"
        f" -H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
    )


def serve() -> int:
    """Run one homeserver until SIGINT/SIGTERM, then stop Synapse and delete its data.

    The signals only set a flag, so shutdown always goes through ``Homeserver.close()`` (Synapse
    stopped and waited for) rather than an exception raised wherever the main thread happens to be.
    """
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    secret = secrets.token_hex(32)
    defaults = compat.find_setting(compat.MODULE_CONFIGS, "defaults")
    passwords_on = compat.find_setting(compat.PASSWORD_CONFIGS, "passwords-on")
    with compat.start_homeserver(
        defaults, passwords_on, secret, server_name=SERVER_NAME
    ) as homeserver:
        password = secrets.token_urlsafe(12)
        user_id = homeserver.register_user(USER_LOCALPART, password)
        token = make_token(secret, user_id)
        identifier = {"type": "m.id.user", "user": user_id}
        say(f"synapse_dp_auth {synapse_dp_auth.__version__} on Synapse {synapse.__version__}")
        for label, value in [
            ("homeserver", homeserver.url),
            ("Synapse pid", str(homeserver.pid)),
            ("data dir", f"{homeserver.data_dir} (deleted on exit)"),
            ("module", f"{compat.MODULE} with the default config"),
            ("secret", secret),
            ("user", f"{user_id} (password: {password})"),
            ("token", f"{token} (HMAC-SHA512 of the user ID, keyed by the secret)"),
        ]:
            say(f"  {label:<12} {value}")
        say()
        say("Log in as the user the way mautrix-python bridges do (the token as the password):")
        say(
            curl_login(
                homeserver.url,
                {"type": LOGIN_TYPE_PASSWORD, "identifier": identifier, "password": token},
            )
        )
        say("or with the module's own login type:")
        say(
            curl_login(
                homeserver.url,
                {"type": LOGIN_TYPE_SHARED_SECRET, "identifier": identifier, "token": token},
            )
        )
        say()
        say("Serving until Ctrl-C (SIGINT) or SIGTERM.")
        while not stop.wait(1.0):
            try:
                status, _ = homeserver.get("/health")
            except OSError:
                status = 0
            if status != 200 and not stop.is_set():
                say("Synapse stopped answering; see its log: " + str(homeserver.data_dir))
                return 1
        say("Stopping Synapse...")
    say("Stopped.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.demo",
        description="Double-puppet login with synapse_dp_auth on a throwaway Synapse.",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep one homeserver (default config) running and print a curl login; Ctrl-C stops",
    )
    args = parser.parse_args(argv)
    quiet_logging()
    try:
        if args.serve:
            return serve()
        families = dict(FAMILIES)
        skipped = compat.js_clients_problem()
        if skipped is not None:
            del families["mx-puppet-bridge"]
        return run_report(families, skipped, bridge_skipped=bridge_process.CURRENT.problem())
    except (StartupError, HomeserverError, bridge_process.BridgeStartError) as error:
        print(f"demo failed: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
