"""Writing what ``plan --apply`` decided: each file replaced whole or not at all.

A config is never written in place: a crash or a full disk half-way would leave Synapse or a
bridge unable to start. The new text goes into a temporary file in the same directory (same file
system, so the rename is atomic), with the original's mode and owner, flushed to disk, and then
renamed over the original; the original's bytes are kept beside it first, in
``NAME.bak-<UTC time>`` with the same mode and owner (it may hold secrets too).

The plan was made from what the files held when they were read: a file whose bytes differ now
(an admin or a config manager wrote it meanwhile) is left alone, and so is one this user may not
write (its permissions say so, even where root could), one with other hard links (a rename would
split them) and one whose owner cannot be kept. Each is reported, and the others still written.

New files (a secret, a registration) are created, never overwritten, readable by their owner
only. Nothing here prints or returns file contents.
"""

from __future__ import annotations

import datetime
import enum
import os
import stat
import tempfile
from pathlib import Path

import attr

from synapse_dp_auth.config import error_reason

_BOM = b"\xef\xbb\xbf"


class Outcome(enum.Enum):
    """What became of one file; the value says it in words."""

    WRITTEN = "written (the original kept beside it)"
    CREATED = "created, readable by its owner only"
    UNCHANGED = "nothing to change"
    CHANGED_SINCE_READ = "changed since it was read: left alone"
    EXISTS = "already exists: left alone"
    FAILED = "left alone"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Result:
    """One file's outcome; ``reason`` says why when it was left alone."""

    path: Path
    outcome: Outcome
    backup: Path | None = None
    reason: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Snapshot:
    """A file as it was read for planning: the bytes the plan was made from.

    ``path`` is the file itself (a symbolic link is followed, and the link kept); ``text`` is
    what the editors see: the UTF-8 text without a byte order mark, its line breaks untouched.
    """

    path: Path
    data: bytes = attr.ib(repr=False)
    text: str = attr.ib(repr=False)
    mode: int
    uid: int
    gid: int


class SnapshotError(Exception):
    """The file cannot be read for editing; the message names it and says why."""


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """The file at ``path``, read once for planning its edit."""
    real = Path(os.path.realpath(path))
    try:
        with open(real, "rb") as file:
            data = file.read()
            status = os.fstat(file.fileno())
    except OSError as error:
        raise SnapshotError(f"cannot read {path}: {error_reason(error)}") from None
    if not stat.S_ISREG(status.st_mode):
        raise SnapshotError(f"{path} is not a regular file")
    try:
        text = data.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError:
        raise SnapshotError(f"cannot edit {path}: not valid UTF-8") from None
    return Snapshot(
        path=real,
        data=data,
        text=text,
        mode=stat.S_IMODE(status.st_mode),
        uid=status.st_uid,
        gid=status.st_gid,
    )


def encoded(snapshot: Snapshot, text: str) -> bytes:
    """``text`` as the file's bytes: UTF-8, with the byte order mark if the original had one."""
    return (_BOM if snapshot.data.startswith(_BOM) else b"") + text.encode("utf-8")


def replace_file(snapshot: Snapshot, text: str, *, now: datetime.datetime) -> Result:
    """Replace the file with ``text`` if it still holds exactly what ``snapshot`` read.

    ``now`` names the backup (``NAME.bak-20250102T030405Z``): the caller's clock, one for all
    files of a run, so that their backups belong together.
    """
    path = snapshot.path
    new_data = encoded(snapshot, text)
    if new_data == snapshot.data:
        return Result(path, Outcome.UNCHANGED)
    refusal = _refusal(snapshot)
    if refusal is not None:
        return refusal
    backup: Path | None = None
    temporary: str | None = None
    try:
        backup = _write_backup(snapshot, now)
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        with os.fdopen(descriptor, "wb") as file:
            file.write(new_data)
            file.flush()
            _keep_mode_and_owner(file.fileno(), snapshot)
            os.fsync(file.fileno())
        # The last look before the rename: the window for a write to be lost is this short.
        if _current_bytes(path) != snapshot.data:
            raise _ChangedMeanwhile()
        os.replace(temporary, path)
        temporary = None
    except _ChangedMeanwhile:
        return _failed(
            path,
            backup,
            temporary,
            "its content changed while it was being edited",
            Outcome.CHANGED_SINCE_READ,
        )
    except OSError as error:
        return _failed(path, backup, temporary, f"cannot write it: {error_reason(error)}")
    _sync_directory(path.parent)
    return Result(path, Outcome.WRITTEN, backup=backup)


