"""``check-config``: this module's entry in homeserver.yaml, checked as Synapse will check it.

Reads the files the way Synapse's ``-c`` does, validates the entry with the module's own
``parse_config``, and reports the effective settings (secrets masked), the homeserver settings that
decide which login types work, and what each bridge family will be able to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from synapse_dp_auth.admin import registration_checks
from synapse_dp_auth.admin.diagnosis import choose_login_type
from synapse_dp_auth.admin.families import FAMILIES, Choice
from synapse_dp_auth.admin.files import SourceError
from synapse_dp_auth.admin.files import read_yaml as read_yaml_file
from synapse_dp_auth.admin.registration import ServerNameError, validate_server_name
from synapse_dp_auth.config import RETENTION_KEY, ConfigValueError, DpAuthConfig, parse_config
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
#: Every `module:` string that loads this module (Synapse imports the dotted path).
OUR_MODULES = frozenset({MODULE, "synapse_dp_auth.provider.SharedSecretAuthProvider"})
#: devture's shared-secret-authenticator: v2 is a module, v1 a legacy password provider.
DEVTURE_MODULE = "shared_secret_authenticator.SharedSecretAuthProvider"
DEVTURE_V1_PROVIDER = "shared_secret_authenticator.SharedSecretAuthenticator"

#: Synapse's defaults for rc_login (synapse/config/ratelimiting.py); failed_attempts has none of
#: its own and falls back to the generic default.
_RC_LOGIN_DEFAULTS = {
    "address": (0.003, 5),
    "account": (0.003, 5),
    "failed_attempts": (0.17, 3),
}


class ConfigFileError(Exception):
    """The files cannot be read as a homeserver configuration; the message says why."""


def load_homeserver_config(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read and merge config files as Synapse's ``-c`` does: a directory means its ``*.yaml``
    files in sorted order, and a later file replaces whole top-level sections of earlier ones.

    Returns the merged config and, per top-level key, the file it came from.
    """

    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(".yaml"))
            if not found:
                raise ConfigFileError(f"{path} is a directory without *.yaml files")
            files.extend(found)
        else:
            files.append(path)

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path in files:
        loaded = read_yaml(path)
        if loaded is None and len(files) > 1:
            continue  # an empty conf.d file: Synapse ignores it too
        if not isinstance(loaded, dict):
            raise ConfigFileError(
                f"{path} does not hold a mapping of settings, as homeserver.yaml does"
            )
        merged.update(loaded)
        sources.update(dict.fromkeys((str(key) for key in loaded), str(path)))
    return merged, sources


def read_yaml(path: Path) -> Any:
    """One YAML file's content; :class:`ConfigFileError` names the file (and the line) when it
    cannot be read or parsed, without quoting any of it: it may hold a secret or a token."""
    try:
        return read_yaml_file(str(path))
    except SourceError as error:
        raise ConfigFileError(str(error)) from None


