"""The admin command line, ``python -m synapse_dp_auth`` (installed as ``synapse_dp_auth``).

``token`` computes what a bridge would send, ``check-config`` reads homeserver.yaml the way
Synapse does, ``doctor`` asks a running homeserver. Every user mistake ends in one line on stderr
and an exit code, never a traceback. The secret is never taken from the command line, where ``ps``
and shell history would show it.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from synapse_dp_auth import doctor
from synapse_dp_auth.config import DpAuthConfig
from synapse_dp_auth.token import make_token

SECRET_ENV = "SYNAPSE_DP_AUTH_SECRET"

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
#: Every `module:` string that loads this module (Synapse imports the dotted path).
OUR_MODULES = frozenset({MODULE, "synapse_dp_auth.provider.SharedSecretAuthProvider"})
#: devture's shared-secret-authenticator: v2 is a module, v1 a legacy password provider.
DEVTURE_MODULE = "shared_secret_authenticator.SharedSecretAuthProvider"
DEVTURE_V1_PROVIDER = "shared_secret_authenticator.SharedSecretAuthenticator"

#: Synapse's defaults for rc_login (synapse/config/ratelimiting.py); failed_attempts has none of
#: its own and falls back to the generic default.
_RC_LOGIN_DEFAULTS = {
    "address": (0.003, 5),
    "account": (0.003, 5),
    "failed_attempts": (0.17, 3),
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A mistake the admin can fix; the message is printed as one line."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- the secret ------------------------------------------------------------------------------------


def read_secret(secret_file: str | None) -> str:
    """The shared secret: from ``--secret-file`` (``-``: stdin), else the environment, else a
    prompt when stdin is a terminal. Surrounding whitespace is never part of it."""
    if secret_file is not None:
        return _secret_from_file(secret_file)
    value = os.environ.get(SECRET_ENV)
    if value is not None:
        if not value.strip():
            raise CliError(f"{SECRET_ENV} is set but empty", EXIT_USAGE)
        return value.strip()
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            value = getpass.getpass("Shared secret (not shown): ")
        except EOFError:
            value = ""
        if not value.strip():
            raise CliError("no shared secret entered", EXIT_USAGE)
        return value.strip()
    raise CliError(
        f"no shared secret: give --secret-file PATH (or - for stdin), set {SECRET_ENV}, or run"
        " on a terminal to be asked (never as an argument: ps and shell history would show it)",
        EXIT_USAGE,
    )


def _secret_from_file(path: str) -> str:
    """The first non-blank line, stripped: the format of the module's ``shared_secret_path``."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {_reason(error)}", EXIT_USAGE) from None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise CliError(f"{'stdin' if path == '-' else path} holds no secret", EXIT_USAGE)


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _user_id(value: str) -> str:
    if not doctor.is_full_user_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a full user ID like @alice:example.org (the token signs the full ID)"
        )
    return value


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 3600:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


# -- token -----------------------------------------------------------------------------------------


def command_token(args: argparse.Namespace, out: TextIO) -> int:
    out.write(make_token(read_secret(args.secret_file), args.user_id) + "\n")
    return EXIT_OK


# -- check-config ----------------------------------------------------------------------------------


