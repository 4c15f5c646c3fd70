"""``plan``'s decisions turned into file changes through the editing engine: each file's new
text, computed from the bytes read for planning, with its redacted diff.

One :class:`FileChange` per file, whatever the number of keys set in it; a change that the engine
refuses (an alias, a block scalar, a document it cannot edit safely) carries the reason instead,
and that file is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attr

from synapse_dp_auth.admin.plan.apply import Snapshot, SnapshotError, read_snapshot, writable
from synapse_dp_auth.admin.plan.diff import redacted_diff
from synapse_dp_auth.admin.plan.json_edit import set_json_value
from synapse_dp_auth.admin.plan.recipes import Key
from synapse_dp_auth.admin.plan.server_plan import ListEdit, NewFile
from synapse_dp_auth.admin.plan.values import EditError, Secret
from synapse_dp_auth.admin.plan.yaml_edit import append_item, set_value


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class FileChange:
    """One file's change: an edit of a file read for planning, or a new file."""

    #: The path as the admin named it.
    label: str
    what: str
    kind: str
    snapshot: Snapshot | None = None
    new_file: NewFile | None = None
    new_text: str | None = attr.ib(default=None, repr=False)
    secrets: tuple[str, ...] = attr.ib(default=(), repr=False)
    #: Why the file cannot be changed (it is then left alone).
    error: str | None = None
    #: New files this change points to: it is not made when one of them could not be created.
    needs: tuple[Path, ...] = ()

    @property
    def changes(self) -> bool:
        if self.error is not None:
            return False
        if self.new_file is not None:
            return True
        return self.snapshot is not None and self.new_text != self.snapshot.text

    def diff(self) -> str:
        """The unified diff, every secret hidden."""
        if not self.changes:
            return ""
        before = self.snapshot.text if self.snapshot is not None else None
        return redacted_diff(
            self.label, before, self.new_text, kind=self.kind, secrets=self.secrets
        )

    @property
    def read_only(self) -> bool:
        """Whether this user may not write the file (``--apply`` will leave it alone)."""
        return self.snapshot is not None and not writable(self.snapshot.path)


def snapshot_or_error(path: str) -> tuple[Snapshot | None, str | None]:
    try:
        return read_snapshot(path), None
    except SnapshotError as error:
        return None, str(error)


def bridge_change(
    label: str, snapshot: Snapshot, kind: str, keys: Sequence[Key], value: str, what: str
) -> FileChange:
    """Set each of ``keys`` to ``value`` (a secret or ``as_token:...``) in the bridge's config."""
    text = snapshot.text
    try:
        for key in keys:
            if kind == "json":
                text = set_json_value(text, key, Secret(value))
            else:
                text = set_value(text, key, Secret(value))
    except EditError as error:
        return FileChange(
            label=label,
            what=what,
            kind=kind,
            snapshot=snapshot,
            error=f"cannot edit it safely: {error}",
        )
    return FileChange(
        label=label,
        what=what,
        kind=kind,
        snapshot=snapshot,
        new_text=text,
        secrets=(value,),
    )


def homeserver_changes(edits: Sequence[ListEdit]) -> list[FileChange]:
    """The homeserver config files' changes: the edits to one file made one after another."""
    changes = []
    for file in dict.fromkeys(edit.file for edit in edits):
        mine = [edit for edit in edits if edit.file == file]
        what = "; ".join(edit.what for edit in mine)
        needs = tuple(edit.needs for edit in mine if edit.needs is not None)
        snapshot, error = snapshot_or_error(file)
        if snapshot is None:
            changes.append(FileChange(label=file, what=what, kind="yaml", error=error, needs=needs))
            continue
        text = snapshot.text
        try:
            for edit in mine:
                text = append_item(text, (edit.key,), edit.item, identity_key=edit.identity_key)
        except EditError as error_:
            changes.append(
                FileChange(
                    label=file,
                    what=what,
                    kind="yaml",
                    snapshot=snapshot,
                    error=f"cannot edit it safely: {error_}",
                    needs=needs,
                )
            )
            continue
        changes.append(
            FileChange(
                label=file, what=what, kind="yaml", snapshot=snapshot, new_text=text, needs=needs
            )
        )
    return changes


def new_file_change(new_file: NewFile) -> FileChange:
    return FileChange(
        label=str(new_file.path),
        what=new_file.what,
        kind=new_file.kind,
        new_file=new_file,
        new_text=new_file.text,
        secrets=new_file.secrets,
    )
