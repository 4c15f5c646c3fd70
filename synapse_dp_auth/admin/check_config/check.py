"""``check-config``: this module's entry in homeserver.yaml, checked as Synapse will check it.

Reads the files the way Synapse's ``-c`` does
(:mod:`~synapse_dp_auth.admin.shared.homeserver_yaml`), finds the ``modules:`` entries, and
reports on each part in its own file: this module's entry and devture's
(:mod:`~synapse_dp_auth.admin.check_config.module_entry`), the homeserver settings that decide
which login types work (:mod:`~synapse_dp_auth.admin.check_config.login_settings`), and the
appservice registrations (:mod:`~synapse_dp_auth.admin.check_config.registrations`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from synapse_dp_auth.admin.check_config import registrations as registration_checks
from synapse_dp_auth.admin.check_config.login_settings import auth_delegated, report_login_settings
from synapse_dp_auth.admin.check_config.module_entry import (
    DEVTURE_MODULE,
    MODULE,
    OUR_MODULES,
    advise_devture,
    check_our_entry,
)
from synapse_dp_auth.admin.check_config.path_map import PathMapping, map_path
from synapse_dp_auth.admin.check_config.report import ConfigReport
from synapse_dp_auth.admin.shared.homeserver_yaml import (
    ConfigFileError,
    configured_server_name,
    read_yaml,
)
from synapse_dp_auth.config import DpAuthConfig


def check_homeserver_config(
    config: Mapping[str, Any],
    sources: Mapping[str, str],
    report: ConfigReport,
    path_mappings: Sequence[PathMapping] = (),
) -> None:
    """Find this module's entry, validate it with the module's own ``parse_config``, and say
    what the surrounding homeserver settings mean for the bridges. ``path_mappings`` say where
    the registrations listed by their path inside Synapse's container are on this host."""
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
        result = check_our_entry(where, entry, sources, report)
        if result is not None:
            parsed.append(result)
    if len([where for where, _ in ours if where.startswith("modules")]) > 1:
        report.error(f"{MODULE} is listed more than once under modules: keep one entry")

    delegated = auth_delegated(config)
    for where, entry, name in devture:
        advise_devture(where, entry, name, bool(ours), delegated, report)

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
    registrations = _registration_files(config, sources, report, path_mappings)
    try:
        server_name, server_name_problem = configured_server_name(config, sources), ""
    except ConfigFileError as error:
        server_name, server_name_problem = None, str(error)
    double_puppets = (
        registration_checks.find_double_puppets(server_name, registrations)
        if server_name is not None
        else []
    )
    # devture's module (v2, under modules:) serves shared-secret logins as ours does: its entry
    # gets migration advice (above), never "not configured"; unless auth is delegated, where
    # neither can run (an error on its entry, above).
    shared_secret_module = bool(ours) or (
        not delegated
        and any(
            name == DEVTURE_MODULE and where.startswith("modules") for where, _, name in devture
        )
    )
    if not shared_secret_module:
        _report_without_module(registrations, double_puppets, delegated, report)
    report_login_settings(config, parsed[0] if len(parsed) == 1 and not misplaced else None, report)
    _report_registrations(server_name, server_name_problem, sources, registrations, report)


def _report_without_module(
    registrations: Sequence[registration_checks.RegistrationFile],
    double_puppets: Sequence[str],
    delegated: bool,
    report: ConfigReport,
) -> None:
    """With no shared-secret module (ours or devture's), whether bridges can double-puppet at
    all: only with a double-puppet registration (the appservice method)."""
    if not double_puppets and registration_checks.could_not_check(registrations):
        # Not an error of its own: the one cause is reported with the registrations.
        report.line(
            "No shared-secret module is configured: whether bridges can double-puppet here (with"
            " the appservice method) depends on the registrations that could not be checked"
            " (below)"
        )
    elif not delegated and not double_puppets:
        report.error(
            f"synapse_dp_auth is not configured: add an entry `- module: {MODULE}` with its"
            " config: under modules: in homeserver.yaml"
        )
    elif not double_puppets:
        report.warning(
            "no bridge can double-puppet here: auth is delegated to the Matrix Authentication"
            " Service, where synapse_dp_auth cannot run, and no double-puppet registration is"
            " listed in app_service_config_files: `synapse_dp_auth appservice -c"
            " homeserver.yaml FILE` writes one"
        )
    else:
        report.line(
            "synapse_dp_auth is not configured: only bridges using the appservice method"
            " double-puppet here"
        )


def _registration_files(
    config: Mapping[str, Any],
    sources: Mapping[str, str],
    report: ConfigReport,
    path_mappings: Sequence[PathMapping],
) -> list[registration_checks.RegistrationFile]:
    """Read every file of ``app_service_config_files`` (relative paths from the current
    directory; Synapse reads them from its own working directory), each from where
    ``path_mappings`` put it on this host."""
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
        local = map_path(name, path_mappings)
        read_from = local if local != name else None
        try:
            content = read_yaml(Path(local))
        except ConfigFileError as error:
            hint = (
                ""
                if Path(name).is_absolute()
                else " (a relative path: Synapse reads it from its working directory)"
            )
            files.append(
                registration_checks.RegistrationFile(
                    name,
                    problem=f"{error}{hint}",
                    missing=not os.path.lexists(local),
                    read_from=read_from,
                )
            )
        else:
            files.append(registration_checks.RegistrationFile(name, content, read_from=read_from))
    return files


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