class ConfigReport:
    """Collects what check-config has to say; errors decide the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.errors = 0
        self.warnings = 0

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def error(self, text: str) -> None:
        self.errors += 1
        self.line(f"error: {text}")

    def warning(self, text: str) -> None:
        self.warnings += 1
        self.line(f"warning: {text}")

    def finish(self) -> int:
        self.line()
        if self.errors:
            self.line(f"{self.errors} error(s), {self.warnings} warning(s): not valid.")
            return 1
        self.line(f"Valid, with {self.warnings} warning(s).")
        return 0


def check_homeserver_config(
    config: Mapping[str, Any], sources: Mapping[str, str], report: ConfigReport
) -> None:
    """Find this module's entry, validate it with the module's own ``parse_config``, and say
    what the surrounding homeserver settings mean for the bridges."""
    ours: list[tuple[str, Mapping[str, Any]]] = []
    devture: list[tuple[str, Mapping[str, Any], str]] = []
    misplaced = False
    for section in ("modules", "password_providers"):
        entries = config.get(section) or []
        where_section = f"{section} (in {sources.get(section, '?')})"
        if not isinstance(entries, list):
            report.error(f"{where_section}: must be a list of entries")
            continue
        for index, entry in enumerate(entries):
            where = f"{section}[{index}]"
            if not isinstance(entry, dict):
                report.error(f"{where_section}: entry {index} is not a mapping with module:")
                continue
            name = entry.get("module")
            if name in OUR_MODULES:
                if section == "password_providers":
                    misplaced = True
                    report.error(
                        f"{where}: synapse_dp_auth is a module, not a legacy password provider,"
                        " and Synapse will refuse to start: move this entry (its module: and"
                        " config:) from password_providers: to modules:"
                    )
                ours.append((where, entry))
            elif isinstance(name, str) and name.startswith("shared_secret_authenticator."):
                devture.append((where, entry, name))

    parsed: list[DpAuthConfig] = []
    for where, entry in ours:
        result = _check_our_entry(where, entry, sources, report)
        if result is not None:
            parsed.append(result)
    if len([where for where, _ in ours if where.startswith("modules")]) > 1:
        report.error(f"{MODULE} is listed more than once under modules: keep one entry")

    for where, entry, name in devture:
        _advise_devture(where, entry, name, bool(ours), report)

    delegated = auth_delegated(config)
    for where, _ in ours:
        if delegated:
            report.error(
                f"{where}: synapse_dp_auth cannot run while auth is delegated to the Matrix"
                " Authentication Service (matrix_authentication_service.enabled): Synapse"
                " refuses to start with a password-auth module then. Remove this entry and"
                " double-puppet with the appservice method instead: `synapse_dp_auth appservice"
                " -c homeserver.yaml FILE` writes its registration and prints each bridge's"
                " setting"
            )
    registrations = _registration_files(config, sources, report)
    try:
        server_name, server_name_problem = configured_server_name(config, sources), ""
    except ConfigFileError as error:
        server_name, server_name_problem = None, str(error)
    double_puppets = (
        registration_checks.find_double_puppets(server_name, registrations)
        if server_name is not None
        else []
    )
    if not ours and not delegated and not double_puppets:
        report.error(
            f"synapse_dp_auth is not configured: add an entry `- module: {MODULE}` with its"
            " config: under modules: in homeserver.yaml"
        )
    elif not ours and not double_puppets:
        report.warning(
            "no bridge can double-puppet here: auth is delegated to the Matrix Authentication"
            " Service, where synapse_dp_auth cannot run, and no double-puppet registration is"
            " listed in app_service_config_files: `synapse_dp_auth appservice -c"
            " homeserver.yaml FILE` writes one"
        )
    elif not ours:
        report.line(
            "synapse_dp_auth is not configured: only bridges using the appservice method"
            " double-puppet here"
        )
    _homeserver_notes(config, parsed[0] if len(parsed) == 1 and not misplaced else None, report)
    _report_registrations(server_name, server_name_problem, sources, registrations, report)


def auth_delegated(config: Mapping[str, Any]) -> bool:
    """Whether Synapse delegates auth (MAS, or the experimental MSC3861 switch before it)."""
    mas = _section(config, "matrix_authentication_service").get("enabled", False)
    msc3861 = _section(_section(config, "experimental_features"), "msc3861").get("enabled", False)
    return bool(mas or msc3861)


def _registration_files(
    config: Mapping[str, Any], sources: Mapping[str, str], report: ConfigReport
) -> list[registration_checks.RegistrationFile]:
    """Read every file of ``app_service_config_files`` (relative paths from the current
    directory; Synapse reads them from its own working directory)."""
    listed = config.get("app_service_config_files")
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        where = sources.get("app_service_config_files", "?")
        report.error(
            f"app_service_config_files (in {where}) must be a list of file names (Synapse"
            " refuses to start)"
        )
        return []
    files = []
    for name in listed:
        try:
            content = read_yaml(Path(name))
        except ConfigFileError as error:
            hint = (
                ""
                if Path(name).is_absolute()
                else " (a relative path: Synapse reads it from its working directory)"
            )
            files.append(registration_checks.RegistrationFile(name, problem=f"{error}{hint}"))
        else:
            files.append(registration_checks.RegistrationFile(name, content))
    return files


def configured_server_name(config: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """homeserver.yaml's ``server_name``, checked as a Matrix server name;
    :class:`ConfigFileError` names the file (every file read, when none has the key)."""
    where = sources.get("server_name") or " / ".join(dict.fromkeys(sources.values())) or "?"
    value = config.get("server_name")
    if value is None:
        raise ConfigFileError(f"{where}: server_name is missing")
    if not isinstance(value, str):
        raise ConfigFileError(f"{where}: server_name must be a string, not {type(value).__name__}")
    try:
        return validate_server_name(value)
    except ServerNameError as error:
        raise ConfigFileError(f"{where}: server_name: {error}") from None


def _report_registrations(
    server_name: str | None,
    server_name_problem: str,
    sources: Mapping[str, str],
    files: Sequence[registration_checks.RegistrationFile],
    report: ConfigReport,
) -> None:
    """The registrations' findings: errors and warnings counted, notes as plain lines."""
    report.line()
    where = sources.get("app_service_config_files")
    report.line(
        "Appservice registrations"
        + (f" (app_service_config_files in {where}):" if where else " (app_service_config_files):")
    )
    if server_name is None:
        if files:
            report.error(f"{server_name_problem}: the registrations cannot be checked")
            return
        server_name = ""  # nothing to check against it
    for finding in registration_checks.check_registrations(server_name, files):
        if finding.level is registration_checks.Level.ERROR:
            report.error(finding.text)
        elif finding.level is registration_checks.Level.WARNING:
            report.warning(finding.text)
        else:
            report.line(f"  {finding.text}")


def _check_our_entry(
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


def _advise_devture(
    where: str, entry: Mapping[str, Any], name: str, ours_present: bool, report: ConfigReport
) -> None:
    """How to move from devture's shared-secret-authenticator (never printing its secret)."""
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
    report.warning(
        f"{where}: devture's {name}. To migrate, change its module: to {MODULE} and keep its"
        " config: (m_login_password_support_enabled now defaults to true)"
    )
    try:
        parse_config(entry.get("config") or {})
    except ConfigValueError as error:
        report.warning(
            f"{where}.config.{error.key}: synapse_dp_auth would refuse this: {error.message}"
        )
    else:
        report.line("  its config: is valid for synapse_dp_auth as it is")


def _homeserver_notes(
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
