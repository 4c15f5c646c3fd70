"""``doctor --bridge-config``: a bridge's own config file, read: which kind of bridge wrote it, and
its keys, with errors that name the file and the key and never quote a value.

A config is recognised by the keys only its kind has. The legacy markers are bridgev2's own:
mautrix-go ``bridgev2/bridgeconfig/upgrade.go`` treats a config whose ``appservice.database`` is a
string (mautrix-python) or has ``appservice.database.uri`` (legacy mautrix-go) as legacy.
Three bridges share those layouts but log in differently, so they are told apart first:

- mautrix-imessage: the legacy mautrix-go layout with an ``imessage:`` section or ``bridge.user``
  (mautrix/imessage ``example-config.yaml`` @ 300ba6d0e556; not ``homeserver.websocket_proxy``,
  which any legacy mautrix-go config may have: mautrix-go ``bridge/bridgeconfig/config.go``);
- the legacy Python signal bridge (0.4.x, on signald): a string ``appservice.database`` and
  ``signal.socket_path`` (mautrix/signal ``mautrix_signal/example-config.yaml`` @ 64bfed8f05e1
  L91-93), a key no other mautrix-python bridge has;
- the legacy slack bridge: the legacy mautrix-go layout with ``appservice.id: slack``
  (mautrix/slack ``example-config.yaml`` @ 98d157b18285; its bridgev2 releases have the
  bridgev2 layout).

mx-puppet-bridge has ``bridge.homeserverUrl`` / ``bridge.loginSharedSecretMap`` (its
``sample.config.yaml``), matrix-corporal's JSON ``Matrix.HomeserverApiEndpoint`` (its
``docs/configuration.md``). What each key means is decided in
:mod:`~synapse_dp_auth.admin.doctor.bridge_config_method`; ``plan`` recognises configs through
:func:`identify` too.

Pure: no network, no Synapse.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from synapse_dp_auth.admin.shared import files
from synapse_dp_auth.admin.shared.matrix_ids import (
    ServerNameError,
    server_of,
    validate_server_name,
)


class BridgeConfigError(Exception):
    """The bridge config cannot answer the question; the message names the file and key."""


@enum.unique
class BridgeKind(enum.Enum):
    """Which program's config this is; the value says it in words."""

    BRIDGEV2 = "mautrix-go bridgev2"
    LEGACY_MAUTRIX_GO = "legacy mautrix-go (the `bridge` package, v0.16 to v0.23)"
    MAUTRIX_PYTHON = "mautrix-python"
    SIGNAL_PYTHON = "legacy Python mautrix-signal (0.4.x, signald)"
    IMESSAGE = "mautrix-imessage"
    SLACK_LEGACY = "legacy mautrix-slack (before bridgev2)"
    MX_PUPPET_BRIDGE = "mx-puppet-bridge"
    MATRIX_CORPORAL = "matrix-corporal"


def load_bridge_config(path: str) -> Mapping[str, Any]:
    """The file's top-level mapping (:func:`parse_bridge_config`)."""
    try:
        _, text = files.read_text(path)
    except files.SourceError as error:
        raise BridgeConfigError(str(error)) from None
    return parse_bridge_config(text, path)


def parse_bridge_config(text: str, path: str) -> Mapping[str, Any]:
    """The top-level mapping of a config's text: JSON when it starts with ``{``
    (matrix-corporal), else YAML. ``plan``, which reads the file once for the edit too, parses
    it here as well.

    Errors say where the file is broken, never quote its lines (a line may hold a secret).
    """
    loaded: object
    try:
        if text.lstrip().startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as error:
                # JSONDecodeError's message is position only ("Expecting ',' delimiter: line 3").
                raise BridgeConfigError(f"{path} is not valid JSON: {error}") from None
            except RecursionError:
                raise BridgeConfigError(f"{path} {files.NESTED_TOO_DEEPLY}") from None
        else:
            loaded = files.parse_yaml(text, path)
    except files.SourceError as error:
        raise BridgeConfigError(str(error)) from None
    if not isinstance(loaded, dict):
        raise BridgeConfigError(
            f"{path} does not hold a mapping of settings, as a bridge's config file does"
        )
    return loaded


