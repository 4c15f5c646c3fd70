"""``doctor --bridge-config`` for the mautrix bridges: bridgev2, legacy mautrix-go and
mautrix-python keep the same three settings under their own keys (see
:mod:`~synapse_dp_auth.admin.doctor.bridge_config_method` for where each reads them), and give a
double-puppet secret the same meanings: ``as_token:<token>`` (the appservice method),
``appservice`` (the bridge's own ``as_token``, legacy generations only) or a shared secret (legacy
generations only; bridgev2 ignores it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    dotted,
    kind_of,
    map_at,
    server_name_at,
    string_at,
    value_at,
)
from synapse_dp_auth.admin.doctor.bridge_config_model import (
    KIND_FAMILY,
    USE_APPSERVICE_METHOD,
    DoublePuppetPlan,
    Method,
    PlanSource,
    no_secret,
    wanted,
)
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from synapse_dp_auth.admin.shared.matrix_ids import server_of

#: The mautrix secret that means "log in with m.login.application_service, the bridge's token".
APPSERVICE_LOGIN_VALUE = "appservice"


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
    domain = server_name_at(config, path, ("homeserver", "domain"), user_id)
    if kind is BridgeKind.BRIDGEV2:
        servers_key = ("double_puppet", "servers")
        discovery_key = ("double_puppet", "allow_discovery")
        secrets_key = ("double_puppet", "secrets")
    else:
        servers_key = ("bridge", "double_puppet_server_map")
        discovery_key = ("bridge", "double_puppet_allow_discovery")
        secrets_key = ("bridge", "login_shared_secret_map")
    server = server_of(user_id)
    secrets = map_at(config, path, secrets_key)
    secret_key = f"{dotted(secrets_key)}[{json.dumps(server)}]"
    notes: list[str] = []
    leftover = value_at(config, ("bridge", "login_shared_secret_map"))
    if kind is BridgeKind.BRIDGEV2 and leftover is not None:
        notes.append(
            "bridge.login_shared_secret_map is a key of the legacy config: this bridge ignores"
            " it and reads double_puppet.secrets only"
        )
    if server not in secrets:
        raise BridgeConfigError(no_secret(path, secrets_key, server, secrets, kind))
    value = secrets[server]
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(
            f"{path}: {secret_key} must be a non-empty string (it is"
            f" {kind_of(value)}): write it as {wanted(kind, server)}"
        )

    where = _mautrix_address(
        kind, config, path, server, domain, address, servers_key, discovery_key
    )
    source = PlanSource(
        path=path,
        kind=kind,
        server_name=domain,
        homeserver_url=where.url,
        url_key=where.key,
        url_problem=where.problem,
        secret_key=secret_key,
    )
    plan = _mautrix_value(kind, config, source, value, server, notes)
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
    value: str,
    server: str,
    notes: list[str],
) -> DoublePuppetPlan:
    """What the secret's value makes a mautrix bridge do (bridgev2, legacy mautrix-go,
    mautrix-python: ``doublepuppet.go`` and ``custom_puppet.py``)."""
    path, secret_key = source.path, source.secret_key
    if value.startswith(AS_TOKEN_PREFIX):
        # Both generations remove the prefix and nothing else (mautrix-go
        # bridgev2/matrix/doublepuppet.go, mautrix-python custom_puppet.py _fresh_intent).
        token = value[len(AS_TOKEN_PREFIX) :]
        if not token.strip():
            raise BridgeConfigError(
                f"{path}: {secret_key} is `as_token:` with nothing after it: write"
                f" {wanted(kind, server)}"
            )
        if token != token.strip():
            return source.plan(
                Method.UNUSABLE,
                explanation=(
                    f"the value of {secret_key} has whitespace around the token after"
                    " `as_token:`; the bridge removes only the prefix and sends the rest as it is,"
                    " so Synapse finds no token in the request (Authorization: Bearer followed by"
                    " two spaces) or one it does not know"
                ),
                remedy=(
                    "remove the space after `as_token:` (and any around the token): write"
                    f" {wanted(kind, server)}"
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
    if kind is BridgeKind.BRIDGEV2:
        return source.plan(
            Method.IGNORED,
            explanation=(
                f"this bridge ignores {secret_key}: a bridgev2 bridge uses a double-puppet secret"
                " only when it starts with `as_token:` (mautrix-go"
                " bridgev2/matrix/doublepuppet.go), so double puppeting is off unless each user"
                " gives the bridge an access token by hand. bridgev2 has no shared-secret login"
                " at all; a legacy config's login_shared_secret_map is copied here unchanged"
                " when the bridge migrates it"
            ),
            remedy=USE_APPSERVICE_METHOD + wanted(kind, server),
            notes=notes,
        )
    if value == APPSERVICE_LOGIN_VALUE:  # compared exactly, as both generations do
        return source.plan(
            Method.APPSERVICE_LOGIN,
            secret=string_at(config, path, ("appservice", "as_token")),
            explanation=(
                "the value `appservice` makes the bridge log in with m.login.application_service"
                " and its own appservice.as_token, which works only when the bridge's own"
                " registration claims every user of the server (the deprecated method: Synapse"
                " then sends the bridge every event of every such user); prefer the appservice"
                f" method with a registration of its own: {wanted(kind, server)}"
            ),
            notes=notes,
        )
    family = KIND_FAMILY[kind]
    notes.append(
        "when this bridge is upgraded to its bridgev2 release, that migrates this config and"
        " copies this value unchanged into double_puppet.secrets, where a value without"
        " `as_token:` is ignored: switch to the appservice method first (this bridge reads"
        f" `as_token:` too): {wanted(kind, server)}"
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


def _mautrix_address(
    kind: BridgeKind,
    config: Mapping[str, Any],
    path: str,
    server: str,
    domain: str,
    address: str,
    servers_key: tuple[str, ...],
    discovery_key: tuple[str, ...],
) -> _Address:
    """Where a mautrix bridge sends the user's requests: its map of servers, else its own
    homeserver for its own server name (``doublepuppet.go``'s ``newClient`` for both Go
    generations, ``custom_puppet.py``'s ``_login_with_shared_secret`` for Python).

    The bridge refuses a server outright when it is not its own, not in the map, and discovery
    is off ("double puppeting from ... is not allowed" in ``doublepuppet.go``,
    ``can_auto_login`` in ``custom_puppet.py``).
    """
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
    if value_at(config, discovery_key) is True and kind is not BridgeKind.MAUTRIX_PYTHON:
        problem = (
            f"{path}: {not_ours}, so the bridge would look its address up with .well-known"
            f" ({dotted(discovery_key)}: true), which this command does not do. Give"
            f" HOMESERVER_URL (the address {server}'s .well-known names), or add {server} to"
            f" {dotted(servers_key)}"
        )
        return _Address(url=None, key=dotted(servers_key), problem=problem)
    if kind is BridgeKind.MAUTRIX_PYTHON:
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