def load_homeserver_config(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read and merge config files as Synapse's ``-c`` does: a directory means its ``*.yaml``
    files in sorted order, and a later file replaces whole top-level sections of earlier ones.

    Returns the merged config and, per top-level key, the file it came from.
    """
    import yaml

    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(".yaml"))
            if not found:
                raise CliError(f"{path} is a directory without *.yaml files")
            files.extend(found)
        else:
            files.append(path)

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f"cannot read {path}: {_reason(error)}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise CliError(f"{path} is not valid YAML: {_yaml_problem(error)}") from None
        if loaded is None and len(files) > 1:
            continue  # an empty conf.d file: Synapse ignores it too
        if not isinstance(loaded, dict):
            raise CliError(f"{path} does not hold a mapping of settings, as homeserver.yaml does")
        merged.update(loaded)
        sources.update(dict.fromkeys((str(key) for key in loaded), str(path)))
    return merged, sources


def _yaml_problem(error: Exception) -> str:
    """Where and what, without PyYAML's snippet of the line: that line may hold a secret."""
    parts = []
    for text_name, mark_name in (("context", "context_mark"), ("problem", "problem_mark")):
        text, mark = getattr(error, text_name, None), getattr(error, mark_name, None)
        if text:
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            parts.append(f"{text}{where}")
    return ": ".join(parts) or type(error).__name__


def command_check_config(args: argparse.Namespace, out: TextIO) -> int:
    config, sources = load_homeserver_config(args.config)
    report = ConfigReport(out)
    check_homeserver_config(config, sources, report)
    return report.finish()


class ConfigReport:
    """Collects what check-config has to say; errors decide the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.errors = 0
        self.warnings = 0

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def error(self, text: str) -> None:
        self.errors += 1
        self.line(f"error: {text}")

    def warning(self, text: str) -> None:
        self.warnings += 1
        self.line(f"warning: {text}")

    def finish(self) -> int:
        self.line()
        if self.errors:
            self.line(f"{self.errors} error(s), {self.warnings} warning(s): not valid.")
            return EXIT_FAILED
        self.line(f"Valid, with {self.warnings} warning(s).")
        return EXIT_OK


def check_homeserver_config(
    config: Mapping[str, Any], sources: Mapping[str, str], report: ConfigReport
) -> None:
    """Find this module's entry, validate it with the module's own ``parse_config``, and say
    what the surrounding homeserver settings mean for the bridges."""
    ours: list[tuple[str, Mapping[str, Any]]] = []
    devture: list[tuple[str, Mapping[str, Any], str]] = []
    misplaced = False
    for section in ("modules", "password_providers"):
        entries = config.get(section) or []
        where_section = f"{section} (in {sources.get(section, '?')})"
        if not isinstance(entries, list):
            report.error(f"{where_section}: must be a list of entries")
            continue
        for index, entry in enumerate(entries):
            where = f"{section}[{index}]"
            if not isinstance(entry, dict):
                report.error(f"{where_section}: entry {index} is not a mapping with module:")
                continue
            name = entry.get("module")
            if name in OUR_MODULES:
                if section == "password_providers":
                    misplaced = True
                    report.error(
                        f"{where}: synapse_dp_auth is a module, not a legacy password provider,"
                        " and Synapse will refuse to start: move this entry (its module: and"
                        " config:) from password_providers: to modules:"
                    )
                ours.append((where, entry))
            elif isinstance(name, str) and name.startswith("shared_secret_authenticator."):
                devture.append((where, entry, name))

    parsed: list[DpAuthConfig] = []
    for where, entry in ours:
        result = _check_our_entry(where, entry, sources, report)
        if result is not None:
            parsed.append(result)
    if len([where for where, _ in ours if where.startswith("modules")]) > 1:
        report.error(f"{MODULE} is listed more than once under modules: keep one entry")

    for where, entry, name in devture:
        _advise_devture(where, entry, name, bool(ours), report)

    if not ours:
        report.error(
            f"synapse_dp_auth is not configured: add an entry `- module: {MODULE}` with its"
            " config: under modules: in homeserver.yaml"
        )
    _homeserver_notes(config, parsed[0] if len(parsed) == 1 and not misplaced else None, report)


def _check_our_entry(
    where: str, entry: Mapping[str, Any], sources: Mapping[str, str], report: ConfigReport
) -> DpAuthConfig | None:
    """Validate with the same ``parse_config`` Synapse calls at start-up; ``None`` if invalid."""
    from synapse.module_api.errors import ConfigError

    from synapse_dp_auth.provider import SharedSecretAuthProvider

    section = where.partition("[")[0]
    report.line(f"{MODULE}: {where} in {sources.get(section, '?')}")
    stray = sorted(str(key) for key in entry if key not in ("module", "config"))
    if stray:
        report.warning(
            f"{where} has {', '.join(stray)} next to module:, where Synapse ignores it: indent it"
            " under config:"
        )
    raw = entry.get("config") or {}  # what Synapse's load_module passes
    try:
        parsed = SharedSecretAuthProvider.parse_config(raw)
    except ConfigError as error:
        key = ".".join(str(part) for part in error.path or ())
        report.error(f"{where}.config{'.' + key if key else ''}: {error.msg}")
        return None

    given = raw if isinstance(raw, Mapping) else {}

    def show(key: str, value: str) -> None:
        report.line(f"  {key}: {value}{'' if key in given else ' (default)'}")

    count = len(parsed.secrets)
    masked = f"{count} secret{'s' if count != 1 else ''} (masked)"
    if parsed.shared_secret_path is not None:
        report.line(f"  shared_secret_path: {parsed.shared_secret_path}: {masked}")
    else:
        report.line(f"  shared_secret: {masked}")
    for key in (
        "m_login_password_support_enabled",
        "com_devture_shared_secret_auth_support_enabled",
        "allow_ui_auth",
        "allow_appservice_users",
        "allow_admins",
    ):
        show(key, "true" if getattr(parsed, key) else "false")
    if parsed.allowed_users is None:
        show("allowed_users", "every local user")
    else:
        show("allowed_users", ", ".join(repr(p.pattern) for p in parsed.allowed_users))
    for warning in parsed.warnings:
        report.warning(warning)
    return parsed


def _advise_devture(
    where: str, entry: Mapping[str, Any], name: str, ours_present: bool, report: ConfigReport
) -> None:
    """How to move from devture's shared-secret-authenticator (never printing its secret)."""
    if ours_present:
        report.error(
            f"{where}: devture's {name} is still configured next to synapse_dp_auth; it accepts"
            " tokens on its own terms (in user-interactive auth too): remove its entry"
        )
        return
    if name == DEVTURE_V1_PROVIDER:
        report.warning(
            f"{where}: devture's shared-secret-authenticator v1 (a legacy password provider)."
            f" To migrate, remove it and add under modules: `- module: {MODULE}` with"
            " `config: {shared_secret: <the value of its sharedSecret>}`"
        )
        return
    report.warning(
        f"{where}: devture's {name}. To migrate, change its module: to {MODULE} and keep its"
        " config: (m_login_password_support_enabled now defaults to true)"
    )
    from synapse.module_api.errors import ConfigError

    from synapse_dp_auth.provider import SharedSecretAuthProvider

    try:
        SharedSecretAuthProvider.parse_config(entry.get("config") or {})
    except ConfigError as error:
        key = ".".join(str(part) for part in error.path or ())
        report.warning(
            f"{where}.config{'.' + key if key else ''}: synapse_dp_auth would refuse this:"
            f" {error.msg}"
        )
    else:
        report.line("  its config: is valid for synapse_dp_auth as it is")


def _homeserver_notes(
    config: Mapping[str, Any], parsed: DpAuthConfig | None, report: ConfigReport
) -> None:
    """Homeserver settings that decide which login types Synapse lists and accepts."""
    report.line()
    report.line("Homeserver settings that matter here:")
    mas = _section(config, "matrix_authentication_service").get("enabled", False)
    msc3861 = _section(_section(config, "experimental_features"), "msc3861").get("enabled", False)
    if mas or msc3861:
        report.warning(
            "login is delegated to the Matrix Authentication Service: Synapse serves no /login,"
            " so this module is never asked; bridges need appservice double puppeting"
            " (as_token:) instead"
        )

    password_config = _section(config, "password_config")
    enabled = password_config.get("enabled", not mas)
    localdb = password_config.get("localdb_enabled", True)
    password_for_login = bool(enabled) and enabled != "only_for_reauth"
    report.line(
        f"  password_config.enabled: {_yaml(enabled)}"
        f"{'' if 'enabled' in password_config else ' (default)'}"
        + (
            ""
            if password_for_login
            else f": Synapse lists and accepts no {doctor.LOGIN_TYPE_PASSWORD}"
        )
    )
    report.line(
        f"  password_config.localdb_enabled: {_yaml(localdb)}"
        f"{'' if 'localdb_enabled' in password_config else ' (default)'}"
        + ("" if localdb else ": users cannot log in with passwords from Synapse's database")
    )
    for kind, (per_second, burst) in _RC_LOGIN_DEFAULTS.items():
        settings = _section(_section(config, "rc_login"), kind)
        given = "per_second" in settings or "burst_count" in settings
        report.line(
            f"  rc_login.{kind}: per_second {settings.get('per_second', per_second)},"
            f" burst_count {settings.get('burst_count', burst)}"
            f"{'' if given else ' (default)'}"
        )
    report.line(
        "  (every bridge login counts against rc_login.address for the bridge's IP address: a"
        " bridge that logs many users in at once needs it raised, or it gets HTTP 429)"
    )
    if parsed is None or mas or msc3861:
        return

    # What GET /login will list: m.login.password first, wherever present (Synapse puts it there).
    listed = []
    if password_for_login and (localdb or parsed.m_login_password_support_enabled):
        listed.append(doctor.LOGIN_TYPE_PASSWORD)
    if parsed.com_devture_shared_secret_auth_support_enabled:
        listed.append(doctor.LOGIN_TYPE_SHARED_SECRET)
    accepted = set()
    if parsed.m_login_password_support_enabled and password_for_login:
        accepted.add(doctor.LOGIN_TYPE_PASSWORD)
    if parsed.com_devture_shared_secret_auth_support_enabled:
        accepted.add(doctor.LOGIN_TYPE_SHARED_SECRET)

    report.line()
    report.line(
        f"Expected GET /login list: {', '.join(listed) or 'neither type'}; tokens accepted on:"
        f" {', '.join(sorted(accepted)) or 'none'}. Per client family (confirm with doctor):"
    )
    for family in doctor.FAMILIES:
        login_type = doctor.choose_login_type(family, listed)
        if login_type in accepted:
            report.line(f"  ok    {family.name}: {login_type}")
            continue
        if login_type is None:
            why = "no usable login type is listed"
        elif login_type == doctor.LOGIN_TYPE_PASSWORD and not password_for_login:
            why = f"sends only {login_type}, which password_config.enabled turns off"
        elif login_type == doctor.LOGIN_TYPE_PASSWORD:
            why = (
                f"sends {login_type}"
                + (", listed first," if family.choice is doctor.Choice.FIRST_LISTED else "")
                + " where the module takes no tokens: set m_login_password_support_enabled: true"
            )
        else:
            why = (
                f"sends only {login_type}: set com_devture_shared_secret_auth_support_enabled: true"
            )
        report.warning(f"{family.name} cannot log in: {why}")


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


# -- doctor ----------------------------------------------------------------------------------------


def command_doctor(args: argparse.Namespace, out: TextIO) -> int:
    if args.secret_file is not None and args.user is None:
        raise CliError("--secret-file is only used with --user", EXIT_USAGE)
    client = doctor.HomeserverClient(args.homeserver_url, args.timeout)  # checks the URL first
    secret = read_secret(args.secret_file) if args.user is not None else None
    families = doctor.FAMILIES
    if args.family:
        families = tuple(f for f in doctor.FAMILIES if f.name in args.family)
    return doctor.run(client, out, user_id=args.user, secret=secret, families=families)


# -- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: `--secret X` must not quietly mean `--secret-file X`.
    parser = argparse.ArgumentParser(
        prog="synapse_dp_auth",
        allow_abbrev=False,
        description="Tools for the synapse_dp_auth shared-secret login module.",
        epilog=f"The shared secret is read from --secret-file, from ${SECRET_ENV}, or from a"
        " prompt; never from an argument.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    secret_help = (
        f"file whose first non-blank line is the secret (- for stdin); else ${SECRET_ENV},"
        " else a prompt on a terminal"
    )
    token = commands.add_parser(
        "token",
        allow_abbrev=False,
        help="print the token a bridge would send to log in as a user",
        description="Print the shared-secret token (HMAC-SHA512 of the user ID) for USER_ID.",
    )
    token.add_argument("user_id", metavar="USER_ID", type=_user_id, help="e.g. @alice:example.org")
    token.add_argument("--secret-file", metavar="PATH", help=secret_help)
    token.set_defaults(handler=command_token)

    check = commands.add_parser(
        "check-config",
        allow_abbrev=False,
        help="validate this module's entry in homeserver.yaml",
        description="Find and validate this module's entry in homeserver.yaml with the module's"
        " own parse_config, show the effective settings (secrets masked) and the homeserver"
        " settings that decide which login types work. Exit 0 when valid.",
    )
    check.add_argument(
        "config",
        metavar="CONFIG",
        nargs="+",
        help="homeserver.yaml; several files or directories merge as with Synapse's -c",
    )
    check.set_defaults(handler=command_check_config)

    diagnose = commands.add_parser(
        "doctor",
        allow_abbrev=False,
        help="ask a running homeserver whether each bridge family can log in",
        description="Read the login types the homeserver advertises and say, for each family of"
        " shared-secret clients, which type it would send and whether that works. With --user"
        " (and the secret), log in as each family would, on a device of its own, and log out"
        " again at once; identical requests are sent once, as each login counts against"
        " rc_login. Exit 0 when no family fails (only --user can confirm that one works).",
    )
    diagnose.add_argument(
        "homeserver_url", metavar="HOMESERVER_URL", help="e.g. https://matrix.example.org"
    )
    diagnose.add_argument(
        "--user", type=_user_id, metavar="USER_ID", help="log in as this user to confirm"
    )
    diagnose.add_argument("--secret-file", metavar="PATH", help=secret_help)
    names = [family.name for family in doctor.FAMILIES]
    diagnose.add_argument(
        "--family",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"only this client family, repeatable (default: all): {', '.join(names)}",
    )
    diagnose.add_argument(
        "--timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="per request (default: 10)",
    )
    diagnose.set_defaults(handler=command_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``--help`` and usage errors included)."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, or argparse's own usage error (already printed)
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
        try:
            code: int = args.handler(args, sys.stdout)
        except (CliError, doctor.DoctorError) as error:
            sys.stdout.flush()
            print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
            return error.exit_code if isinstance(error, CliError) else EXIT_FAILED
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
