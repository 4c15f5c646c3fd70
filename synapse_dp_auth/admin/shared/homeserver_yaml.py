"""homeserver.yaml, read as Synapse's ``-c`` reads it: for ``check-config``, and for
``appservice -c`` (the server name).

Errors name the file (and the line) and never quote it: it may hold a secret or a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from synapse_dp_auth.admin.shared.files import SourceError
from synapse_dp_auth.admin.shared.files import read_yaml as read_yaml_file
from synapse_dp_auth.admin.shared.matrix_ids import ServerNameError, validate_server_name


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
