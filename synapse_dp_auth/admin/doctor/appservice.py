"""``doctor``'s appservice check: may this ``as_token`` act as this user, as bridges ask?

A bridge on the appservice method never logs in: it sends the ``as_token`` of a registration
whose user namespace covers the user, with ``?user_id=``, and checks that first with
``GET /account/whoami?user_id=...`` (mautrix-go ``bridgev2/matrix/doublepuppet.go``; mautrix-python
``mautrix/bridge/custom_puppet.py`` calls ``whoami`` on the puppet's intent). The doctor makes the
same two read-only requests and nothing else:

1. ``whoami`` with the token alone: Synapse answers with the registration's sender, which proves
   the token is loaded and names the server it belongs to (401 ``M_UNKNOWN_TOKEN`` otherwise).
   An answer with a ``device_id`` is a user's access token, not an ``as_token``: Synapse then
   ignores ``?user_id=`` and answers the token's owner, so step 2 would prove nothing.
2. ``whoami?user_id=<user>``: 200 with the user when the namespace covers them. Synapse 1.163.2
   answers 403 ``M_FORBIDDEN`` "Application service cannot masquerade as this user" both for a
   user outside the namespace and for a user of another server (which step 1 tells apart), and
   403 "Application service has not registered this user" for a covered name with no account.

The decision is a pure function of the two answers (:func:`diagnose_appservice`).
"""

from __future__ import annotations

from typing import TextIO

import attr

from synapse_dp_auth.admin.doctor.verdict import Verdict
from synapse_dp_auth.admin.shared.client import WHOAMI_PATH, HomeserverClient
from synapse_dp_auth.admin.shared.client_answers import WhoamiOutcome
from synapse_dp_auth.admin.shared.matrix_ids import server_of
from synapse_dp_auth.admin.shared.server_text import server_text

_MASQUERADE_REFUSED = "cannot masquerade"
_NOT_REGISTERED = "has not registered this user"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class AppserviceDiagnosis:
    verdict: Verdict
    #: What was found, in one line.
    detail: str
    #: What to change, when something must change.
    remedy: str | None = None


