"""``check-config``'s look at the appservice registrations: what Synapse will not check.

Synapse loads a double-puppet registration with an exclusive namespace, a URL, a regex that
misses the server's users or a reused token without a word (or refuses a reused ``id`` or
``as_token`` only at its next restart, printing the token into its log). These checks catch each
beforehand. They are pure: they take the files already read, and return findings whose text
names files and keys but never a token.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import attr

from synapse_dp_auth.admin.check_config.path_map import MDAD_DOUBLE_PUPPET_MOUNT
from synapse_dp_auth.admin.shared.matrix_ids import user_regex

#: The namespaces Synapse reads from a registration.
NAMESPACES = ("users", "aliases", "rooms")
#: The fields Synapse requires as strings (``url`` must be a string or an explicit null).
REQUIRED_STRINGS = ("id", "as_token", "hs_token", "sender_localpart")
#: Shared between two registrations, each of these is a mistake; the value says why.
MUST_DIFFER = {
    "id": "Synapse refuses to start with two registrations of one id",
    "as_token": "Synapse refuses to start with two registrations of one as_token (and its"
    " error prints the token into the log)",
    "hs_token": "Synapse accepts it, but each appservice could then pose as the homeserver to"
    " the other",
}
#: What mautrix's docs print where an admin must fill in a value (mautrix/docs
#: ``bridges/general/double-puppeting.md`` @ b44236a6f947, lines 47-69): each of as_token,
#: hs_token and sender_localpart is the text "random string", and the users regex names
#: ``your\.domain``. Pasted unedited, Synapse refuses the sender_localpart (it has a space).
DOCS_PLACEHOLDER_TOKEN = "random string"
DOCS_PLACEHOLDER_DOMAIN = "your\\.domain"
#: Localparts that every regex meant to cover "every local user" must match (the grammar's
#: characters, a digit-only one, a one-letter one).
_SAMPLE_LOCALPARTS = ("alice", "a.b-c_d=e/f", "1234", "x")


@enum.unique
class Level(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@attr.s(frozen=True, auto_attribs=True)
class Finding:
    level: Level
    text: str


@attr.s(frozen=True, auto_attribs=True)
class RegistrationFile:
    """One entry of ``app_service_config_files``, as read: its content or why it is unreadable.

    ``missing`` when nothing is at the path here (as for a path inside Synapse's container);
    ``read_from`` when ``--path-map`` had it read from another path."""

    path: str
    content: Any = attr.ib(default=None, repr=False)  # holds tokens
    problem: str | None = None
    missing: bool = False
    read_from: str | None = None


def yaml_single_quoted(regex: str) -> str:
    """``regex`` as a single-quoted YAML scalar, the quoting MDAD's and mautrix's registrations
    use: backslashes are literal there (only a ``'`` is doubled), so the text pastes as is."""
    return "'" + regex.replace("'", "''") + "'"


def regex_advice(regex: str) -> str:
    """What to write, pasteable as printed, and for which YAML quoting (a Python repr would
    double each backslash: pasted into single quotes, ``\\.`` no longer matches a ``.``)."""
    double_quoted = '"' + regex.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (
        f"write regex: {yaml_single_quoted(regex)} (as printed, in single quotes; in double"
        f" quotes each backslash is doubled: {double_quoted})"
    )


@enum.unique
class Kind(enum.Enum):
    """What a registration is for, judged from its namespaces."""

    DOUBLE_PUPPET = "double-puppet registration"
    BRIDGE_WITH_CATCH_ALL = "bridge registration with a catch-all user namespace"
    OTHER = "appservice registration"


def sample_user_ids(server_name: str) -> tuple[str, ...]:
    """Local user IDs a double-puppet namespace must cover."""
    return tuple(f"@{localpart}:{server_name}" for localpart in _SAMPLE_LOCALPARTS)


def covers_every_local_user(regex: str, server_name: str) -> bool:
    """Whether ``regex`` matches every sample local user, as Synapse matches (``re.match``)."""
    try:
        compiled = re.compile(regex)
    except re.error:
        return False
    return all(compiled.match(user_id) for user_id in sample_user_ids(server_name))


def check_registrations(server_name: str, files: Sequence[RegistrationFile]) -> list[Finding]:
    """Every finding about the registrations in ``files`` (in homeserver.yaml's order)."""
    findings: list[Finding] = []
    usable: list[tuple[str, Mapping[str, Any]]] = []
    seen_paths: set[str] = set()
    elsewhere: list[RegistrationFile] = []
    unchecked = 0
    for file in files:
        if file.path in seen_paths:
            findings.append(
                Finding(Level.ERROR, f"{file.path} is listed twice in app_service_config_files")
            )
            continue
        seen_paths.add(file.path)
        if file.missing and file.path.startswith("/"):
            elsewhere.append(file)
            continue
        if file.problem is not None:
            findings.append(Finding(Level.ERROR, file.problem))
            unchecked += 1
            continue
        placeholders = docs_placeholders(file.content)
        if placeholders:
            # Instead of the shape checks: the placeholder is the cause of what they would find.
            findings.append(
                Finding(
                    Level.ERROR,
                    f"{file.path} still holds the placeholders of mautrix's docs"
                    f" ({', '.join(placeholders)}), pasted unedited: Synapse refuses it or it"
                    " serves no user here. `synapse_dp_auth appservice` writes a registration"
                    " with real tokens and this server's regex; or replace each placeholder",
                )
            )
            unchecked += 1
            continue
        problems = _shape_problems(file.path, file.content)
        findings.extend(Finding(Level.ERROR, text) for text in problems)
        if not problems:
            usable.append((file.path, file.content))

    if elsewhere:
        findings.insert(0, _not_here(elsewhere))
        unchecked += len(elsewhere)

    double_puppets = 0
    for path, registration in usable:
        kind = classify(registration, server_name)
        findings.extend(_check_one(path, registration, kind, server_name))
        double_puppets += kind is Kind.DOUBLE_PUPPET
    findings.extend(_collisions(usable))

    if not double_puppets and unchecked:
        findings.append(
            Finding(
                Level.NOTE,
                f"no double-puppet registration among those checked; {unchecked} listed"
                f" file{'s' if unchecked != 1 else ''} could not be checked (above)",
            )
        )
    elif not double_puppets:
        findings.append(
            Finding(
                Level.NOTE,
                "no double-puppet registration is listed: mautrix-go bridgev2 bridges (and"
                " every bridge under the Matrix Authentication Service) can only double-puppet"
                " with one; `synapse_dp_auth appservice` writes it",
            )
        )
    return findings


def _not_here(files: Sequence[RegistrationFile]) -> Finding:
    """One finding for every listed absolute path with nothing behind it here: the one cause is
    most often that homeserver.yaml names paths inside Synapse's container."""
    listed = ", ".join(
        file.path + (f" (mapped to {file.read_from})" if file.read_from else "") for file in files
    )
    container, host = MDAD_DOUBLE_PUPPET_MOUNT
    return Finding(
        Level.ERROR,
        f"not checked: {len(files)} file{'s' if len(files) != 1 else ''} listed in"
        f" app_service_config_files {'do' if len(files) != 1 else 'does'} not exist here:"
        f" {listed}. They may be paths inside Synapse's container (matrix-docker-ansible-deploy"
        f" mounts {host} as {container}): run check-config inside that container, or map the"
        " paths to this host with --path-map CONTAINER_PREFIX=HOST_PREFIX (repeatable), e.g."
        f" --path-map {container}={host}",
    )


def docs_placeholders(content: Any) -> list[str]:
    """The keys of a registration that still hold mautrix's docs' placeholders (named, never
    their values: a real token may sit next to them)."""
    if not isinstance(content, dict):
        return []
    found = [key for key in REQUIRED_STRINGS if content.get(key) == DOCS_PLACEHOLDER_TOKEN]
    found = [f"{key}: {DOCS_PLACEHOLDER_TOKEN}" for key in found]
    namespaces = content.get("namespaces")
    users = namespaces.get("users") if isinstance(namespaces, dict) else None
    for index, entry in enumerate(users if isinstance(users, list) else []):
        regex = entry.get("regex") if isinstance(entry, dict) else None
        if isinstance(regex, str) and DOCS_PLACEHOLDER_DOMAIN in regex:
            found.append(f"namespaces.users[{index}].regex names {DOCS_PLACEHOLDER_DOMAIN}")
    return found


def could_not_check(files: Sequence[RegistrationFile]) -> bool:
    """Whether some listed file could not be checked (unreadable, or the docs' placeholders), so
    that what the others lack may be there."""
    return any(file.problem is not None or docs_placeholders(file.content) for file in files)


def find_double_puppets(server_name: str, files: Sequence[RegistrationFile]) -> list[str]:
    """The files among ``files`` that Synapse can load and that are for double puppeting."""
    return [
        file.path
        for file in files
        if file.problem is None
        and not docs_placeholders(file.content)
        and not _shape_problems(file.path, file.content)
        and classify(file.content, server_name) is Kind.DOUBLE_PUPPET
    ]


def classify(registration: Mapping[str, Any], server_name: str) -> Kind:
    """A registration with a user namespace covering every local user is for double puppeting,
    unless it also claims ghosts or rooms of its own: then it is a bridge's registration that
    carries the deprecated catch-all namespace."""
    namespaces = registration.get("namespaces") or {}
    entries = [
        entry
        for key in NAMESPACES
        for entry in (namespaces.get(key) or [])
        if isinstance(entry, dict)
    ]
    catch_all = [
        entry
        for entry in namespaces.get("users") or []
        if isinstance(entry, dict) and _looks_catch_all(entry.get("regex"), server_name)
    ]
    if not catch_all:
        return Kind.OTHER
    if len(catch_all) < len(entries):
        return Kind.BRIDGE_WITH_CATCH_ALL
    return Kind.DOUBLE_PUPPET


def _looks_catch_all(regex: object, server_name: str) -> bool:
    """Covers every local user, or was meant to (``@.*``/``@.+`` localpart, any server part)."""
    if not isinstance(regex, str):
        return False
    return covers_every_local_user(regex, server_name) or regex.startswith(("@.*:", "@.+:"))


def _shape_problems(path: str, content: Any) -> list[str]:
    """What makes Synapse refuse the file at start-up, as its loader checks it key by key
    (Synapse 1.163.2 ``synapse/config/appservice.py`` ``_load_appservice`` and
    ``ApplicationService._check_namespaces``), for the keys a registration for double puppeting
    or a bridge has; the loader's checks of experimental keys (``org.matrix.msc3202``,
    ``io.element.*``) and of ``ip_range_whitelist`` are not repeated here."""
    if not isinstance(content, dict):
        return [f"{path} does not hold a registration (a mapping with id, as_token, ...)"]
    problems = [
        f"{path}: {key} is missing or not a string (Synapse refuses to start)"
        for key in REQUIRED_STRINGS
        if not isinstance(content.get(key), str)
    ]
    localpart = content.get("sender_localpart")
    if isinstance(localpart, str) and urllib.parse.quote(localpart) != localpart:
        problems.append(
            f"{path}: sender_localpart may hold only letters, digits and '_.-~/' (Synapse refuses"
            " a localpart with characters that need URL encoding, and does not start)"
        )
    protocols = content.get("protocols")
    if protocols and (
        not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols)
    ):
        problems.append(f"{path}: protocols must be a list of strings (Synapse refuses to start)")
    if "url" not in content or not (content["url"] is None or isinstance(content["url"], str)):
        problems.append(
            f"{path}: url must be a string or an explicit null (url: null), not missing"
            " (Synapse refuses to start)"
        )
    namespaces = content.get("namespaces")
    if not isinstance(namespaces, dict):
        problems.append(
            f"{path}: namespaces is missing or not a mapping (Synapse refuses to start)"
        )
        return problems
    for key in NAMESPACES:
        if key not in namespaces:
            continue  # optional; but present, even empty (null), it must be a list
        entries = namespaces[key]
        if not isinstance(entries, list):
            problems.append(
                f"{path}: namespaces.{key} must be a list (Synapse refuses to start)"
                + (f": write {key}: [] or remove the key" if entries is None else "")
            )
            continue
        for index, entry in enumerate(entries):
            where = f"{path}: namespaces.{key}[{index}]"
            if not isinstance(entry, dict):
                problems.append(f"{where} must be a mapping with regex and exclusive")
                continue
            if not isinstance(entry.get("regex"), str):
                problems.append(f"{where}.regex is missing or not a string")
            else:
                try:
                    re.compile(entry["regex"])
                except re.error as error:
                    problems.append(f"{where}.regex is not a valid regular expression: {error}")
            if not isinstance(entry.get("exclusive"), bool):
                problems.append(f"{where}.exclusive must be true or false")
    return problems


def _check_one(
    path: str, registration: Mapping[str, Any], kind: Kind, server_name: str
) -> list[Finding]:
    where = f"{path} (id {registration['id']!r})"
    if kind is Kind.OTHER:
        return [Finding(Level.NOTE, f"{where}: {kind.value}, not for double puppeting")]
    if kind is Kind.BRIDGE_WITH_CATCH_ALL:
        return [
            Finding(
                Level.WARNING,
                f"{where}: a bridge's registration with a catch-all user namespace (the"
                " deprecated appservice double-puppet method): Synapse pushes to this bridge"
                " every event of every room a local user is in. Remove that namespace entry,"
                " and double-puppet with a registration of its own instead:"
                " `synapse_dp_auth appservice`, then as_token:... in the bridge's config",
            )
        ]

    findings = [Finding(Level.NOTE, f"{where}: {kind.value}")]
    expected = user_regex(server_name)
    for index, entry in enumerate(registration["namespaces"].get("users") or []):
        key = f"{where}: namespaces.users[{index}]"
        regex = entry["regex"]
        if not covers_every_local_user(regex, server_name):
            missed = next(u for u in sample_user_ids(server_name) if not re.compile(regex).match(u))
            findings.append(
                Finding(
                    Level.ERROR,
                    f"{key}.regex {yaml_single_quoted(regex)} does not match the users of this"
                    f" server ({server_name}), e.g. {missed}: {regex_advice(expected)}",
                )
            )
        else:
            findings.extend(_too_wide(key, regex, server_name, expected))
        if entry["exclusive"]:
            findings.append(
                Finding(
                    Level.ERROR,
                    f"{key}.exclusive is true: this appservice would own every local user, and"
                    " Synapse would refuse everyone else's registration of a user name; set"
                    " exclusive: false",
                )
            )
    url = registration["url"]
    if url is not None:
        findings.append(
            Finding(
                Level.WARNING,
                f"{where}: url is set ({url!r}): Synapse pushes every event of every room a local"
                " user is in to that address (retrying while it does not answer); a"
                " double-puppet registration needs none: set url: null",
            )
        )
    if registration.get("rate_limited") is not False:
        findings.append(
            Finding(
                Level.WARNING,
                f"{where}: rate_limited is not false, so Synapse rate-limits what bridges send"
                " as users with this as_token (messages a user sent elsewhere, in bursts): set"
                " rate_limited: false",
            )
        )
    return findings


#: A server name unlike any the checks are run for.
_UNRELATED_SERVER = "unrelated-server.example"


def _too_wide(key: str, regex: str, server_name: str, expected: str) -> list[Finding]:
    """A regex that covers this server's users and also other servers': a warning when it is
    not tied to this server at all or has an unescaped ``.``; a note when only the ``$`` at its
    end is missing (Synapse matches from the start only, so it also matches longer server
    names; harmless for double puppeting, as Synapse acts only for users that exist here)."""
    compiled = re.compile(regex)

    def matches(other: str) -> bool:
        return other != server_name and bool(compiled.match(f"@alice:{other}"))

    if matches(_UNRELATED_SERVER):
        return [
            Finding(
                Level.WARNING,
                f"{key}.regex {yaml_single_quoted(regex)} matches the users of every server, e.g."
                f" @alice:{_UNRELATED_SERVER} (nothing in it names {server_name}):"
                f" {regex_advice(expected)}",
            )
        ]
    if matches(server_name.replace(".", "x")):
        return [
            Finding(
                Level.WARNING,
                f"{key}.regex {yaml_single_quoted(regex)} also matches users of other servers,"
                f" e.g. @alice:{server_name.replace('.', 'x')} (an unescaped '.' matches any"
                f" character): {regex_advice(expected)}",
            )
        ]
    longer = f"{server_name}.{_UNRELATED_SERVER}"
    if matches(longer):
        return [
            Finding(
                Level.NOTE,
                f"{key}.regex {yaml_single_quoted(regex)} also matches longer server names, e.g."
                f" @alice:{longer} (Synapse matches from the start of the user ID only); harmless"
                f" for double puppeting, but to say exactly what is meant,"
                f" {regex_advice(expected)}",
            )
        ]
    return []


def _collisions(usable: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Finding]:
    """The same id, as_token or hs_token in two files: the files are named, never the value."""
    findings = []
    for key, why in MUST_DIFFER.items():
        first_file: dict[str, str] = {}
        for path, registration in usable:
            value = registration[key]
            if value in first_file:
                shown = f" {value!r}" if key == "id" else ""
                findings.append(
                    Finding(
                        Level.ERROR,
                        f"{path} and {first_file[value]} have the same {key}{shown}: {why};"
                        f" give each registration its own",
                    )
                )
            else:
                first_file[value] = path
    return findings
