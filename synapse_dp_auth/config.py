"""The module's configuration: parsed and checked once, at Synapse start-up.

Nothing here imports Synapse, so the rules can be tested (and used by the command line) on their
own. Every rejection is a :class:`ConfigValueError` that names the offending key; the provider turns
it into Synapse's ``ConfigError``. The keys and defaults are those of devture's
``shared-secret-authenticator``, except ``m_login_password_support_enabled``, which defaults to true
here (with false, mautrix-python bridges cannot log in: see the README's migration section).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from typing import Any

import attr

#: Secrets shorter than this still work (existing deployments must keep running) but get a warning.
RECOMMENDED_SECRET_LENGTH = 32

_BOOL_DEFAULTS = {
    "m_login_password_support_enabled": True,
    "com_devture_shared_secret_auth_support_enabled": True,
    "allow_ui_auth": False,
    "allow_appservice_users": False,
    "allow_admins": True,
}
RETENTION_KEY = "login_records_retention_period"
KNOWN_KEYS = (
    "shared_secret",
    "shared_secret_path",
    *_BOOL_DEFAULTS,
    "allowed_users",
    RETENTION_KEY,
)

#: The units of a duration, as in Synapse's own config (a bare number is milliseconds).
_DURATION_UNITS = {
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "y": 365 * 86_400_000,
}
_HOUR_MS = _DURATION_UNITS["h"]
#: A thousand years: longer cannot be meant, and the cut-off must stay a BIGINT.
_LONGEST_RETENTION_MS = 1000 * _DURATION_UNITS["y"]

#: How long the record of a login is kept once its device is gone (90 days; a record of a device
#: that still exists is kept whatever its age: revoking needs it). After that the record is
#: history only: which accounts a secret logged in as, and when, for looking into a leak found
#: late.
DEFAULT_RETENTION_MS = 90 * _DURATION_UNITS["d"]


class ConfigValueError(ValueError):
    """A configuration mistake, with the key it concerns."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class DpAuthConfig:
    """The parsed configuration. ``secrets`` never appears in ``repr()``."""

    secrets: tuple[bytes, ...] = attr.ib(repr=False)
    shared_secret_path: str | None = None
    m_login_password_support_enabled: bool = True
    com_devture_shared_secret_auth_support_enabled: bool = True
    allow_ui_auth: bool = False
    allow_appservice_users: bool = False
    allow_admins: bool = True
    #: Patterns a user ID must fully match; ``None`` allows every local user.
    allowed_users: tuple[re.Pattern[str], ...] | None = None
    #: How long records of ended sessions are kept, in ms; ``None``: for ever.
    login_records_retention_ms: int | None = DEFAULT_RETENTION_MS
    #: Things an admin should hear about at start-up, though they do not stop Synapse.
    warnings: tuple[str, ...] = attr.ib(default=(), eq=False)


def parse_config(raw: Mapping[str, Any] | None) -> DpAuthConfig:
    """Check ``raw`` (the module's ``config:`` block) and return the parsed configuration.

    Raises:
        ConfigValueError: naming the key and what is wrong with it.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigValueError("config", f"must be a mapping of options, not {_kind(raw)}")
    unknown = sorted(str(key) for key in raw if key not in KNOWN_KEYS)
    if unknown:
        raise ConfigValueError(
            unknown[0], f"unknown option; the known options are {', '.join(KNOWN_KEYS)}"
        )

    flags = {key: _bool(raw, key, default) for key, default in _BOOL_DEFAULTS.items()}
    if not (
        flags["m_login_password_support_enabled"]
        or flags["com_devture_shared_secret_auth_support_enabled"]
    ):
        raise ConfigValueError(
            "m_login_password_support_enabled",
            "and com_devture_shared_secret_auth_support_enabled are both false, so no login"
            " type would accept a shared-secret token; enable at least one",
        )

    warnings: list[str] = []
    secrets, path = _secrets(raw, warnings)
    for number, secret in enumerate(secrets, start=1):
        if len(secret) < RECOMMENDED_SECRET_LENGTH:
            which = f"secret {number} of {len(secrets)}" if len(secrets) > 1 else "the secret"
            warnings.append(
                f"{'shared_secret_path' if path else 'shared_secret'}: {which} is only"
                f" {len(secret)} characters long; use {RECOMMENDED_SECRET_LENGTH} or more random"
                " characters (e.g. `pwgen -s 64 1`)"
            )

    return DpAuthConfig(
        secrets=tuple(secret.encode("utf-8") for secret in secrets),
        shared_secret_path=path,
        allowed_users=_patterns(raw),
        login_records_retention_ms=_retention(raw),
        warnings=tuple(warnings),
        **flags,
    )


def error_reason(error: Exception) -> str:
    """Why a file could not be read, without the noise of the exception's repr."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    # Only real YAML booleans: the string "false" must not silently mean true.
    if not isinstance(value, bool):
        # Quote short values ('false', 'yes'); a long one might be a secret put under the wrong key.
        shown = repr(value) if isinstance(value, str) and len(value) <= 8 else _kind(value)
        raise ConfigValueError(key, f"must be true or false (a YAML boolean), not {shown}")
    return value


