"""Arguments several commands take, checked as argparse reads them: a full user ID (``token``,
``doctor``, ``sessions``), ``--secret-file`` (``token``, ``doctor``), and the connection options
with the HTTP client they make (``doctor``, ``sessions``).
"""

from __future__ import annotations

import argparse

from synapse_dp_auth.admin.shared.client import HomeserverClient, sends_in_clear_over_network
from synapse_dp_auth.admin.shared.credentials import SECRET_ENV
from synapse_dp_auth.admin.shared.exits import EXIT_USAGE, CliError
from synapse_dp_auth.admin.shared.matrix_ids import is_full_user_id

#: ``--secret-file``'s help (the file is read by :mod:`~synapse_dp_auth.admin.shared.credentials`).
SECRET_FILE_HELP = (
    f"file whose first non-blank line is the secret (- for stdin); else ${SECRET_ENV}, else a"
    " prompt on a terminal"
)


def user_id(value: str) -> str:
    """argparse type: a full user ID (the token signs the full ID, so a bare name would not do)."""
    if not is_full_user_id(value):
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


def add_connection_options(parser: argparse.ArgumentParser, insecure_help: str) -> None:
    """``--allow-insecure-http`` (``insecure_help`` says what would cross) and ``--timeout``."""
    parser.add_argument("--allow-insecure-http", action="store_true", help=insecure_help)
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="per request (default: 10)",
    )


def checked_client(url: str, args: argparse.Namespace, credential: str) -> HomeserverClient:
    """The HTTP client for ``url`` (with the connection options of ``args``); refuses plain
    http:// off loopback before any credential is read or sent, unless --allow-insecure-http.
    ``credential`` says what would cross the network."""
    client = HomeserverClient(url, args.timeout)  # checks the URL first
    if not args.allow_insecure_http and sends_in_clear_over_network(client.base_url):
        raise CliError(
            f"{client.base_url} is plain http:// to another machine, and {credential}"
            " unencrypted: use the https:// URL, or give --allow-insecure-http if that network"
            " path is trusted",
            EXIT_USAGE,
        )
    return client
