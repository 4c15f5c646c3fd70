"""``doctor --bridge-config``'s decision: how will the bridge whose config this is double-puppet
this user?

Each kind of bridge keeps the homeserver's address and the double-puppet secrets under its own
keys, and gives the same secret different meanings. What is restated here, and from where:

- **mautrix-go bridgev2** (whatsapp, signal, meta, gmessages, slack, telegram's Go rewrite, ...):
  ``homeserver.address``, ``homeserver.domain``, ``double_puppet.servers``,
  ``double_puppet.allow_discovery``, ``double_puppet.secrets`` (mautrix-go
  ``bridgev2/matrix/mxmain/example-config.yaml``). ``bridgev2/matrix/doublepuppet.go`` uses a
  secret only when it starts with ``as_token:`` (the rest is an appservice token, sent with
  ``?user_id=``; ``whoami`` checks it); any other value is ignored and the user must hand the
  bridge an access token. ``bridgev2/bridgeconfig/upgrade.go`` treats a config whose
  ``appservice.database`` is a string (mautrix-python) or has ``appservice.database.uri``
  (legacy mautrix-go) as legacy, and ``bridgeconfig/legacymigrate.go`` then copies
  ``bridge.login_shared_secret_map`` unchanged into ``double_puppet.secrets``.
- **legacy mautrix-go** (mautrix-go's ``bridge`` package, v0.16 to v0.23):
  ``bridge.double_puppet_server_map``, ``bridge.double_puppet_allow_discovery``,
  ``bridge.login_shared_secret_map`` (``bridge/bridgeconfig/config.go``).
  ``bridge/doublepuppet.go``: ``as_token:`` is the appservice method, ``appservice`` logs in with
  ``m.login.application_service`` and the bridge's own ``appservice.as_token``, anything else is
  the HMAC key of a shared-secret login.
- **mautrix-python** (mautrix-telegram before its Go rewrite, googlechat, ...): the same three
  ``bridge.*`` keys, read into ``CustomPuppetMixin`` (``mautrix/bridge/custom_puppet.py``), with
  the same three meanings of a secret (``as_token:`` since mautrix-python 0.20.1; for both
  generations, only in the bridge releases mautrix's docs name: see
  :mod:`~synapse_dp_auth.admin.shared.families`).
- **mx-puppet-bridge**: ``bridge.domain``, ``bridge.homeserverUrl``, ``bridge.loginSharedSecretMap``
  (mx-puppet-bridge ``sample.config.yaml``); ``src/provisioner.ts`` always uses the secret as
  the HMAC key of an ``m.login.password`` login, at ``homeserverUrlMap[server]`` or else the
  address ``https://<server>/.well-known/matrix/client`` names.
- **matrix-corporal** (JSON): ``Matrix.HomeserverDomainName``, ``Matrix.HomeserverApiEndpoint``,
  ``Matrix.AuthSharedSecret`` (matrix-corporal ``docs/configuration.md``): the HMAC key of a
  password login, for users of its own server only.

- **mautrix-imessage**, the **legacy slack** bridge and the **legacy Python signal** bridge
  share the mautrix layouts but log in with ``m.login.password`` only, and only legacy slack's
  unreleased rewrite reads ``as_token:``: :mod:`~synapse_dp_auth.admin.doctor.bridge_config_mautrix`
  and :mod:`~synapse_dp_auth.admin.doctor.bridge_config_secrets` (where each kind reads its
  secret: mautrix-python's single ``bridge.login_shared_secret`` replaces the map) cite them.

A value an upstream example ships (``foobar``, ``as_token:foobar``, corporal's sample secret:
:mod:`~synapse_dp_auth.admin.shared.placeholders`) is refused before any request. Where the
bridge's release decides and the config cannot tell (a legacy whatsapp config may be run by a
bridgev2 release, which ignores its shared secret), the verdict is
:attr:`~synapse_dp_auth.admin.doctor.bridge_config_model.Method.VERSION_DEPENDENT`, never "ok".

A new kind of bridge config is recognised in ``bridge_config_file`` and decided on here. Pure:
no network, no Synapse. The secrets read here are kept in fields that ``repr`` never shows, and
no message built here contains one, not even in part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    dotted,
    identify,
    kind_of,
    map_at,
    server_name_at,
    string_at,
    value_at,
)
from synapse_dp_auth.admin.doctor.bridge_config_mautrix import plan_mautrix
from synapse_dp_auth.admin.doctor.bridge_config_model import (
    USE_MODULE,
    DoublePuppetPlan,
    Method,
    PlanSource,
    no_secret,
)
from synapse_dp_auth.admin.shared.families import (
    AS_TOKEN_PREFIX,
    MATRIX_CORPORAL,
    MX_PUPPET_BRIDGE,
)
from synapse_dp_auth.admin.shared.matrix_ids import server_of
from synapse_dp_auth.admin.shared.placeholders import is_placeholder


def plan_double_puppet(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    """What the bridge whose config this is will do to double-puppet ``user_id``.

    Raises :class:`BridgeConfigError` naming the file and key when the config cannot say.
    """
    kind = identify(config, path)
    if kind is BridgeKind.MATRIX_CORPORAL:
        return _corporal(config, path, user_id)
    if kind is BridgeKind.MX_PUPPET_BRIDGE:
        return _mx_puppet(config, path, user_id)
    return plan_mautrix(kind, config, path, user_id)


def _mx_puppet(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    domain = server_name_at(config, path, ("bridge", "domain"), user_id)
    address = string_at(config, path, ("bridge", "homeserverUrl"))
    server = server_of(user_id)
    secrets_key = ("bridge", "loginSharedSecretMap")
    secrets = map_at(config, path, secrets_key)
    secret_key = f"{dotted(secrets_key)}[{json.dumps(server)}]"
    if server not in secrets:
        raise BridgeConfigError(
            no_secret(path, secrets_key, server, secrets, BridgeKind.MX_PUPPET_BRIDGE)
        )
    value = secrets[server]
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(
            f"{path}: {secret_key} must be the module's shared secret, a non-empty string"
        )
    url_map = map_at(config, path, ("homeserverUrlMap",), required=False)
    notes: list[str] = []
    if server in url_map and isinstance(url_map[server], str):
        url, url_key = url_map[server].strip(), f"homeserverUrlMap[{json.dumps(server)}]"
    else:
        url, url_key = address, "bridge.homeserverUrl"
        notes.append(
            f"mx-puppet-bridge logs in at homeserverUrlMap[{json.dumps(server)}] when set, else"
            f" at the address https://{server}/.well-known/matrix/client names, not at"
            " bridge.homeserverUrl: this check uses bridge.homeserverUrl; make sure the"
            " .well-known address leads to the same server (or set homeserverUrlMap)"
        )
    source = PlanSource(
        path=path,
        kind=BridgeKind.MX_PUPPET_BRIDGE,
        server_name=domain,
        homeserver_url=url,
        url_key=url_key,
        secret_key=secret_key,
    )
    if is_placeholder(value):
        return source.plan(
            Method.PLACEHOLDER,
            explanation=(
                f"the value of {secret_key} is the placeholder of mx-puppet-bridge's"
                " sample.config.yaml, not a secret: nothing was sent to the homeserver"
            ),
            remedy=f"{USE_MODULE}{secret_key}",
            notes=notes,
        )
    if value.startswith(AS_TOKEN_PREFIX):
        return source.plan(
            Method.IGNORED,
            explanation=(
                "mx-puppet-bridge cannot use the appservice method: it would use this whole"
                " value, `as_token:` included, as the HMAC key of a password login, which no"
                " server accepts"
            ),
            remedy=(
                f"put the module's shared secret in {secret_key}, and load synapse_dp_auth in"
                " Synapse (modules: in homeserver.yaml)"
            ),
            notes=notes,
        )
    return source.plan(
        Method.SHARED_SECRET,
        secret=value,
        family=MX_PUPPET_BRIDGE,
        explanation=(
            f"mx-puppet-bridge always logs in as {MX_PUPPET_BRIDGE.name} clients do"
            f" ({MX_PUPPET_BRIDGE.choice.value}), with a token made from this secret"
        ),
        notes=notes,
    )


def _corporal(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    domain = server_name_at(config, path, ("Matrix", "HomeserverDomainName"), user_id)
    url = string_at(config, path, ("Matrix", "HomeserverApiEndpoint"))
    secret_key = "Matrix.AuthSharedSecret"
    server = server_of(user_id)
    if server != domain:
        raise BridgeConfigError(
            f"{path}: matrix-corporal logs in only users of its own server"
            f" (Matrix.HomeserverDomainName: {domain}), and {user_id} is on {server}"
        )
    secret = value_at(config, ("Matrix", "AuthSharedSecret"))
    if not isinstance(secret, str) or not secret.strip():
        raise BridgeConfigError(
            f"{path}: {secret_key} is {kind_of(secret)}, so matrix-corporal cannot log users in:"
            " it needs a shared-secret login module on the homeserver. To set it up:"
            f" {USE_MODULE}{secret_key}"
        )
    source = PlanSource(
        path=path,
        kind=BridgeKind.MATRIX_CORPORAL,
        server_name=domain,
        homeserver_url=url,
        url_key="Matrix.HomeserverApiEndpoint",
        secret_key=secret_key,
    )
    if is_placeholder(secret):
        return source.plan(
            Method.PLACEHOLDER,
            explanation=(
                f"the value of {secret_key} is the sample secret of matrix-corporal's"
                " config.json.dist, published with it: nothing was sent to the homeserver"
            ),
            remedy=f"{USE_MODULE}{secret_key}",
        )
    return source.plan(
        Method.SHARED_SECRET,
        secret=secret.strip(),
        family=MATRIX_CORPORAL,
        explanation=(
            f"matrix-corporal always logs in as {MATRIX_CORPORAL.name} clients do"
            f" ({MATRIX_CORPORAL.choice.value}); it cannot use the appservice method"
        ),
    )
