"""``plan``'s one window on the bridge-family model: which bridge wrote a config, and which values
are the upstream examples' placeholders.

Everything ``plan`` knows about recognising a bridge config comes through here, so that it can
be pointed at the family model of issue 19 (``shared/families.py`` and
``doctor/bridge_config_file.py``, being extended with mautrix-imessage, the legacy slack bridge
and the legacy Python signal bridge) in this one place. Until then, :func:`recognise` asks the
doctor's :func:`~synapse_dp_auth.admin.doctor.bridge_config_file.identify` and tells apart, by
the keys only they have, the three kinds that it does not know yet
(``/work/coord/issue19-research.md`` §3, §4, §6, §12):

- mautrix-imessage: an ``imessage:`` section or ``bridge.user`` (mautrix/imessage
  ``example-config.yaml`` @ 300ba6d0e556; not ``homeserver.websocket_proxy``, which every
  legacy mautrix-go config may have: mautrix-go ``bridge/bridgeconfig/config.go``); it also has
  ``appservice.database.uri``, so the doctor takes it for legacy mautrix-go;
- the legacy Python signal bridge (0.4.x): a string ``appservice.database`` and
  ``signal.socket_path`` (mautrix/signal ``mautrix_signal/example-config.yaml`` @ 64bfed8f05e1
  L91-93);
- the legacy slack bridge: the legacy mautrix-go layout with ``appservice.id: slack``
  (mautrix/slack ``example-config.yaml`` @ 98d157b18285).

Pure: no network, no Synapse; the file is read by the caller (once, for the edit too).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import BridgeConfigError, BridgeKind, identify
from synapse_dp_auth.admin.shared import files


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
    BridgeKind.MX_PUPPET_BRIDGE: BridgeFamily.MX_PUPPET_BRIDGE,
    BridgeKind.MATRIX_CORPORAL: BridgeFamily.MATRIX_CORPORAL,
}

#: Values the upstream examples ship as double-puppet secrets, and the module secret of
#: matrix-docker-ansible-deploy's docs: never a working secret (issue19-research.md §10).
PLACEHOLDERS = frozenset(
    {
        # mautrix-go bridgev2 example-config.yaml @ bdb58f2e6c0a L411
        "as_token:foobar",
        # legacy mautrix-go and mautrix-python examples (whatsapp, discord, telegram, ...)
        "foobar",
        # legacy Python mautrix-signal example @ 64bfed8f05e1 L162
        "foo",
        # mx-puppet-bridge sample.config.yaml @ 08dc468980f8 L17 (commented out there)
        "supersecretsharedsecret",
        # matrix-corporal config.json.dist @ 8539a07aaa61 L5
        "7DXvheK1400ydCHjAymDU50FkeUedQJ2AYpitr3inLpSBIdRJN4kfS5IkGYvUptF",
        # matrix-docker-ansible-deploy docs/configuring-playbook-shared-secret-auth.md L23
        "YOUR_SHARED_SECRET_GOES_HERE",
        # mautrix docs' registration (bridges/general/double-puppeting.md @ b44236a6f947 L57)
        "random string",
        "as_token:random string",
    }
)


def is_placeholder(value: str) -> bool:
    return value.strip() in PLACEHOLDERS


def parse_config_text(text: str, path: str) -> Mapping[str, Any]:
    """The config's top-level mapping: JSON when it starts with ``{`` (matrix-corporal), else
    YAML, as ``doctor --bridge-config`` reads it."""
    loaded: object
    try:
        if text.lstrip().startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as error:
                # The message is a position only ("Expecting ',' delimiter: line 3 column 5").
                raise UnreadableConfigError(f"{path} is not valid JSON: {error}") from None
        else:
            loaded = files.parse_yaml(text, path)
    except files.SourceError as error:
        raise UnreadableConfigError(str(error)) from None
    if not isinstance(loaded, dict):
        raise UnreadableConfigError(
            f"{path} does not hold a mapping of settings, as a bridge's config file does"
        )
    return loaded


def recognise(config: Mapping[str, Any], path: str) -> Recognised:
    """Which bridge wrote ``config`` (:class:`UnreadableConfigError` when none this knows)."""
    appservice = _mapping(config.get("appservice"))
    name = appservice.get("id")
    bridge_name = name.strip() if isinstance(name, str) and name.strip() else None
    bridge = _mapping(config.get("bridge"))
    homeserver = _mapping(config.get("homeserver"))
    if appservice and homeserver:
        if "imessage" in config or "user" in bridge:
            return Recognised(BridgeFamily.IMESSAGE, bridge_name)
        signal = _mapping(config.get("signal"))
        if isinstance(appservice.get("database"), str) and "socket_path" in signal:
            return Recognised(BridgeFamily.SIGNAL_PYTHON, bridge_name)
    try:
        kind = identify(config, path)
    except BridgeConfigError as error:
        raise UnreadableConfigError(str(error)) from None
    family = _DOCTOR_KINDS[kind]
    if family is BridgeFamily.LEGACY_MAUTRIX_GO and bridge_name == "slack":
        family = BridgeFamily.SLACK_LEGACY
    return Recognised(family, bridge_name)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
