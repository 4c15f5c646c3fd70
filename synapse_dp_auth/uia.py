"""Keep shared-secret tokens out of user-interactive auth (UIA).

Synapse runs password-auth-provider checkers for ``POST /login`` *and* for UIA (deleting devices,
changing passwords, deactivating accounts), and its module API does not tell a checker which one
it is serving; it also offers every provider login type as a UIA flow. A bridge needs only the
login, so by default this module:

* accepts a token only while Synapse is handling ``POST /login`` (one of the paths of Synapse's own
  ``LoginRestServlet``), read from the request that Synapse's logging context carries; and
* hides its login types from the UIA flows Synapse offers, by wrapping
  ``AuthHandler._get_available_ui_auth_types`` on this homeserver's instance, so that enabling the
  module changes neither what UIA offers nor what it accepts; and
* with ``ui_auth.session_timeout`` set, marks each access token it issues as not recently
  validated, so that the token cannot skip UIA during Synapse's grace period either.

All three rely on Synapse internals (the logging context's request, ``AuthHandler``'s UIA flow
list and password lookup, the ``access_tokens.last_validated`` column Synapse reads the grace
period from). :func:`check_supported` runs at start-up, before anything is changed, and refuses
to start, naming the Synapse version, when one is not as expected: this fails closed and loudly
rather than silently letting tokens into UIA. ``allow_ui_auth: true`` turns all of this off.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from synapse.logging.context import current_context

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD


class UnsupportedSynapseError(Exception):
    """What this module relies on to keep tokens out of UIA is missing from this Synapse."""


def login_path_patterns() -> tuple[re.Pattern[str], ...]:
    """The request paths of Synapse's ``POST /login`` servlet, from Synapse itself."""
    from synapse.rest.client.login import LoginRestServlet

    patterns = tuple(getattr(LoginRestServlet, "PATTERNS", ()))
    if not patterns or not all(isinstance(pattern, re.Pattern) for pattern in patterns):
        raise UnsupportedSynapseError("LoginRestServlet.PATTERNS is not a list of regexes")
    return patterns


class Guard:
    """What the provider needs at login time to keep tokens out of UIA."""

    def __init__(
        self,
        detector: LoginRequestDetector,
        after_login: Callable[[Mapping[str, Any]], Awaitable[None]] | None,
    ) -> None:
        self.in_login_request = detector.in_login_request
        #: Synapse's post-login callback for a token login, when one is needed (see below).
        self.after_login = after_login


def install(
    api: object, hidden_types: Collection[str], ours: Collection[Callable[..., object]]
) -> Guard:
    """Check this Synapse, hide ``hidden_types`` from its UIA flows, return the :class:`Guard`.

    ``ours`` are the module's own checker callbacks: a login type that another module also
    registered stays offered.

    With ``ui_auth.session_timeout`` set, Synapse lets an access token skip UIA for some actions
    (deleting devices) for that long after it was last validated, and a new token counts as just
    validated. A token obtained with the shared secret must not get that grace: the guard's
    ``after_login`` marks it as validated long ago, before the client receives it.

    Raises:
        UnsupportedSynapseError: before changing anything, if an internal is not as expected.
    """
    homeserver = getattr(api, "_hs", None)
    if homeserver is None:
        raise UnsupportedSynapseError("ModuleApi._hs is missing")
    auth_handler = homeserver.get_auth_handler()
    callbacks = getattr(homeserver.get_password_auth_provider(), "auth_checker_callbacks", None)
    if not isinstance(callbacks, dict):
        raise UnsupportedSynapseError("PasswordAuthProvider.auth_checker_callbacks is missing")
    grace_ms = _ui_auth_grace_ms(homeserver)
    check_supported(auth_handler, ui_auth_grace=grace_ms > 0)
    detector = LoginRequestDetector()
    # By function, not bound method: a second entry of this module is "us" too, not another
    # module whose login types must stay offered.
    our_functions = {_function(callback) for callback in ours}

    def others_registered(login_type: str) -> bool:
        return any(
            _function(callback) not in our_functions for callback in callbacks.get(login_type, [])
        )

    after_login = _no_ui_auth_grace(homeserver) if grace_ms else None
    hide_login_types_from_ui_auth(auth_handler, hidden_types, others_registered)
    return Guard(detector, after_login)


def _ui_auth_grace_ms(homeserver: Any) -> int:
    timeout = getattr(getattr(homeserver.config, "auth", None), "ui_auth_session_timeout", None)
    if not isinstance(timeout, int):
        raise UnsupportedSynapseError("config.auth.ui_auth_session_timeout is missing")
    return timeout


