"""A bridge's own config file, read for one question: how will it double-puppet this user?

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
  generations, only in the bridge releases mautrix's docs name, see families.py).
- **mx-puppet-bridge**: ``bridge.domain``, ``bridge.homeserverUrl``, ``bridge.loginSharedSecretMap``
  (mx-puppet-bridge ``sample.config.yaml``); ``src/provisioner.ts`` always uses the secret as
  the HMAC key of an ``m.login.password`` login, at ``homeserverUrlMap[server]`` or else the
  address ``https://<server>/.well-known/matrix/client`` names.
- **matrix-corporal** (JSON): ``Matrix.HomeserverDomainName``, ``Matrix.HomeserverApiEndpoint``,
  ``Matrix.AuthSharedSecret`` (matrix-corporal ``docs/configuration.md``): the HMAC key of a
  password login, for users of its own server only.

Pure: no network, no Synapse. The secrets read here are kept in fields that ``repr`` never shows,
and no message built here contains one, not even in part.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin import files
from synapse_dp_auth.admin.families import (
    LEGACY_MAUTRIX_GO,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BRIDGEV2,
    MAUTRIX_PYTHON,
    MX_PUPPET_BRIDGE,
    Family,
)
from synapse_dp_auth.admin.registration import (
    AS_TOKEN_PREFIX,
    ServerNameError,
    server_of,
    validate_server_name,
)

#: The mautrix secret that means "log in with m.login.application_service, the bridge's token".
APPSERVICE_LOGIN_VALUE = "appservice"


class BridgeConfigError(Exception):
    """The bridge config cannot answer the question; the message names the file and key."""


class BridgeKind(enum.Enum):
    """Which program's config this is; the value says it in words."""

    BRIDGEV2 = "mautrix-go bridgev2"
    LEGACY_MAUTRIX_GO = "legacy mautrix-go (the `bridge` package, v0.16 to v0.23)"
    MAUTRIX_PYTHON = "mautrix-python"
    MX_PUPPET_BRIDGE = "mx-puppet-bridge"
    MATRIX_CORPORAL = "matrix-corporal"


#: The client family each kind of config belongs to (families.py says how each family logs in
#: and which key takes the appservice method's ``as_token:<token>``).
KIND_FAMILY: dict[BridgeKind, Family] = {
    BridgeKind.BRIDGEV2: MAUTRIX_GO_BRIDGEV2,
    BridgeKind.LEGACY_MAUTRIX_GO: LEGACY_MAUTRIX_GO,
    BridgeKind.MAUTRIX_PYTHON: MAUTRIX_PYTHON,
    BridgeKind.MX_PUPPET_BRIDGE: MX_PUPPET_BRIDGE,
    BridgeKind.MATRIX_CORPORAL: MATRIX_CORPORAL,
}


class Method(enum.Enum):
    """How the bridge double-puppets a user with the secret it has for the user's server."""

    #: ``as_token:<token>``: requests carry the token and ``?user_id=``; no login.
    APPSERVICE_TOKEN = "the appservice method: the as_token with ?user_id=, no login"
    #: The secret is the HMAC key of a login, sent by :attr:`DoublePuppetPlan.family`.
    SHARED_SECRET = "shared-secret login: a token made with the secret (this module)"
    #: ``appservice``: ``m.login.application_service`` with the bridge's own ``as_token``.
    APPSERVICE_LOGIN = "m.login.application_service with the bridge's own as_token"
    #: A value the bridge does not use: double puppeting is off for the user's server.
    IGNORED = "none: the bridge ignores this value"
    #: A value the bridge uses as written, where that cannot work (whitespace after the prefix).
    UNUSABLE = "none: the bridge cannot use this value as written"
    #: A server the bridge refuses to double-puppet for: not its own, not listed, no discovery.
    NOT_ALLOWED = "none: the bridge does not double-puppet users of this server"


