"""The families of double-puppeting clients: who sends which login type, with which request, and
who takes the appservice method's ``as_token:<token>`` under which config key.

Bridges do not all log in the same way, so "is the module working?" has one answer per family.
This is the one definition of them that ``doctor``, ``check-config``, ``appservice`` and the
measured tables of docs/compatibility.md read; a new bridge family is added here (and, if
``doctor --bridge-config`` should read its config, in
:mod:`synapse_dp_auth.admin.doctor.bridge_config_method`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attr

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET

#: Prefix of a bridge's double-puppet secret that selects the appservice method: the rest is the
#: registration's ``as_token`` (mautrix-go ``bridgev2/matrix/doublepuppet.go``, mautrix-python
#: ``mautrix/bridge/custom_puppet.py``).
AS_TOKEN_PREFIX = "as_token:"


@enum.unique
class Choice(enum.Enum):
    """How a client family picks its login type; the value says it in words."""

    FIRST_LISTED = (
        f"the first of {LOGIN_TYPE_SHARED_SECRET} / {LOGIN_TYPE_PASSWORD} in the server's list"
    )
    SHARED_SECRET_PREFERRED = (
        f"{LOGIN_TYPE_SHARED_SECRET} when the server lists it, else {LOGIN_TYPE_PASSWORD}"
    )
    PASSWORD_ONLY = f"always {LOGIN_TYPE_PASSWORD}, without asking the server"
    SHARED_SECRET_ONLY = f"always {LOGIN_TYPE_SHARED_SECRET}, without asking the server"
    NO_LOGIN = "no shared-secret login at all (double puppeting with the appservice method only)"


@enum.unique
class BodyShape(enum.Enum):
    """Which fields a family's ``POST /login`` carries besides ``type`` and the token."""

    MAUTRIX = "identifier, device_id, initial_device_display_name"
    #: matrix-bot-sdk's ``passwordLogin`` and mautrix-go's client send the same fields.
    IDENTIFIER = "identifier"
    CORPORAL = "top-level user, identifier, device_id"
    NO_LOGIN = "no login request"


@attr.s(frozen=True, auto_attribs=True)
class Family:
    """A family of clients that double-puppet the same way: how they log in with the shared
    secret, and where their config takes the appservice method's ``as_token:<token>``."""

    name: str
    #: Examples, for the report; may be empty.
    clients: str
    choice: Choice
    shape: BodyShape
    #: The dotted config key whose ``{server name: "as_token:<token>"}`` selects the appservice
    #: method, or ``None``: the family cannot use it and needs the module.
    appservice_setting: str | None = None
    #: Which versions take it, or why the family cannot; for ``appservice``'s instructions.
    appservice_note: str = ""


#: mautrix-go's current bridge framework: whatsapp, signal, meta, telegram since its Go rewrite,
#: slack, gmessages... It never logs in with a shared secret: ``bridgev2/matrix/doublepuppet.go``
#: honours a ``double_puppet.secrets`` value only with the ``as_token:`` prefix and ignores any
#: other (its legacy-config migration copies an old shared secret there unchanged).
MAUTRIX_GO_BRIDGEV2 = Family(
    "mautrix-go-bridgev2",
    "mautrix-whatsapp, -signal, -meta, -telegram (Go), -slack, -gmessages and other bridgev2"
    " bridges",
    Choice.NO_LOGIN,
    BodyShape.NO_LOGIN,
    appservice_setting="double_puppet.secrets",
    appservice_note="The only automatic double puppeting these bridges do: any value without"
    " the as_token: prefix is ignored.",
)
MAUTRIX_PYTHON = Family(
    "mautrix-python",
    "mautrix-telegram, mautrix-googlechat and other mautrix-python bridges",
    Choice.FIRST_LISTED,
    BodyShape.MAUTRIX,
    # mautrix-python 0.20.1 and later: CustomPuppetMixin._login_with_shared_secret.
    appservice_setting="bridge.login_shared_secret_map",
    appservice_note="Per mautrix's docs: telegram 0.14.2, facebook 0.5.1, instagram 0.3.1,"
    " twitter 0.1.7 and later; not the legacy Python signal bridge, which stays on the module.",
)
LEGACY_MAUTRIX_GO = Family(
    "mautrix-go-legacy",
    "Go mautrix bridges on mautrix-go's older `bridge` package, v0.16 to v0.23",
    Choice.SHARED_SECRET_PREFERRED,
    BodyShape.MAUTRIX,
    appservice_setting="bridge.login_shared_secret_map",
    appservice_note="Per mautrix's docs: whatsapp 0.10.1, discord 0.6.2, gmessages 0.2.0 and"
    " later; not mautrix-imessage nor the legacy slack bridge, which stay on the module.",
)
MX_PUPPET_BRIDGE = Family(
    "mx-puppet-bridge",
    "mx-puppet-* bridges, through matrix-bot-sdk's passwordLogin",
    Choice.PASSWORD_ONLY,
    BodyShape.IDENTIFIER,
    appservice_note="logs in with m.login.password only (bridge.loginSharedSecretMap)",
)
MATRIX_CORPORAL = Family(
    "matrix-corporal",
    "",
    Choice.PASSWORD_ONLY,
    BodyShape.CORPORAL,
    appservice_note="logs in with m.login.password only (Matrix.AuthSharedSecret)",
)
MAUTRIX_GO_BOTS = Family(
    "mautrix-go-bots",
    "Go bots that log in with mautrix-go's client",
    Choice.SHARED_SECRET_ONLY,
    BodyShape.IDENTIFIER,
    appservice_note="bots, not appservices: they log in with com.devture.shared_secret_auth",
)

