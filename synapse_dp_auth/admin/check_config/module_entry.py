"""``check-config`` on a ``modules:`` entry: this module's, validated with the module's own
``parse_config``, and devture's shared-secret-authenticator, with how to move from it.

Secrets are never printed: only how many there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse_dp_auth.admin.check_config.report import ConfigReport
from synapse_dp_auth.config import RETENTION_KEY, ConfigValueError, DpAuthConfig, parse_config

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
#: Every `module:` string that loads this module (Synapse imports the dotted path).
OUR_MODULES = frozenset({MODULE, "synapse_dp_auth.provider.SharedSecretAuthProvider"})
#: devture's shared-secret-authenticator: v2 is a module, v1 a legacy password provider.
DEVTURE_MODULE = "shared_secret_authenticator.SharedSecretAuthProvider"
DEVTURE_V1_PROVIDER = "shared_secret_authenticator.SharedSecretAuthenticator"


def check_our_entry(
    where: str, entry: Mapping[str, Any], sources: Mapping[str, str], report: ConfigReport
) -> DpAuthConfig | None:
    """Validate with the ``parse_config`` behind the one Synapse calls at start-up (the provider's
    only turns :class:`ConfigValueError` into Synapse's ``ConfigError``, with the same key and
    message), so that checking needs no Synapse; ``None`` if invalid."""
    section = where.partition("[")[0]
    report.line(f"{MODULE}: {where} in {sources.get(section, '?')}")
    stray = sorted(str(key) for key in entry if key not in ("module", "config"))
    if stray:
        report.warning(
            f"{where} has {', '.join(stray)} next to module:, where Synapse ignores it: indent it"
            " under config:"
        )
    raw = entry.get("config") or {}  # what Synapse's load_module passes
    try:
        parsed = parse_config(raw)
    except ConfigValueError as error:
        report.error(f"{where}.config.{error.key}: {error.message}")
        return None

    given = raw if isinstance(raw, Mapping) else {}

    def show(key: str, value: str) -> None:
        report.line(f"  {key}: {value}{'' if key in given else ' (default)'}")

    count = len(parsed.secrets)
    masked = f"{count} secret{'s' if count != 1 else ''} (masked)"
    if parsed.shared_secret_path is not None:
        report.line(f"  shared_secret_path: {parsed.shared_secret_path}: {masked}")
    else:
        report.line(f"  shared_secret: {masked}")
    for key in (
        "m_login_password_support_enabled",
        "com_devture_shared_secret_auth_support_enabled",
        "allow_ui_auth",
        "allow_appservice_users",
        "allow_admins",
    ):
        show(key, "true" if getattr(parsed, key) else "false")
    if parsed.allowed_users is None:
        show("allowed_users", "every local user")
    else:
        show("allowed_users", ", ".join(repr(p.pattern) for p in parsed.allowed_users))
    retention = parsed.login_records_retention_ms
    show(
        RETENTION_KEY,
        "for ever"
        if retention is None
        else f"{retention / 86_400_000:g} days after the session ends",
    )
    for warning in parsed.warnings:
        report.warning(warning)
    return parsed


def advise_devture(
    where: str,
    entry: Mapping[str, Any],
    name: str,
    ours_present: bool,
    delegated: bool,
    report: ConfigReport,
) -> None:
    """How to move from devture's shared-secret-authenticator (never printing its secret)."""
    if delegated:
        # Synapse 1.163.2 synapse/module_api/__init__.py 570-573: register_password_auth_provider_
        # callbacks raises ConfigError under OAuth delegation; legacy password providers (v1) go
        # through the same call (synapse/handlers/auth.py 2092).
        report.error(
            f"{where}: devture's {name} cannot run while auth is delegated to the Matrix"
            " Authentication Service: Synapse refuses to start with a password-auth module then."
            " Remove this entry and double-puppet with the appservice method instead:"
            " `synapse_dp_auth appservice -c homeserver.yaml FILE`"
        )
        return
    if ours_present:
        report.error(
            f"{where}: devture's {name} is still configured next to synapse_dp_auth; it accepts"
            " tokens on its own terms (in user-interactive auth too): remove its entry"
        )
        return
    if name == DEVTURE_V1_PROVIDER:
        report.warning(
            f"{where}: devture's shared-secret-authenticator v1 (a legacy password provider)."
            f" To migrate, remove it and add under modules: `- module: {MODULE}` with"
            " `config: {shared_secret: <the value of its sharedSecret>}`"
        )
        return
    # A note, not a warning: devture's module serves shared-secret logins (the same token), so
    # bridges double-puppet here as they are; moving is advice.
    report.line(
        f"note: {where}: devture's {name} serves the bridges' shared-secret logins here. To"
        f" migrate, change its module: to {MODULE} and keep its config:"
        " (m_login_password_support_enabled now defaults to true)"
    )
    try:
        parse_config(entry.get("config") or {})
    except ConfigValueError as error:
        report.warning(
            f"{where}.config.{error.key}: synapse_dp_auth would refuse this: {error.message}"
        )
    else:
        report.line("  its config: is valid for synapse_dp_auth as it is")
