"""Where each mautrix kind of bridge reads the double-puppet secret for a user's server, and what
to write there instead when it is not set up.

The bridges do not read only the map of secrets (read at the commits named):

- **bridgev2**: ``double_puppet.secrets[server]`` (mautrix/go
  ``bridgev2/matrix/mxmain/example-config.yaml`` @ bdb58f2e6c0a).
- **mautrix-python**: when ``bridge.login_shared_secret`` is set (not null: an empty string
  counts), it replaces ``bridge.login_shared_secret_map`` at start-up with one entry, for
  ``homeserver.domain`` (mautrix/googlechat ``mautrix_googlechat/config.py`` @ 88350d0053bb
  L41-46, mautrix/telegram ``mautrix_telegram/config.py`` @ 53bf278f1e81 L128-133: ``if
  "bridge.login_shared_secret" in self``, where ``in`` is ``get(key) is not None``: mautrix/python
  ``mautrix/util/config/recursive_dict.py`` @ 103ee47379c4); matrix-docker-ansible-deploy renders
  that key for googlechat.
- **legacy Python signal** (0.4.x): the same, when the single key is truthy
  (``mautrix_signal/config.py`` @ 64bfed8f05e1 L69-74).
- **legacy whatsapp** (before bridgev2): a non-empty single key is copied over the map's entry
  for its own server when the config is upgraded at start-up (mautrix/whatsapp
  ``config/upgrade.go`` @ c4aafe8a4598 L75-81); no other legacy mautrix-go bridge reads it.
- **mautrix-imessage**: only the single key, for its one ``bridge.user``, on any server
  (mautrix/imessage ``config/bridge.go`` and ``custompuppet.go`` @ 300ba6d0e556: no check of the
  user's server; ``bridge.double_puppet_server_url`` is where a user of another server logs in).
- **legacy mautrix-go**, the **legacy slack** bridge: ``bridge.login_shared_secret_map[server]``.

Pure: no network, no Synapse. A secret read here is kept in a field ``repr`` never shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    bridge_name,
    dotted,
    kind_of,
    map_at,
    server_name_at,
    value_at,
)
from synapse_dp_auth.admin.doctor.bridge_config_model import (
    KIND_FAMILY,
    USE_APPSERVICE_METHOD,
    USE_MODULE,
    no_secret,
    wanted,
)
from synapse_dp_auth.admin.shared.matrix_ids import server_of

#: The kinds on mautrix-python: they double-puppet no server by discovery.
PYTHON_KINDS = frozenset({BridgeKind.MAUTRIX_PYTHON, BridgeKind.SIGNAL_PYTHON})

SINGLE_KEY = ("bridge", "login_shared_secret")


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class SecretSlot:
    """The key a bridge takes the user's secret from, and the value there (a non-empty string;
    never print it)."""

    #: e.g. ``bridge.login_shared_secret_map["example.com"]`` or ``bridge.login_shared_secret``.
    label: str
    value: str = attr.ib(repr=False)
    #: The bridge's own server name (``homeserver.domain``).
    domain: str
    #: Whether the single key ``bridge.login_shared_secret`` is the one read.
    single: bool = False


def secret_slot(kind: BridgeKind, config: Mapping[str, Any], path: str, user_id: str) -> SecretSlot:
    """Where the bridge reads ``user_id``'s secret, with a usable value, or
    :class:`BridgeConfigError` saying that double puppeting is not set up and what to write."""
    domain = server_name_at(config, path, ("homeserver", "domain"), user_id)
    server = server_of(user_id)
    single = single_key_wins(kind, config)
    if single and (server == domain or kind is BridgeKind.IMESSAGE):
        label = dotted(SINGLE_KEY)
        value = value_at(config, SINGLE_KEY)
        _check_value(kind, path, label, value, server, single=True)
        assert isinstance(value, str)
        return SecretSlot(label=label, value=value, domain=domain, single=True)
    if single and kind in PYTHON_KINDS:
        raise BridgeConfigError(
            f"{path}: bridge.login_shared_secret replaces bridge.login_shared_secret_map at"
            f" start-up with one entry, for this bridge's own server ({domain},"
            f" homeserver.domain), so the bridge has no secret for {server}: put each server's"
            " secret in bridge.login_shared_secret_map and remove bridge.login_shared_secret"
        )
    secrets_key = (
        ("double_puppet", "secrets")
        if kind is BridgeKind.BRIDGEV2
        else ("bridge", "login_shared_secret_map")
    )
    secrets = map_at(config, path, secrets_key)
    if server not in secrets:
        raise BridgeConfigError(no_secret(path, secrets_key, server, secrets, kind))
    label = f"{dotted(secrets_key)}[{json.dumps(server)}]"
    value = secrets[server]
    _check_value(kind, path, label, value, server, single=False)
    assert isinstance(value, str)
    return SecretSlot(label=label, value=value, domain=domain)


def fix_for(kind: BridgeKind, slot: SecretSlot, server: str) -> str:
    """What to write so that the bridge double-puppets ``server``'s users: the appservice
    method where the kind reads ``as_token:``, else the module's shared secret."""
    return _fix(kind, slot.label, server, single=slot.single)


def as_token_setting(kind: BridgeKind, slot: SecretSlot, server: str) -> str:
    """The YAML that gives the bridge the registration's as_token for ``server``."""
    return _as_token_setting(kind, slot.label, server, single=slot.single)


def _as_token_setting(kind: BridgeKind, label: str, server: str, *, single: bool) -> str:
    if single and kind is BridgeKind.MAUTRIX_PYTHON:  # the single key wins: write it there
        return f'{label}: "as_token:<the registration\'s as_token>"'
    also = " (and remove bridge.login_shared_secret)" if single else ""
    return wanted(kind, server) + also


def _fix(kind: BridgeKind, label: str, server: str, *, single: bool) -> str:
    if KIND_FAMILY[kind].appservice_setting is None:
        return USE_MODULE + label
    return USE_APPSERVICE_METHOD + _as_token_setting(kind, label, server, single=single)


def single_key_wins(kind: BridgeKind, config: Mapping[str, Any]) -> bool:
    """Whether ``bridge.login_shared_secret`` is what the bridge reads for its own server, over
    the map (the rules of the module docstring; ``plan``'s recipes ask this too)."""
    bridge = value_at(config, ("bridge",))
    if not isinstance(bridge, dict) or SINGLE_KEY[-1] not in bridge:
        return kind is BridgeKind.IMESSAGE
    value = bridge[SINGLE_KEY[-1]]
    if kind is BridgeKind.IMESSAGE:
        return True
    if kind is BridgeKind.MAUTRIX_PYTHON:
        return value is not None
    if kind is BridgeKind.SIGNAL_PYTHON:
        return bool(value)
    if kind is BridgeKind.LEGACY_MAUTRIX_GO and bridge_name(config) == "whatsapp":
        return isinstance(value, str) and bool(value)
    return False


def _check_value(
    kind: BridgeKind, path: str, label: str, value: object, server: str, *, single: bool
) -> None:
    if isinstance(value, str) and value.strip():
        return
    raise BridgeConfigError(
        f"{path}: {label} is {kind_of(value)}: double puppeting is not set up in this bridge's"
        f" config. To set it up: {_fix(kind, label, server, single=single)}"
    )
