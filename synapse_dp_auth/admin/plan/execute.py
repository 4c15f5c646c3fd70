"""``plan --apply``: exactly the printed changes, through the engine (:mod:`.apply`).

New files first (the registration, the module's secret), then homeserver.yaml, then the bridges.
A change that points to a new file that could not be created is not made: homeserver.yaml would
name a file that is not there, and Synapse would not start. A file that changed since it was
read, or that this user may not write, is left alone by the engine and reported.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from synapse_dp_auth.admin.plan.apply import (
    Outcome,
    Result,
    create_private_file,
    replace_file,
)
from synapse_dp_auth.admin.plan.changes import FileChange
from synapse_dp_auth.admin.plan.planning import Plan


def apply_plan(plan: Plan, *, now: datetime.datetime) -> list[tuple[FileChange, Result | None]]:
    """Make every change of ``plan``; ``None`` for a change skipped for want of a new file."""
    results: list[tuple[FileChange, Result | None]] = []
    missing: set[Path] = set()
    owner = _new_file_owner(plan)
    for change in plan.new_files:
        assert change.new_file is not None and change.new_text is not None
        result = create_private_file(change.new_file.path, change.new_text, owner=owner)
        if result.outcome is not Outcome.CREATED:
            missing.add(change.new_file.path)
        results.append((change, result))
    for change in plan.changes[len(plan.new_files) :]:
        if not change.changes:
            continue
        assert change.snapshot is not None and change.new_text is not None
        if any(path in missing for path in change.needs):
            results.append((change, None))
            continue
        results.append((change, replace_file(change.snapshot, change.new_text, now=now)))
    return results


def _new_file_owner(plan: Plan) -> tuple[int, int] | None:
    """Who owns the new files (mode 0600): the owner of Synapse's signing key, a file only the
    user Synapse runs as reads, else homeserver.yaml's. Only root can give a file away; anyone
    else creates files of their own."""
    if os.geteuid() != 0:
        return None
    for candidate in (plan.facts.signing_key_path, plan.facts.files[0]):
        if candidate is None:
            continue
        try:
            status = os.stat(candidate)
        except OSError:
            continue
        return status.st_uid, status.st_gid
    return None
