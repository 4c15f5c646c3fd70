"""What ``plan`` writes where, per kind of bridge: the key the bridge reads its double-puppet
secret from, the keys to set, and which releases take which method.

Restated from the bridges' own code (``/work/coord/issue19-research.md``, with the files and
commits it read):

- mautrix-go **bridgev2** reads ``double_puppet.secrets[server]`` and uses only an
  ``as_token:`` value (mautrix/go ``bridgev2/matrix/doublepuppet.go`` @ bdb58f2e6c0a L98-116);
- **legacy mautrix-go** (the ``bridge`` package) reads ``bridge.login_shared_secret_map``;
  ``as_token:`` since the shared code of mautrix-go v0.16.1 (``bridge/doublepuppet.go`` @ v0.23.0
  L118-143: whatsapp v0.10.1, discord v0.6.2, gmessages v0.2.0, signal-Go and meta from their
  first release); legacy whatsapp also copies a non-empty ``bridge.login_shared_secret`` over the
  map's entry for its own server (mautrix/whatsapp ``config/upgrade.go`` @ c4aafe8a4598 L75-81);
- **mautrix-python** bridges read ``bridge.login_shared_secret_map``, or the single key
  ``bridge.login_shared_secret`` when it is set (not null) (googlechat ``config.py`` @ 88350d0053bb
  L41-46, telegram ``config.py`` @ 53bf278f1e81 L128-133: it replaces the map);
  ``as_token:`` since mautrix-python 0.20.1 (``mautrix/bridge/custom_puppet.py`` @ a0283cfb738e
  L174-175; telegram v0.14.2, googlechat v0.5.1, facebook v0.5.1, instagram v0.3.1, twitter
  v0.1.7 per mautrix's docs);
- the **legacy Python signal** bridge (0.4.x) runs mautrix-python 0.19: ``m.login.password``
  only, no ``as_token:``; a truthy single key wins (``mautrix_signal/config.py`` @ 64bfed8f05e1
  L69-74);
- **mautrix-imessage** has only the single key and logs in with ``m.login.password``, never
  reading ``as_token:`` (mautrix/imessage ``custompuppet.go`` @ 300ba6d0e556 L74-102);
- the **legacy slack** bridge (builds up to 98d157b) logs in with ``m.login.password`` only and
  has no ``as_token:`` (mautrix/slack ``custompuppet.go`` @ 98d157b18285 L285-317);
- **mx-puppet-bridge**: ``bridge.loginSharedSecretMap[server]``, ``m.login.password`` only
  (``src/provisioner.ts`` @ f6e212946f9e L58-79);
- **matrix-corporal**: ``Matrix.AuthSharedSecret`` in its JSON, ``m.login.password`` only
  (``corporal/connector/api.go`` @ 8539a07aaa61 L52-82).

Pure: no I/O.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import value_at
from synapse_dp_auth.admin.doctor.bridge_config_secrets import single_key_wins
from synapse_dp_auth.admin.plan.bridge_reading import BridgeFamily, Recognised, kind_of
from synapse_dp_auth.admin.shared.releases import (
    BRIDGEV2_RELEASES,
    LEGACY_GO_RELEASES,
    PYTHON_RELEASES,
)
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET


@enum.unique
class Support(enum.Enum):
    """Which releases of a bridge take a method."""

    ALWAYS = "every release"
    VERSION = "some releases only"
    NEVER = "no release"


Key = tuple[str, ...]


@attr.s(frozen=True, auto_attribs=True)
class Slot:
    """Where the bridge reads its double-puppet secret for a server, and what is there."""

    key: Key
    #: The value as read (``None`` when the key is missing); may be a secret: never print it.
    value: object = attr.ib(repr=False)

    @property
    def label(self) -> str:
        return key_label(self.key)


def key_label(key: Key) -> str:
    """``double_puppet.secrets["example.org"]``: a server name as the last key is quoted."""
    if len(key) > 1 and "." in key[-1]:
        return f"{'.'.join(key[:-1])}[{json.dumps(key[-1])}]"
    return ".".join(key)


@attr.s(frozen=True, auto_attribs=True)
class Recipe:
    """One bridge's double-puppet settings: what it reads, what to write, which releases do what."""

    family: BridgeFamily
    bridge_name: str | None
    #: The releases that have this layout, where the config shows it (for the report).
    releases: str
    appservice: Support
    #: For :attr:`Support.VERSION`: the releases that read ``as_token:``.
    appservice_releases: str
    #: Why the method cannot be used, for :attr:`Support.NEVER`.
    appservice_never: str
    #: Whether the bridge can log in with a shared secret at all (bridgev2 cannot).
    shared_secret: bool
    #: The login types the bridge sends with a shared secret, any one of which must take tokens.
    login_types: frozenset[str]
    #: The bridge's own server name.
    domain_key: Key
    #: The map of server name to secret, or ``None`` (only a single key).
    map_key: Key | None
    #: The single-key form (``bridge.login_shared_secret``; matrix-corporal's only key), or
    #: ``None``.
    single_key: Key | None
    #: A note on the release after this layout, e.g. the bridgev2 migration.
    upgrade_note: str = ""

    def reads(self, config: Mapping[str, Any], server: str) -> Slot:
        """The key the bridge takes ``server``'s secret from, with its value."""
        if self.map_key is None or self._single_wins(config):
            key = self._single()
        else:
            key = (*self.map_key, server)
        return Slot(key, value_at(config, key))

    def writes(self, config: Mapping[str, Any], server: str) -> list[Key]:
        """Every key to set so that the bridge (and, for legacy configs, the release that
        migrates them) reads the new value for ``server``."""
        if self.map_key is None:
            return [self._single()]
        entry = (*self.map_key, server)
        # The migrations to bridgev2 and to telegram's Go rewrite read only the map.
        map_read_later = self.family is BridgeFamily.LEGACY_MAUTRIX_GO or (
            self.family is BridgeFamily.MAUTRIX_PYTHON and self.bridge_name == "telegram"
        )
        if self._single_wins(config):
            keys = [self._single()]
            if map_read_later or isinstance(value_at(config, self.map_key), dict):
                keys.append(entry)
            return keys
        keys = [entry]
        if self.family is BridgeFamily.LEGACY_MAUTRIX_GO and self._single_present(config):
            value = value_at(config, self._single())
            if isinstance(value, str) and value:
                keys.append(self._single())  # only whatsapp reads it: keep it consistent
        return keys

    def _single(self) -> Key:
        assert self.single_key is not None, "a recipe has a map, a single key, or both"
        return self.single_key

    def _single_present(self, config: Mapping[str, Any]) -> bool:
        if self.single_key is None:
            return False
        parent = value_at(config, self.single_key[:-1])
        return isinstance(parent, dict) and self.single_key[-1] in parent

    def _single_wins(self, config: Mapping[str, Any]) -> bool:
        """Whether the bridge takes the single key over the map (for its own server): the
        doctor's rule, one for both commands."""
        return self._single_present(config) and single_key_wins(kind_of(self.family), config)


