"""``check-config`` on the homeserver settings that decide which login types Synapse lists and
accepts, and what that means for each family of bridges (``doctor`` confirms it on the server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse_dp_auth.admin.check_config.report import ConfigReport
from synapse_dp_auth.admin.shared.families import FAMILIES, Choice, choose_login_type
from synapse_dp_auth.config import DpAuthConfig
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET

#: Synapse's defaults for rc_login (synapse/config/ratelimiting.py); failed_attempts has none of
#: its own and falls back to the generic default.
_RC_LOGIN_DEFAULTS = {
    "address": (0.003, 5),
    "account": (0.003, 5),
    "failed_attempts": (0.17, 3),
}


def auth_delegated(config: Mapping[str, Any]) -> bool:
    """Whether Synapse delegates auth (MAS, or the experimental MSC3861 switch before it)."""
    mas = _section(config, "matrix_authentication_service").get("enabled", False)
    msc3861 = _section(_section(config, "experimental_features"), "msc3861").get("enabled", False)
    return bool(mas or msc3861)


def report_login_settings(
    config: Mapping[str, Any], parsed: DpAuthConfig | None, report: ConfigReport
) -> None:
    """Homeserver settings that decide which login types Synapse lists and accepts."""
    report.line()
    report.line("Homeserver settings that matter here:")
    mas = _section(config, "matrix_authentication_service").get("enabled", False)
    if auth_delegated(config):
        report.warning(
            "login is delegated to the Matrix Authentication Service: Synapse serves no /login,"
            " so this module is never asked; bridges need appservice double puppeting"
            " (as_token:) instead"
        )

    password_config = _section(config, "password_config")
    enabled = password_config.get("enabled", not mas)
    localdb = password_config.get("localdb_enabled", True)
    password_for_login = bool(enabled) and enabled != "only_for_reauth"
    report.line(
        f"  password_config.enabled: {_yaml(enabled)}"
        f"{'' if 'enabled' in password_config else ' (default)'}"
        + ("" if password_for_login else f": Synapse lists and accepts no {LOGIN_TYPE_PASSWORD}")
    )
    report.line(
        f"  password_config.localdb_enabled: {_yaml(localdb)}"
        f"{'' if 'localdb_enabled' in password_config else ' (default)'}"
        + ("" if localdb else ": users cannot log in with passwords from Synapse's database")
    )
    for kind, (per_second, burst) in _RC_LOGIN_DEFAULTS.items():
        settings = _section(_section(config, "rc_login"), kind)
        given = "per_second" in settings or "burst_count" in settings
        report.line(
            f"  rc_login.{kind}: per_second {settings.get('per_second', per_second)},"
            f" burst_count {settings.get('burst_count', burst)}"
            f"{'' if given else ' (default)'}"
        )
    report.line(
        "  (every bridge login counts against rc_login.address for the bridge's IP address: a"
        " bridge that logs many users in at once needs it raised, or it gets HTTP 429)"
    )
    if parsed is None or auth_delegated(config):
        return

    # What GET /login will list: m.login.password first, wherever present (Synapse puts it there).
    listed = []
    if password_for_login and (localdb or parsed.m_login_password_support_enabled):
        listed.append(LOGIN_TYPE_PASSWORD)
    if parsed.com_devture_shared_secret_auth_support_enabled:
        listed.append(LOGIN_TYPE_SHARED_SECRET)
    accepted = set()
    if parsed.m_login_password_support_enabled and password_for_login:
        accepted.add(LOGIN_TYPE_PASSWORD)
    if parsed.com_devture_shared_secret_auth_support_enabled:
        accepted.add(LOGIN_TYPE_SHARED_SECRET)

    report.line()
    report.line(
        f"Expected GET /login list: {', '.join(listed) or 'neither type'}; tokens accepted on:"
        f" {', '.join(sorted(accepted)) or 'none'}. Per client family (confirm with doctor):"
    )
    for family in FAMILIES:
        login_type = choose_login_type(family, listed)
        if login_type in accepted:
            report.line(f"  ok    {family.name}: {login_type}")
            continue
        if login_type is None:
            why = "no usable login type is listed"
        elif login_type == LOGIN_TYPE_PASSWORD and not password_for_login:
            why = f"sends only {login_type}, which password_config.enabled turns off"
        elif login_type == LOGIN_TYPE_PASSWORD:
            why = (
                f"sends {login_type}"
                + (", listed first," if family.choice is Choice.FIRST_LISTED else "")
                + " where the module takes no tokens: set m_login_password_support_enabled: true"
            )
        else:
            why = (
                f"sends only {login_type}: set com_devture_shared_secret_auth_support_enabled: true"
            )
        report.warning(f"{family.name} cannot log in: {why}")


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
