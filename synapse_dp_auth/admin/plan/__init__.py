"""The groundwork of ``plan --apply``: editing homeserver.yaml, bridge configs and corporal's
JSON so that everything the admin wrote stays as it was, and writing the result safely.

- :mod:`.yaml_edit` and :mod:`.json_edit` turn a text and one intended change into the new text
  (pure functions; the change is spliced in, and the result re-parsed and checked);
- :mod:`.diff` shows the change as a unified diff with every secret hidden;
- :mod:`.apply` replaces each file atomically, or leaves it alone and says why.

ruamel.yaml (the round-trip YAML library; PyYAML keeps no positions of keys in a usable form)
is in ``install_requires``, not an extra: the ``synapse_dp_auth`` command comes with every
install of the package, and ``plan`` is the command the README leads with, so it must work
without a second ``pip install``. It is pure Python, has no dependencies of its own, and is
imported only here, by the command line: never by the module Synapse loads
(tests/unit/test_layout.py checks what each half imports).
"""

from __future__ import annotations

from synapse_dp_auth.admin.plan.apply import (
    Outcome,
    Result,
    Snapshot,
    SnapshotError,
    create_private_file,
    encoded,
    read_snapshot,
    replace_file,
)
from synapse_dp_auth.admin.plan.diff import redacted_diff
from synapse_dp_auth.admin.plan.json_edit import set_json_value
from synapse_dp_auth.admin.plan.values import EditError, Secret, Value
from synapse_dp_auth.admin.plan.yaml_edit import append_item, set_value

__all__ = [
    "EditError",
    "Outcome",
    "Result",
    "Secret",
    "Snapshot",
    "SnapshotError",
    "Value",
    "append_item",
    "create_private_file",
    "encoded",
    "read_snapshot",
    "redacted_diff",
    "replace_file",
    "set_json_value",
    "set_value",
]
