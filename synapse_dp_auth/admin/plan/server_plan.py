"""``plan``'s server side: the double-puppet registration the bridges use (found and reused, or
created), its ``app_service_config_files`` line, and the module entry with a secret in a file of
its own when some bridge needs shared-secret login and no module is configured.

New files go beside homeserver.yaml unless the admin names them. A file already at that place is
reused when it is what would be written (a registration for double puppeting on this server, a
secret file), so that a run cut short by a failure finishes on the next one; anything else there
is left alone and the next free name taken. Under the Matrix Authentication Service the module is
never added: Synapse refuses to start with a password-auth module then.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import attr

from synapse_dp_auth.admin.appservice.registration import (
    DEFAULT_ID,
    build_registration,
    registration_yaml,
)
from synapse_dp_auth.admin.check_config.module_entry import MODULE
from synapse_dp_auth.admin.check_config.registrations import RegistrationFile, find_double_puppets
from synapse_dp_auth.admin.plan.server_facts import ServerFacts
from synapse_dp_auth.admin.plan.values import Value
from synapse_dp_auth.admin.shared.homeserver_yaml import ConfigFileError, read_yaml

DEFAULT_REGISTRATION_NAME = "doublepuppet.yaml"
DEFAULT_SECRET_NAME = "synapse_dp_auth_secret"
#: Shorter than this, a file found at the secret's place is not taken for one this wrote.
_MIN_SECRET = 32


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class NewFile:
    """A file to create, readable by its owner only."""

    path: Path
    text: str = attr.ib(repr=False)
    #: ``yaml`` or ``secret`` (a file that is a secret and nothing else).
    kind: str
    what: str
    #: The secrets and tokens in it, for the diff to hide.
    secrets: tuple[str, ...] = attr.ib(repr=False)


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class ListEdit:
    """An item to add to a list in a homeserver config file."""

    file: str
    key: str
    item: Value
    identity_key: str | None = None
    what: str
    #: The new file it points to, if any: without it, the edit is not made.
    needs: Path | None = None


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class ServerPlan:
    """What the server side needs."""

    #: The registration the bridges' ``as_token:`` values name, and its token.
    registration_path: str | None = None
    as_token: str | None = attr.ib(default=None, repr=False)
    #: The registration was already listed (nothing to do for it).
    registration_reused: bool = False
    #: The module's secret, for the bridges that log in with one (``None``: not needed, or
    #: cannot be read).
    module_secret: str | None = attr.ib(default=None, repr=False)
    module_added: bool = False
    new_files: tuple[NewFile, ...] = ()
    edits: tuple[ListEdit, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def plan_server(
    facts: ServerFacts,
    *,
    needs_appservice: bool,
    needs_module: bool,
    registration_path: str | None = None,
    secret_path: str | None = None,
) -> ServerPlan:
    """Decide the server side. Reads the files already at the places new ones would go."""
    directory = Path(facts.new_file_dir)
    new_files: list[NewFile] = []
    edits: list[ListEdit] = []
    notes: list[str] = []
    problems: list[str] = []
    chosen_path: str | None = None
    as_token: str | None = None
    reused = False
    module_secret: str | None = None
    module_added = False

    if needs_appservice:
        found = facts.double_puppet
        if found is not None:
            chosen_path, as_token, reused = found.path, found.as_token, True
        else:
            path, token, new_file, why = _registration(facts, directory, registration_path)
            if path is None or token is None:
                problems.append(why)
            else:
                chosen_path, as_token = str(path), token
                if new_file is not None:
                    new_files.append(new_file)
                    if facts.unreadable:
                        notes.append(
                            "some listed registrations could not be read here: if one of them is"
                            " a double-puppet registration, use it instead (or make sure none"
                            " has the new one's id: Synapse refuses two registrations of one id)"
                        )
                elif why:
                    notes.append(why)
                edits.append(
                    ListEdit(
                        file=facts.sources.get("app_service_config_files", facts.files[0]),
                        key="app_service_config_files",
                        item=str(path),
                        what=f"list {path} in app_service_config_files",
                        needs=new_file.path if new_file is not None else None,
                    )
                )

    module = facts.module
    if module is not None:
        if module.secrets:
            # The last one listed: after a rotation's first step ([OLD, NEW]) that is the new one.
            module_secret = module.secrets[-1]
    elif needs_module and not facts.delegated:
        path, secret, new_file, why = _secret(directory, secret_path)
        if path is None or secret is None:
            problems.append(why)
        else:
            module_secret, module_added = secret, True
            if new_file is not None:
                new_files.append(new_file)
            elif why:
                notes.append(why)
            edits.append(
                ListEdit(
                    file=facts.sources.get("modules", facts.files[0]),
                    key="modules",
                    item={"module": MODULE, "config": {"shared_secret_path": str(path)}},
                    identity_key="module",
                    what=f"load {MODULE} with its secret in {path}",
                    needs=new_file.path if new_file is not None else None,
                )
            )
    return ServerPlan(
        registration_path=chosen_path,
        as_token=as_token,
        registration_reused=reused,
        module_secret=module_secret,
        module_added=module_added,
        new_files=tuple(new_files),
        edits=tuple(edits),
        notes=tuple(notes),
        problems=tuple(problems),
    )


def _candidates(directory: Path, given: str | None, name: str) -> list[Path]:
    if given is not None:
        return [Path(given).absolute()]
    stem, dot, suffix = name.partition(".")
    return [directory / name] + [
        directory / f"{stem}-{number}{dot}{suffix}" for number in range(2, 10)
    ]


def _registration(
    facts: ServerFacts, directory: Path, given: str | None
) -> tuple[Path | None, str | None, NewFile | None, str]:
    """Where the registration goes, its as_token, the file to create (``None``: one is there
    already, unlisted), and a note or, with no path, the problem."""
    listed = {str(Path(name).absolute()) for name in facts.listed}
    for path in _candidates(directory, given, DEFAULT_REGISTRATION_NAME):
        if str(path) in listed:
            continue  # listed and not usable: facts.unusable says why
        if not path.exists():
            ids = {registration.registration_id for registration in facts.registrations}
            registration_id = next(
                candidate
                for candidate in (DEFAULT_ID, *(f"{DEFAULT_ID}-{n}" for n in range(2, 100)))
                if candidate not in ids
            )
            registration = build_registration(facts.server_name, registration_id)
            token = str(registration["as_token"])
            new_file = NewFile(
                path=path,
                text=registration_yaml(registration, facts.server_name).replace(
                    "`synapse_dp_auth appservice`", "`synapse_dp_auth plan`"
                ),
                kind="yaml",
                what=f"the double-puppet registration for {facts.server_name} (id"
                f" {registration_id})",
                secrets=(token, str(registration["hs_token"])),
            )
            return path, token, new_file, ""
        existing = _usable_registration(path, facts.server_name)
        if existing is not None:
            return path, existing, None, f"{path} is a double-puppet registration already: reused"
        if given is not None:
            break
    where = given or str(directory / DEFAULT_REGISTRATION_NAME)
    return (
        None,
        None,
        None,
        f"cannot place the double-puppet registration: {where} exists and is not one (give"
        " --registration-path)",
    )


def _usable_registration(path: Path, server_name: str) -> str | None:
    """The as_token of the registration at ``path`` if it is one for double puppeting here."""
    try:
        content = read_yaml(path)
    except ConfigFileError:
        return None
    if not isinstance(content, Mapping) or not find_double_puppets(
        server_name, [RegistrationFile(str(path), content)]
    ):
        return None
    token = content.get("as_token")
    return token if isinstance(token, str) else None


def _secret(
    directory: Path, given: str | None
) -> tuple[Path | None, str | None, NewFile | None, str]:
    for path in _candidates(directory, given, DEFAULT_SECRET_NAME):
        if not path.exists():
            secret = secrets.token_hex(32)
            new_file = NewFile(
                path=path,
                text=secret + "\n",
                kind="secret",
                what="the module's shared secret",
                secrets=(secret,),
            )
            return path, secret, new_file, ""
        found = _existing_secret(path)
        if found is not None:
            return path, found, None, f"{path} holds a secret already: the module will use it"
        if given is not None:
            break
    where = given or str(directory / DEFAULT_SECRET_NAME)
    return (
        None,
        None,
        None,
        f"cannot place the module's secret: {where} exists and does not hold one (give"
        " --secret-path)",
    )


def _existing_secret(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0]) >= _MIN_SECRET:
        return lines[0]
    return None
