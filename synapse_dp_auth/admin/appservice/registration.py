"""``appservice``'s registration: built from a server name, written once.

The appservice method (mautrix's "Double puppeting" docs) needs a second registration file next
to each bridge's own: no URL (Synapse pushes it nothing), fresh random tokens, no rate limit, and
a user namespace that covers every local user without claiming it (``exclusive: false``). A
bridge holding its ``as_token`` then acts as any local user with ``?user_id=``, without a login.

Pure and Synapse-free: the only I/O is :func:`write_registration`, which never overwrites a file
(a registration Synapse already loads could be replaced by one with other tokens) and creates it
readable by its owner only (the ``as_token`` acts as every local user).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

from synapse_dp_auth.admin.shared.matrix_ids import user_regex

#: The ``id`` mautrix's docs use; Synapse refuses two registrations with one ``id``.
DEFAULT_ID = "doublepuppet"

_REGISTRATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_HEADER = """\
# Double-puppet appservice registration, written by `synapse_dp_auth appservice`.
# List this file in homeserver.yaml under app_service_config_files and restart Synapse.
# Keep it secret: whoever holds its as_token can act as any user on {server_name}.
"""


class RegistrationError(ValueError):
    """The registration cannot be built or written; the message names the file or option."""


def validate_registration_id(registration_id: str) -> str:
    """``registration_id`` if it is a plain name, else :class:`RegistrationError` (``--id``)."""
    if not _REGISTRATION_ID.fullmatch(registration_id):
        raise RegistrationError(
            f"--id {registration_id!r}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return registration_id


def build_registration(server_name: str, registration_id: str = DEFAULT_ID) -> dict[str, Any]:
    """The registration as Synapse reads it, with fresh tokens from :mod:`secrets`.

    Keys in the order of mautrix's docs. The tokens are never reused: Synapse refuses an
    ``as_token`` shared by two registrations, and one shared with a bridge would let that
    bridge's registration be used for double puppeting (or the other way round).
    """
    validate_registration_id(registration_id)
    return {
        "id": registration_id,
        "url": None,  # Synapse pushes no events: this appservice is never a bridge.
        "as_token": secrets.token_hex(32),
        "hs_token": secrets.token_hex(32),
        "sender_localpart": secrets.token_hex(16),  # lowercase hex: a valid localpart
        "rate_limited": False,
        "namespaces": {"users": [{"regex": user_regex(server_name), "exclusive": False}]},
    }


def registration_yaml(registration: dict[str, Any], server_name: str) -> str:
    """The file's text: a header saying what it is, then the registration as YAML."""
    import yaml

    body = yaml.safe_dump(registration, sort_keys=False, default_flow_style=False)
    return _HEADER.format(server_name=server_name) + body


def write_registration(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, readable and writable by its owner only (mode 0600).

    Refuses to replace anything that exists (``O_EXCL``, so not even a file created a moment
    ago by someone else, nor the target of a symbolic link). A failed write removes the partial
    file, so the command can simply be run again.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.is_dir():
            raise RegistrationError(
                f"{path} is a directory: give the path of the file to write in it, e.g."
                f" {path / 'doublepuppet.yaml'}"
            ) from None
        raise RegistrationError(
            f"{path} already exists: not overwriting it (it may be a registration Synapse"
            " loads, whose as_token bridges use); give another path, or remove it first"
        ) from None
    except FileNotFoundError as error:
        if not path.parent.is_dir():
            raise RegistrationError(
                f"cannot write {path}: the directory {path.parent} does not exist"
            ) from None
        # The directory is there, but no file can be made in it (/proc, a dangling link, ...).
        raise RegistrationError(
            f"cannot write {path}: {error.strerror or type(error).__name__}"
        ) from None
    except OSError as error:
        raise RegistrationError(
            f"cannot write {path}: {error.strerror or type(error).__name__}"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise RegistrationError(
            f"cannot write {path}: {error.strerror or type(error).__name__}"
        ) from None
