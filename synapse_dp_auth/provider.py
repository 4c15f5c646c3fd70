"""The Synapse module: registers the login checkers and translates between Synapse and the core.

Decisions live in :mod:`synapse_dp_auth.token` and :mod:`synapse_dp_auth.policy`; this file only
gathers facts from Synapse, logs and counts the outcome, and answers in the form Synapse expects.
A checker never raises on client input: it returns ``None`` ("not authenticated by this module"),
and Synapse answers the client 403 (or goes on to its own password check).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import synapse
from synapse.module_api import LoginResponse, ModuleApi
from synapse.module_api.errors import ConfigError

from synapse_dp_auth import logfilter, login_records, uia
from synapse_dp_auth.config import ConfigValueError, DpAuthConfig, parse_config
from synapse_dp_auth.login_recorder import DeviceCheck, SessionRecorder
from synapse_dp_auth.login_records_resource import PATH as SESSIONS_PATH
from synapse_dp_auth.login_records_resource import SessionsResource
from synapse_dp_auth.metrics import count_attempt
from synapse_dp_auth.policy import (
    MAX_USER_ID_LENGTH,
    Account,
    Outcome,
    Refusal,
    account_refusal,
    qualify_user_id,
    user_id_refusal,
)
from synapse_dp_auth.releases import TESTED_SYNAPSE_RELEASES, bcrypt_5_problem, tested_range
from synapse_dp_auth.token import (
    LOGIN_TYPE_PASSWORD,
    LOGIN_TYPE_SHARED_SECRET,
    is_token_shaped,
    matching_secret,
    secret_fingerprint,
)

logger = logging.getLogger(__name__)


AfterLogin = Callable[[LoginResponse], Awaitable[None]]
LoginResult = tuple[str, AfterLogin | None] | None

#: Synapse's own refusal ("Cannot use password auth provider callbacks when OAuth delegation is
#: enabled") says nothing of what to do instead; this does.
_OAUTH_DELEGATION_REFUSAL = (
    "synapse_dp_auth cannot work when Synapse delegates auth to the Matrix Authentication"
    " Service (matrix_authentication_service.enabled, or experimental_features.msc3861):"
    " Synapse then serves no /login and refuses every password-auth module. Remove"
    " synapse_dp_auth from modules: and give the bridges the appservice double-puppet method"
    " instead, which needs no login: `synapse_dp_auth appservice --server-name SERVER_NAME"
    " FILE` writes its registration and prints each bridge's setting."
)


class SharedSecretAuthProvider:
    """Log bridges in as local users with an HMAC of the user ID (``synapse_dp_auth`` module)."""

    def __init__(
        self, config: DpAuthConfig, api: ModuleApi | None = None, **legacy: object
    ) -> None:
        if api is None or legacy:
            # Synapse's legacy `password_providers:` loader calls cls(config=, account_handler=).
            raise ConfigError(
                "synapse_dp_auth.SharedSecretAuthProvider is a module, not a legacy password"
                " provider: move its entry from `password_providers:` to `modules:` in"
                " homeserver.yaml (same `module:` and `config:` keys)",
                path=["password_providers"],
            )
        self._config = config
        self._api = api
        server_name = getattr(api, "server_name", None)  # ModuleApi has it since Synapse 1.53
        if not isinstance(server_name, str):
            raise ConfigError(
                f"synapse_dp_auth needs Synapse {TESTED_SYNAPSE_RELEASES[0]} or later (this is"
                f" Synapse {synapse.__version__}, whose module API cannot tell the server name);"
                f" it was tested on {tested_range()}",
                path=["modules"],
            )
        self._server_name = server_name
        # First, so that nothing Synapse logs about a request can carry a token or a secret.
        logfilter.install(
            [*logfilter.CLIENT_ECHOING_LOGGERS, *_access_loggers(api)],
            [secret.decode("utf-8") for secret in config.secrets],
        )

        checkers: dict[tuple[str, tuple[str, ...]], Callable[..., Awaitable[LoginResult]]] = {}
        if config.com_devture_shared_secret_auth_support_enabled:
            checkers[(LOGIN_TYPE_SHARED_SECRET, ("token",))] = self.check_shared_secret_login
        if config.m_login_password_support_enabled:
            checkers[(LOGIN_TYPE_PASSWORD, ("password",))] = self.check_password_login

        self._uia_guard: uia.Guard | None = None
        if not config.allow_ui_auth:
            try:
                self._uia_guard = uia.install(
                    api,
                    hidden_types=[login_type for login_type, _ in checkers],
                    ours=list(checkers.values()),
                )
            except uia.UnsupportedSynapseError as error:
                raise ConfigError(
                    "synapse_dp_auth cannot keep shared-secret tokens out of user-interactive"
                    f" auth on Synapse {synapse.__version__} ({error}). This version of the"
                    f" module was tested on {tested_range()}: run one of those, or upgrade"
                    " synapse_dp_auth, or set allow_ui_auth: true to accept tokens in"
                    " user-interactive auth (see the module's docs/compatibility.md).",
                    path=["allow_ui_auth"],
                ) from None

        self._in_login_request = (
            self._uia_guard.in_login_request if self._uia_guard else _login_request_detector()
        )
        # Computed once: a login only picks one by index.
        self._fingerprints = tuple(secret_fingerprint(secret) for secret in config.secrets)
        # ModuleApi.get_current_time_msec exists since Synapse 1.136; before it, the clock the
        # module API itself keeps (tested on the floor release by the version matrix).
        self._now_msec: Callable[[], int] = (
            getattr(api, "get_current_time_msec", None) or api._clock.time_msec
        )

        try:
            api.register_password_auth_provider_callbacks(auth_checkers=checkers)
        except ConfigError as error:
            if "OAuth delegation" not in str(error):
                raise
            raise ConfigError(_OAUTH_DELEGATION_REFUSAL) from None

        self._recorder = SessionRecorder(api, self._now_msec, config.login_records_retention_ms)
        self._recorder.start()
        self._device_check = DeviceCheck(self._recorder)
        self._device_check.register(api)
        api.register_web_resource(
            SESSIONS_PATH, SessionsResource(api, self._recorder, self._fingerprints)
        )
        for warning in config.warnings:
            logger.warning("synapse_dp_auth: %s", warning)
        for number, fingerprint in enumerate(self._fingerprints, start=1):
            logger.info(
                "synapse_dp_auth: shared secret %d of %d has fingerprint %s",
                number,
                len(self._fingerprints),
                fingerprint,
            )
        problem = bcrypt_5_problem(synapse.__version__, _installed_version("bcrypt"))
        if problem is not None:
            logger.warning("synapse_dp_auth: %s", problem)

    @staticmethod
    def parse_config(config: dict[str, Any]) -> DpAuthConfig:
        """Called by Synapse at start-up: every mistake stops Synapse with the key named."""
        try:
            return parse_config(config)
        except ConfigValueError as error:
            raise ConfigError(error.message, path=[error.key]) from None

    async def check_shared_secret_login(
        self, username: str, login_type: str, login_dict: dict[str, Any]
    ) -> LoginResult:
        """``com.devture.shared_secret_auth``: the token is in ``token``."""
        return await self._authenticate(username, login_type, login_dict.get("token"))

    async def check_password_login(
        self, username: str, login_type: str, login_dict: dict[str, Any]
    ) -> LoginResult:
        """``m.login.password``: the token is the password; anything else is not ours."""
        password = login_dict.get("password")
        if not is_token_shaped(password):
            # An ordinary password: no HMAC, no database, no log line. Synapse checks it.
            return None
        return await self._authenticate(username, login_type, password)

    async def _authenticate(self, username: object, login_type: str, token: object) -> LoginResult:
        if not isinstance(username, str):
            return self._refuse(login_type, "?", Refusal(Outcome.MALFORMED, "no user ID given"))
        user_id = qualify_user_id(username, self._server_name)
        if not is_token_shaped(token):
            reason = f"the token is not 128 lowercase hex characters (got {_describe(token)})"
            return self._refuse(login_type, user_id, Refusal(Outcome.MALFORMED, reason))
        refusal = user_id_refusal(self._config, user_id, self._server_name)
        if refusal is not None:
            return self._refuse(login_type, user_id, refusal)
        in_login_request = self._in_login_request()
        if self._uia_guard is not None and not in_login_request:
            refusal = Refusal(
                Outcome.UIA_REFUSED,
                "shared-secret tokens only log in; they do not confirm user-interactive auth"
                " (allow_ui_auth is false)",
            )
            return self._refuse(login_type, user_id, refusal)
        secret_index = matching_secret(self._config.secrets, user_id, token)
        if secret_index is None:
            refusal = Refusal(Outcome.BAD_TOKEN, "the token does not match the shared secret")
            return self._refuse(login_type, user_id, refusal)

        info = await self._api.get_userinfo_by_id(user_id)
        if info is None:
            return self._refuse(login_type, user_id, Refusal(Outcome.UNKNOWN_USER, "no such user"))
        account = Account(
            user_id=info.user_id.to_string(),
            is_deactivated=info.is_deactivated,
            is_guest=info.is_guest,
            is_admin=info.is_admin,
            appservice_id=info.appservice_id,
        )
        refusal = account_refusal(self._config, account)
        if refusal is not None:
            return self._refuse(login_type, user_id, refusal)

        count_attempt(login_type, Outcome.SUCCESS)
        if not in_login_request:  # only with allow_ui_auth: true (else refused above)
            logger.info(
                "Shared-secret token accepted for user-interactive auth as %s (%s), secret %s",
                account.user_id,
                login_type,
                self._fingerprints[secret_index],
            )
            return account.user_id, None
        self._device_check.expect(account.user_id)
        return account.user_id, self._after_login(
            login_type, self._fingerprints[secret_index], account.user_id
        )

    def _after_login(self, login_type: str, fingerprint: str, user_id: str) -> AfterLogin:
        """What Synapse calls with the login's response, once the device exists.

        It records the session (so an admin can end it after a leak), with whether the login
        created the device (:class:`~synapse_dp_auth.login_recorder.DeviceCheck`), and logs the
        acceptance with the device; with ``ui_auth.session_timeout`` set, the UIA guard's own
        step runs first. Only ``POST /login`` calls it.
        """
        guard_step = self._uia_guard.after_login if self._uia_guard else None

        async def after_login(login_response: LoginResponse) -> None:
            if guard_step is not None:
                await guard_step(login_response)
            device_id = str(login_response.get("device_id"))
            created_device = self._device_check.created_device(user_id)
            self._recorder.record(
                login_records.Session(
                    user_id=user_id,
                    device_id=device_id,
                    login_type=login_type,
                    secret_fingerprint=fingerprint,
                    logged_in_ts=self._now_msec(),
                    created_device=created_device,
                )
            )
            logger.info(
                "Shared-secret login as %s accepted (%s) on %s %s, secret %s",
                user_id,
                login_type,
                _DEVICE_WORDS[created_device],
                _printable(device_id),
                fingerprint,
            )

        return after_login

    @staticmethod
    def _refuse(login_type: str, user_id: str, refusal: Refusal) -> None:
        count_attempt(login_type, refusal.outcome)
        logger.info(
            "Shared-secret login as %s refused (%s): %s",
            _printable(user_id),
            login_type,
            refusal.reason,
        )


def _login_request_detector() -> Callable[[], bool]:
    """With ``allow_ui_auth: true``: tells a login from UIA, to log each as such.

    Where this Synapse's login servlet cannot be found, everything counts as a login (the
    difference is only in the log line, since a token may confirm UIA anyway).
    """
    try:
        return uia.LoginRequestDetector().in_login_request
    except uia.UnsupportedSynapseError:
        return lambda: True


def _access_loggers(api: ModuleApi) -> list[str]:
    """The access loggers of this process's HTTP listeners (created later, when they start).

    Synapse names them after the listeners in its config, which the public module API does not
    expose; a listener of an unexpected shape is skipped, and its absence from the result shows
    in the test that checks the access log of a real Synapse.
    """
    config = getattr(getattr(api, "_hs", None), "config", None)
    listeners = [
        *getattr(getattr(config, "server", None), "listeners", ()),
        *getattr(getattr(config, "worker", None), "worker_listeners", ()),
    ]
    names = []
    for listener in listeners:
        try:
            names.append(logfilter.access_logger_name(listener.is_tls(), listener.get_site_tag()))
        except AttributeError:
            continue
    return names


def _installed_version(distribution: str) -> str | None:
    """Read once at start-up (package metadata), never per login."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _printable(user_id: str) -> str:
    """A client-chosen user ID, safe for one log line: no control characters, bounded length."""
    if len(user_id) <= MAX_USER_ID_LENGTH and user_id.isprintable():
        return user_id
    shown = repr(user_id[:MAX_USER_ID_LENGTH])
    return shown + ("..." if len(user_id) > MAX_USER_ID_LENGTH else "")


def _describe(value: object) -> str:
    """Say what a bad token looked like without revealing it."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return "null" if value is None else f"a JSON {_JSON_KINDS.get(type(value), 'value')}"


#: How the "accepted" log line names the device, by whether the login created it.
_DEVICE_WORDS = {True: "new device", False: "existing device", None: "device"}

_JSON_KINDS = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}
