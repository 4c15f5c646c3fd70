"""``check-config``'s arguments and handler."""

from __future__ import annotations

import argparse
from typing import TextIO

from synapse_dp_auth.admin.check_config.check import check_homeserver_config
from synapse_dp_auth.admin.check_config.path_map import (
    MDAD_DOUBLE_PUPPET_MOUNT,
    parse_path_mapping,
)
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
    parser.add_argument(
        "--path-map",
        metavar="CONTAINER_PREFIX=HOST_PREFIX",
        action="append",
        default=[],
        type=parse_path_mapping,
        help="read a path homeserver.yaml lists inside Synapse's container from the host: a"
        " listed path equal to or under CONTAINER_PREFIX is read from HOST_PREFIX instead"
        " (repeatable; the longest matching prefix wins), e.g. --path-map"
        f" {MDAD_DOUBLE_PUPPET_MOUNT[0]}={MDAD_DOUBLE_PUPPET_MOUNT[1]} for"
        " matrix-docker-ansible-deploy's double-puppet registration",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    config, sources = load_homeserver_config(args.config)
    report = ConfigReport(out)
    check_homeserver_config(config, sources, report, args.path_map)
    return report.finish()