#: The methods with which the bridge does not double-puppet the user at all.
FAILING_METHODS = frozenset({Method.IGNORED, Method.UNUSABLE, Method.NOT_ALLOWED})


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class DoublePuppetPlan:
    """What a bridge config says about double-puppeting one user. Holds a secret: never print
    :attr:`secret` (``repr`` leaves it out)."""

    path: str
    kind: BridgeKind
    #: The bridge's own server name (``homeserver.domain`` or its equivalent).
    server_name: str
    #: Where the bridge sends the user's double-puppet requests, and the key that says so;
    #: ``None`` when the config alone does not tell (``url_problem`` says why).
    homeserver_url: str | None
    url_key: str
    url_problem: str | None = None
    #: The key the secret came from, e.g. ``double_puppet.secrets["example.org"]``.
    secret_key: str
    method: Method
    #: The appservice token (prefix removed) or the shared secret; ``None`` when not used.
    secret: str | None = attr.ib(default=None, repr=False)
    #: For :attr:`Method.SHARED_SECRET`: the client family whose login the bridge sends.
    family: Family | None = None
    #: Why the method is what it is.
    explanation: str = ""
    #: What to write instead, when the config as written cannot work (:data:`FAILING_METHODS`).
    remedy: str | None = None
    #: Things worth knowing that do not decide the outcome.
    notes: tuple[str, ...] = ()

    @property
    def works_without_change(self) -> bool:
        """Whether the config, as written, has double puppeting on for the user at all."""
        return self.method not in FAILING_METHODS


# -- reading the file -----------------------------------------------------------------------------


def load_bridge_config(path: str) -> Mapping[str, Any]:
    """The file's top-level mapping: JSON when it parses as JSON (matrix-corporal), else YAML.

    Errors say where the file is broken, never quote its lines (a line may hold a secret).
    """
    loaded: object
    try:
        _, text = files.read_text(path)
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
    """Which kind of bridge wrote ``config``, by the keys only that kind has.

    The legacy markers are bridgev2's own (``bridgev2/bridgeconfig/upgrade.go``).
    """
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
            return BridgeKind.LEGACY_MAUTRIX_GO
        if isinstance(database, str):
            return BridgeKind.MAUTRIX_PYTHON
        if any(key in config for key in ("double_puppet", "database", "network")):
            return BridgeKind.BRIDGEV2
    raise BridgeConfigError(
        f"{path} is not a config file of a bridge this command knows: expected a mautrix-go"
        " bridgev2 config (homeserver:, appservice:, database:, double_puppet:), a legacy"
        " mautrix-go or mautrix-python one (homeserver:, appservice.database, bridge:), an"
        " mx-puppet-bridge one (bridge.homeserverUrl) or matrix-corporal's JSON (Matrix:)"
    )


# -- the decision --------------------------------------------------------------------------------


