"""What ``doctor --bridge-config`` finds in a bridge's config: the method the bridge will use for
a user (:class:`DoublePuppetPlan`), the client family of each kind of bridge, and the settings it
suggests instead of what does not work.

The decisions themselves are in :mod:`~synapse_dp_auth.admin.doctor.bridge_config_method` (and,
for the mautrix bridges, :mod:`~synapse_dp_auth.admin.doctor.bridge_config_mautrix`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeKind,
    dotted,
    has_port,
    is_server_name,
)
from synapse_dp_auth.admin.shared.families import (
    LEGACY_MAUTRIX_GO,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BRIDGEV2,
    MAUTRIX_IMESSAGE,
    MAUTRIX_PYTHON,
    MAUTRIX_SIGNAL_PYTHON,
    MAUTRIX_SLACK_LEGACY,
    MX_PUPPET_BRIDGE,
    Family,
)

#: The client family each kind of config belongs to (families.py says how each family logs in
#: and which key takes the appservice method's ``as_token:<token>``).
KIND_FAMILY: dict[BridgeKind, Family] = {
    BridgeKind.BRIDGEV2: MAUTRIX_GO_BRIDGEV2,
    BridgeKind.LEGACY_MAUTRIX_GO: LEGACY_MAUTRIX_GO,
    BridgeKind.MAUTRIX_PYTHON: MAUTRIX_PYTHON,
    BridgeKind.SIGNAL_PYTHON: MAUTRIX_SIGNAL_PYTHON,
    BridgeKind.IMESSAGE: MAUTRIX_IMESSAGE,
    BridgeKind.SLACK_LEGACY: MAUTRIX_SLACK_LEGACY,
    BridgeKind.MX_PUPPET_BRIDGE: MX_PUPPET_BRIDGE,
    BridgeKind.MATRIX_CORPORAL: MATRIX_CORPORAL,
}


@enum.unique
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
    #: The value the bridge's example config ships: found before any request is sent.
    PLACEHOLDER = "none: the value is the shipped example's placeholder"
    #: Releases of the same bridge read this config differently and the config cannot tell which
    #: one runs: the verdict is never "ok" (``doctor`` exits non-zero and names both sides).
    VERSION_DEPENDENT = "depends on the bridge's release, which the config does not show"


#: The methods with which the bridge does not double-puppet the user at all.
FAILING_METHODS = frozenset(
    {Method.IGNORED, Method.UNUSABLE, Method.NOT_ALLOWED, Method.PLACEHOLDER}
)


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
        return self.method not in FAILING_METHODS and self.method is not Method.VERSION_DEPENDENT


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class PlanSource:
    """What a plan says whatever the secret's value: the file, the bridge, where it sends the
    user's requests, and the key the secret came from."""

    path: str
    kind: BridgeKind
    server_name: str
    homeserver_url: str | None
    url_key: str
    url_problem: str | None = None
    secret_key: str

    def plan(
        self,
        method: Method,
        *,
        explanation: str,
        secret: str | None = None,
        family: Family | None = None,
        remedy: str | None = None,
        notes: Sequence[str] = (),
    ) -> DoublePuppetPlan:
        return DoublePuppetPlan(
            path=self.path,
            kind=self.kind,
            server_name=self.server_name,
            homeserver_url=self.homeserver_url,
            url_key=self.url_key,
            url_problem=self.url_problem,
            secret_key=self.secret_key,
            method=method,
            secret=secret,
            family=family,
            explanation=explanation,
            remedy=remedy,
            notes=tuple(notes),
        )


# -- what to write instead -------------------------------------------------------------------------


USE_MODULE = (
    "load synapse_dp_auth in Synapse (modules: in homeserver.yaml, `synapse_dp_auth plan` writes"
    " the entry) and put its shared secret in "
)

USE_APPSERVICE_METHOD = (
    "use the appservice method: create a registration with `synapse_dp_auth appservice`, list"
    " it under app_service_config_files in homeserver.yaml, restart Synapse, and set "
)


def wanted(kind: BridgeKind, server: str) -> str:
    """The setting that turns on the appservice method for ``server``, as YAML."""
    key = KIND_FAMILY[kind].appservice_setting
    return f'{key}: {{{json.dumps(server)}: "as_token:<the registration\'s as_token>"}}'


def _shown_server_name(name: str, server: str) -> bool:
    """Whether a key of a secrets map may be printed: a server name that is ``server`` (maybe with
    a port) or has a dot (see :func:`no_secret`)."""
    host = name.rpartition(":")[0] if has_port(name) else name
    return is_server_name(name) and (host == server or "." in host)


def no_secret(
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
        f"{path}: {dotted(key)} has no entry for {server} (the part of the user ID after the"
        f" colon), so the bridge does not double-puppet its users; entries: {listed}"
    )
    near = [name for name in names if has_port(name) and name.rpartition(":")[0] == server]
    if near:
        text += f". {near[0]!r} has a port: the key must be the server name exactly as in user IDs"
    if KIND_FAMILY[kind].appservice_setting is not None:
        text += f". To turn it on with the appservice method: {wanted(kind, server)}"
    return text