def diagnose_appservice(
    user_id: str, token_answer: WhoamiOutcome, user_answer: WhoamiOutcome | None
) -> AppserviceDiagnosis:
    """The verdict from ``whoami`` without (``token_answer``) and with ``?user_id=``
    (``user_answer``, ``None`` when step 1 already decided)."""
    if token_answer.status == 401 or token_answer.errcode == "M_UNKNOWN_TOKEN":
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail="the server does not know this as_token",
            remedy=(
                "the registration is not loaded, or its as_token is not this one: list the"
                " registration file under app_service_config_files in homeserver.yaml (on every"
                " worker's config too) and restart Synapse, then compare the file's as_token with"
                " the bridge's value after `as_token:` (no spaces or quotes around it). `as_token:`"
                " takes a registration's as_token (`synapse_dp_auth appservice` writes one), not"
                " the module's shared secret: a shared secret goes without the prefix, for the"
                " bridges that log in with it (mautrix/signal#542, mautrix/meta#134)"
            ),
        )
    if not token_answer.ok:
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=f"whoami with the as_token answered {token_answer.describe()}",
            remedy="unexpected answer: see Synapse's log",
        )
    sender = token_answer.user_id or ""
    home = server_of(sender)
    if token_answer.device_id is not None:
        # Synapse answers whoami for an appservice's own token without a device; a user's access
        # token has one, and with it ?user_id= is ignored: the answer is always its owner.
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=(
                f"this is a user's access token (of {server_text(sender)}, on a device), not an"
                " as_token: with it, whoami?user_id= answers its owner whoever is asked for, and"
                " bridges cannot act as other users"
            ),
            remedy=(
                "give the as_token of the double-puppet registration (its file's as_token:, or"
                " the value `synapse_dp_auth appservice` printed), not a token from a login"
            ),
        )
    if server_of(user_id) != home:
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=(
                f"{user_id} is a user of another server: this as_token belongs to"
                f" {server_text(home)} (its registration's sender is {server_text(sender)})"
            ),
            remedy=(
                "the appservice method works only for users of the server that loaded the"
                f" registration: for users of {server_text(server_of(user_id))}, that server's"
                " admin must install a registration there, and the bridge needs its as_token"
                f" under {server_text(server_of(user_id))} and that server's address (bridgev2:"
                " double_puppet.servers)"
            ),
        )
    if user_answer is None:
        raise ValueError("the user's whoami answer is needed once the token is known")
    if user_answer.ok:
        if user_answer.user_id == user_id:
            return AppserviceDiagnosis(
                verdict=Verdict.WORKS,
                detail=(
                    f"whoami?user_id= answered {server_text(user_id)}: a bridge with this"
                    " as_token acts as this user without logging in (no device is created)"
                ),
            )
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=(
                f"whoami?user_id= answered {server_text(user_answer.user_id or '?')}, not"
                f" {server_text(user_id)}; bridges refuse that (mautrix-go:"
                " ErrMismatchingMXID)"
            ),
            remedy="unexpected answer: see Synapse's log",
        )
    error = (user_answer.error or "").lower()
    if user_answer.status == 403 and _NOT_REGISTERED in error:
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=f"the registration covers {server_text(user_id)}, but no such user exists",
            remedy="check the user ID (the part before the colon is the user name on the server)",
        )
    if user_answer.status == 403 and _MASQUERADE_REFUSED in error:
        return AppserviceDiagnosis(
            verdict=Verdict.FAILS,
            detail=(
                f"{server_text(user_id)} is outside the user namespace of this as_token's"
                f" registration ({user_answer.describe()})"
            ),
            remedy=(
                "the registration's namespaces.users must match every local user, with"
                f" exclusive: false: regex '@.*:<{server_text(home)} with dots escaped>$'."
                " If this as_token is a bridge's own (its namespace covers only that bridge's"
                " ghost users), create a separate double-puppet registration with"
                " `synapse_dp_auth appservice` and use its as_token"
            ),
        )
    return AppserviceDiagnosis(
        verdict=Verdict.FAILS,
        detail=f"whoami?user_id= answered {user_answer.describe()}",
        remedy="unexpected answer: see Synapse's log",
    )


def run_appservice(
    client: HomeserverClient, out: TextIO, *, user_id: str, as_token: str, label: str
) -> int:
    """Check the appservice method for ``user_id``, print the report, return the exit code.

    ``label`` says where the token came from, for the report (never the token itself). Raises
    :class:`~synapse_dp_auth.admin.shared.client.HomeserverError` when the server cannot be asked
    at all.
    """

    def write(line: str) -> None:
        out.write(line + "\n")

    url = client.base_url + WHOAMI_PATH
    write(f"Checking the appservice method for {user_id} with {label} (read-only):")
    token_answer = client.whoami(as_token)
    write(f"  GET {url} with the as_token: {token_answer.describe()}")
    user_answer = None
    if (
        token_answer.ok
        and token_answer.device_id is None
        and server_of(user_id) == server_of(token_answer.user_id or "")
    ):
        user_answer = client.whoami(as_token, user_id)
        write(f"  GET {url}?user_id={user_id} with the as_token: {user_answer.describe()}")
    diagnosis = diagnose_appservice(user_id, token_answer, user_answer)
    write("")
    write(f"{diagnosis.verdict.value:<4}  appservice method (as_token) for {user_id}")
    write(f"      {diagnosis.detail}")
    if diagnosis.remedy:
        write(f"      fix: {diagnosis.remedy}")
    write("")
    if diagnosis.verdict is Verdict.WORKS:
        write(f"Bridges with this as_token can double-puppet {user_id}.")
        return 0
    write(f"Bridges with this as_token cannot double-puppet {user_id}.")
    return 1