def plan_double_puppet(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    """What the bridge whose config this is will do to double-puppet ``user_id``.

    Raises :class:`BridgeConfigError` naming the file and key when the config cannot say.
    """
    kind = identify(config, path)
    if kind is BridgeKind.MATRIX_CORPORAL:
        return _corporal(config, path, user_id)
    if kind is BridgeKind.MX_PUPPET_BRIDGE:
        return _mx_puppet(config, path, user_id)
    return _mautrix(kind, config, path, user_id)


def _mautrix(
    kind: BridgeKind, config: Mapping[str, Any], path: str, user_id: str
) -> DoublePuppetPlan:
    """The plan the secret's value makes, unless the bridge refuses the user's server outright
    (then that is the plan, whatever the value)."""
    plan, refusal = _mautrix_value(kind, config, path, user_id)
    if refusal is None or not plan.works_without_change:
        return plan
    explanation, remedy = refusal
    return attr.evolve(
        plan, method=Method.NOT_ALLOWED, secret=None, explanation=explanation, remedy=remedy
    )


def _mautrix_value(
    kind: BridgeKind, config: Mapping[str, Any], path: str, user_id: str
) -> tuple[DoublePuppetPlan, tuple[str, str] | None]:
    address = _string(config, path, ("homeserver", "address"))
    domain = _server_name(config, path, ("homeserver", "domain"), user_id)
    if kind is BridgeKind.BRIDGEV2:
        servers_key, discovery_key, secrets_key = (
            ("double_puppet", "servers"),
            ("double_puppet", "allow_discovery"),
            ("double_puppet", "secrets"),
        )
    else:
        servers_key, discovery_key, secrets_key = (
            ("bridge", "double_puppet_server_map"),
            ("bridge", "double_puppet_allow_discovery"),
            ("bridge", "login_shared_secret_map"),
        )
    server = server_of(user_id)
    secrets = _map(config, path, secrets_key)
    secret_key = f"{_dotted(secrets_key)}[{json.dumps(server)}]"
    notes: list[str] = []
    leftover = _get(config, ("bridge", "login_shared_secret_map"))
    if kind is BridgeKind.BRIDGEV2 and leftover is not None:
        notes.append(
            "bridge.login_shared_secret_map is a key of the legacy config: this bridge ignores"
            " it and reads double_puppet.secrets only"
        )
    if server not in secrets:
        raise BridgeConfigError(_no_secret(path, secrets_key, server, secrets, kind))
    value = secrets[server]
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(
            f"{path}: {secret_key} must be a non-empty string (it is"
            f" {_kind_of(value)}): write it as {_wanted(kind, server)}"
        )

    url, url_key, url_problem, refusal = _mautrix_url(
        kind, config, path, server, domain, address, servers_key, discovery_key
    )
    common: dict[str, Any] = {
        "path": path,
        "kind": kind,
        "server_name": domain,
        "homeserver_url": url,
        "url_key": url_key,
        "url_problem": url_problem,
        "secret_key": secret_key,
    }
    if value.startswith(AS_TOKEN_PREFIX):
        # Both generations remove the prefix and nothing else (mautrix-go
        # bridgev2/matrix/doublepuppet.go, mautrix-python custom_puppet.py _fresh_intent).
        token = value[len(AS_TOKEN_PREFIX) :]
        if not token.strip():
            raise BridgeConfigError(
                f"{path}: {secret_key} is `as_token:` with nothing after it: write"
                f" {_wanted(kind, server)}"
            )
        if token != token.strip():
            plan = DoublePuppetPlan(
                **common,
                method=Method.UNUSABLE,
                explanation=(
                    f"the value of {secret_key} has whitespace around the token after"
                    " `as_token:`; the bridge removes only the prefix and sends the rest as it is,"
                    " so Synapse finds no token in the request (Authorization: Bearer followed by"
                    " two spaces) or one it does not know"
                ),
                remedy=(
                    "remove the space after `as_token:` (and any around the token): write"
                    f" {_wanted(kind, server)}"
                ),
                notes=tuple(notes),
            )
            return plan, refusal
        explanation = (
            "the value starts with `as_token:`, so the bridge sends the rest as an appservice"
            " token with ?user_id=, without logging in (it must be the as_token of a"
            " registration whose user namespace covers this user)"
        )
        if kind is not BridgeKind.BRIDGEV2:
            library = " (the mautrix-python library 0.20.1 and later)" * (
                kind is BridgeKind.MAUTRIX_PYTHON
            )
            notes.append(
                f"only recent releases of these bridges read `as_token:`{library}."
                f" {KIND_FAMILY[kind].appservice_note} Older releases use the whole value,"
                " `as_token:` included, as the HMAC key of a shared-secret login, which fails:"
                " check the bridge's version"
            )
        plan = DoublePuppetPlan(
            **common,
            method=Method.APPSERVICE_TOKEN,
            secret=token,
            explanation=explanation,
            notes=tuple(notes),
        )
        return plan, refusal
    if kind is BridgeKind.BRIDGEV2:
        plan = DoublePuppetPlan(
            **common,
            method=Method.IGNORED,
            explanation=(
                f"this bridge ignores {secret_key}: a bridgev2 bridge uses a double-puppet secret"
                " only when it starts with `as_token:` (mautrix-go"
                " bridgev2/matrix/doublepuppet.go), so double puppeting is off unless each user"
                " gives the bridge an access token by hand. bridgev2 has no shared-secret login"
                " at all; a legacy config's login_shared_secret_map is copied here unchanged"
                " when the bridge migrates it"
            ),
            remedy=_USE_APPSERVICE_METHOD + _wanted(kind, server),
            notes=tuple(notes),
        )
        return plan, refusal
    if value == APPSERVICE_LOGIN_VALUE:  # compared exactly, as both generations do
        token = _string(config, path, ("appservice", "as_token"))
        plan = DoublePuppetPlan(
            **common,
            method=Method.APPSERVICE_LOGIN,
            secret=token,
            explanation=(
                "the value `appservice` makes the bridge log in with m.login.application_service"
                " and its own appservice.as_token, which works only when the bridge's own"
                " registration claims every user of the server (the deprecated method: Synapse"
                " then sends the bridge every event of every such user); prefer the appservice"
                f" method with a registration of its own: {_wanted(kind, server)}"
            ),
            notes=tuple(notes),
        )
        return plan, refusal
    family = KIND_FAMILY[kind]
    notes.append(
        "when this bridge is upgraded to its bridgev2 release, that migrates this config and"
        " copies this value unchanged into double_puppet.secrets, where a value without"
        " `as_token:` is ignored: switch to the appservice method first (this bridge reads"
        f" `as_token:` too): {_wanted(kind, server)}"
    )
    plan = DoublePuppetPlan(
        **common,
        method=Method.SHARED_SECRET,
        secret=value,
        family=family,
        explanation=(
            f"a value without the `as_token:` prefix is the shared secret: the bridge logs in"
            f" as {family.name} clients do ({family.choice.value}), with a token made from it"
        ),
        notes=tuple(notes),
    )
    return plan, refusal


def _mautrix_url(
    kind: BridgeKind,
    config: Mapping[str, Any],
    path: str,
    server: str,
    domain: str,
    address: str,
    servers_key: tuple[str, ...],
    discovery_key: tuple[str, ...],
) -> tuple[str | None, str, str | None, tuple[str, str] | None]:
    """Where a mautrix bridge sends the user's requests: its map of servers, else its own
    homeserver for its own server name (``doublepuppet.go``'s ``newClient`` for both Go
    generations, ``custom_puppet.py``'s ``_login_with_shared_secret`` for Python).

    Returns the URL (``None`` when the config alone does not tell), the key it came from, why
    there is no URL, and, when the bridge refuses the server outright (not its own, not in the
    map, no discovery: "double puppeting from ... is not allowed" in ``doublepuppet.go``,
    ``can_auto_login`` in ``custom_puppet.py``), the explanation and remedy of that refusal.
    """
    servers = _map(config, path, servers_key, required=False)
    if server in servers:
        url = servers[server]
        key = f"{_dotted(servers_key)}[{json.dumps(server)}]"
        if not isinstance(url, str) or not url.strip():
            raise BridgeConfigError(f"{path}: {key} must be the homeserver's URL")
        return url.strip(), key, None, None
    if server == domain:
        return address, "homeserver.address", None, None
    not_ours = (
        f"{server} is not this bridge's server ({domain}, homeserver.domain) and not in"
        f" {_dotted(servers_key)}"
    )
    if _get(config, discovery_key) is True and kind is not BridgeKind.MAUTRIX_PYTHON:
        problem = (
            f"{path}: {not_ours}, so the bridge would look its address up with .well-known"
            f" ({_dotted(discovery_key)}: true), which this command does not do. Give"
            f" HOMESERVER_URL (the address {server}'s .well-known names), or add {server} to"
            f" {_dotted(servers_key)}"
        )
        return None, _dotted(servers_key), problem, None
    if kind is BridgeKind.MAUTRIX_PYTHON:
        how = "mautrix-python double-puppets only its own server and those listed there"
    else:
        how = f"discovery is off ({_dotted(discovery_key)} is not true)"
    refusal = (
        f"{not_ours}, and {how}: the bridge refuses to double-puppet {server}'s users",
        f"add {server} with its homeserver's URL to {_dotted(servers_key)}, e.g."
        f" {_dotted(servers_key)}: {{{json.dumps(server)}: <the URL of {server}'s homeserver>}}",
    )
    return None, _dotted(servers_key), f"{path}: {refusal[0]}", refusal


def _mx_puppet(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    domain = _server_name(config, path, ("bridge", "domain"), user_id)
    address = _string(config, path, ("bridge", "homeserverUrl"))
    server = server_of(user_id)
    secrets_key = ("bridge", "loginSharedSecretMap")
    secrets = _map(config, path, secrets_key)
    secret_key = f"{_dotted(secrets_key)}[{json.dumps(server)}]"
    if server not in secrets:
        raise BridgeConfigError(
            _no_secret(path, secrets_key, server, secrets, BridgeKind.MX_PUPPET_BRIDGE)
        )
    value = secrets[server]
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(
            f"{path}: {secret_key} must be the module's shared secret, a non-empty string"
        )
    url_map = _map(config, path, ("homeserverUrlMap",), required=False)
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
    common: dict[str, Any] = {
        "path": path,
        "kind": BridgeKind.MX_PUPPET_BRIDGE,
        "server_name": domain,
        "homeserver_url": url,
        "url_key": url_key,
        "secret_key": secret_key,
    }
    if value.startswith(AS_TOKEN_PREFIX):
        return DoublePuppetPlan(
            **common,
            method=Method.IGNORED,
            explanation=(
                "mx-puppet-bridge cannot use the appservice method: it would use this whole"
                " value, `as_token:` included, as the HMAC key of a password login, which no"
                " server accepts"
            ),
            remedy=(
                f"put the module's shared secret in {secret_key}, and load synapse_dp_auth in"
                " Synapse (modules: in homeserver.yaml)"
            ),
            notes=tuple(notes),
        )
    return DoublePuppetPlan(
        **common,
        method=Method.SHARED_SECRET,
        secret=value,
        family=MX_PUPPET_BRIDGE,
        explanation=(
            f"mx-puppet-bridge always logs in as {MX_PUPPET_BRIDGE.name} clients do"
            f" ({MX_PUPPET_BRIDGE.choice.value}), with a token made from this secret"
        ),
        notes=tuple(notes),
    )


def _corporal(config: Mapping[str, Any], path: str, user_id: str) -> DoublePuppetPlan:
    domain = _server_name(config, path, ("Matrix", "HomeserverDomainName"), user_id)
    url = _string(config, path, ("Matrix", "HomeserverApiEndpoint"))
    secret_key = "Matrix.AuthSharedSecret"
    server = server_of(user_id)
    if server != domain:
        raise BridgeConfigError(
            f"{path}: matrix-corporal logs in only users of its own server"
            f" (Matrix.HomeserverDomainName: {domain}), and {user_id} is on {server}"
        )
    secret = _string(config, path, ("Matrix", "AuthSharedSecret"))
    return DoublePuppetPlan(
        path=path,
        kind=BridgeKind.MATRIX_CORPORAL,
        server_name=domain,
        homeserver_url=url,
        url_key="Matrix.HomeserverApiEndpoint",
        secret_key=secret_key,
        method=Method.SHARED_SECRET,
        secret=secret,
        family=MATRIX_CORPORAL,
        explanation=(
            f"matrix-corporal always logs in as {MATRIX_CORPORAL.name} clients do"
            f" ({MATRIX_CORPORAL.choice.value}); it cannot use the appservice method"
        ),
    )


# -- small readers with errors that name the key ---------------------------------------------------


def _get(config: Mapping[str, Any], key: tuple[str, ...]) -> object:
    node: object = config
    for part in key:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _dotted(key: tuple[str, ...]) -> str:
    return ".".join(key)


def _kind_of(value: object) -> str:
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


def _string(config: Mapping[str, Any], path: str, key: tuple[str, ...]) -> str:
    value = _get(config, key)
    if value is None:
        raise BridgeConfigError(f"{path}: {_dotted(key)} is missing")
    if not isinstance(value, str) or not value.strip():
        raise BridgeConfigError(f"{path}: {_dotted(key)} must be a non-empty string")
    return value.strip()


def _map(
    config: Mapping[str, Any], path: str, key: tuple[str, ...], *, required: bool = True
) -> dict[str, Any]:
    """A mapping keyed by server name (YAML may give non-string keys: compared as text)."""
    value = _get(config, key)
    if value is None:
        if required:
            raise BridgeConfigError(
                f"{path}: {_dotted(key)} is missing: double puppeting is not set up in this"
                " bridge's config"
            )
        return {}
    if not isinstance(value, dict):
        raise BridgeConfigError(
            f"{path}: {_dotted(key)} must be a mapping of server names, not {_kind_of(value)}"
        )
    return {str(name): item for name, item in value.items()}


def _has_port(server: str) -> bool:
    host, colon, port = server.rpartition(":")
    return bool(colon and host and port.isdigit() and not host.endswith(":"))


def _is_server_name(name: str) -> bool:
    try:
        validate_server_name(name)
    except ServerNameError:
        return False
    return True


def _shown_server_name(name: str, server: str) -> bool:
    """Whether a key of a secrets map may be printed: a server name that is ``server`` (maybe with
    a port) or has a dot (see :func:`_no_secret`)."""
    host = name.rpartition(":")[0] if _has_port(name) else name
    return _is_server_name(name) and (host == server or "." in host)


def _server_name(config: Mapping[str, Any], path: str, key: tuple[str, ...], user_id: str) -> str:
    """The bridge's server name. One with a port is refused when the user's server is that name
    without the port: then it is the address's port written into the wrong key. For a user of
    another server nothing tells (a server name may carry a port), so it is taken as written."""
    name = _string(config, path, key)
    if _has_port(name) and name.rpartition(":")[0] == server_of(user_id):
        raise BridgeConfigError(
            f"{path}: {_dotted(key)} is {name!r}, a server name with a port: it must be the part"
            " of user IDs after the colon (e.g. example.org for @alice:example.org); the port"
            " belongs in the homeserver's address"
        )
    return name


_USE_APPSERVICE_METHOD = (
    "use the appservice method: create a registration with `synapse_dp_auth appservice`, list"
    " it under app_service_config_files in homeserver.yaml, restart Synapse, and set "
)


def _wanted(kind: BridgeKind, server: str) -> str:
    """The setting that turns on the appservice method for ``server``, as YAML."""
    key = KIND_FAMILY[kind].appservice_setting
    return f'{key}: {{{json.dumps(server)}: "as_token:<the registration\'s as_token>"}}'


def _no_secret(
    path: str,
    key: tuple[str, ...],
    server: str,
    secrets: Mapping[str, Any],
    kind: BridgeKind,
) -> str:
    """No secret for the user's server; lists the keys that are server names (names are not
    secret). Any other key is only counted: a YAML typo (``example.org:as_token:...`` without the
    space, or a missing colon) turns the secret itself into the key, and a secret written as the
    key (key and value swapped) can look like a server name too: ``hunter2secret`` is a valid
    host name. So a key is shown only where it is the user's server (with a port) or has a dot,
    as a real server name has; a random secret rarely does."""
    names = sorted(name for name in secrets if _shown_server_name(name, server))
    others = len(secrets) - len(names)
    listed = ", ".join(names) or "none"
    if others:
        listed += (
            f" (and {others} other {'entry' if others == 1 else 'entries'}, not shown: a key"
            " may hold a secret when the space after its colon is missing, or key and value are"
            " swapped)"
        )
    text = (
        f"{path}: {_dotted(key)} has no entry for {server} (the part of the user ID after the"
        f" colon), so the bridge does not double-puppet its users; entries: {listed}"
    )
    near = [name for name in names if _has_port(name) and name.rpartition(":")[0] == server]
    if near:
        text += f". {near[0]!r} has a port: the key must be the server name exactly as in user IDs"
    if KIND_FAMILY[kind].appservice_setting is not None:
        text += f". To turn it on with the appservice method: {_wanted(kind, server)}"
    return text
