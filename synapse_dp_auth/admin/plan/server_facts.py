"""What ``plan`` reads on the homeserver's side: homeserver.yaml (merged as Synapse's ``-c``
does), the registrations it lists, and the shared-secret module it loads, with its secret.

Double-puppet registrations are found as check-config finds them
(:func:`~synapse_dp_auth.admin.check_config.registrations.find_double_puppets`), and reused only
when a users namespace is not exclusive and covers every local user: what a bridge with its
``as_token`` needs. The module counts when it is this one or devture's
shared-secret-authenticator v2 (``shared_secret_authenticator.SharedSecretAuthProvider``: it
takes tokens on ``com.devture.shared_secret_auth`` always, and on ``m.login.password`` only with
``m_login_password_support_enabled``, default off: devture/matrix-synapse-shared-secret-auth
``shared_secret_authenticator.py`` @ 2536c3da). Secrets and tokens are kept in fields that
``repr`` leaves out, and no message built here quotes one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attr

from synapse_dp_auth.admin.check_config.login_settings import auth_delegated
from synapse_dp_auth.admin.check_config.module_entry import OUR_MODULES
from synapse_dp_auth.admin.check_config.registrations import (
    RegistrationFile,
    covers_every_local_user,
    find_double_puppets,
)
from synapse_dp_auth.admin.shared.homeserver_yaml import (
    ConfigFileError,
    configured_server_name,
    load_homeserver_config,
    read_yaml,
)
from synapse_dp_auth.config import ConfigValueError, parse_config

DEVTURE_MODULE = "shared_secret_authenticator.SharedSecretAuthProvider"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class ModuleFacts:
    """The shared-secret module Synapse loads."""

    #: ``synapse_dp_auth`` or devture's, in words.
    name: str
    #: ``modules[0] in /etc/matrix-synapse/homeserver.yaml``.
    where: str
    #: The secrets it accepts, or ``None`` when they cannot be had (``secret_problem`` says why).
    secrets: tuple[str, ...] | None = attr.ib(default=None, repr=False)
    secret_problem: str | None = None
    #: Whether it takes tokens on each login type.
    password_tokens: bool = True
    devture_tokens: bool = True
    #: The entry is invalid (check-config says why); it still counts as configured.
    invalid: str | None = None


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Registration:
    """A readable registration listed in ``app_service_config_files``."""

    path: str
    registration_id: str
    as_token: str = attr.ib(repr=False)
    #: Usable for double puppeting: a non-exclusive users namespace covering every local user.
    double_puppet: bool


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class ServerFacts:
    """homeserver.yaml and what it points to, as read."""

    #: The files read, in order (a directory's ``*.yaml`` files included).
    files: tuple[str, ...]
    #: Per top-level key, the file it came from.
    sources: Mapping[str, str]
    server_name: str
    #: Auth delegated to the Matrix Authentication Service (or the experimental MSC3861).
    delegated: bool
    #: Whether Synapse lets ``m.login.password`` through at all (``password_config.enabled``).
    password_login: bool
    module: ModuleFacts | None
    #: Every ``modules:`` entry that is this module or devture's, past the first: a mistake.
    extra_modules: tuple[str, ...] = ()
    registrations: tuple[Registration, ...] = ()
    #: The paths listed, as written (relative ones are read from the current directory).
    listed: tuple[str, ...] = ()
    #: Listed registrations that cannot be read or are no registration, with why.
    unreadable: tuple[str, ...] = ()
    #: Double-puppet registrations that cannot be reused, with why.
    unusable: tuple[str, ...] = ()
    public_baseurl: str | None = None
    #: Synapse's signing key: a file only the user Synapse runs as reads, like the new ones.
    signing_key_path: str | None = None
    #: Where new files go by default: beside the first ``-c`` file, never inside a ``-c``
    #: directory (Synapse would read a ``*.yaml`` there as part of its config).
    new_file_dir: str = "."

    @property
    def double_puppet(self) -> Registration | None:
        """The registration to reuse: the first usable double-puppet one."""
        return next((r for r in self.registrations if r.double_puppet), None)


def read_server(paths: Sequence[str]) -> ServerFacts:
    """Read homeserver.yaml (``-c`` files, merged) and everything it names that ``plan`` needs.

    Raises :class:`ConfigFileError` when the config cannot be read or has no valid server_name.
    """
    config, sources = load_homeserver_config(paths)
    server_name = configured_server_name(config, sources)
    files = tuple(dict.fromkeys(sources.values())) or tuple(paths)
    delegated = auth_delegated(config)
    password_config = _section(config, "password_config")
    enabled = password_config.get("enabled", not delegated)
    module, extra = _module(config, sources)
    registrations, listed, unreadable, unusable = _registrations(config, server_name)
    baseurl = config.get("public_baseurl")
    signing_key = config.get("signing_key_path")
    return ServerFacts(
        files=files,
        sources=dict(sources),
        server_name=server_name,
        delegated=delegated,
        password_login=bool(enabled) and enabled != "only_for_reauth",
        module=module,
        extra_modules=tuple(extra),
        registrations=tuple(registrations),
        listed=tuple(listed),
        unreadable=tuple(unreadable),
        unusable=tuple(unusable),
        public_baseurl=baseurl.rstrip("/") if isinstance(baseurl, str) and baseurl else None,
        signing_key_path=signing_key if isinstance(signing_key, str) else None,
        new_file_dir=str(_new_file_dir(paths)),
    )


def _new_file_dir(paths: Sequence[str]) -> Path:
    directory = Path(paths[0]).absolute().parent
    config_dirs = {Path(path).absolute() for path in paths if Path(path).is_dir()}
    while directory in config_dirs and directory.parent != directory:
        directory = directory.parent
    return directory


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def _module(
    config: Mapping[str, Any], sources: Mapping[str, str]
) -> tuple[ModuleFacts | None, list[str]]:
    entries = config.get("modules")
    if not isinstance(entries, list):
        return None, []
    found: list[ModuleFacts] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        where = f"modules[{index}] in {sources.get('modules', '?')}"
        raw = entry.get("config") or {}
        if entry.get("module") in OUR_MODULES:
            found.append(_ours(where, raw))
        elif entry.get("module") == DEVTURE_MODULE:
            found.append(_devture(where, raw))
    if not found:
        return None, []
    return found[0], [module.where for module in found[1:]]


def _ours(where: str, raw: object) -> ModuleFacts:
    name = "synapse_dp_auth"
    try:
        parsed = parse_config(raw if isinstance(raw, Mapping) else {})
    except ConfigValueError as error:
        problem = f"{where}: config.{error.key}: {error.message}"
        if error.key == "shared_secret_path":
            return ModuleFacts(name=name, where=where, secret_problem=problem)
        return ModuleFacts(name=name, where=where, secret_problem=problem, invalid=problem)
    return ModuleFacts(
        name=name,
        where=where,
        secrets=tuple(secret.decode("utf-8") for secret in parsed.secrets),
        password_tokens=parsed.m_login_password_support_enabled,
        devture_tokens=parsed.com_devture_shared_secret_auth_support_enabled,
    )


def _devture(where: str, raw: object) -> ModuleFacts:
    name = "devture's shared-secret-authenticator"
    config = raw if isinstance(raw, Mapping) else {}
    secret = config.get("shared_secret")
    if not isinstance(secret, str) or not secret:
        problem = f"{where}: config.shared_secret is missing or not a string"
        return ModuleFacts(name=name, where=where, secret_problem=problem, invalid=problem)
    return ModuleFacts(
        name=name,
        where=where,
        secrets=(secret,),
        password_tokens=config.get("m_login_password_support_enabled", False) is True,
        devture_tokens=config.get("com_devture_shared_secret_auth_support_enabled", True)
        is not False,
    )


def _registrations(
    config: Mapping[str, Any], server_name: str
) -> tuple[list[Registration], list[str], list[str], list[str]]:
    listed = config.get("app_service_config_files")
    if not isinstance(listed, list):
        return [], [], [], []
    names = [name for name in listed if isinstance(name, str)]
    files: list[RegistrationFile] = []
    unreadable: list[str] = []
    for name in names:
        try:
            files.append(RegistrationFile(name, read_yaml(Path(name))))
        except ConfigFileError as error:
            unreadable.append(str(error))
    double_puppets = set(find_double_puppets(server_name, files))
    registrations: list[Registration] = []
    unusable: list[str] = []
    for file in files:
        content = file.content
        if not isinstance(content, dict) or not isinstance(content.get("as_token"), str):
            unreadable.append(f"{file.path} does not hold a registration")
            continue
        usable = False
        if file.path in double_puppets:
            why = _why_not_reusable(content, server_name)
            usable = why is None
            if why is not None:
                unusable.append(f"{file.path}: {why}")
        registrations.append(
            Registration(
                path=file.path,
                registration_id=str(content.get("id")),
                as_token=content["as_token"],
                double_puppet=usable,
            )
        )
    return registrations, names, unreadable, unusable


def _why_not_reusable(registration: Mapping[str, Any], server_name: str) -> str | None:
    """Why a double-puppet registration cannot serve the bridges, or ``None``."""
    users = (registration.get("namespaces") or {}).get("users") or []
    good = [
        entry
        for entry in users
        if entry.get("exclusive") is False
        and covers_every_local_user(str(entry.get("regex")), server_name)
    ]
    if good:
        return None
    return (
        "its users namespace is exclusive or does not cover every local user (check-config says"
        " what to change): not reused"
    )
