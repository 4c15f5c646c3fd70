"""The HTTP client ``doctor`` and ``sessions`` ask a homeserver with: ``GET /login``, ``POST
/login``, ``POST /logout`` and ``GET /account/whoami`` (doctor), the module's sessions listing,
Synapse's admin API on users and devices, and ``POST /keys/query`` (sessions), each with one-line
errors for everything that can go wrong before a Matrix answer arrives. Standard library only, so
the commands need neither aiohttp nor mautrix.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from synapse_dp_auth.admin.shared.client_answers import LoginOutcome, WhoamiOutcome
from synapse_dp_auth.admin.shared.server_text import MAX_SERVER_TEXT, server_text
from synapse_dp_auth.login_records import ADMIN_PATH as SESSIONS_PATH
from synapse_dp_auth.login_records import MAX_ANSWER_BYTES as SESSIONS_MAX_BYTES

LOGIN_PATH = "/_matrix/client/v3/login"
LOGOUT_PATH = "/_matrix/client/v3/logout"
WHOAMI_PATH = "/_matrix/client/v3/account/whoami"

#: Enough for any Matrix answer here; a larger body is not one. A page of the sessions listing
#: may be larger: its limit is the one the module keeps to (``login_records.MAX_ANSWER_BYTES``).
_MAX_BODY = 1 << 20

#: Devices per ``POST /keys/query``: its answer (about 1 KB a device) stays well within
#: :data:`_MAX_BODY`.
KEYS_QUERY_DEVICES = 200


class HomeserverError(Exception):
    """The homeserver cannot be asked, or did not answer as one; the message is one line for
    the admin."""


class RequestRefused(HomeserverError):
    """The homeserver answered, and refused this one request: the next one may still work."""


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: a request there does not cross a network."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sends_in_clear_over_network(base_url: str) -> bool:
    """Whether requests to ``base_url`` travel unencrypted beyond this machine (plain http:// to a
    host that is not loopback): a login token sent there can be read or replayed on the way."""
    parts = urllib.parse.urlsplit(base_url)
    return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")


def parse_homeserver_url(text: str) -> str:
    """The base URL of the client API without a trailing slash, or :class:`HomeserverError`."""
    hint = "give the URL bridges use for the homeserver, e.g. https://matrix.example.org"
    try:
        parts = urllib.parse.urlsplit(text.strip())
        _ = parts.port  # ValueError when not a number in range
    except ValueError as error:
        raise HomeserverError(f"{text!r} is not a valid URL ({error}): {hint}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HomeserverError(f"{text!r} is not an http(s) URL: {hint}")
    if parts.query or parts.fragment:
        raise HomeserverError(f"{text!r} has a query or fragment: {hint}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is reported, not followed: a redirected POST loses its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HomeserverClient:
    """The requests the doctor makes, each with one-line errors for everything that can go
    wrong before a Matrix answer arrives. Proxies come from the environment, as for curl, except
    for a loopback host: a request there never leaves this machine (what the check of plain
    http:// relies on), whatever ``$http_proxy`` says."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = parse_homeserver_url(base_url)
        self._timeout = timeout
        parts = urllib.parse.urlsplit(self.base_url)
        default_port = 443 if parts.scheme == "https" else 80
        self._where = f"{parts.hostname}:{parts.port or default_port}"
        self._host = parts.hostname or ""
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if is_loopback_host(self._host):
            handlers.append(urllib.request.ProxyHandler({}))  # replaces the environment's
        self._opener = urllib.request.build_opener(*handlers)

    def login_types(self) -> list[str]:
        """The types ``GET /login`` lists, in the server's order (clients care about the order)."""
        status, body, _, headers = self._request("GET", LOGIN_PATH)
        url = self.base_url + LOGIN_PATH
        if status != 200:
            what = _str_or_none(body.get("errcode")) if isinstance(body, dict) else None
            reason = f" {server_text(what)}" if what else ""
            if 300 <= status < 400:
                location = server_text(headers.get("location", "?"))
                raise HomeserverError(
                    f"GET {url} was redirected to {location}: use the URL it redirects to (the"
                    " bridges need it too: a redirected login loses its body)"
                )
            raise HomeserverError(
                f"GET {url} answered HTTP {status}{reason}: this is not a Matrix homeserver's"
                " client API (or a reverse proxy does not pass /_matrix/ on to Synapse)"
            )
        flows = body.get("flows") if isinstance(body, dict) else None
        if not isinstance(flows, list):
            kind = server_text(headers.get("content-type", "no content type").split(";")[0])
            got = "JSON without a list of flows" if isinstance(body, dict) else f"{kind}, not JSON"
            raise HomeserverError(
                f"GET {url} answered with {got}: this is not a Matrix homeserver's client API"
            )
        return [
            flow["type"]
            for flow in flows
            if isinstance(flow, dict) and isinstance(flow.get("type"), str)
        ]

    def login(self, body: Mapping[str, Any]) -> tuple[LoginOutcome, str | None]:
        """``POST /login``; returns the outcome and the access token to log out again."""
        status, answer, raw, _ = self._request("POST", LOGIN_PATH, body)
        if not isinstance(answer, dict):
            # Only the start: LoginOutcome.describe escapes and bounds it again for the report.
            text = raw[:MAX_SERVER_TEXT].decode("utf-8", errors="replace").strip()
            return LoginOutcome(status=status, error=f"not JSON: {text or 'an empty answer'}"), None
        access_token = answer.get("access_token")
        if status == 200 and not isinstance(access_token, str):
            return LoginOutcome(status=status, error="answered 200 without an access token"), None
        retry = answer.get("retry_after_ms")
        # A plausible wait only (up to a day): the report prints it.
        plausible = type(retry) is int and 0 < retry <= 86_400_000  # not a bool, either
        outcome = LoginOutcome(
            status=status,
            errcode=_str_or_none(answer.get("errcode")),
            error=_str_or_none(answer.get("error")),
            user_id=_str_or_none(answer.get("user_id")),
            retry_after_ms=retry if plausible else None,
        )
        return outcome, access_token if status == 200 else None

    def whoami(self, access_token: str, user_id: str | None = None) -> WhoamiOutcome:
        """``GET /account/whoami``, with ``?user_id=`` when given: how a bridge using the
        appservice method checks that its ``as_token`` may act as that user. Read-only."""
        path = WHOAMI_PATH
        if user_id is not None:
            path += "?" + urllib.parse.urlencode({"user_id": user_id})
        status, answer, raw, _ = self._request("GET", path, None, access_token)
        if not isinstance(answer, dict):
            text = raw[:MAX_SERVER_TEXT].decode("utf-8", errors="replace").strip()
            return WhoamiOutcome(status=status, error=f"not JSON: {text or 'an empty answer'}")
        return WhoamiOutcome(
            status=status,
            errcode=_str_or_none(answer.get("errcode")),
            error=_str_or_none(answer.get("error")),
            user_id=_str_or_none(answer.get("user_id")) if status == 200 else None,
            device_id=_str_or_none(answer.get("device_id")) if status == 200 else None,
        )

    def logout(self, access_token: str) -> None:
        """``POST /logout``: deletes the device and the token. Raises :class:`HomeserverError`."""
        status, answer, _, _ = self._request("POST", LOGOUT_PATH, {}, access_token)
        if status != 200:
            detail = _str_or_none(answer.get("error")) if isinstance(answer, dict) else None
            raise HomeserverError(
                f"logout answered HTTP {status}" + (f": {server_text(detail)}" if detail else "")
            )

    def list_sessions(self, admin_token: str, query: Mapping[str, str]) -> dict[str, Any]:
        """A page of the sessions the module recorded (``GET`` its admin resource), as it
        answered it."""
        path = f"{SESSIONS_PATH}?{urllib.parse.urlencode(query)}" if query else SESSIONS_PATH
        url = self.base_url + SESSIONS_PATH
        status, answer, _, headers = self._request(
            "GET", path, None, admin_token, max_body=SESSIONS_MAX_BYTES
        )
        if status == 404:
            raise HomeserverError(
                f"{url} answered HTTP 404: this homeserver does not run a synapse_dp_auth version"
                " that records sessions (or a reverse proxy does not pass /_synapse/client/ on to"
                " Synapse)"
            )
        if status != 200:
            raise HomeserverError(_failed("listing the sessions", status, answer))
        if not isinstance(answer, dict):
            kind = server_text(headers.get("content-type", "no content type").split(";")[0])
            raise HomeserverError(
                f"the sessions listing from {url} is not a JSON object ({kind}): is something"
                " other than Synapse (a reverse proxy, a login page) answering that path?"
            )
        return answer

    def user_is_admin(self, admin_token: str, user_id: str) -> bool | None:
        """Whether ``user_id`` is a server admin (Synapse's admin API); ``None`` if the server
        does not say."""
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id, safe='')}"
        status, answer, _, _ = self._request("GET", path, None, admin_token)
        if status != 200 or not isinstance(answer, dict):
            return None
        admin = answer.get("admin")
        # Older Synapse releases answer 0 or 1 (SQLite's booleans), which this accepts too.
        return bool(admin) if admin in (True, False) else None

    def device(self, admin_token: str, user_id: str, device_id: str) -> dict[str, Any] | None:
        """Synapse's admin API view of one device, or ``None`` when it no longer exists.
        Raises :class:`RequestRefused` for any other refusal."""
        user, device = (urllib.parse.quote(part, safe="") for part in (user_id, device_id))
        path = f"/_synapse/admin/v2/users/{user}/devices/{device}"
        status, answer, _, _ = self._request("GET", path, None, admin_token)
        if status == 404:
            return None
        if status != 200 or not isinstance(answer, dict):
            raise RequestRefused(
                _failed(f"reading device {server_text(device_id)}", status, answer)
            )
        return answer

    def devices_with_keys(self, access_token: str, user_id: str, device_ids: list[str]) -> set[str]:
        """Which of these devices of ``user_id`` have uploaded end-to-end encryption keys
        (``POST /keys/query``, which any user may ask); raises :class:`RequestRefused`."""
        found: set[str] = set()
        for start in range(0, len(device_ids), KEYS_QUERY_DEVICES):
            chunk = device_ids[start : start + KEYS_QUERY_DEVICES]
            body = {"device_keys": {user_id: chunk}}
            status, answer, _, _ = self._request(
                "POST", "/_matrix/client/v3/keys/query", body, access_token
            )
            keys = answer.get("device_keys") if isinstance(answer, dict) else None
            if status != 200 or not isinstance(keys, dict):
                raise RequestRefused(_failed("asking for device keys", status, answer))
            of_user = keys.get(user_id)
            if isinstance(of_user, dict):
                found.update(device for device in chunk if isinstance(of_user.get(device), dict))
        return found

    def delete_devices(self, admin_token: str, user_id: str, device_ids: list[str]) -> None:
        """Synapse's admin API: delete these devices of ``user_id`` and their access tokens."""
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id, safe='')}/delete_devices"
        status, answer, _, _ = self._request("POST", path, {"devices": device_ids}, admin_token)
        if status != 200:
            raise RequestRefused(
                _failed(f"deleting devices of {server_text(user_id)}", status, answer)
            )

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        access_token: str | None = None,
        *,
        max_body: int = _MAX_BODY,
    ) -> tuple[int, object, bytes, Mapping[str, str]]:
        """(status, parsed JSON or ``None``, raw body, headers); raises :class:`HomeserverError`,
        also for a body longer than ``max_body`` bytes (never read further)."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "synapse_dp_auth"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        # The scheme is checked to be http(s) in parse_homeserver_url.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            try:
                with self._opener.open(request, timeout=self._timeout) as response:
                    status: int = response.status
                    raw: bytes = response.read(max_body + 1)
                    response_headers = _lowercase_keys(response.headers.items())
            except urllib.error.HTTPError as error:
                status, raw = error.code, error.read(max_body + 1)
                response_headers = _lowercase_keys(error.headers.items())
        except urllib.error.URLError as error:
            raise HomeserverError(self._network_error(error.reason)) from None
        except (OSError, http.client.HTTPException, UnicodeError) as error:
            raise HomeserverError(self._network_error(error)) from None
        if len(raw) > max_body:
            raise HomeserverError(
                f"the answer to {method} {self.base_url}{path.partition('?')[0]} is larger than"
                f" {max_body:,} bytes, the most expected there: is something other than Synapse"
                " answering, or does the homeserver run another version of synapse_dp_auth?"
            )
        try:
            parsed: object = json.loads(raw) if raw else None
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            parsed = None
        return status, parsed, raw, response_headers

    def _network_error(self, reason: object) -> str:
        where = self._where
        if isinstance(reason, TimeoutError):
            return f"no answer from {where} within {self._timeout:g} s (--timeout)"
        if isinstance(reason, ConnectionRefusedError):
            return f"connection refused by {where}: nothing listens there (is Synapse running?)"
        if isinstance(reason, socket.gaierror):
            return f"cannot resolve the host name {self._host!r}: {reason.strerror or reason}"
        if isinstance(reason, ssl.SSLCertVerificationError):
            return f"the TLS certificate of {where} is not valid: {reason.verify_message}"
        if isinstance(reason, ssl.SSLError):
            return f"TLS failed with {where} ({reason.reason}): is this an https:// port?"
        if isinstance(reason, http.client.HTTPException):
            kind = type(reason).__name__
            return f"{where} did not answer in HTTP ({kind}): is this an http(s) port?"
        if isinstance(reason, UnicodeError):
            return f"{self._host!r} is not a valid host name"
        if isinstance(reason, OSError):
            return f"cannot talk to {where}: {reason.strerror or reason}"
        return f"cannot talk to {where}: {reason}"


def _failed(what: str, status: int, answer: object) -> str:
    detail = _str_or_none(answer.get("error")) if isinstance(answer, dict) else None
    return f"{what} answered HTTP {status}" + (f": {server_text(detail)}" if detail else "")


def _lowercase_keys(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {key.lower(): value for key, value in items}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
