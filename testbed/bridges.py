"""How each family of shared-secret clients logs in, as one function per family.

Every function takes ``(homeserver_url, user_id, shared_secret)`` and returns a
:class:`LoginResult`, so a test can run all of :data:`FAMILIES` against one server and compare.

Where the client is installable here it is the real code: mautrix-python's double-puppet login
runs from the installed ``mautrix`` package, and the mx-puppet-bridge family runs
matrix-bot-sdk under Node. The Go clients, and the Python signal bridge's mautrix-python 0.19
(which conflicts with the installed mautrix), cannot run here, so their request is RESTATED in
Python from their source, marked as such; a restatement is only as good as that reading.

A refusal is a result (``ok=False``), not an exception. An exception means the test bed itself
could not do its job (server down, Node missing, a bug here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

import aiohttp
from mautrix.api import HTTPAPI
from mautrix.appservice import AppServiceAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.bridge import custom_puppet
from mautrix.client import ClientAPI
from mautrix.client.state_store.memory import MemoryStateStore
from mautrix.errors import MatrixConnectionError, MatrixError
from mautrix.types import UserID
from yarl import URL

from synapse_dp_auth.admin.shared.families import (
    AS_TOKEN_PREFIX,
    MAUTRIX_GO_BRIDGEV2,
    MAUTRIX_IMESSAGE,
    MAUTRIX_SIGNAL_PYTHON,
    MAUTRIX_SLACK_LEGACY,
)
from synapse_dp_auth.token import make_token

LOGIN_TYPE_SHARED_SECRET = "com.devture.shared_secret_auth"
LOGIN_TYPE_PASSWORD = "m.login.password"

#: What the Go bridges call themselves in ``"<Protocol> Bridge"``; any protocol name will do.
DEMO_BRIDGE_NAME = "Demo Bridge"

#: The device matrix-corporal asks for when it logs in as a managed user.
CORPORAL_DEVICE_ID = "matrix-corporal"

#: The device name mautrix-imessage logs in with on its default (Mac) platforms.
IMESSAGE_DEVICE_NAME = "iMessage Bridge"
#: The legacy slack bridge's device: "Slack Bridge" and the Slack team's ID (any ID will do).
SLACK_DEVICE_NAME = "Slack Bridge"
DEMO_SLACK_TEAM_ID = "T0DEMO"
#: The ``login_device_name`` the legacy Python signal bridge gives mautrix-python.
SIGNAL_DEVICE_NAME = "Signal Bridge"

REPO_ROOT = Path(__file__).resolve().parent.parent
JS_DIR = REPO_ROOT / "tests" / "js"
BOT_SDK_SCRIPT = JS_DIR / "bot_sdk_login.mjs"

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
_TIMEOUT = 30.0


class ClientUnavailableError(RuntimeError):
    """A family's client cannot be run here (e.g. Node or ``node_modules`` missing)."""


@dataclass(frozen=True)
class LoginResult:
    """What one family's login attempt came to.

    ``login_type`` is the type the client actually sent (``None`` if it gave up before sending
    anything). ``status``/``errcode``/``error`` describe a refusal; ``exception_type`` and
    ``exception_message`` are what the bridge's own code raised (mautrix-python only).
    ``request_body`` is the login request as sent, for tests that check its shape.
    """

    family: str
    login_type: str | None
    ok: bool
    user_id: str | None = None
    access_token: str | None = field(default=None, repr=False)
    device_id: str | None = None
    status: int | None = None
    errcode: str | None = None
    error: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    request_body: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


BridgeLogin = Callable[[str, str, str], LoginResult]


# -- mautrix-python: the real code ---------------------------------------------------------------


def mautrix_python_login(
    homeserver_url: str,
    user_id: str,
    shared_secret: str,
    *,
    device_name: str | None = DEMO_BRIDGE_NAME,
) -> LoginResult:
    """Run mautrix-python's own ``CustomPuppetMixin._login_with_shared_secret`` (mautrix 0.21).

    That code takes the FIRST of ``com.devture.shared_secret_auth`` / ``m.login.password`` in the
    order the server lists them in ``GET /login`` (Synapse lists ``m.login.password`` first). The
    bridge object is a minimal stand-in holding the class attributes the method reads, configured
    as a mautrix bridge would be (``login_device_name`` is e.g. "Telegram Bridge" there). The only
    thing swapped is the HTTP session: ours records what is sent and is closed afterwards (the
    bridge code never closes the one it opens).

    Must be called without a running event loop (it runs its own).
    """
    return asyncio.run(_mautrix_python_login(homeserver_url, user_id, shared_secret, device_name))


