"""``appservice``: write the double-puppet registration and say what to do with it.

The registration itself comes from :mod:`synapse_dp_auth.admin.appservice.registration`; which
bridges take its ``as_token`` where comes from the families model
(:mod:`synapse_dp_auth.admin.shared.families`).
This file only puts the two together as the next steps an admin follows. The ``as_token`` is
written to the file and to this command's output, for the admin to copy into bridge configs; it
is never logged, and never an argument.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synapse_dp_auth.admin.appservice.registration import (
    build_registration,
    registration_yaml,
    write_registration,
)
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX, EVERY_FAMILY, Family


def create(path: Path, server_name: str, registration_id: str) -> dict[str, Any]:
    """Build a fresh registration for ``server_name`` and write it to ``path`` (never over a file).

    Raises :class:`~synapse_dp_auth.admin.appservice.registration.RegistrationError` or
    :class:`~synapse_dp_auth.admin.shared.matrix_ids.ServerNameError` with a message for the admin.
    """
    registration = build_registration(server_name, registration_id)
    write_registration(path, registration_yaml(registration, server_name))
    return registration


def next_steps(
    path: Path,
    server_name: str,
    registration: dict[str, Any],
    bridge_families: Sequence[Family] = EVERY_FAMILY,
    config_paths: Sequence[str] = (),
) -> str:
    """What the admin does next, with the YAML to paste: homeserver.yaml, then each bridge.

    Snippets are indented by four spaces and are valid YAML once that indent is removed (keys
    and values are JSON-quoted, which YAML reads as they are: a server name with a port or an
    IPv6 literal would otherwise be misread).
    """
    secret = json.dumps(AS_TOKEN_PREFIX + registration["as_token"])
    lines = [
        f"Wrote {path}: the double-puppet registration for {server_name}"
        f" (id {registration['id']}), readable by its owner only.",
        "",
        "1. Install it. Let the user Synapse runs as read the file (and nobody else), list it in",
        "   homeserver.yaml next to any registrations already there, and restart Synapse:",
        "",
        *_indented(_nested("app_service_config_files", [json.dumps(str(path.resolve()))])),
        "",
        "2. Put its as_token into each bridge's config, under the server name. Keep it secret:",
        "   it lets its holder act as any user of this server. It is shown only here (and in the",
        "   file).",
    ]
    for family in bridge_families:
        if family.appservice_setting is None:
            continue
        lines += ["", *_prose(f"{family.name} ({family.clients}): {family.appservice_note}")]
        lines += [
            "",
            *_indented(_nested(family.appservice_setting, {json.dumps(server_name): secret})),
        ]
    staying = [f for f in bridge_families if f.appservice_setting is None]
    if staying:
        lines += [
            "",
            "3. These cannot use the appservice method; they keep double-puppeting through the",
            "   synapse_dp_auth module (see the README):",
        ]
        for family in staying:
            lines += _prose(f"- {family.name}: {family.appservice_note}", hanging="     ")
    lines += [
        "",
        f"{4 if staying else 3}. Then check the whole set-up:",
        "",
        "    synapse_dp_auth check-config "
        + (" ".join(config_paths) if config_paths else "/path/to/homeserver.yaml"),
        "",
    ]
    return "\n".join(lines)


def _nested(dotted_key: str, value: list[str] | dict[str, str]) -> list[str]:
    """YAML lines setting ``dotted_key`` (``a.b``: key ``b`` inside ``a``) to ``value``."""
    keys = dotted_key.split(".")
    lines = [f"{'  ' * depth}{key}:" for depth, key in enumerate(keys)]
    indent = "  " * len(keys)
    if isinstance(value, list):
        lines += [f"{indent}- {item}" for item in value]
    else:
        lines += [f"{indent}{key}: {item}" for key, item in value.items()]
    return lines


def _prose(text: str, hanging: str = "   ") -> list[str]:
    return textwrap.wrap(
        text, width=100, initial_indent="   ", subsequent_indent=hanging, break_on_hyphens=False
    )


def _indented(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]