def identify(config: Mapping[str, Any], path: str) -> BridgeKind:
    """Which kind of bridge wrote ``config``, by the keys only that kind has."""
    matrix = config.get("Matrix")
    if isinstance(matrix, dict) and "HomeserverApiEndpoint" in matrix:
        return BridgeKind.MATRIX_CORPORAL
    bridge = config.get("bridge")
    if isinstance(bridge, dict) and ("homeserverUrl" in bridge or "loginSharedSecretMap" in bridge):
        return BridgeKind.MX_PUPPET_BRIDGE
    appservice = config.get("appservice")
    homeserver = config.get("homeserver")
    if isinstance(appservice, dict) and isinstance(homeserver, dict):
        database = appservice.get("database")
        if isinstance(database, dict) and isinstance(database.get("uri"), str):
            # bridge.user only in the Go layout: mautrix-python bridges may have one too
            # (matrix-puppeteer-line's config.py).
            if "imessage" in config or (isinstance(bridge, dict) and "user" in bridge):
                return BridgeKind.IMESSAGE
            if bridge_name(config) == "slack":
                return BridgeKind.SLACK_LEGACY
            return BridgeKind.LEGACY_MAUTRIX_GO
        if isinstance(database, str):
            signal = config.get("signal")
            if isinstance(signal, dict) and "socket_path" in signal:
                return BridgeKind.SIGNAL_PYTHON
            return BridgeKind.MAUTRIX_PYTHON
        if any(key in config for key in ("double_puppet", "database", "network")):
            return BridgeKind.BRIDGEV2
    raise BridgeConfigError(
        f"{path} is not a config file of a bridge this command knows: expected a mautrix-go"
        " bridgev2 config (homeserver:, appservice:, database:, double_puppet:), a legacy"
        " mautrix-go or mautrix-python one (homeserver:, appservice.database, bridge:), an"
        " mx-puppet-bridge one (bridge.homeserverUrl) or matrix-corporal's JSON (Matrix:)"
    )


def bridge_name(config: Mapping[str, Any]) -> str | None:
    """The bridge's name where the config says it: ``appservice.id`` in every mautrix example
    (``whatsapp``, ``telegram``...)."""
    name = value_at(config, ("appservice", "id"))
    return name.strip() if isinstance(name, str) and name.strip() else None


# -- keys, read with errors that name them ---------------------------------------------------------


def value_at(config: Mapping[str, Any], key: tuple[str, ...]) -> object:
    """The value under the dotted ``key``, or ``None`` where any part of it is missing."""
    node: object = config
    for part in key:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def dotted(key: tuple[str, ...]) -> str:
    return ".".join(key)


def kind_of(value: object) -> str:
    """What a YAML value is, in words (never the value itself: it may be a secret)."""
    if value is None:
        return "empty"
    if isinstance(value, str):
        return "a string" if value.strip() else "an empty string"
    if isinstance(value, bool):  # before int: YAML's true and false are bools, and bools ints
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a value of type {type(value).__name__}"


def string_at(config: Mapping[str, Any], path: str, key: tuple[str, ...]) -> str:
    """The non-empty string under ``key``, stripped, or :class:`BridgeConfigError`."""
    value = value_at(config, key)
    if value is None:
        raise BridgeConfigError(f"{path}: {dotted(key)} is missing")
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(f"{path}: {dotted(key)} must be a non-empty string")
    return value.strip()


def map_at(
    config: Mapping[str, Any], path: str, key: tuple[str, ...], *, required: bool = True
) -> dict[str, Any]:
    """A mapping keyed by server name (YAML may give non-string keys: compared as text)."""
    value = value_at(config, key)
    if value is None:
        if required:
            raise BridgeConfigError(
                f"{path}: {dotted(key)} is missing: double puppeting is not set up in this"
                " bridge's config"
            )
        return {}
    if not isinstance(value, dict):
        raise BridgeConfigError(
            f"{path}: {dotted(key)} must be a mapping of server names, not {kind_of(value)}"
        )
    return {str(name): item for name, item in value.items()}


def has_port(server: str) -> bool:
    host, colon, port = server.rpartition(":")
    return bool(colon and host and port.isdigit() and not host.endswith(":"))


def is_server_name(name: str) -> bool:
    try:
        validate_server_name(name)
    except ServerNameError:
        return False
    return True


def server_name_at(config: Mapping[str, Any], path: str, key: tuple[str, ...], user_id: str) -> str:
    """The bridge's server name. One with a port is refused when the user's server is that name
    without the port: then it is the address's port written into the wrong key. For a user of
    another server nothing tells (a server name may carry a port), so it is taken as written."""
    name = string_at(config, path, key)
    if not is_server_name(name):  # never printed: it may hold a line break or anything else
        raise BridgeConfigError(
            f"{path}: {dotted(key)} is not a server name (the part of user IDs after the colon,"
            " e.g. example.org)"
        )
    if has_port(name) and name.rpartition(":")[0] == server_of(user_id):
        raise BridgeConfigError(
            f"{path}: {dotted(key)} is {name!r}, a server name with a port: it must be the part"
            " of user IDs after the colon (e.g. example.org for @alice:example.org); the port"
            " belongs in the homeserver's address"
        )
    return name