#: Three bridges that log in with ``m.login.password`` only, mautrix's request body, and never
#: read ``as_token:``. They log in as the other password-only families do, so the server-wide
#: checks (``doctor`` without ``--bridge-config``, ``check-config``) need no row of their own
#: (:data:`MX_PUPPET_BRIDGE`'s answer is theirs); ``doctor --bridge-config`` names them.
#:
#: mautrix/imessage ``custompuppet.go`` @ 300ba6d0e556 L74-102 (``req.Type =
#: mautrix.AuthTypePassword``, device "iMessage Bridge"; ``bridge.login_shared_secret`` only).
MAUTRIX_IMESSAGE = Family(
    "mautrix-imessage",
    "mautrix-imessage (it double-puppets its one bridge.user)",
    Choice.PASSWORD_ONLY,
    BodyShape.MAUTRIX,
    appservice_note="logs in with m.login.password only (bridge.login_shared_secret); never"
    " reads as_token:",
)
#: mautrix/slack ``custompuppet.go`` @ 98d157b18285 L285-317: builds before its bridgev2
#: release (v0.1.0) send ``m.login.password`` and make an HMAC key of an ``as_token:`` value.
MAUTRIX_SLACK_LEGACY = Family(
    "mautrix-slack-legacy",
    "mautrix-slack builds before v0.1.0 (bridgev2)",
    Choice.PASSWORD_ONLY,
    BodyShape.MAUTRIX,
    appservice_note="builds up to 98d157b log in with m.login.password only; v0.1.0 and later"
    " are bridgev2 releases (the appservice method)",
)
#: mautrix/signal 0.4.x (Python, signald) requires mautrix-python 0.19 (``requirements.txt`` @
#: 64bfed8f05e1), whose ``mautrix/bridge/custom_puppet.py`` sends ``m.login.password`` only and
#: has no ``as_token:`` branch.
MAUTRIX_SIGNAL_PYTHON = Family(
    "mautrix-signal-python",
    "mautrix-signal 0.4.x (Python, signald)",
    Choice.PASSWORD_ONLY,
    BodyShape.MAUTRIX,
    appservice_note="runs mautrix-python 0.19: m.login.password only, no as_token:",
)

#: Every family that logs in with the shared secret, in the order reports list them: what
#: ``doctor`` and ``check-config`` examine.
FAMILIES: tuple[Family, ...] = (
    MAUTRIX_PYTHON,
    LEGACY_MAUTRIX_GO,
    MX_PUPPET_BRIDGE,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BOTS,
)

#: Every family, bridgev2 first (the most common today): what ``appservice`` lists.
EVERY_FAMILY: tuple[Family, ...] = (MAUTRIX_GO_BRIDGEV2, *FAMILIES)


def choose_login_type(family: Family, advertised: Sequence[str]) -> str | None:
    """The type ``family`` sends given the server's ``GET /login`` list (``None``: it gives up).

    What ``doctor`` tests against a server and ``check-config`` predicts from homeserver.yaml.
    """
    if family.choice is Choice.FIRST_LISTED:
        candidates = (LOGIN_TYPE_SHARED_SECRET, LOGIN_TYPE_PASSWORD)
        return next((t for t in advertised if t in candidates), None)
    if family.choice is Choice.SHARED_SECRET_PREFERRED:
        for login_type in (LOGIN_TYPE_SHARED_SECRET, LOGIN_TYPE_PASSWORD):
            if login_type in advertised:
                return login_type
        return None
    if family.choice is Choice.PASSWORD_ONLY:
        return LOGIN_TYPE_PASSWORD
    if family.choice is Choice.NO_LOGIN:
        return None
    return LOGIN_TYPE_SHARED_SECRET
