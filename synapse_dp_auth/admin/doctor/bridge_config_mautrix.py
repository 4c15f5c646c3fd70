"""``doctor --bridge-config`` for the mautrix bridges: bridgev2, legacy mautrix-go, mautrix-python
and the three bridges that share those layouts but log in otherwise (mautrix-imessage, the legacy
slack bridge, the legacy Python signal bridge). Where each reads the user's secret is
:mod:`~synapse_dp_auth.admin.doctor.bridge_config_secrets`; this file decides what the value
makes the bridge do: ``as_token:<token>`` (the appservice method), ``appservice`` (the bridge's
own ``as_token``, legacy generations only) or a shared secret (the generations that log in).

Everything decidable from the config is decided here, before any request: an upstream
placeholder, quotes or whitespace inside an ``as_token:`` value, a value a kind never reads, and
a verdict that depends on the bridge's release (:attr:`Method.VERSION_DEPENDENT`, never "ok").
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
    map_at,
    string_at,
    value_at,
)
from synapse_dp_auth.admin.doctor.bridge_config_model import (
    KIND_FAMILY,
    DoublePuppetPlan,
    Method,
    PlanSource,
)
from synapse_dp_auth.admin.doctor.bridge_config_secrets import (
    PYTHON_KINDS,
    SecretSlot,
    as_token_setting,
    fix_for,
    secret_slot,
)
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from synapse_dp_auth.admin.shared.matrix_ids import server_of
from synapse_dp_auth.admin.shared.placeholders import is_placeholder
from synapse_dp_auth.admin.shared.releases import (
    BRIDGEV2_RELEASES,
    LEGACY_GO_RELEASES,
    PYTHON_RELEASES,
    has_bridgev2_successor,
)

#: The mautrix secret that means "log in with m.login.application_service, the bridge's token".
APPSERVICE_LOGIN_VALUE = "appservice"

#: The kinds that never read ``as_token:``: they make the HMAC key of a password login of the
#: whole value (mautrix/imessage ``custompuppet.go`` @ 300ba6d0e556 L74-102; mautrix-python 0.19's
#: ``mautrix/bridge/custom_puppet.py``, which the legacy Python signal bridge requires).
NO_AS_TOKEN = frozenset({BridgeKind.IMESSAGE, BridgeKind.SIGNAL_PYTHON})


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class _Refusal:
    """A mautrix bridge refuses the user's server outright, whatever the secret: why, and what
    to write instead."""

    explanation: str
    remedy: str


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class _Address:
    """Where a mautrix bridge sends the user's requests."""

    #: ``None`` when the config alone does not tell (``problem`` says why).
    url: str | None
    #: The key the URL came from, or that would hold it.
    key: str
    problem: str | None = None
    #: Set when the bridge refuses the user's server outright.
    refusal: _Refusal | None = None


def plan_mautrix(
    kind: BridgeKind, config: Mapping[str, Any], path: str, user_id: str
) -> DoublePuppetPlan:
    """The plan the secret's value makes, unless the bridge refuses the user's server outright
    (then that is the plan, whatever the value)."""
    address = string_at(config, path, ("homeserver", "address"))
    slot = secret_slot(kind, config, path, user_id)
    notes: list[str] = []
    if kind is BridgeKind.BRIDGEV2 and value_at(config, ("bridge", "login_shared_secret_map")):
        notes.append(
            "bridge.login_shared_secret_map is a key of the legacy config: this bridge ignores"
            " it and reads double_puppet.secrets only"
        )
    server = server_of(user_id)
    if kind is BridgeKind.IMESSAGE:
        where = _imessage_address(config, user_id, address)
    else:
        where = _mautrix_address(kind, config, path, server, slot.domain, address)
    source = PlanSource(
        path=path,
        kind=kind,
        server_name=slot.domain,
        homeserver_url=where.url,
        url_key=where.key,
        url_problem=where.problem,
        secret_key=slot.label,
    )
    plan = _mautrix_value(kind, config, source, slot, server, notes)
    if where.refusal is None or not plan.works_without_change:
        return plan
    return attr.evolve(
        plan,
        method=Method.NOT_ALLOWED,
        secret=None,
        explanation=where.refusal.explanation,
        remedy=where.refusal.remedy,
    )