def create_private_file(
    path: str | os.PathLike[str], text: str, *, owner: tuple[int, int] | None = None
) -> Result:
    """Create ``path`` holding ``text``, mode 0600, never replacing anything (``O_EXCL``, and a
    symbolic link is not followed).

    ``owner`` (uid, gid) is for a file that a service running as another user must read, such
    as the module's ``shared_secret_path`` that Synapse opens: give the owner of homeserver.yaml.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(target, flags, 0o600)
    except FileExistsError:
        return Result(target, Outcome.EXISTS, reason="a file is already there")
    except OSError as error:
        return Result(target, Outcome.FAILED, reason=f"cannot create it: {error_reason(error)}")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fchmod(file.fileno(), 0o600)  # whatever the umask
            if owner is not None:
                os.fchown(file.fileno(), *owner)
            os.fsync(file.fileno())
    except OSError as error:
        target.unlink(missing_ok=True)
        return Result(target, Outcome.FAILED, reason=f"cannot write it: {error_reason(error)}")
    _sync_directory(target.parent)
    return Result(target, Outcome.CREATED)


class _ChangedMeanwhile(Exception):
    pass


def _refusal(snapshot: Snapshot) -> Result | None:
    """Why the file must be left alone, or None when it may be replaced."""
    path = snapshot.path

    def refused(reason: str, outcome: Outcome = Outcome.FAILED) -> Result:
        return Result(path, outcome, reason=reason)

    try:
        current = _current_bytes(path)
        status = os.stat(path)
    except OSError as error:
        return refused(f"cannot read it again: {error_reason(error)}")
    if current != snapshot.data:
        return refused(
            "its content differs from when the plan was made", Outcome.CHANGED_SINCE_READ
        )
    if (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) != (
        snapshot.uid,
        snapshot.gid,
        snapshot.mode,
    ):
        return refused("its owner or mode changed since it was read", Outcome.CHANGED_SINCE_READ)
    if not writable(path, status.st_mode):
        # A rename needs only the directory to be writable: respect the file's own say.
        return refused("it is read-only for this user")
    if status.st_nlink > 1:
        return refused("it has other hard links, which replacing it would separate from it")
    if os.geteuid() != 0 and status.st_uid != os.geteuid():
        return refused(
            f"it belongs to uid {status.st_uid}: run as that user or root, to keep its owner"
        )
    return None


def writable(path: str | os.PathLike[str], mode: int | None = None) -> bool:
    """Whether the file's permissions let this user write it. For root, which ``os.access``
    always answers yes, whether any write bit is set at all: a ``chmod a-w`` says "leave me"."""
    if not os.access(path, os.W_OK):
        return False
    if os.geteuid() != 0:
        return True
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return False
    return bool(mode & 0o222)


def _current_bytes(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _keep_mode_and_owner(descriptor: int, snapshot: Snapshot) -> None:
    if (os.fstat(descriptor).st_uid, os.fstat(descriptor).st_gid) != (snapshot.uid, snapshot.gid):
        os.fchown(descriptor, snapshot.uid, snapshot.gid)
    os.fchmod(descriptor, snapshot.mode)  # after chown, which may clear set-id bits


def _write_backup(snapshot: Snapshot, now: datetime.datetime) -> Path:
    """The original's bytes beside it, same mode and owner; a new name if one is taken."""
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(1, 100):
        suffix = f".bak-{stamp}" if attempt == 1 else f".bak-{stamp}-{attempt}"
        backup = snapshot.path.with_name(snapshot.path.name + suffix)
        try:
            descriptor = os.open(backup, flags, 0o600)
        except FileExistsError:
            continue
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(snapshot.data)
                file.flush()
                _keep_mode_and_owner(file.fileno(), snapshot)
                os.fsync(file.fileno())
        except OSError:
            backup.unlink(missing_ok=True)
            raise
        return backup
    raise FileExistsError(f"too many backups of {snapshot.path.name} named {stamp}")


def _failed(
    path: Path,
    backup: Path | None,
    temporary: str | None,
    reason: str,
    outcome: Outcome = Outcome.FAILED,
) -> Result:
    """Nothing was replaced: remove what was made on the way (the backup is a copy of a file
    that is still there)."""
    for leftover in (temporary, backup):
        if leftover is not None:
            Path(leftover).unlink(missing_ok=True)
    return Result(path, outcome, reason=reason)


def _sync_directory(directory: Path) -> None:
    """Make the rename or the new name itself durable; some file systems cannot (ignored)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