def _secrets(raw: Mapping[str, Any], warnings: list[str]) -> tuple[list[str], str | None]:
    has_inline = "shared_secret" in raw
    has_path = "shared_secret_path" in raw
    if has_inline and has_path:
        raise ConfigValueError(
            "shared_secret", "give either shared_secret or shared_secret_path, not both"
        )
    if has_path:
        path = raw["shared_secret_path"]
        if not isinstance(path, str) or not path:
            raise ConfigValueError("shared_secret_path", "must be the path of a file")
        return _read_secret_file(path, warnings), path
    if not has_inline:
        raise ConfigValueError(
            "shared_secret", "is required (or shared_secret_path, a file holding the secret)"
        )

    value = raw["shared_secret"]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigValueError("shared_secret", "must not be an empty list")
    for item in values:
        if not isinstance(item, str):
            raise ConfigValueError(
                "shared_secret", f"must be a string or a list of strings, not {_kind(item)}"
            )
        if not item.strip():
            raise ConfigValueError("shared_secret", "must not be empty")
        if item != item.strip():
            warnings.append(
                "shared_secret: a secret starts or ends with whitespace, which is part of it;"
                " bridges must use exactly the same characters"
            )
    return list(values), None


def _read_secret_file(path: str, warnings: list[str]) -> list[str]:
    """One secret per line; blank lines and surrounding whitespace are ignored."""
    try:
        # utf-8-sig: a byte-order mark some editors write must not become part of the secret.
        with open(path, encoding="utf-8-sig") as file:
            mode = os.fstat(file.fileno()).st_mode
            text = file.read()
    except UnicodeDecodeError:
        # The error's own text would quote bytes of the secret.
        raise ConfigValueError("shared_secret_path", f"{path} is not valid UTF-8") from None
    except OSError as error:
        raise ConfigValueError(
            "shared_secret_path", f"cannot read {path}: {error_reason(error)}"
        ) from None
    secrets = [line.strip() for line in text.splitlines() if line.strip()]
    if not secrets:
        raise ConfigValueError("shared_secret_path", f"{path} holds no secret")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"shared_secret_path: {path} is accessible by group or others (mode"
            f" {stat.S_IMODE(mode):04o}); anyone who can read it can log in as any local user:"
            f" chmod 600 {path}"
        )
    return secrets


def _retention(raw: Mapping[str, Any]) -> int | None:
    """``login_records_retention_period``: a duration as in Synapse's config, or null (for ever)."""
    value = raw.get(RETENTION_KEY, DEFAULT_RETENTION_MS)
    if value is None:
        return None
    hint = (
        "a duration such as 90d, 12w or 1y (or null to keep the records for ever); a bare"
        " number is milliseconds, as in Synapse's config"
    )
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigValueError(RETENTION_KEY, f"must be {hint}, not {_kind(value)}")
    if isinstance(value, int):
        ms = value
    else:
        text = value.strip()
        number, unit = (text[:-1], text[-1]) if text[-1:] in _DURATION_UNITS else (text, "")
        # At most 16 digits: a longer number cannot be in range, and int() of thousands of
        # digits is refused by Python anyway.
        if not (number.isascii() and number.isdigit() and len(number) <= 16):
            shown = repr(value) if len(value) <= 20 else f"a string of {len(value)} characters"
            raise ConfigValueError(RETENTION_KEY, f"must be {hint}, not {shown}")
        ms = int(number) * _DURATION_UNITS.get(unit, 1)
    if not _HOUR_MS <= ms <= _LONGEST_RETENTION_MS:
        raise ConfigValueError(
            RETENTION_KEY,
            f"must be at least an hour and at most 1000y (it is {ms} ms); null keeps the"
            " records for ever",
        )
    return ms


def _patterns(raw: Mapping[str, Any]) -> tuple[re.Pattern[str], ...] | None:
    if "allowed_users" not in raw:
        return None
    value = raw["allowed_users"]
    if value is None:
        # `allowed_users:` with every entry commented out: never read that as "everyone".
        raise ConfigValueError(
            "allowed_users",
            "is empty (null), which would allow nobody; leave the key out to allow every local"
            " user",
        )
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigValueError(
            "allowed_users", "must be a list of regular expressions over full user IDs"
        )
    if not value:
        raise ConfigValueError(
            "allowed_users",
            "is an empty list, which would allow nobody; leave it out to allow every local user",
        )
    patterns = []
    for item in value:
        try:
            patterns.append(re.compile(item))
        except re.error as error:
            raise ConfigValueError(
                "allowed_users", f"{item!r} is not a valid regular expression: {error}"
            ) from None
    return tuple(patterns)