def _mautrix_value(
    kind: BridgeKind,
    config: Mapping[str, Any],
    source: PlanSource,
    slot: SecretSlot,
    server: str,
    notes: list[str],
) -> DoublePuppetPlan:
    """What the secret's value makes a mautrix bridge do (``doublepuppet.go``,
    ``custom_puppet.py``, ``custompuppet.go`` of each generation)."""
    path, label, value = source.path, slot.label, slot.value
    fix = fix_for(kind, slot, server)
    if is_placeholder(value):
        return source.plan(
            Method.PLACEHOLDER,
            explanation=(
                f"the value of {label} is the placeholder the bridge's example config ships, not"
                " a secret: nothing was sent to the homeserver"
            ),
            remedy=fix,
            notes=notes,
        )
    if value.startswith(AS_TOKEN_PREFIX):
        return _as_token_value(kind, source, slot, server, notes)
    if kind is BridgeKind.BRIDGEV2:
        return source.plan(
            Method.IGNORED,
            explanation=(
                f"this bridge ignores {label}: a bridgev2 bridge uses a double-puppet secret"
                " only when it starts with `as_token:` (mautrix-go"
                " bridgev2/matrix/doublepuppet.go), so double puppeting is off unless each user"
                " gives the bridge an access token by hand. bridgev2 has no shared-secret login"
                " at all; a legacy config's login_shared_secret_map is copied here unchanged"
                " when the bridge migrates it"
            ),
            remedy=fix,
            notes=notes,
        )
    family = KIND_FAMILY[kind]
    name = bridge_name(config)
    python = kind is BridgeKind.MAUTRIX_PYTHON
    legacy = python or kind is BridgeKind.LEGACY_MAUTRIX_GO
    if legacy and has_bridgev2_successor(name, python=python):
        assert name is not None  # has_bridgev2_successor is false for None
        return _version_dependent(kind, source, slot, name, fix, notes)
    if value == APPSERVICE_LOGIN_VALUE:
        # Compared exactly, as every kind here does (mautrix-imessage and legacy slack
        # custompuppet.go @ 300ba6d0e556 / 98d157b18285, mautrix-python 0.19's custom_puppet.py).
        own = string_at(config, path, ("appservice", "as_token"))
        if is_placeholder(own):
            return source.plan(
                Method.PLACEHOLDER,
                explanation=(
                    "the value `appservice` makes the bridge log in with its own"
                    " appservice.as_token, and that is still the example's placeholder (the"
                    " registration was never generated): nothing was sent to the homeserver"
                ),
                remedy=fix,
                notes=notes,
            )
        return source.plan(
            Method.APPSERVICE_LOGIN,
            secret=own,
            explanation=(
                "the value `appservice` makes the bridge log in with m.login.application_service"
                " and its own appservice.as_token, which works only when the bridge's own"
                " registration claims every user of the server (the deprecated method: Synapse"
                " then sends the bridge every event of every such user); prefer the appservice"
                f" method with a registration of its own: {fix}"
            ),
            notes=notes,
        )
    if family.appservice_setting is not None:
        notes.append(_upgrade_note(kind, fix))
    elif kind is BridgeKind.SLACK_LEGACY:
        notes.append(
            "mautrix-slack v0.1.0 and later are bridgev2 releases with another layout: after"
            " that upgrade, double puppeting takes the appservice method (as_token:) only"
        )
    return source.plan(
        Method.SHARED_SECRET,
        secret=value,
        family=family,
        explanation=(
            f"a value without the `as_token:` prefix is the shared secret: the bridge logs in"
            f" as {family.name} clients do ({family.choice.value}), with a token made from it"
        ),
        notes=notes,
    )


def _upgrade_note(kind: BridgeKind, fix: str) -> str:
    """For a shared secret the bridge logs in with today (the bridges with a successor that
    migrates the config are :func:`_version_dependent`)."""
    if kind is BridgeKind.MAUTRIX_PYTHON:
        return (
            "this bridge reads `as_token:` too (mautrix-python 0.20.1 and later): the appservice"
            f" method needs no login and no device: {fix}"
        )
    return (
        "a bridgev2 release of this bridge would migrate this config and copy this value"
        " unchanged into double_puppet.secrets, where a value without `as_token:` is ignored:"
        f" the appservice method (this bridge reads `as_token:` too) survives that: {fix}"
    )


