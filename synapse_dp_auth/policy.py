"""Who may be logged in with the shared secret, decided without Synapse.

The provider gathers the facts (the user ID as Synapse qualified it, the account's flags from the
database) and these functions say yes, or no with a reason an admin can read in the log.
"""

from __future__ import annotations

import enum

import attr

from synapse_dp_auth.config import DpAuthConfig


@enum.unique
class Outcome(enum.Enum):
    """How an attempt ended; the values are the ``outcome`` label of the metrics."""

    SUCCESS = "success"
    MALFORMED = "malformed"
    REMOTE_USER = "remote_user"
    BAD_TOKEN = "bad_token"
    UNKNOWN_USER = "unknown_user"
    NOT_ALLOWED = "not_allowed"
    UIA_REFUSED = "uia_refused"


@attr.s(frozen=True, auto_attribs=True)
class Refusal:
    outcome: Outcome
    reason: str


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Account:
    """The account flags that matter here, as Synapse's ``UserInfo`` has them."""

    user_id: str
    is_deactivated: bool
    is_guest: bool
    is_admin: bool
    appservice_id: object | None


def qualify_user_id(username: str, server_name: str) -> str:
    """The user ID Synapse hands to its own checks: ``@...`` as given, else on this server.

    The token is an HMAC of exactly this string, so it must match what Synapse does.
    """
    return username if username.startswith("@") else f"@{username}:{server_name}"


#: Synapse's limit on the length of a user ID; longer ones cannot exist.
MAX_USER_ID_LENGTH = 255


def user_id_refusal(config: DpAuthConfig, user_id: str, server_name: str) -> Refusal | None:
    """Refusals that need no database: other servers' users, and ``allowed_users``.

    The length test comes first, so that what follows (and the log line) only ever sees a
    bounded string, whatever an unauthenticated client sends.
    """
    if len(user_id) > MAX_USER_ID_LENGTH:
        reason = f"the user ID is longer than {MAX_USER_ID_LENGTH} characters"
        return Refusal(Outcome.MALFORMED, reason)
    localpart, colon, domain = user_id[1:].partition(":")
    if not user_id.startswith("@") or not colon or not localpart:
        return Refusal(Outcome.MALFORMED, "the user ID is not of the form @localpart:server")
    if domain != server_name:
        return Refusal(Outcome.REMOTE_USER, f"the user belongs to {domain!r}, not to this server")
    if config.allowed_users is not None and not any(
        pattern.fullmatch(user_id) for pattern in config.allowed_users
    ):
        return Refusal(Outcome.NOT_ALLOWED, "the user ID matches none of allowed_users")
    return None


def account_refusal(config: DpAuthConfig, account: Account) -> Refusal | None:
    """Refusals that depend on the account: only active, ordinary local users."""
    if account.is_deactivated:
        return Refusal(Outcome.NOT_ALLOWED, "the account is deactivated")
    if account.is_guest:
        return Refusal(Outcome.NOT_ALLOWED, "the account is a guest account")
    if account.appservice_id is not None and not config.allow_appservice_users:
        return Refusal(
            Outcome.NOT_ALLOWED,
            "the account belongs to an application service (allow_appservice_users is false)",
        )
    if account.is_admin and not config.allow_admins:
        return Refusal(Outcome.NOT_ALLOWED, "the account is a server admin (allow_admins is false)")
    return None
