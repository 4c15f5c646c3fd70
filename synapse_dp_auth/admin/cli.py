"""The admin command line, ``python -m synapse_dp_auth`` (installed as ``synapse_dp_auth``).

``token`` computes what a bridge would send, ``check-config`` reads homeserver.yaml the way
Synapse does, ``doctor`` asks a running homeserver, ``appservice`` writes the registration of the
appservice double-puppet method. Every user mistake ends in one line on stderr
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

from synapse_dp_auth.admin import appservice, checkconfig, doctor
from synapse_dp_auth.admin.client import (
    HomeserverClient,
    HomeserverError,
    sends_in_clear_over_network,
)
from synapse_dp_auth.admin.families import FAMILIES
from synapse_dp_auth.admin.registration import (
    DEFAULT_ID,
    RegistrationError,
    ServerNameError,
    validate_server_name,
)
from synapse_dp_auth.config import error_reason
from synapse_dp_auth.token import make_token

SECRET_ENV = "SYNAPSE_DP_AUTH_SECRET"

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


def _secret_from_file(path: str) -> str:
    """The first non-blank line, stripped: the format of the module's ``shared_secret_path``.

    A UTF-8 byte order mark (as some Windows editors write) is not part of the secret, as the
    module itself reads the file."""
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read().removeprefix("\ufeff")
        else:
            with open(path, encoding="utf-8-sig") as file:
                text = file.read()
    except UnicodeDecodeError:
        # Not error_reason: the decoder's message quotes the offending byte of the secret.
        raise CliError(f"cannot read {source}: not valid UTF-8", EXIT_USAGE) from None
    except OSError as error:
        raise CliError(f"cannot read {source}: {error_reason(error)}", EXIT_USAGE) from None
    for line in text.splitlines():
        if line.strip():
            return _encodable(line.strip(), source)
    raise CliError(f"{source} holds no secret", EXIT_USAGE)


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


def command_doctor(args: argparse.Namespace, out: TextIO) -> int:
    if args.secret_file is not None and args.user is None:
        raise CliError("--secret-file is only used with --user", EXIT_USAGE)
    client = HomeserverClient(args.homeserver_url, args.timeout)  # checks the URL first
    if (
        args.user is not None
        and not args.allow_insecure_http
        and sends_in_clear_over_network(client.base_url)
    ):
        # Checked before the secret is asked for: the token is a lasting credential for the user.
        raise CliError(
            f"{client.base_url} is plain http:// to another machine, and --user would send"
            f" {args.user}'s login token (a permanent credential) unencrypted: use the https://"
            " URL, or give --allow-insecure-http if that network path is trusted",
            EXIT_USAGE,
        )
    secret = read_secret(args.secret_file) if args.user is not None else None
    families = FAMILIES
    if args.family:
        families = tuple(f for f in FAMILIES if f.name in args.family)
    return doctor.run(client, out, user_id=args.user, secret=secret, families=families)


# -- appservice ------------------------------------------------------------------------------------


def command_appservice(args: argparse.Namespace, out: TextIO) -> int:
    if args.config:
        config, sources = checkconfig.load_homeserver_config(args.config)
        server_name = configured_server_name(config, sources)
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


def configured_server_name(config: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """homeserver.yaml's ``server_name``, checked as a Matrix server name; errors name the file."""
    where = sources.get("server_name") or " / ".join(dict.fromkeys(sources.values())) or "?"
    value = config.get("server_name")
    if value is None:
        raise CliError(f"{where}: server_name is missing (give --server-name instead)")
    if not isinstance(value, str):
        raise CliError(f"{where}: server_name must be a string, not {type(value).__name__}")
    try:
        return validate_server_name(value)
    except ServerNameError as error:
        raise CliError(f"{where}: server_name: {error}") from None


# -- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: `--secret X` must not quietly mean `--secret-file X`.
    parser = argparse.ArgumentParser(
        prog="synapse_dp_auth",
        allow_abbrev=False,
        description="Tools for the synapse_dp_auth shared-secret login module, and for the"
        " appservice double-puppet method that needs no module.",
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
    diagnose.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="with --user, allow a plain http:// URL to a host other than this machine (refused"
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
    diagnose.add_argument(
        "--timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="per request (default: 10)",
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
        " way, without this module. FILE must not exist. Exit 0 when written.",
    )
    register.add_argument(
        "file", metavar="FILE", help="where to write it, e.g. /etc/matrix-synapse/doublepuppet.yaml"
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
        default=DEFAULT_ID,
        metavar="ID",
        help=f"the registration's id, unique among the registrations (default: {DEFAULT_ID})",
    )
    register.set_defaults(handler=command_appservice)
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
