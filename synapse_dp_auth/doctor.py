"""``doctor``: will each family of shared-secret clients be able to log in, and if not, why?

Bridges do not all log in the same way: each family picks its login type by its own rule, some
from the server's ``GET /login`` list and in the server's order, some without asking. So "is the
module working?" has one answer per family. The decisions (which type a family sends, what a
refusal means, what to change) are pure functions of the advertised types and the login
outcomes, and are unit-tested on their own; :class:`HomeserverClient` and :func:`run` do the
HTTP (standard library only, so the command needs neither aiohttp nor mautrix).
"""

from __future__ import annotations

import enum
import http.client
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import attr

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET, make_token

#: The device the doctor logs in on. Never a bridge's own device name ("Telegram Bridge",
#: "matrix-corporal", ...): logging out deletes the device and every token on it, and that must
#: not be the real bridge's double-puppet session.
DOCTOR_DEVICE = "synapse_dp_auth doctor"

LOGIN_PATH = "/_matrix/client/v3/login"
LOGOUT_PATH = "/_matrix/client/v3/logout"

#: Enough for any Matrix answer here; a larger body is not one.
_MAX_BODY = 1 << 20

#: At most this many characters of one piece of server text (escapes included) in a report.
MAX_SERVER_TEXT = 200
#: At most this many of the login types a server lists are shown.
_MAX_LISTED_TYPES = 50


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


class Verdict(enum.Enum):
    WORKS = "ok"
    UNCONFIRMED = "?"
    FAILS = "FAIL"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class LoginOutcome:
    """The server's answer to one ``POST /login`` (the access token is never kept here)."""

    status: int
    errcode: str | None = None
    error: str | None = None
    user_id: str | None = None
    retry_after_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def describe(self) -> str:
        """One line for the report; the server's words in it are escaped and bounded."""
        if self.ok:
            return f"logged in as {server_text(self.user_id or '?')}"
        parts = [f"HTTP {self.status}"]
        if self.errcode:
            parts.append(server_text(self.errcode))
        text = " ".join(parts)
        return f"{text}: {server_text(self.error)}" if self.error else text

    @property
    def unknown_login_type(self) -> bool:
        return self.status == 400 and "unknown login type" in (self.error or "").lower()

    @property
    def password_login_disabled(self) -> bool:
        return (
            self.status == 400 and "password login has been disabled" in (self.error or "").lower()
        )


@attr.s(frozen=True, auto_attribs=True)
class PlannedLogin:
    """One ``POST /login`` standing for every family that would send the same request.

    Families whose requests differ only in the device fields share one attempt: the device does
    not change how Synapse or the module authenticates, and each login costs one of the
    ``rc_login`` per-address allowance (5 in a burst by default) that the real bridge needs too.
    """

    login_type: str
    body: Mapping[str, Any] = attr.ib(repr=False)  # holds the token
    families: tuple[Family, ...]

    def describe(self) -> str:
        field = "token" if self.login_type == LOGIN_TYPE_SHARED_SECRET else "password"
        extra = ", with a top-level `user`" if "user" in self.body else ""
        return f"{self.login_type} (token as `{field}`{extra})"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class FamilyDiagnosis:
    family: Family
    verdict: Verdict
    #: The type the family sends here, or ``None`` when it would give up without a request.
    login_type: str | None
    #: Why that type, in words.
    why: str
    #: What happened, or what can be said without a login.
    detail: str
    #: What to change, when something must change.
    remedy: str | None = None


# -- the pure decisions ---------------------------------------------------------------------------


def choose_login_type(family: Family, advertised: Sequence[str]) -> str | None:
    """The type ``family`` sends given the server's ``GET /login`` list (``None``: it gives up)."""
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
    return LOGIN_TYPE_SHARED_SECRET


def login_body(family: Family, login_type: str, user_id: str, token: str) -> dict[str, Any]:
    """The request ``family`` sends, field for field, except that the device is the doctor's."""
    field = "token" if login_type == LOGIN_TYPE_SHARED_SECRET else "password"
    identifier = {"type": "m.id.user", "user": user_id}
    if family.shape is BodyShape.CORPORAL:
        return {
            "type": login_type,
            "user": user_id,
            "identifier": identifier,
            field: token,
            "device_id": DOCTOR_DEVICE,
        }
    body: dict[str, Any] = {"type": login_type, "identifier": identifier, field: token}
    if family.shape is BodyShape.MAUTRIX:
        body["device_id"] = DOCTOR_DEVICE
        body["initial_device_display_name"] = DOCTOR_DEVICE
    return body