def _version_dependent(
    kind: BridgeKind,
    source: PlanSource,
    slot: SecretSlot,
    name: str,
    fix: str,
    notes: list[str],
) -> DoublePuppetPlan:
    """A legacy config of a bridge that has bridgev2 releases (or, for telegram, a Go rewrite on
    bridgev2), with a value other than ``as_token:``: the legacy releases use it, the releases
    that migrate the config do not (mautrix/go ``bridgev2/matrix/doublepuppet.go`` honours
    ``as_token:`` only, and ``bridgev2/bridgeconfig/legacymigrate.go`` copies
    ``bridge.login_shared_secret_map`` alone)."""
    python = kind is BridgeKind.MAUTRIX_PYTHON
    layout, as_token_releases = (PYTHON_RELEASES if python else LEGACY_GO_RELEASES)[name]
    family = KIND_FAMILY[kind]
    if slot.value == APPSERVICE_LOGIN_VALUE:
        legacy = "log in with m.login.application_service and the bridge's own as_token"
    else:
        legacy = f"log in with this shared secret ({family.choice.value})"
    if slot.single:
        bridgev2 = (
            "do not read bridge.login_shared_secret at all (their migration copies only the map)"
        )
    else:
        bridgev2 = (
            "copy this value into double_puppet.secrets when they migrate this config at"
            " start-up, and ignore it there"
        )
    return source.plan(
        Method.VERSION_DEPENDENT,
        explanation=(
            f"which release of the {name} bridge reads this config decides, and the config does"
            f" not show it: {layout}. The {'Python' if python else 'legacy'} releases {legacy};"
            f" the bridgev2 releases ({BRIDGEV2_RELEASES[name]}) {bridgev2}: double puppeting"
            " stops without an error"
        ),
        remedy=(
            "the appservice method works on both sides (as_token: is read by"
            f" {as_token_releases or 'every release with this layout'}): " + fix
        ),
        notes=notes,
    )


def _as_token_value(
    kind: BridgeKind, source: PlanSource, slot: SecretSlot, server: str, notes: list[str]
) -> DoublePuppetPlan:
    """An ``as_token:`` value: the appservice method where the bridge reads it; what it is
    instead where it does not, or where only some releases do."""
    label = slot.label
    fix = fix_for(kind, slot, server)
    token = slot.value[len(AS_TOKEN_PREFIX) :]
    if kind in NO_AS_TOKEN:
        return source.plan(
            Method.IGNORED,
            explanation=(
                f"{kind.value} never reads `as_token:`: it would use this whole value, prefix"
                " included, as the HMAC key of an m.login.password login, which no server"
                " accepts. It cannot use the appservice method"
            ),
            remedy=fix,
            notes=notes,
        )
    if kind is BridgeKind.SLACK_LEGACY:
        return source.plan(
            Method.VERSION_DEPENDENT,
            explanation=(
                "mautrix-slack builds before its bridgev2 release, up to 98d157b (mautrix/slack"
                " custompuppet.go @ 98d157b18285 L285-317), make the HMAC key of a password"
                " login of this whole value, prefix included, which no server accepts; only the"
                " unreleased rewrite of April to July 2024 (1b7e50dd to 5c2a1a9d) reads"
                " `as_token:`. The config does not show which build runs"
            ),
            remedy=f"a shared secret works on every build with this layout: {fix}",
            notes=notes,
        )
    if not token.strip():
        raise BridgeConfigError(
            f"{source.path}: {label} is `as_token:` with nothing after it: write"
            f" {as_token_setting(kind, slot, server)}"
        )
    if token != token.strip():
        return source.plan(
            Method.UNUSABLE,
            explanation=(
                f"the value of {label} has whitespace around the token after `as_token:`; the"
                " bridge removes only the prefix and sends the rest as it is, so Synapse finds"
                " no token in the request (Authorization: Bearer followed by two spaces) or one"
                " it does not know"
            ),
            remedy=(
                "remove the space after `as_token:` (and any around the token): write"
                f" {as_token_setting(kind, slot, server)}"
            ),
            notes=notes,
        )
    if token[0] in "\"'" or token[-1] in "\"'":
        # mautrix/signal#542: YAML removes quotes around the whole value only.
        return source.plan(
            Method.UNUSABLE,
            explanation=(
                f"the value of {label} has a quote right after `as_token:` (or at its end): YAML"
                " removes only the quotes around a whole value, so these quotes are part of the"
                " token the bridge sends, and Synapse knows no such token"
            ),
            remedy=(
                "quote the whole value or nothing, never the token alone: write"
                f" {as_token_setting(kind, slot, server)}"
            ),
            notes=notes,
        )
    if kind is not BridgeKind.BRIDGEV2:
        library = (
            " (the mautrix-python library 0.20.1 and later)"
            if kind is BridgeKind.MAUTRIX_PYTHON
            else ""
        )
        notes.append(
            f"only recent releases of these bridges read `as_token:`{library}."
            f" {KIND_FAMILY[kind].appservice_note} Older releases use the whole value,"
            " `as_token:` included, as the HMAC key of a shared-secret login, which fails:"
            " check the bridge's version"
        )
    return source.plan(
        Method.APPSERVICE_TOKEN,
        secret=token,
        explanation=(
            "the value starts with `as_token:`, so the bridge sends the rest as an appservice"
            " token with ?user_id=, without logging in (it must be the as_token of a"
            " registration whose user namespace covers this user)"
        ),
        notes=notes,
    )


