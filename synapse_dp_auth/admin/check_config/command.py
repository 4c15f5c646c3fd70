"""``check-config``'s arguments and handler."""

from __future__ import annotations

import argparse
from typing import TextIO

from synapse_dp_auth.admin.check_config.check import check_homeserver_config
from synapse_dp_auth.admin.check_config.report import ConfigReport
from synapse_dp_auth.admin.shared.homeserver_yaml import load_homeserver_config


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "check-config",
        allow_abbrev=False,
        help="validate this module's entry in homeserver.yaml",
        description="Find and validate this module's entry in homeserver.yaml with the module's"
        " own parse_config, show the effective settings (secrets masked) and the homeserver"
        " settings that decide which login types work. Exit 0 when valid.",
    )
    parser.add_argument(
        "config",
        metavar="CONFIG",
        nargs="+",
        help="homeserver.yaml; several files or directories merge as with Synapse's -c",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    config, sources = load_homeserver_config(args.config)
    report = ConfigReport(out)
    check_homeserver_config(config, sources, report)
    return report.finish()
