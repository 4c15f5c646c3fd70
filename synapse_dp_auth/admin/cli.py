"""The admin command line, ``python -m synapse_dp_auth`` (installed as ``synapse_dp_auth``).

``token`` computes what a bridge would send, ``check-config`` reads homeserver.yaml the way
Synapse does, ``doctor`` asks a running homeserver, ``appservice`` writes the registration of the
appservice double-puppet method, ``sessions`` lists and revokes what shared-secret logins created.
Every user mistake ends in one line on stderr
and an exit code, never a traceback. The secret is never taken from the command line, where ``ps``
and shell history would show it.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from synapse_dp_auth.admin import (
    appservice,
    bridge_config,
    bridge_doctor,
    checkconfig,
    doctor,
    files,
    sessions,
)
from synapse_dp_auth.admin.appservice_check import run_appservice
from synapse_dp_auth.admin.client import (
    HomeserverClient,
    HomeserverError,
    sends_in_clear_over_network,
)
from synapse_dp_auth.admin.families import FAMILIES
from synapse_dp_auth.admin.registration import (
    AS_TOKEN_PREFIX,
    DEFAULT_ID,
    RegistrationError,
    ServerNameError,
    validate_registration_id,
    validate_server_name,
)
from synapse_dp_auth.token import make_token

SECRET_ENV = "SYNAPSE_DP_AUTH_SECRET"
AS_TOKEN_ENV = "SYNAPSE_DP_AUTH_AS_TOKEN"

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
        return _encodable(value.strip(), SECRET_ENV)
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            value = getpass.getpass("Shared secret (not shown): ")
        except EOFError:
            value = ""
        if not value.strip():
            raise CliError("no shared secret entered", EXIT_USAGE)
        return _encodable(value.strip(), "the secret entered")
    raise CliError(
        f"no shared secret: give --secret-file PATH (or - for stdin), set {SECRET_ENV}, or run"
        " on a terminal to be asked (never as an argument: ps and shell history would show it)",
        EXIT_USAGE,
    )


def _secret_from_file(path: str, what: str = "secret") -> str:
    """The first non-blank line, stripped: the format of the module's ``shared_secret_path``.

    A UTF-8 byte order mark (as some Windows editors write) is not part of the secret, as the
    module itself reads the file."""
    source, text = _read_source(path)
    for line in text.splitlines():
        if line.strip():
            return _encodable(line.strip(), source)
    raise CliError(f"{source} holds no {what}", EXIT_USAGE)


def _read_source(path: str) -> tuple[str, str]:
    """``(label, text)`` of a secret or token file (``-``: stdin); errors quote nothing of it."""
    try:
        return files.read_text(path, dash_is_stdin=True)
    except files.SourceError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def _encodable(secret: str, source: str) -> str:
    """``secret`` if it has UTF-8 bytes to be the HMAC key.

    Text from the environment or a non-UTF-8 stdin carries undecodable bytes as lone surrogates
    (PEP 383), which have none; the error names where the secret came from and nothing of it.
    """
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        raise CliError(f"{source} is not valid UTF-8", EXIT_USAGE) from None
    return secret


def read_as_token(as_token_file: str | None) -> str:
    """The appservice token: from ``--as-token-file`` (``-``: stdin), else the environment, else a
    prompt on a terminal.

    The file may be the registration itself (its ``as_token:`` key is read) or hold the token on
    its first non-blank line; a bridge's value with the ``as_token:`` prefix is accepted as well.
    """
    if as_token_file is not None:
        token = _as_token_from_file(as_token_file)
    else:
        value = os.environ.get(AS_TOKEN_ENV)
        if value is not None:
            token = _encodable(value.strip(), AS_TOKEN_ENV)
        elif sys.stdin is not None and sys.stdin.isatty():
            try:
                value = getpass.getpass("as_token (not shown): ")
            except EOFError:
                value = ""
            token = _encodable(value.strip(), "the as_token entered")
        else:
            raise CliError(
                f"no as_token: give --as-token-file PATH (the registration file, or a file holding"
                f" the token; - for stdin), set {AS_TOKEN_ENV}, or run on a terminal to be asked"
                " (never as an argument: ps and shell history would show it)",
                EXIT_USAGE,
            )
    token = token.removeprefix(AS_TOKEN_PREFIX).strip()
    if not token:
        raise CliError("the as_token is empty", EXIT_USAGE)
    if not token.isprintable() or " " in token:
        raise CliError("the as_token holds spaces or control characters", EXIT_USAGE)
    return token


def _as_token_from_file(path: str) -> str:
    """The registration's ``as_token`` when ``path`` holds a registration (a YAML mapping), else
    its first non-blank line. Errors name the file, never its content."""
    import yaml

    source, text = _read_source(path)
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        loaded = None  # not YAML: a token file
    except RecursionError:
        raise CliError(f"{source} {files.NESTED_TOO_DEEPLY}", EXIT_USAGE) from None
    if isinstance(loaded, dict) and len(loaded) > 1:
        token = loaded.get("as_token")
        if not isinstance(token, str) or not token.strip():
            raise CliError(
                f"{source} is a YAML mapping without an as_token: give the registration file, or"
                " a file holding only the token",
                EXIT_USAGE,
            )
        return _encodable(token.strip(), source)
    for line in text.splitlines():
        if line.strip():
            return _encodable(line.strip(), source)
    raise CliError(f"{source} holds no as_token", EXIT_USAGE)


def is_full_user_id(user_id: str) -> bool:
    """``@localpart:server``: the token signs exactly this string, so a bare name would not do."""
    localpart, colon, server = user_id[1:].partition(":")
    return (
        user_id.startswith("@") and bool(colon and localpart and server) and user_id.isprintable()
    )


def _user_id(value: str) -> str:
    if not is_full_user_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a full user ID like @alice:example.org (the token signs the full ID)"
        )
    return value


def _registration_id(value: str) -> str:
    try:
        return validate_registration_id(value)
    except RegistrationError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--id ")) from None


def _output_file(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("the path is empty: give the file to write")
    return value


def _server_name(value: str) -> str:
    try:
        return validate_server_name(value)
    except ServerNameError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def command_check_config(args: argparse.Namespace, out: TextIO) -> int:
    config, sources = checkconfig.load_homeserver_config(args.config)
    report = checkconfig.ConfigReport(out)
    checkconfig.check_homeserver_config(config, sources, report)
    return report.finish()


# -- doctor ----------------------------------------------------------------------------------------


def _checked_client(url: str, args: argparse.Namespace, credential: str) -> HomeserverClient:
    """The HTTP client for ``url``; refuses plain http:// off loopback before any credential is
    read or sent, unless --allow-insecure-http."""
    client = HomeserverClient(url, args.timeout)  # checks the URL first
    if not args.allow_insecure_http and sends_in_clear_over_network(client.base_url):
        raise CliError(
            f"{client.base_url} is plain http:// to another machine, and {credential}"
            " unencrypted: use the https:// URL, or give --allow-insecure-http if that network"
            " path is trusted",
            EXIT_USAGE,
        )
    return client


def command_doctor(args: argparse.Namespace, out: TextIO) -> int:
    if args.bridge_config is not None:
        return _doctor_bridge_config(args, out)
    if args.homeserver_url is None:
        raise CliError(
            "give HOMESERVER_URL, or --bridge-config PATH to take it from a bridge's config",
            EXIT_USAGE,
        )
    if args.appservice or args.as_token_file is not None:
        return _doctor_appservice(args, out)
    if args.secret_file is not None and args.user is None:
        raise CliError("--secret-file is only used with --user", EXIT_USAGE)
    if args.user is None:
        client = HomeserverClient(args.homeserver_url, args.timeout)
    else:
        # Checked before the secret is asked for: the token is a lasting credential for the user.
        client = _checked_client(
            args.homeserver_url,
            args,
            f"--user would send {args.user}'s login token (a permanent credential)",
        )
    secret = read_secret(args.secret_file) if args.user is not None else None
    families = FAMILIES
    if args.family:
        families = tuple(f for f in FAMILIES if f.name in args.family)
    return doctor.run(client, out, user_id=args.user, secret=secret, families=families)


def _doctor_appservice(args: argparse.Namespace, out: TextIO) -> int:
    if args.user is None:
        raise CliError("--appservice / --as-token-file need --user USER_ID", EXIT_USAGE)
    if args.secret_file is not None or args.family:
        raise CliError(
            "--secret-file and --family are for shared-secret logins, not --appservice",
            EXIT_USAGE,
        )
    client = _checked_client(
        args.homeserver_url,
        args,
        "the check would send the as_token (it acts as every user its registration covers)",
    )
    as_token = read_as_token(args.as_token_file)
    source = args.as_token_file if args.as_token_file is not None else "the environment or prompt"
    label = f"the as_token from {source}"
    return run_appservice(client, out, user_id=args.user, as_token=as_token, label=label)


def _doctor_bridge_config(args: argparse.Namespace, out: TextIO) -> int:
    if args.user is None:
        raise CliError(
            "--bridge-config needs --user USER_ID: whose double puppet to check", EXIT_USAGE
        )
    if args.secret_file is not None or args.as_token_file is not None or args.appservice:
        raise CliError(
            "--bridge-config takes the secret from the bridge's config: leave out --secret-file,"
            " --as-token-file and --appservice",
            EXIT_USAGE,
        )
    if args.family:
        raise CliError(
            "--bridge-config decides the family from the config: leave out --family", EXIT_USAGE
        )
    path = args.bridge_config
    try:
        plan = bridge_config.plan_double_puppet(
            bridge_config.load_bridge_config(path), path, args.user
        )
        return bridge_doctor.run_bridge_plan(
            plan,
            out,
            user_id=args.user,
            homeserver_url=args.homeserver_url,
            make_client=lambda url: _checked_client(
                url, args, "the check would send what the bridge's double-puppet secret makes"
            ),
        )
    except (bridge_config.BridgeConfigError, bridge_doctor.NoHomeserverURLError) as error:
        raise CliError(str(error)) from None


# -- appservice ------------------------------------------------------------------------------------


def command_appservice(args: argparse.Namespace, out: TextIO) -> int:
    if args.config:
        config, sources = checkconfig.load_homeserver_config(args.config)
        try:
            server_name = checkconfig.configured_server_name(config, sources)
        except checkconfig.ConfigFileError as error:
            hint = " (give --server-name instead)" if config.get("server_name") is None else ""
            raise CliError(f"{error}{hint}") from None
    else:
        server_name = args.server_name
    path = Path(args.file)
    try:
        registration = appservice.create(path, server_name, args.id)
    except RegistrationError as error:
        raise CliError(str(error)) from None
    out.write(
        appservice.next_steps(path, server_name, registration, config_paths=args.config or ())
    )
    return EXIT_OK


# -- sessions --------------------------------------------------------------------------------------


def read_admin_token(token_file: str | None) -> str:
    """A server admin's access token: ``--admin-token-file`` (``-``: stdin), else the
    environment, else a prompt on a terminal; like the secret, never an argument."""
    if token_file is not None:
        return _secret_from_file(token_file, "access token")
    env = sessions.ADMIN_TOKEN_ENV
    value = os.environ.get(env, "").strip()
    if value:
        return value
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            value = getpass.getpass("A server admin's access token (not shown): ").strip()
        except EOFError:
            value = ""
        if value:
            return value
    raise CliError(
        f"no admin access token: give --admin-token-file PATH (or - for stdin), set {env}, or"
        " run on a terminal to be asked (never as an argument: ps and shell history would show"
        " it)",
        EXIT_USAGE,
    )


def command_sessions(args: argparse.Namespace, out: TextIO) -> int:
    client = _checked_client(
        args.homeserver_url, args, "the admin access token would cross the network"
    )
    filters = sessions.query(args.fingerprint, args.user, args.since)
    if args.action == "revoke" and not filters:
        raise CliError(
            "revoke needs --fingerprint, --user or --since (to end every recorded session,"
            " say so with --since 1970-01-01)",
            EXIT_USAGE,
        )
    if args.include_reused_devices and args.action != "revoke":
        raise CliError(f"{sessions.REUSED_FLAG} is for revoke", EXIT_USAGE)
    admin_token = read_admin_token(args.admin_token_file)
    if args.action == "revoke":
        sessions.revoke(client, admin_token, filters, args.yes, out, args.include_reused_devices)
    else:
        sessions.list_sessions(client, admin_token, filters, out)
    return EXIT_OK


def _since(value: str) -> int:
    try:
        return sessions.parse_since(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fingerprint(value: str) -> str:
    if len(value) != 8 or not all(char in "0123456789abcdef" for char in value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a secret fingerprint (8 lowercase hex digits, as listed)"
        )
    return value


# -- the parser ------------------------------------------------------------------------------------


def _add_connection_options(parser: argparse.ArgumentParser, insecure_help: str) -> None:
    """``--allow-insecure-http`` (``insecure_help`` says what would cross) and ``--timeout``."""
    parser.add_argument("--allow-insecure-http", action="store_true", help=insecure_help)
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="per request (default: 10)",
    )


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: `--secret X` must not quietly mean `--secret-file X`.
    parser = argparse.ArgumentParser(
        prog="synapse_dp_auth",
        allow_abbrev=False,
        description="Tools for the synapse_dp_auth shared-secret login module, and for the"
        " appservice double-puppet method that needs no module.",
        epilog=f"The shared secret is read from --secret-file, from ${SECRET_ENV}, or from a"
        f" prompt; an appservice token from --as-token-file, from ${AS_TOKEN_ENV}, or from a"
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
        help="ask a running homeserver whether bridges can double-puppet",
        description="Read the login types the homeserver advertises and say, for each family of"
        " shared-secret clients, which type it would send and whether that works. With --user"
        " (and the secret), log in as each family would, on a device of its own, and log out"
        " again at once; identical requests are sent once, as each login counts against"
        " rc_login. With --appservice (or --as-token-file), check the appservice method instead:"
        " whoami?user_id= with the as_token, read-only. With --bridge-config, read a bridge's"
        " own config, say which method it will use for --user and check that one. Exit 0 when"
        " nothing fails (only --user can confirm that a family works).",
    )
    diagnose.add_argument(
        "homeserver_url",
        metavar="HOMESERVER_URL",
        nargs="?",
        help="e.g. https://matrix.example.org; with --bridge-config, replaces the bridge's address",
    )
    diagnose.add_argument(
        "--user", type=_user_id, metavar="USER_ID", help="check double puppeting of this user"
    )
    diagnose.add_argument("--secret-file", metavar="PATH", help=secret_help)
    diagnose.add_argument(
        "--appservice",
        action="store_true",
        help="check the appservice method (as_token:) for --user instead of shared-secret logins:"
        " whoami?user_id= with the as_token, as bridges do; read-only",
    )
    diagnose.add_argument(
        "--as-token-file",
        metavar="PATH",
        help="implies --appservice: the registration file, or a file whose first non-blank line"
        f" is the as_token (- for stdin); else ${AS_TOKEN_ENV}, else a prompt on a terminal",
    )
    diagnose.add_argument(
        "--bridge-config",
        metavar="PATH",
        help="a bridge's own config file (mautrix bridgev2, legacy mautrix-go, mautrix-python,"
        " mx-puppet-bridge, matrix-corporal JSON): take the homeserver address and the"
        " double-puppet secret for --user's server from it, say which method the bridge will"
        " use, and check that one",
    )
    _add_connection_options(
        diagnose,
        "with --user, allow a plain http:// URL to a host other than this machine (refused"
        " by default: the user's login token, a permanent credential, would cross the network"
        " unencrypted; http:// to localhost, 127.0.0.0/8 or ::1 needs no flag)",
    )
    names = [family.name for family in FAMILIES]
    diagnose.add_argument(
        "--family",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"only this client family, repeatable (default: all): {', '.join(names)}",
    )
    diagnose.set_defaults(handler=command_doctor)

    register = commands.add_parser(
        "appservice",
        allow_abbrev=False,
        help="write the registration of the appservice double-puppet method, and say how to use it",
        description="Write a double-puppet appservice registration to FILE (url null, fresh"
        " random as_token, hs_token and sender_localpart, rate_limited false, a non-exclusive"
        " namespace of every user of the server), readable by its owner only, and print the"
        " next steps: the app_service_config_files entry for homeserver.yaml and each bridge"
        " family's setting, with the as_token. Bridges that do no shared-secret login (mautrix-go"
        " bridgev2) and every bridge under the Matrix Authentication Service double-puppet this"
        " way, without this module. FILE must not exist. Exit 0 when written; 1 when FILE"
        " cannot be written or the homeserver config (-c) cannot be read or has no valid"
        " server_name (a problem in a file); 2 for a mistake in the command line itself (an"
        " invalid --server-name or --id included).",
    )
    register.add_argument(
        "file",
        metavar="FILE",
        type=_output_file,
        help="where to write it, e.g. /etc/matrix-synapse/doublepuppet.yaml",
    )
    server = register.add_mutually_exclusive_group(required=True)
    server.add_argument(
        "--server-name",
        type=_server_name,
        metavar="NAME",
        help="the server name user IDs end with (example.org, example.org:8448, [2001:db8::1]);"
        " not the client API's host name",
    )
    server.add_argument(
        "-c",
        "--config",
        action="append",
        metavar="CONFIG",
        help="read server_name from homeserver.yaml instead (repeatable; files and directories"
        " merge as with Synapse's -c)",
    )
    register.add_argument(
        "--id",
        type=_registration_id,
        default=DEFAULT_ID,
        metavar="ID",
        help=f"the registration's id, unique among the registrations (default: {DEFAULT_ID})",
    )
    register.set_defaults(handler=command_appservice)

    listing = commands.add_parser(
        "sessions",
        allow_abbrev=False,
        help="list, or revoke, the sessions shared-secret logins created",
        description="List the sessions (devices) that shared-secret logins created, as the"
        " module recorded them, with the fingerprint of the secret each used (Synapse logs each"
        " configured secret's fingerprint at start-up). `revoke` deletes those devices through"
        " Synapse's admin API, which ends their access tokens: a dry run unless --yes. Rotating"
        " a secret does not end the sessions it created; after a leak, revoke them.",
    )
    listing.add_argument("action", choices=["list", "revoke"], help="list, or revoke")
    listing.add_argument(
        "homeserver_url", metavar="HOMESERVER_URL", help="e.g. https://matrix.example.org"
    )
    listing.add_argument(
        "--admin-token-file",
        metavar="PATH",
        help="file holding a server admin's access token (- for stdin); else"
        f" ${sessions.ADMIN_TOKEN_ENV}, else a prompt on a terminal",
    )
    listing.add_argument(
        "--fingerprint", type=_fingerprint, metavar="X", help="only logins with this secret"
    )
    listing.add_argument("--user", type=_user_id, metavar="USER_ID", help="only this user")
    listing.add_argument(
        "--since",
        type=_since,
        metavar="TIME",
        help="only logins at or after this ISO 8601 date or time (UTC unless it says otherwise)",
    )
    listing.add_argument(
        "--yes", action="store_true", help="with revoke: really delete the devices"
    )
    listing.add_argument(
        sessions.REUSED_FLAG,
        action="store_true",
        help="with revoke: also delete devices the logins did not create (the client named a"
        " device the user had, e.g. their phone; listed with what deleting them costs), and those"
        " whose records do not say",
    )
    _add_connection_options(
        listing,
        "allow a plain http:// URL to a host other than this machine (the admin token"
        " would cross the network unencrypted)",
    )
    listing.set_defaults(handler=command_sessions)
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
        except (CliError, checkconfig.ConfigFileError, HomeserverError) as error:
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