def _imessage_address(config: Mapping[str, Any], user_id: str, address: str) -> _Address:
    """mautrix-imessage double-puppets its one ``bridge.user``, whatever its server
    (``initDoublePuppet`` in ``custompuppet.go`` @ 300ba6d0e556 has no check of it), at
    ``bridge.double_puppet_server_url`` or else ``homeserver.address`` (mautrix/imessage
    ``config/bridge.go`` @ 300ba6d0e556)."""
    owner = value_at(config, ("bridge", "user"))
    if owner != user_id:
        refusal = _Refusal(
            explanation=(
                f"mautrix-imessage double-puppets only its one user, bridge.user, and {user_id}"
                " is not that user"
            ),
            remedy=f"check the user this bridge belongs to (bridge.user), or set it to {user_id}",
        )
        return _Address(url=None, key="bridge.user", problem=refusal.explanation, refusal=refusal)
    url = value_at(config, ("bridge", "double_puppet_server_url"))
    if isinstance(url, str) and url.strip():
        return _Address(url=url.strip(), key="bridge.double_puppet_server_url")
    return _Address(url=address, key="homeserver.address")


def _mautrix_address(
    kind: BridgeKind,
    config: Mapping[str, Any],
    path: str,
    server: str,
    domain: str,
    address: str,
) -> _Address:
    """Where a mautrix bridge sends the user's requests: its map of servers, else its own
    homeserver for its own server name (``doublepuppet.go``'s ``newClient`` for both Go
    generations, ``custom_puppet.py``'s ``_login_with_shared_secret`` for Python).

    The bridge refuses a server outright when it is not its own, not in the map, and discovery
    is off ("double puppeting from ... is not allowed" in ``doublepuppet.go``,
    ``can_auto_login`` in ``custom_puppet.py``).
    """
    if kind is BridgeKind.BRIDGEV2:
        servers_key = ("double_puppet", "servers")
        discovery_key = ("double_puppet", "allow_discovery")
    else:
        servers_key = ("bridge", "double_puppet_server_map")
        discovery_key = ("bridge", "double_puppet_allow_discovery")
    servers = map_at(config, path, servers_key, required=False)
    if server in servers:
        url = servers[server]
        key = f"{dotted(servers_key)}[{json.dumps(server)}]"
        if not isinstance(url, str) or not url.strip():
            raise BridgeConfigError(f"{path}: {key} must be the homeserver's URL")
        return _Address(url=url.strip(), key=key)
    if server == domain:
        return _Address(url=address, key="homeserver.address")
    not_ours = (
        f"{server} is not this bridge's server ({domain}, homeserver.domain) and not in"
        f" {dotted(servers_key)}"
    )
    python = kind in PYTHON_KINDS
    if value_at(config, discovery_key) is True and not python:
        problem = (
            f"{path}: {not_ours}, so the bridge would look its address up with .well-known"
            f" ({dotted(discovery_key)}: true), which this command does not do. Give"
            f" HOMESERVER_URL (the address {server}'s .well-known names), or add {server} to"
            f" {dotted(servers_key)}"
        )
        return _Address(url=None, key=dotted(servers_key), problem=problem)
    if python:
        how = "mautrix-python double-puppets only its own server and those listed there"
    else:
        how = f"discovery is off ({dotted(discovery_key)} is not true)"
    refusal = _Refusal(
        explanation=(
            f"{not_ours}, and {how}: the bridge refuses to double-puppet {server}'s users"
        ),
        remedy=(
            f"add {server} with its homeserver's URL to {dotted(servers_key)}, e.g."
            f" {dotted(servers_key)}: {{{json.dumps(server)}: <the URL of {server}'s"
            " homeserver>}"
        ),
    )
    return _Address(
        url=None,
        key=dotted(servers_key),
        problem=f"{path}: {refusal.explanation}",
        refusal=refusal,
    )