def _no_ui_auth_grace(homeserver: Any) -> Callable[[Mapping[str, Any]], Awaitable[None]]:
    db_pool = getattr(homeserver.get_datastores().main, "db_pool", None)
    update_one = getattr(db_pool, "simple_update_one", None)
    if not inspect.iscoroutinefunction(update_one):
        raise UnsupportedSynapseError("the database pool's simple_update_one is missing")

    async def after_login(login_response: Mapping[str, Any]) -> None:
        await update_one(
            table="access_tokens",
            keyvalues={"token": login_response["access_token"]},
            updatevalues={"last_validated": 0},
            desc="synapse_dp_auth_no_ui_auth_grace",
        )

    return after_login


def _function(callback: object) -> object:
    return getattr(callback, "__func__", callback)


def check_supported(auth_handler: object, *, ui_auth_grace: bool) -> None:
    """Raise :class:`UnsupportedSynapseError` unless the internals used here are as expected.

    With ``ui_auth_grace`` (``ui_auth.session_timeout`` is set), also the column the grace period
    is read from: the guard writes ``access_tokens.last_validated``, which protects nothing unless
    Synapse's store still reads the grace period from it
    (``RegistrationWorkerStore.get_access_token_last_validated``). Its code's constants name the
    table and the column: checked there, with no database query at start-up.
    """
    from synapse.logging.context import ContextRequest

    fields = getattr(ContextRequest, "__attrs_attrs__", None)
    names = {field.name for field in fields} if fields is not None else set()
    if not {"method", "url"} <= names:
        raise UnsupportedSynapseError("logging contexts no longer carry the request method and URL")
    method = getattr(auth_handler, "_get_available_ui_auth_types", None)
    if not inspect.iscoroutinefunction(method) or list(inspect.signature(method).parameters) != [
        "user"
    ]:
        raise UnsupportedSynapseError("AuthHandler._get_available_ui_auth_types(user) is missing")
    for name in ("_password_localdb_enabled", "_find_user_id_and_pwd_hash"):
        if not hasattr(auth_handler, name):
            raise UnsupportedSynapseError(f"AuthHandler.{name} is missing")
    if ui_auth_grace:
        store = getattr(auth_handler, "store", None)
        reader = getattr(store, "get_access_token_last_validated", None)
        code = getattr(getattr(reader, "__func__", reader), "__code__", None)
        reads_the_column = {"access_tokens", "last_validated"} <= set(
            getattr(code, "co_consts", ())
        )
        if not (inspect.iscoroutinefunction(reader) and reads_the_column):
            raise UnsupportedSynapseError(
                "the store no longer reads the UIA grace period from access_tokens.last_validated"
            )


class LoginRequestDetector:
    """Tells whether the code calling us runs on behalf of ``POST /login``."""

    def __init__(self) -> None:
        self._patterns = login_path_patterns()

    def in_login_request(self) -> bool:
        """True only for ``POST /login``; anything unknown counts as not login (fail closed)."""
        request = getattr(current_context(), "request", None)
        method = getattr(request, "method", None)
        url = getattr(request, "url", None)
        if method != "POST" or not isinstance(url, str):
            return False
        path = url.partition("?")[0]
        return any(pattern.match(path) for pattern in self._patterns)


def hide_login_types_from_ui_auth(
    auth_handler: Any,
    hidden_types: Collection[str],
    others_registered: Callable[[str], bool],
) -> None:
    """Wrap this ``auth_handler``'s UIA flow list so that ``hidden_types`` are not offered.

    A type that another module also registered stays. ``m.login.password`` stays where Synapse
    would offer it without this module: local password database enabled and the user has a
    password (the same test Synapse makes).
    """
    original: Callable[[Any], Awaitable[Iterable[str]]] = auth_handler._get_available_ui_auth_types

    async def available_ui_auth_types(user: Any) -> Iterable[str]:
        types = set(await original(user))
        for login_type in hidden_types:
            if login_type not in types or others_registered(login_type):
                continue
            if login_type == LOGIN_TYPE_PASSWORD and await _has_local_password(auth_handler, user):
                continue
            types.discard(login_type)
        return types

    auth_handler._get_available_ui_auth_types = available_ui_auth_types


async def _has_local_password(auth_handler: Any, user: Any) -> bool:
    if not auth_handler._password_localdb_enabled:
        return False
    found = await auth_handler._find_user_id_and_pwd_hash(user.to_string())
    return bool(found and found[1])