async def _mautrix_python_login(
    homeserver_url: str, user_id: str, shared_secret: str, device_name: str | None
) -> LoginResult:
    family = "mautrix-python"
    _, server = ClientAPI.parse_user_id(UserID(user_id))
    sent: list[tuple[str, str, bytearray]] = []

    async def on_start(
        _session: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        sent.append((params.method, str(params.url), bytearray()))

    async def on_chunk(
        _session: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        sent[-1][2].extend(params.chunk)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_chunk_sent.append(on_chunk)
    session = aiohttp.ClientSession(
        headers={"User-Agent": HTTPAPI.default_ua}, trace_configs=[trace]
    )

    def client_with_our_session(*args: Any, **kwargs: Any) -> ClientAPI:
        return ClientAPI(*args, client_session=session, **kwargs)

    bridge_puppet = cast(
        type[custom_puppet.CustomPuppetMixin],
        type(
            "DemoPuppet",
            (custom_puppet.CustomPuppetMixin,),
            {
                "az": SimpleNamespace(
                    domain=server,
                    as_token="",
                    intent=SimpleNamespace(parse_user_id=ClientAPI.parse_user_id),
                ),
                "homeserver_url_map": {server: URL(homeserver_url)},
                "login_shared_secret_map": {server: shared_secret.encode("utf-8")},
                "login_device_name": device_name,
                "log": logging.getLogger("testbed.mautrix_python"),
            },
        ),
    )

    try:
        with mock.patch.object(custom_puppet, "ClientAPI", client_with_our_session):
            access_token = await bridge_puppet._login_with_shared_secret(UserID(user_id))
    except MatrixError as exc:
        if isinstance(exc, MatrixConnectionError):
            raise
        request_body = _login_request(sent)
        return LoginResult(
            family=family,
            login_type=_str_or_none(request_body.get("type")) if request_body else None,
            ok=False,
            status=getattr(exc, "http_status", None),
            errcode=getattr(exc, "errcode", None),
            error=getattr(exc, "message", None) or str(exc),
            exception_type=type(exc).__name__,
            exception_message=str(exc),
            request_body=request_body,
        )
    finally:
        await session.close()

    request_body = _login_request(sent)
    # The method returns only the token; the bridge's next step is whoami, and so is ours.
    status, whoami = _http_json(
        "GET", homeserver_url, "/_matrix/client/v3/account/whoami", None, access_token
    )
    return LoginResult(
        family=family,
        login_type=_str_or_none(request_body.get("type")) if request_body else None,
        ok=True,
        user_id=_str_or_none(whoami.get("user_id")) if status == 200 else None,
        access_token=access_token,
        device_id=_str_or_none(whoami.get("device_id")) if status == 200 else None,
        request_body=request_body,
    )


def _login_request(sent: list[tuple[str, str, bytearray]]) -> dict[str, Any] | None:
    """The last ``POST .../login`` body the session sent, parsed."""
    for method, url, body in reversed(sent):
        if method == "POST" and URL(url).path.endswith("/login"):
            parsed = json.loads(bytes(body))
            return parsed if isinstance(parsed, dict) else None
    return None


# -- Go clients: restatements --------------------------------------------------------------------


def legacy_mautrix_go_login(homeserver_url: str, user_id: str, shared_secret: str) -> LoginResult:
    """RESTATEMENT of mautrix-go's ``bridge`` package, v0.16.1 to v0.23.1 (``doublepuppet.go``).

    It asks ``GET /login`` and uses ``com.devture.shared_secret_auth`` whenever it is advertised,
    whatever the order (a ``HasFlow`` check per type, devture first), else ``m.login.password``
    with the token as password. ``ReqLogin`` serialises with ``omitempty``, so empty fields are
    absent; ``device_id`` and the display name are both ``"<Protocol> Bridge"``.
    """
    family = "mautrix-go-legacy"
    status, flows_body = _http_json("GET", homeserver_url, "/_matrix/client/v3/login")
    if status != 200:
        return _refusal(family, None, status, flows_body, None)
    advertised = {
        flow.get("type") for flow in flows_body.get("flows", []) if isinstance(flow, dict)
    }
    token = make_token(shared_secret, user_id)
    body: dict[str, Any] = {"identifier": {"type": "m.id.user", "user": user_id}}
    if LOGIN_TYPE_SHARED_SECRET in advertised:
        body = {"type": LOGIN_TYPE_SHARED_SECRET, **body, "token": token}
    elif LOGIN_TYPE_PASSWORD in advertised:
        body = {"type": LOGIN_TYPE_PASSWORD, **body, "password": token}
    else:
        return LoginResult(
            family=family,
            login_type=None,
            ok=False,
            error="no supported auth types for shared secret auth found",
        )
    body["device_id"] = DEMO_BRIDGE_NAME
    body["initial_device_display_name"] = DEMO_BRIDGE_NAME
    return _post_login(family, homeserver_url, body)


def matrix_corporal_login(homeserver_url: str, user_id: str, shared_secret: str) -> LoginResult:
    """RESTATEMENT of matrix-corporal's ``ApiConnector.ObtainNewAccessTokenForUserId``.

    Always ``m.login.password`` (no ``GET /login``), with the deprecated top-level ``user`` as
    well as ``identifier``, the token as password, and a ``device_id`` chosen by corporal.
    """
    body = {
        "type": LOGIN_TYPE_PASSWORD,
        "user": user_id,
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": make_token(shared_secret, user_id),
        "device_id": CORPORAL_DEVICE_ID,
    }
    return _post_login("matrix-corporal", homeserver_url, body)


def go_bot_login(homeserver_url: str, user_id: str, shared_secret: str) -> LoginResult:
    """RESTATEMENT of Go bots built on mautrix-go's client: ``com.devture.shared_secret_auth``
    unconditionally, without asking ``GET /login`` first, so it fails where that type is off.
    """
    body = {
        "type": LOGIN_TYPE_SHARED_SECRET,
        "identifier": {"type": "m.id.user", "user": user_id},
        "token": make_token(shared_secret, user_id),
    }
    return _post_login("mautrix-go-bots", homeserver_url, body)


# -- password-only mautrix bridges: restatements -------------------------------------------------


def _mautrix_password_login(
    family: str,
    homeserver_url: str,
    user_id: str,
    shared_secret: str,
    device_id: str,
    device_name: str,
) -> LoginResult:
    """The request of the three mautrix bridges below: ``m.login.password`` without asking
    ``GET /login`` first, the token as password, ``identifier``, and the bridge's device."""
    body = {
        "type": LOGIN_TYPE_PASSWORD,
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": make_token(shared_secret, user_id),
        "device_id": device_id,
        "initial_device_display_name": device_name,
    }
    return _post_login(family, homeserver_url, body)


def mautrix_imessage_login(homeserver_url: str, user_id: str, shared_secret: str) -> LoginResult:
    """RESTATEMENT of mautrix/imessage ``custompuppet.go`` @ 300ba6d0e556, L74-102
    (``loginWithSharedSecret``).

    Always ``m.login.password`` (no ``GET /login``), the HMAC of ``bridge.login_shared_secret``
    as password; ``device_id`` and display name are the platform's bridge name, "iMessage Bridge"
    (``imessage/interface.go`` ``BridgeName``; "Android SMS Bridge" on the android platform).
    The only other value it knows is the literal ``appservice`` (an appservice login), not a
    shared secret; it never reads ``as_token:``.
    """
    return _mautrix_password_login(
        MAUTRIX_IMESSAGE.name,
        homeserver_url,
        user_id,
        shared_secret,
        IMESSAGE_DEVICE_NAME,
        IMESSAGE_DEVICE_NAME,
    )


def legacy_mautrix_slack_login(
    homeserver_url: str, user_id: str, shared_secret: str
) -> LoginResult:
    """RESTATEMENT of mautrix/slack ``custompuppet.go`` @ 98d157b18285, L285-317
    (``loginWithSharedSecret``), the slack bridge before its bridgev2 release.

    Always ``m.login.password`` (no ``GET /login``), the HMAC of the server's
    ``bridge.login_shared_secret_map`` value as password (an ``as_token:`` value included), with
    ``device_id`` "Slack Bridge <team ID>" and display name "Slack Bridge".
    """
    return _mautrix_password_login(
        MAUTRIX_SLACK_LEGACY.name,
        homeserver_url,
        user_id,
        shared_secret,
        f"{SLACK_DEVICE_NAME} {DEMO_SLACK_TEAM_ID}",
        SLACK_DEVICE_NAME,
    )


def legacy_mautrix_signal_login(
    homeserver_url: str, user_id: str, shared_secret: str
) -> LoginResult:
    """RESTATEMENT of mautrix-python 0.19's ``CustomPuppetMixin._login_with_shared_secret``
    (mautrix/python ``mautrix/bridge/custom_puppet.py`` @ v0.19.16, d92d61fa25c0, L171-209;
    unchanged since v0.19.14), which the legacy Python signal bridge runs (mautrix/signal
    ``requirements.txt`` @ v0.4.3, 64bfed8f05e1: ``mautrix>=0.19.14,<0.20``).

    Always ``m.login.password`` (no ``GET /login``), the HMAC of the server's
    ``login_shared_secret_map`` value as password (an ``as_token:`` value included), with
    ``device_id`` and display name both ``login_device_name``, "Signal Bridge" (mautrix/signal
    ``mautrix_signal/puppet.py`` @ v0.4.3, L143). The literal value ``appservice`` selects an
    appservice login instead, not a shared secret. A refusal reaches the bridge as mautrix's
    ``AutologinError``; the result here carries the HTTP answer.

    The installed mautrix is 0.21, so this code cannot run here; a real process of a bridge on
    mautrix-python 0.19 runs in ``tests/e2e/test_e2e_bridge_process.py`` (mautrix-telegram 0.14.0).
    """
    return _mautrix_password_login(
        MAUTRIX_SIGNAL_PYTHON.name,
        homeserver_url,
        user_id,
        shared_secret,
        SIGNAL_DEVICE_NAME,
        SIGNAL_DEVICE_NAME,
    )


# -- mx-puppet-bridge family: the real matrix-bot-sdk under Node ---------------------------------


def mx_puppet_bridge_login(homeserver_url: str, user_id: str, shared_secret: str) -> LoginResult:
    """Run ``tests/js/bot_sdk_login.mjs``: matrix-bot-sdk's ``passwordLogin`` with the token.

    That is how the mx-puppet-bridge family double-puppets: ``m.login.password`` only.
    """
    node = shutil.which("node")
    if node is None:
        raise ClientUnavailableError("`node` (Node.js 20 or later) is not on PATH")
    if not (JS_DIR / "node_modules" / "matrix-bot-sdk").is_dir():
        raise ClientUnavailableError(
            f"{JS_DIR / 'node_modules'} is missing: run `npm ci --prefix tests/js` first"
        )
    token = make_token(shared_secret, user_id)
    completed = subprocess.run(  # noqa: S603 - fixed script; arguments are the test's own values
        [node, str(BOT_SDK_SCRIPT), homeserver_url, user_id, token],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise ClientUnavailableError(
            f"{BOT_SDK_SCRIPT.name} exited with code {completed.returncode}:"
            f" {completed.stderr.strip() or completed.stdout.strip()}"
        )
    answer: dict[str, Any] = json.loads(lines[-1])
    family = "mx-puppet-bridge"
    if answer.get("ok") is True:
        return LoginResult(
            family=family,
            login_type=LOGIN_TYPE_PASSWORD,
            ok=True,
            user_id=answer.get("user_id"),
            access_token=answer.get("access_token"),
            device_id=answer.get("device_id"),
        )
    return LoginResult(
        family=family,
        login_type=LOGIN_TYPE_PASSWORD,
        ok=False,
        status=answer.get("status"),
        errcode=answer.get("errcode"),
        error=answer.get("error"),
    )


#: Every family by the name its results carry, in a stable order (for test ids and reports).
FAMILIES: dict[str, BridgeLogin] = {
    "mautrix-python": mautrix_python_login,
    "mautrix-go-legacy": legacy_mautrix_go_login,
    "matrix-corporal": matrix_corporal_login,
    "mautrix-go-bots": go_bot_login,
    "mx-puppet-bridge": mx_puppet_bridge_login,
    MAUTRIX_IMESSAGE.name: mautrix_imessage_login,
    MAUTRIX_SLACK_LEGACY.name: legacy_mautrix_slack_login,
    MAUTRIX_SIGNAL_PYTHON.name: legacy_mautrix_signal_login,
}


# -- the appservice method: an `as_token:<token>` double-puppet secret ---------------------------


@dataclass(frozen=True)
class AppserviceResult:
    """What one family did with a double-puppet secret on the appservice method.

    ``used`` is False when the client ignores the value (sends nothing with it). Otherwise
    ``whoami_user_id`` is what ``whoami?user_id=`` answered through the client, and
    ``message_sender`` the sender the server recorded for a message the client sent as the user.
    """

    family: str
    used: bool
    whoami_user_id: str | None = None
    message_sender: str | None = None
    error: str | None = None

    def works_for(self, user_id: str) -> bool:
        return self.used and self.whoami_user_id == user_id and self.message_sender == user_id


AppserviceLogin = Callable[[str, str, str], AppserviceResult]


async def _save_nothing(self: object) -> None:
    return None


class _MemoryASStateStore(MemoryStateStore, ASStateStore):
    """mautrix's in-memory state store with the appservice parts (what a bridge keeps in its
    database), as mautrix's own FileASStateStore combines them."""

    def __init__(self) -> None:
        MemoryStateStore.__init__(self)
        ASStateStore.__init__(self)


def mautrix_python_appservice(homeserver_url: str, user_id: str, secret: str) -> AppserviceResult:
    """Run mautrix-python's own custom-puppet code (mautrix 0.21) with ``secret`` in
    ``login_shared_secret_map``: ``CustomPuppetMixin._login_with_shared_secret`` (which answers
    ``"appservice-config"`` for an ``as_token:`` value, without a request) and ``_fresh_intent``,
    which builds the puppet's ``IntentAPI`` with the token and ``as_token=True``. That intent
    then asks ``whoami`` and sends a message, each request with ``?user_id=``, as the bridge would.

    The bridge's own appservice is a stand-in with a token Synapse does not know: the double
    puppet must not need it. Must be called without a running event loop.
    """
    return asyncio.run(_mautrix_python_appservice(homeserver_url, user_id, secret))


async def _mautrix_python_appservice(
    homeserver_url: str, user_id: str, secret: str
) -> AppserviceResult:
    family = "mautrix-python"
    if not secret.startswith(AS_TOKEN_PREFIX):
        # The same code would log in with it as a shared secret: see mautrix_python_login.
        return AppserviceResult(family, used=False, error="not an as_token: value")
    _, server = ClientAPI.parse_user_id(UserID(user_id))
    session = aiohttp.ClientSession(headers={"User-Agent": HTTPAPI.default_ua})
    state_store = _MemoryASStateStore()
    log = logging.getLogger("testbed.mautrix_python")
    bridge_api = AppServiceAPI(
        base_url=URL(homeserver_url),
        bot_mxid=UserID(f"@demobridgebot:{server}"),
        token="the-bridge's-own-as-token-which-is-not-used-here",  # noqa: S106
        log=cast(Any, log),
        state_store=state_store,
        client_session=session,
    )
    bridge_puppet = cast(
        type[custom_puppet.CustomPuppetMixin],
        type(
            "DemoPuppet",
            (custom_puppet.CustomPuppetMixin,),
            {
                "az": SimpleNamespace(domain=server, as_token="", intent=bridge_api.bot_intent()),
                "homeserver_url_map": {server: URL(homeserver_url)},
                "login_shared_secret_map": {server: secret.encode("utf-8")},
                "login_device_name": DEMO_BRIDGE_NAME,
                "log": log,
                "save": _save_nothing,  # a bridge's Puppet writes its database here
            },
        ),
    )
    try:
        access_token = await bridge_puppet._login_with_shared_secret(UserID(user_id))
        if access_token != "appservice-config":  # a login happened: not the appservice method
            return AppserviceResult(family, used=False, error="logged in instead")
        puppet = bridge_puppet()
        puppet.custom_mxid = UserID(user_id)
        puppet.access_token = access_token
        puppet.base_url = None
        intent = puppet._fresh_intent()
        # A bridge's state store says double puppets are registered (they are real users).
        await state_store.registered(UserID(user_id))
        whoami = await intent.whoami()
        room_id = await intent.create_room()
        event_id = await intent.send_text(room_id, "double-puppeted by mautrix-python")
        event = await intent.get_event(room_id, event_id)
        return AppserviceResult(
            family, used=True, whoami_user_id=whoami.user_id, message_sender=event.sender
        )
    except MatrixError as exc:
        if isinstance(exc, MatrixConnectionError):
            raise
        return AppserviceResult(family, used=True, error=f"{type(exc).__name__}: {exc}")
    finally:
        await session.close()


def _as_user(path: str, user_id: str) -> str:
    return f"{path}?{urllib.parse.urlencode({'user_id': user_id})}"


def _go_appservice(family: str, homeserver_url: str, user_id: str, secret: str) -> AppserviceResult:
    """The requests both mautrix-go generations send for an ``as_token:`` secret: the token as
    the access token and ``?user_id=`` on every request (``SetAppServiceUserID``), ``whoami``
    first (``Setup`` compares its answer with the user), then the bridge's own traffic."""
    if not secret.startswith(AS_TOKEN_PREFIX):
        return AppserviceResult(family, used=False)
    token = secret.removeprefix(AS_TOKEN_PREFIX)
    status, whoami = _http_json(
        "GET", homeserver_url, _as_user("/_matrix/client/v3/account/whoami", user_id), None, token
    )
    if status != 200:
        return AppserviceResult(family, used=True, error=f"whoami: HTTP {status} {whoami}")
    status, room = _http_json(
        "POST", homeserver_url, _as_user("/_matrix/client/v3/createRoom", user_id), {}, token
    )
    room_id = urllib.parse.quote(str(room.get("room_id")), safe="")
    send = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{family}-1"
    status, sent = _http_json(
        "PUT",
        homeserver_url,
        _as_user(send, user_id),
        {"msgtype": "m.text", "body": f"double-puppeted by {family}"},
        token,
    )
    event_id = urllib.parse.quote(str(sent.get("event_id")), safe="")
    status, event = _http_json(
        "GET",
        homeserver_url,
        _as_user(f"/_matrix/client/v3/rooms/{room_id}/event/{event_id}", user_id),
        None,
        token,
    )
    return AppserviceResult(
        family,
        used=True,
        whoami_user_id=_str_or_none(whoami.get("user_id")),
        message_sender=_str_or_none(event.get("sender")) if status == 200 else None,
    )


def bridgev2_appservice(homeserver_url: str, user_id: str, secret: str) -> AppserviceResult:
    """RESTATEMENT of mautrix-go ``bridgev2/matrix/doublepuppet.go`` ``Setup``: a
    ``double_puppet.secrets`` value is used only with the ``as_token:`` prefix; any other value
    is ignored (no request; the bridge then wants a token from the user by hand)."""
    return _go_appservice(MAUTRIX_GO_BRIDGEV2.name, homeserver_url, user_id, secret)


def legacy_mautrix_go_appservice(
    homeserver_url: str, user_id: str, secret: str
) -> AppserviceResult:
    """RESTATEMENT of mautrix-go ``bridge/doublepuppet.go`` ``Setup`` (v0.16 to v0.23) for an
    ``as_token:`` value of ``bridge.login_shared_secret_map`` (other values are shared secrets,
    see :func:`legacy_mautrix_go_login`)."""
    return _go_appservice("mautrix-go-legacy", homeserver_url, user_id, secret)


#: The families that can use the appservice method, by name, in table order.
APPSERVICE_FAMILIES: dict[str, AppserviceLogin] = {
    "mautrix-python": mautrix_python_appservice,
    MAUTRIX_GO_BRIDGEV2.name: bridgev2_appservice,
    "mautrix-go-legacy": legacy_mautrix_go_appservice,
}


# -- HTTP for the restatements -------------------------------------------------------------------


def _post_login(family: str, homeserver_url: str, body: dict[str, Any]) -> LoginResult:
    login_type = str(body["type"])
    status, answer = _http_json("POST", homeserver_url, "/_matrix/client/v3/login", body)
    if status != 200:
        return _refusal(family, login_type, status, answer, body)
    return LoginResult(
        family=family,
        login_type=login_type,
        ok=True,
        user_id=_str_or_none(answer.get("user_id")),
        access_token=_str_or_none(answer.get("access_token")),
        device_id=_str_or_none(answer.get("device_id")),
        request_body=body,
    )


def _refusal(
    family: str,
    login_type: str | None,
    status: int,
    answer: Mapping[str, Any],
    body: Mapping[str, Any] | None,
) -> LoginResult:
    return LoginResult(
        family=family,
        login_type=login_type,
        ok=False,
        status=status,
        errcode=_str_or_none(answer.get("errcode")),
        error=_str_or_none(answer.get("error")),
        request_body=body,
    )


def _http_json(
    method: str,
    base_url: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    access_token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    url = base_url.rstrip("/") + path
    # The test's own homeserver URL (http on loopback), never user input.
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _OPENER.open(request, timeout=_TIMEOUT) as response:
            status: int = response.status
            raw: bytes = response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = None
    return status, parsed if isinstance(parsed, dict) else {"error": raw.decode(errors="replace")}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