# -- the releases, per bridge ------------------------------------------------------------------

_PASSWORD = frozenset({LOGIN_TYPE_PASSWORD})
#: Legacy mautrix-go prefers com.devture.shared_secret_auth and falls back to m.login.password
#: (bridge/doublepuppet.go @ v0.23.0 L87-103); releases before v0.16.1's shared code sent
#: m.login.password only.
_EITHER = frozenset({LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET})

_BRIDGEV2_UPGRADE = (
    "its bridgev2 release migrates this config at start-up and copies"
    " bridge.login_shared_secret_map unchanged into double_puppet.secrets, where only an"
    " as_token: value counts (mautrix-go bridgev2/bridgeconfig/legacymigrate.go); a shared"
    " secret then stops working silently, an as_token: value keeps working"
)

_MAUTRIX_KEYS: dict[str, Any] = {
    "domain_key": ("homeserver", "domain"),
    "map_key": ("bridge", "login_shared_secret_map"),
    "single_key": ("bridge", "login_shared_secret"),
}


def recipe_for(recognised: Recognised) -> Recipe:
    """The recipe of a recognised bridge config."""
    family, name = recognised.family, recognised.bridge_name
    if family is BridgeFamily.BRIDGEV2:
        return Recipe(
            family,
            name,
            releases=BRIDGEV2_RELEASES.get(
                name or "", "a bridgev2 release (mautrix-go's bridgev2 framework)"
            ),
            appservice=Support.ALWAYS,
            appservice_releases="",
            appservice_never="",
            shared_secret=False,
            login_types=frozenset(),
            domain_key=("homeserver", "domain"),
            map_key=("double_puppet", "secrets"),
            single_key=None,
        )
    if family is BridgeFamily.LEGACY_MAUTRIX_GO:
        releases, from_ = LEGACY_GO_RELEASES.get(
            name or "",
            (
                f"{_bridge(name)} on mautrix-go's legacy `bridge` package",
                "the releases on mautrix-go v0.16.1's shared code (mautrix's docs list them)",
            ),
        )
        return Recipe(
            family,
            name,
            releases=releases,
            appservice=Support.VERSION if from_ else Support.ALWAYS,
            appservice_releases=from_,
            appservice_never="",
            shared_secret=True,
            login_types=_EITHER,
            upgrade_note=_BRIDGEV2_UPGRADE if name != "discord" else "",
            **_MAUTRIX_KEYS,
        )
    if family is BridgeFamily.MAUTRIX_PYTHON:
        releases, from_ = PYTHON_RELEASES.get(
            name or "",
            (f"{_bridge(name)} on mautrix-python", "those on mautrix-python 0.20.1 and later"),
        )
        return Recipe(
            family,
            name,
            releases=releases,
            appservice=Support.VERSION,
            appservice_releases=from_,
            appservice_never="",
            shared_secret=True,
            # mautrix-python takes the first of the two in the server's list, and Synapse lists
            # m.login.password first; releases before 0.20.1 send only m.login.password.
            login_types=_PASSWORD,
            upgrade_note=(
                "its Go rewrite (v0.2604.0 and later) migrates this config at start-up and reads"
                " bridge.login_shared_secret_map only (never bridge.login_shared_secret), where"
                " only an as_token: value counts: a shared secret then stops working silently"
                if name == "telegram"
                else ""
            ),
            **_MAUTRIX_KEYS,
        )
    never = {
        BridgeFamily.SIGNAL_PYTHON: "it runs mautrix-python 0.19, which has no as_token: branch"
        " and logs in with m.login.password only (mautrix/signal requirements.txt @ v0.4.3)",
        BridgeFamily.IMESSAGE: "mautrix-imessage never reads as_token: and logs in with"
        " m.login.password only (custompuppet.go @ 300ba6d0e556)",
        BridgeFamily.SLACK_LEGACY: "builds before bridgev2 (up to 98d157b) log in with"
        " m.login.password only and make an HMAC key of an as_token: value",
        BridgeFamily.MX_PUPPET_BRIDGE: "mx-puppet-bridge logs in with m.login.password only"
        " (src/provisioner.ts)",
        BridgeFamily.MATRIX_CORPORAL: "matrix-corporal logs in with m.login.password only"
        " (corporal/connector/api.go)",
    }[family]
    common: dict[str, Any] = {
        "appservice": Support.NEVER,
        "appservice_releases": "",
        "appservice_never": never,
        "shared_secret": True,
        "login_types": _PASSWORD,
    }
    if family is BridgeFamily.SIGNAL_PYTHON:
        return Recipe(
            family,
            name,
            releases="mautrix-signal 0.4.x (Python, signald); its Go rewrite has another layout",
            **common,
            **_MAUTRIX_KEYS,
        )
    if family is BridgeFamily.IMESSAGE:
        return Recipe(
            family,
            name,
            releases="mautrix-imessage (no tagged releases); it double-puppets bridge.user only",
            domain_key=("homeserver", "domain"),
            map_key=None,
            single_key=("bridge", "login_shared_secret"),
            **common,
        )
    if family is BridgeFamily.SLACK_LEGACY:
        return Recipe(
            family,
            name,
            releases="mautrix-slack builds before v0.1.0 (bridgev2)",
            domain_key=("homeserver", "domain"),
            map_key=("bridge", "login_shared_secret_map"),
            single_key=None,
            upgrade_note="v0.1.0 and later are bridgev2 releases: then the appservice method",
            **common,
        )
    if family is BridgeFamily.MX_PUPPET_BRIDGE:
        return Recipe(
            family,
            name,
            releases="mx-puppet-bridge (the config does not show the release)",
            domain_key=("bridge", "domain"),
            map_key=("bridge", "loginSharedSecretMap"),
            single_key=None,
            **common,
        )
    return Recipe(
        family,
        name,
        releases="matrix-corporal (the config does not show the release)",
        domain_key=("Matrix", "HomeserverDomainName"),
        map_key=None,
        single_key=("Matrix", "AuthSharedSecret"),
        **common,
    )


def _bridge(name: str | None) -> str:
    return f"the {name} bridge" if name else "a bridge"


def named_bridges(family: BridgeFamily) -> tuple[str, ...]:
    """The bridges of ``family`` (their ``appservice.id``) whose releases are known here by name;
    every other one gets the family's general recipe. For the documentation's table."""
    known: dict[BridgeFamily, Mapping[str, object]] = {
        BridgeFamily.BRIDGEV2: BRIDGEV2_RELEASES,
        BridgeFamily.LEGACY_MAUTRIX_GO: LEGACY_GO_RELEASES,
        BridgeFamily.MAUTRIX_PYTHON: PYTHON_RELEASES,
    }
    return tuple(known.get(family, {}))
