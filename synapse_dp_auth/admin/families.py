"""The families of shared-secret clients: who sends which login type, with which request.

Bridges do not all log in the same way, so "is the module working?" has one answer per family.
This is the one definition of them that ``doctor``, ``check-config`` and the README table read; a
new bridge family is added here.
"""

from __future__ import annotations

import enum

import attr

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET


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


class BodyShape(enum.Enum):
    """Which fields a family's ``POST /login`` carries besides ``type`` and the token."""

    MAUTRIX = "identifier, device_id, initial_device_display_name"
    BOT_SDK = "identifier"
    CORPORAL = "top-level user, identifier, device_id"
    GO_BOT = "identifier"


@attr.s(frozen=True, auto_attribs=True)
class Family:
    """A family of clients that log in with the shared secret the same way."""

    name: str
    #: Examples, for the report; may be empty.
    clients: str
    choice: Choice
    shape: BodyShape


MAUTRIX_PYTHON = Family(
    "mautrix-python",
    "mautrix-telegram, mautrix-googlechat and other mautrix-python bridges",
    Choice.FIRST_LISTED,
    BodyShape.MAUTRIX,
)
LEGACY_MAUTRIX_GO = Family(
    "mautrix-go-legacy",
    "Go mautrix bridges on mautrix-go's older `bridge` package, v0.16 to v0.23",
    Choice.SHARED_SECRET_PREFERRED,
    BodyShape.MAUTRIX,
)
MX_PUPPET_BRIDGE = Family(
    "mx-puppet-bridge",
    "mx-puppet-* bridges, through matrix-bot-sdk's passwordLogin",
    Choice.PASSWORD_ONLY,
    BodyShape.BOT_SDK,
)
MATRIX_CORPORAL = Family("matrix-corporal", "", Choice.PASSWORD_ONLY, BodyShape.CORPORAL)
MAUTRIX_GO_BOTS = Family(
    "mautrix-go-bots",
    "Go bots that log in with mautrix-go's client",
    Choice.SHARED_SECRET_ONLY,
    BodyShape.GO_BOT,
)

#: Every family, in the order reports list them.
FAMILIES: tuple[Family, ...] = (
    MAUTRIX_PYTHON,
    LEGACY_MAUTRIX_GO,
    MX_PUPPET_BRIDGE,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BOTS,
)
