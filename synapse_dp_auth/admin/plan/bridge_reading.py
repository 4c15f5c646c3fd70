"""``plan``'s one window on the bridge-family model: which bridge wrote a config.

A config is recognised by the doctor's
:func:`~synapse_dp_auth.admin.doctor.bridge_config_file.identify` (one model of the bridge kinds
for both commands: its docstring says by which keys, with the upstream files); this adds the
bridge's name and parses the text ``plan`` has already read (once, for the edit too).

Pure: no network, no Synapse.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    bridge_name,
    identify,
    parse_bridge_config,
)


class UnreadableConfigError(Exception):
    """The bridge config cannot be parsed or recognised; the message names the file, never its
    content."""


@enum.unique
class BridgeFamily(enum.Enum):
    """The kinds of bridge config ``plan`` edits; the value names the kind in words."""

    BRIDGEV2 = "mautrix-go bridgev2"
    LEGACY_MAUTRIX_GO = "legacy mautrix-go (the `bridge` package)"
    MAUTRIX_PYTHON = "mautrix-python"
    SIGNAL_PYTHON = "legacy Python mautrix-signal (0.4.x, signald)"
    IMESSAGE = "mautrix-imessage"
    SLACK_LEGACY = "legacy mautrix-slack (before bridgev2)"
    MX_PUPPET_BRIDGE = "mx-puppet-bridge"
    MATRIX_CORPORAL = "matrix-corporal"


@attr.s(frozen=True, auto_attribs=True)
class Recognised:
    """Which bridge wrote a config: its family, and its name where the config says it
    (``appservice.id`` in every mautrix example: ``whatsapp``, ``telegram``...)."""

    family: BridgeFamily
    bridge_name: str | None = None


_DOCTOR_KINDS = {
    BridgeKind.BRIDGEV2: BridgeFamily.BRIDGEV2,
    BridgeKind.LEGACY_MAUTRIX_GO: BridgeFamily.LEGACY_MAUTRIX_GO,
    BridgeKind.MAUTRIX_PYTHON: BridgeFamily.MAUTRIX_PYTHON,
    BridgeKind.SIGNAL_PYTHON: BridgeFamily.SIGNAL_PYTHON,
    BridgeKind.IMESSAGE: BridgeFamily.IMESSAGE,
    BridgeKind.SLACK_LEGACY: BridgeFamily.SLACK_LEGACY,
    BridgeKind.MX_PUPPET_BRIDGE: BridgeFamily.MX_PUPPET_BRIDGE,
    BridgeKind.MATRIX_CORPORAL: BridgeFamily.MATRIX_CORPORAL,
}


def kind_of(family: BridgeFamily) -> BridgeKind:
    """The doctor's kind of the same bridges (one to one)."""
    return next(kind for kind, known in _DOCTOR_KINDS.items() if known is family)


def parse_config_text(text: str, path: str) -> Mapping[str, Any]:
    """The config's top-level mapping, parsed as ``doctor --bridge-config`` parses it."""
    try:
        return parse_bridge_config(text, path)
    except BridgeConfigError as error:
        raise UnreadableConfigError(str(error)) from None


def recognise(config: Mapping[str, Any], path: str) -> Recognised:
    """Which bridge wrote ``config`` (:class:`UnreadableConfigError` when none this knows)."""
    try:
        kind = identify(config, path)
    except BridgeConfigError as error:
        raise UnreadableConfigError(str(error)) from None
    return Recognised(_DOCTOR_KINDS[kind], bridge_name(config))