def _request_key(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two login requests different to the server's authentication."""
    device_fields = {"device_id", "initial_device_display_name"}
    return (str(body["type"]), *sorted(key for key in body if key not in device_fields))


def plan_logins(
    families: Iterable[Family], advertised: Sequence[str], user_id: str, token: str
) -> list[PlannedLogin]:
    """The logins that show whether each family works, with identical requests sent once."""
    grouped: dict[tuple[str, ...], PlannedLogin] = {}
    for family in families:
        login_type = choose_login_type(family, advertised)
        if login_type is None:
            continue
        body = login_body(family, login_type, user_id, token)
        key = _request_key(body)
        planned = grouped.get(key)
        grouped[key] = (
            PlannedLogin(login_type, body, (family,))
            if planned is None
            else attr.evolve(planned, families=(*planned.families, family))
        )
    return list(grouped.values())


def probe_login(
    results: Sequence[tuple[PlannedLogin, LoginOutcome]], user_id: str, token: str
) -> PlannedLogin | None:
    """An extra shared-secret-type login, when only it can tell why a password login failed.

    A refused ``m.login.password`` looks the same whether the module does not take tokens on it,
    is not loaded, or the secret is wrong; the answer on ``com.devture.shared_secret_auth`` tells
    these apart. Needed only when no family sent that type already.
    """
    if any(planned.login_type == LOGIN_TYPE_SHARED_SECRET for planned, _ in results):
        return None
    if not any(
        planned.login_type == LOGIN_TYPE_PASSWORD and outcome.status == 403
        for planned, outcome in results
    ):
        return None
    body = login_body(MAUTRIX_GO_BOTS, LOGIN_TYPE_SHARED_SECRET, user_id, token)
    return PlannedLogin(LOGIN_TYPE_SHARED_SECRET, body, ())


def diagnose(
    families: Iterable[Family],
    advertised: Sequence[str],
    results: Sequence[tuple[PlannedLogin, LoginOutcome]] | None,
) -> list[FamilyDiagnosis]:
    """One diagnosis per family: from real logins (``results``), or from ``advertised`` alone."""
    shared_secret_outcome = next(
        (o for p, o in results or () if p.login_type == LOGIN_TYPE_SHARED_SECRET), None
    )
    diagnoses = []
    for family in families:
        login_type = choose_login_type(family, advertised)
        why = _why(family, login_type, advertised)
        if login_type is None:
            diagnoses.append(
                FamilyDiagnosis(
                    family=family,
                    verdict=Verdict.FAILS,
                    login_type=None,
                    why=why,
                    detail=(
                        f"the server lists neither {LOGIN_TYPE_SHARED_SECRET} nor"
                        f" {LOGIN_TYPE_PASSWORD}, so it gives up without trying"
                    ),
                    remedy="load synapse_dp_auth (`modules:` in homeserver.yaml), restart Synapse",
                )
            )
            continue
        if results is None:
            diagnoses.append(_without_login(family, login_type, why, advertised))
            continue
        outcome = next(o for p, o in results if family in p.families)
        if outcome.ok:
            diagnoses.append(
                FamilyDiagnosis(
                    family=family,
                    verdict=Verdict.WORKS,
                    login_type=login_type,
                    why=why,
                    detail=outcome.describe(),
                )
            )
            continue
        diagnoses.append(
            FamilyDiagnosis(
                family=family,
                verdict=Verdict.FAILS,
                login_type=login_type,
                why=why,
                detail=f"refused: {outcome.describe()}",
                remedy=explain_refusal(
                    family, login_type, outcome, advertised, shared_secret_outcome
                ),
            )
        )
    return diagnoses


def _why(family: Family, login_type: str | None, advertised: Sequence[str]) -> str:
    """Why ``family`` sends ``login_type`` here, in words."""
    both = f"{LOGIN_TYPE_SHARED_SECRET} / {LOGIN_TYPE_PASSWORD}"
    if login_type is None:
        return f"sends nothing: it needs {both} in the server's list"
    if family.choice is Choice.FIRST_LISTED:
        other = (
            LOGIN_TYPE_SHARED_SECRET if login_type == LOGIN_TYPE_PASSWORD else LOGIN_TYPE_PASSWORD
        )
        if other in advertised:
            return f"sends {login_type}: listed before {other}, and this client takes the first"
        return f"sends {login_type}: the only one of {both} the server lists"
    if family.choice is Choice.SHARED_SECRET_PREFERRED:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            return f"sends {login_type}: the server lists it, and this client prefers it"
        return f"sends {login_type}: the server does not list {LOGIN_TYPE_SHARED_SECRET}"
    return f"sends {login_type}: always, without asking the server"


def _without_login(
    family: Family, login_type: str, why: str, advertised: Sequence[str]
) -> FamilyDiagnosis:
    """What the advertised types alone say; only a real login can prove that one works."""
    if login_type not in advertised:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            remedy = _UNKNOWN_SHARED_SECRET_TYPE
        else:
            remedy = (
                f"the server does not list {LOGIN_TYPE_PASSWORD}: password_config.enabled is false"
                " (or only_for_reauth), or password_config.localdb_enabled is false and"
                " m_login_password_support_enabled is false"
            )
        return FamilyDiagnosis(
            family=family,
            verdict=Verdict.FAILS,
            login_type=login_type,
            why=why,
            detail=f"{login_type} is not listed, and this client sends nothing else",
            remedy=remedy,
        )
    if login_type == LOGIN_TYPE_SHARED_SECRET:
        detail = (
            f"{login_type} is listed, so a shared-secret module is loaded: needs a login to"
            " confirm the secret (--user)"
        )
    else:
        detail = (
            f"{login_type} is listed, but Synapse lists it for its own passwords too: needs a"
            " login to confirm that the module takes tokens on it (--user)"
        )
        if family.choice is Choice.FIRST_LISTED and LOGIN_TYPE_SHARED_SECRET in advertised:
            detail += "; works only with m_login_password_support_enabled: true"
    return FamilyDiagnosis(
        family=family, verdict=Verdict.UNCONFIRMED, login_type=login_type, why=why, detail=detail
    )


_UNKNOWN_SHARED_SECRET_TYPE = (
    f"the server does not know {LOGIN_TYPE_SHARED_SECRET}: synapse_dp_auth is not loaded (see"
    " `modules:` in homeserver.yaml and Synapse's start-up log), or"
    " com_devture_shared_secret_auth_support_enabled is false"
)
_WRONG_SECRET_OR_USER = (
    "wrong secret, or the user does not exist, is deactivated, belongs to another server or is"
    " not allowed (allowed_users, allow_admins, allow_appservice_users); the server's log line"
    " from synapse_dp_auth"
    ' ("Shared-secret login as ... refused") says which'
)


def explain_refusal(
    family: Family,
    login_type: str,
    outcome: LoginOutcome,
    advertised: Sequence[str],
    shared_secret_outcome: LoginOutcome | None,
) -> str:
    """What to change so that ``family``'s refused login works.

    ``shared_secret_outcome`` is the answer to a ``com.devture.shared_secret_auth`` login with the
    same token, if one was made: it is what tells a password refusal's causes apart.
    """
    if outcome.status == 429 or outcome.errcode == "M_LIMIT_EXCEEDED":
        wait = (
            f"wait {-(-outcome.retry_after_ms // 1000)} s and run again, or "
            if outcome.retry_after_ms
            else ""
        )
        return (
            "rate-limited by Synapse: raise rc_login (address and account) in homeserver.yaml"
            f" for the bridge's address; {wait}expect the bridge to be refused the same way"
        )
    if outcome.errcode == "M_USER_DEACTIVATED":
        return "the user is deactivated; deactivated users cannot be logged in as"
    if outcome.status >= 500:
        return "the server failed on this request: see Synapse's log"
    if outcome.unknown_login_type:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            only = (
                ""
                if family.choice is not Choice.SHARED_SECRET_ONLY
                else "; these clients send no other type"
            )
            return _UNKNOWN_SHARED_SECRET_TYPE + only
        return (
            f"the server does not know {LOGIN_TYPE_PASSWORD} (password_config.localdb_enabled is"
            " false and the module does not take tokens on it): set"
            " m_login_password_support_enabled: true"
        )
    if outcome.password_login_disabled:
        return (
            f"Synapse refuses every {LOGIN_TYPE_PASSWORD} login (password_config.enabled is false"
            f" or only_for_reauth) and {family.name} sends no other type: set password_config"
            " enabled: true (with localdb_enabled: false, users' own passwords stay refused)"
        )
    if outcome.status != 403:
        return "unexpected answer: see Synapse's log"
    if login_type == LOGIN_TYPE_SHARED_SECRET:
        return _WRONG_SECRET_OR_USER
    # A refused m.login.password: the shared-secret type's answer to the same token says why.
    if shared_secret_outcome is None:
        return (
            "the token was not accepted as a password: m_login_password_support_enabled is false,"
            " synapse_dp_auth is not loaded, or " + _WRONG_SECRET_OR_USER
        )
    if shared_secret_outcome.ok:
        if family.choice is Choice.FIRST_LISTED and LOGIN_TYPE_SHARED_SECRET in advertised:
            return (
                f"the server lists {LOGIN_TYPE_PASSWORD} first and the module does not accept"
                " tokens on it: set m_login_password_support_enabled: true"
            )
        return (
            f"the module accepts this token on {LOGIN_TYPE_SHARED_SECRET} but not on"
            f" {LOGIN_TYPE_PASSWORD}, the only type {family.name} sends here: set"
            " m_login_password_support_enabled: true"
        )
    if shared_secret_outcome.unknown_login_type:
        return (
            f"the token was not accepted as a password and the server does not know"
            f" {LOGIN_TYPE_SHARED_SECRET}: most likely synapse_dp_auth is not loaded (see"
            " `modules:` in homeserver.yaml and Synapse's start-up log); if it is, the secret"
            " or the user is wrong (its log line says which)"
        )
    if shared_secret_outcome.status == 403:
        return _WRONG_SECRET_OR_USER
    return (
        f"the token was not accepted as a password, and {LOGIN_TYPE_SHARED_SECRET} answered"
        f" {shared_secret_outcome.describe()}: see Synapse's log"
    )


def exit_code(diagnoses: Iterable[FamilyDiagnosis]) -> int:
    """0 unless some family is known to fail (without a login, nothing more is known)."""
    return 1 if any(d.verdict is Verdict.FAILS for d in diagnoses) else 0


def is_full_user_id(user_id: str) -> bool:
    """``@localpart:server``: the token signs exactly this string, so a bare name would not do."""
    localpart, colon, server = user_id[1:].partition(":")
    return (
        user_id.startswith("@") and bool(colon and localpart and server) and user_id.isprintable()
    )


def server_text(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """``text`` from the server made safe to print: every character that is not printable
    (ESC and the other controls, line breaks, bidi overrides, lone surrogates) as its Python
    escape, and at most ``limit`` characters of it (escapes counted), then ``...`` if cut.

    Every piece of server text the doctor echoes goes through here, so that a hostile or broken
    server can neither drive the admin's terminal with escape sequences nor flood it.
    """
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = char if char.isprintable() else _escape(char)
        if length + len(piece) > limit:
            pieces.append("...")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


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


# -- HTTP ------------------------------------------------------------------------------------------


class DoctorError(Exception):
    """The doctor cannot do its job; the message is one line for the admin."""


def parse_homeserver_url(text: str) -> str:
    """The base URL of the client API without a trailing slash, or :class:`DoctorError`."""
    hint = "give the URL bridges use for the homeserver, e.g. https://matrix.example.org"
    try:
        parts = urllib.parse.urlsplit(text.strip())
        _ = parts.port  # ValueError when not a number in range
    except ValueError as error:
        raise DoctorError(f"{text!r} is not a valid URL ({error}): {hint}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DoctorError(f"{text!r} is not an http(s) URL: {hint}")
    if parts.query or parts.fragment:
        raise DoctorError(f"{text!r} has a query or fragment: {hint}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is reported, not followed: a redirected POST loses its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HomeserverClient:
    """The three requests the doctor makes, each with one-line errors for everything that can go
    wrong before a Matrix answer arrives. Proxies come from the environment, as for curl."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = parse_homeserver_url(base_url)
        self._timeout = timeout
        parts = urllib.parse.urlsplit(self.base_url)
        default_port = 443 if parts.scheme == "https" else 80
        self._where = f"{parts.hostname}:{parts.port or default_port}"
        self._host = parts.hostname or ""
        self._opener = urllib.request.build_opener(_NoRedirects())

    def login_types(self) -> list[str]:
        """The types ``GET /login`` lists, in the server's order (clients care about the order)."""
        status, body, _, headers = self._request("GET", LOGIN_PATH)
        url = self.base_url + LOGIN_PATH
        if status != 200:
            what = _str_or_none(body.get("errcode")) if isinstance(body, dict) else None
            reason = f" {server_text(what)}" if what else ""
            if 300 <= status < 400:
                location = server_text(headers.get("location", "?"))
                raise DoctorError(
                    f"GET {url} was redirected to {location}: use the URL it redirects to (the"
                    " bridges need it too: a redirected login loses its body)"
                )
            raise DoctorError(
                f"GET {url} answered HTTP {status}{reason}: this is not a Matrix homeserver's"
                " client API (or a reverse proxy does not pass /_matrix/ on to Synapse)"
            )
        flows = body.get("flows") if isinstance(body, dict) else None
        if not isinstance(flows, list):
            kind = server_text(headers.get("content-type", "no content type").split(";")[0])
            got = "JSON without a list of flows" if isinstance(body, dict) else f"{kind}, not JSON"
            raise DoctorError(
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

    def logout(self, access_token: str) -> None:
        """``POST /logout``: deletes the device and the token. Raises :class:`DoctorError`."""
        status, answer, _, _ = self._request("POST", LOGOUT_PATH, {}, access_token)
        if status != 200:
            detail = _str_or_none(answer.get("error")) if isinstance(answer, dict) else None
            raise DoctorError(
                f"logout answered HTTP {status}" + (f": {server_text(detail)}" if detail else "")
            )

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> tuple[int, object, bytes, Mapping[str, str]]:
        """(status, parsed JSON or ``None``, raw body, headers); raises :class:`DoctorError`."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "synapse_dp_auth doctor"}
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
                    raw: bytes = response.read(_MAX_BODY)
                    response_headers = _lowercase_keys(response.headers.items())
            except urllib.error.HTTPError as error:
                status, raw = error.code, error.read(_MAX_BODY)
                response_headers = _lowercase_keys(error.headers.items())
        except urllib.error.URLError as error:
            raise DoctorError(self._network_error(error.reason)) from None
        except (OSError, http.client.HTTPException, UnicodeError) as error:
            raise DoctorError(self._network_error(error)) from None
        try:
            parsed: object = json.loads(raw) if raw else None
        except ValueError:
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


def _lowercase_keys(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {key.lower(): value for key, value in items}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- the command -----------------------------------------------------------------------------------


def run(
    client: HomeserverClient,
    out: TextIO,
    *,
    user_id: str | None = None,
    secret: str | None = None,
    families: Sequence[Family] = FAMILIES,
) -> int:
    """Diagnose, print the report to ``out``, return the exit code. Raises :class:`DoctorError`.

    Every access token obtained is logged out again at once, so that the doctor leaves no session
    behind; a logout that fails is reported and makes the exit code 1.
    """

    def write(line: str) -> None:
        out.write(line + "\n")

    advertised = client.login_types()
    write(f"GET {client.base_url}{LOGIN_PATH} lists, in this order:")
    for number, login_type in enumerate(advertised[:_MAX_LISTED_TYPES], start=1):
        write(f"  {number}. {server_text(login_type)}")
    if len(advertised) > _MAX_LISTED_TYPES:
        write(f"  ... and {len(advertised) - _MAX_LISTED_TYPES} more")
    if not advertised:
        write("  (nothing)")

    results: list[tuple[PlannedLogin, LoginOutcome]] | None = None
    logout_failed = False
    if user_id is not None and secret is not None:
        token = make_token(secret, user_id)
        results = []
        write("")
        write(f"Logging in as {user_id} (every access token is logged out again at once):")
        planned_logins = plan_logins(families, advertised, user_id, token)
        while planned_logins:
            planned = planned_logins.pop(0)
            outcome, access_token = client.login(planned.body)
            note = ""
            if access_token is not None:
                try:
                    client.logout(access_token)
                    note = ", logged out"
                except DoctorError as error:
                    logout_failed = True
                    note = (
                        f"; LOGOUT FAILED ({error}): delete the device {DOCTOR_DEVICE!r} of"
                        f" {user_id} yourself"
                    )
            names = ", ".join(f.name for f in planned.families) or "to tell causes apart"
            write(f"  {planned.describe()} [{names}]: {outcome.describe()}{note}")
            results.append((planned, outcome))
            if not planned_logins:
                probe = probe_login(results, user_id, token)
                if probe is not None:
                    planned_logins.append(probe)

    diagnoses = diagnose(families, advertised, results)
    write("")
    for diagnosis in diagnoses:
        family = diagnosis.family
        clients = f" ({family.clients})" if family.clients else ""
        write(f"{diagnosis.verdict.value:<4}  {family.name}{clients}")
        write(f"      {diagnosis.why}")
        write(f"      {diagnosis.detail}")
        if diagnosis.remedy:
            write(f"      fix: {diagnosis.remedy}")
    write("")
    failing = [d.family.name for d in diagnoses if d.verdict is Verdict.FAILS]
    unconfirmed = [d.family.name for d in diagnoses if d.verdict is Verdict.UNCONFIRMED]
    if failing:
        write(
            f"{len(failing)} of {len(diagnoses)} client families would fail: {', '.join(failing)}."
        )
    elif unconfirmed:
        write(
            "No client family is known to fail, but only a login proves it: run again with"
            " --user @someone:your.server and the shared secret."
        )
    else:
        write("Every client family checked can log in.")
    if logout_failed:
        write("A logout failed: see above.")
        return 1
    return exit_code(diagnoses)
