"""The whole plan: homeserver.yaml and every bridge config read once, each bridge decided on, the
server side that follows, and every file's change (through the editing engine).

The order matters only here: the bridges are decided first (which need the registration, which
the module), then the server side, then the values go into the bridges' configs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attr

from synapse_dp_auth.admin.plan.apply import Snapshot
from synapse_dp_auth.admin.plan.bridge_plan import Decision, Method, Write, decide, login_problem
from synapse_dp_auth.admin.plan.bridge_reading import (
    BridgeFamily,
    UnreadableConfigError,
    parse_config_text,
    recognise,
)
from synapse_dp_auth.admin.plan.changes import (
    FileChange,
    bridge_change,
    homeserver_changes,
    new_file_change,
    snapshot_or_error,
)
from synapse_dp_auth.admin.plan.recipes import key_label, recipe_for
from synapse_dp_auth.admin.plan.server_facts import ModuleFacts, ServerFacts, read_server
from synapse_dp_auth.admin.plan.server_plan import ServerPlan, plan_server

#: The name of the copy ``--apply`` keeps of each file it replaces (:mod:`.apply`).
BACKUP_NAME = re.compile(r"\.bak-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$")


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class BridgeEntry:
    """One bridge config given on the command line."""

    path: str
    decision: Decision | None = None
    change: FileChange | None = None
    #: Why the file is left alone (unreadable, not a bridge config, another server, ...).
    problem: str | None = None


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Plan:
    facts: ServerFacts
    server: ServerPlan
    bridges: tuple[BridgeEntry, ...]
    new_files: tuple[FileChange, ...]
    homeserver: tuple[FileChange, ...]
    #: What the admin has to change by hand (the engine does not edit inside list items).
    by_hand: tuple[str, ...] = ()
    #: Files given that are backups ``--apply`` made: not bridge configs to edit.
    backups: tuple[str, ...] = ()

    @property
    def changes(self) -> list[FileChange]:
        """Every file change, in the order ``--apply`` makes them."""
        bridge_changes = [entry.change for entry in self.bridges if entry.change is not None]
        return [*self.new_files, *self.homeserver, *bridge_changes]

    @property
    def problems(self) -> list[str]:
        found = [entry.problem for entry in self.bridges if entry.problem is not None]
        found += [change.error for change in self.changes if change.error is not None]
        return [*found, *self.server.problems]

    @property
    def nothing_to_do(self) -> bool:
        return not (any(change.changes for change in self.changes) or self.problems or self.by_hand)


def make_plan(
    config_paths: Sequence[str],
    bridge_paths: Sequence[str],
    *,
    recent: bool = False,
    registration_path: str | None = None,
    secret_path: str | None = None,
) -> Plan:
    """Read everything and plan; changes nothing."""
    facts = read_server(config_paths)
    seen: set[str] = set()
    unique = []
    backups = []
    for path in bridge_paths:  # a file named twice is planned once
        if BACKUP_NAME.search(path):
            backups.append(path)  # a glob like bridges/* also finds the copies --apply kept
        elif os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            unique.append(path)
    read = [_read_bridge(path, facts, recent) for path in unique]
    decisions = [item.decision for item in read if item.decision is not None]
    server = plan_server(
        facts,
        needs_appservice=any(d.write is Write.AS_TOKEN for d in decisions),
        needs_module=any(d.target is Method.SHARED_SECRET for d in decisions),
        registration_path=registration_path,
        secret_path=secret_path,
    )
    new_paths = {new_file.path for new_file in server.new_files}
    bridges = []
    for item in read:
        decision = item.decision
        if decision is None or decision.write is None or item.entry.problem is not None:
            bridges.append(item.entry)
            continue
        value, needs, missing = _value(decision, server)
        if value is None or item.snapshot is None:
            bridges.append(attr.evolve(item.entry, problem=missing))
            continue
        keys = decision.recipe.writes(item.config, facts.server_name)
        kind = "json" if decision.recipe.family is BridgeFamily.MATRIX_CORPORAL else "yaml"
        what = f"set {', '.join(key_label(key) for key in keys)} to {decision.write.value}"
        change = bridge_change(item.entry.path, item.snapshot, kind, keys, value, what)
        if needs is not None and needs in new_paths:
            change = attr.evolve(change, needs=(needs,))
        bridges.append(attr.evolve(item.entry, change=change))
    return Plan(
        facts=facts,
        server=server,
        bridges=tuple(bridges),
        new_files=tuple(new_file_change(new_file) for new_file in server.new_files),
        homeserver=tuple(homeserver_changes(server.edits)),
        by_hand=tuple(_by_hand(facts, server, decisions)),
        backups=tuple(backups),
    )


@attr.s(frozen=True, auto_attribs=True)
class _Read:
    entry: BridgeEntry
    decision: Decision | None = None
    config: Mapping[str, Any] = attr.ib(factory=dict, repr=False)
    snapshot: Snapshot | None = None


def _read_bridge(path: str, facts: ServerFacts, recent: bool) -> _Read:
    snapshot, error = snapshot_or_error(path)
    if snapshot is None:
        return _Read(BridgeEntry(path=path, problem=f"{error}: left alone"))
    try:
        config = parse_config_text(snapshot.text, path)
        recognised = recognise(config, path)
    except UnreadableConfigError as error_:
        return _Read(BridgeEntry(path=path, problem=f"{error_}: left alone"))
    decision = decide(recipe_for(recognised), config, facts, recent=recent)
    problem = f"{decision.problem}: left alone" if decision.problem else None
    entry = BridgeEntry(path=path, decision=decision, problem=problem)
    return _Read(entry, decision, config, snapshot)


def _value(decision: Decision, server: ServerPlan) -> tuple[str | None, Path | None, str]:
    """What to write, the new file it depends on, and why there is nothing to write."""
    if decision.write is Write.AS_TOKEN:
        if server.as_token is None:
            return None, None, "no double-puppet registration to take the as_token from"
        needs = Path(server.registration_path) if server.registration_path else None
        return "as_token:" + server.as_token, needs, ""
    if server.module_secret is None:
        return None, None, "the module's shared secret is not known here (see the server side)"
    return server.module_secret, _secret_path(server), ""


def _secret_path(server: ServerPlan) -> Path | None:
    for new_file in server.new_files:
        if new_file.kind == "secret":
            return new_file.path
    return None


def _by_hand(facts: ServerFacts, server: ServerPlan, decisions: Sequence[Decision]) -> list[str]:
    """The changes this command does not make."""
    found: list[str] = []
    module = facts.module
    if facts.delegated and module is not None:
        found.append(
            f"remove {module.where}: Synapse refuses to start with a password-auth module while"
            " auth is delegated to the Matrix Authentication Service"
        )
    if module is not None and module.invalid is not None:
        found.append(f"{module.invalid} (`synapse_dp_auth check-config` says more)")
    for where in facts.extra_modules:
        found.append(f"{where}: a second shared-secret module; keep one")
    judged = facts
    if server.module_added:
        judged = attr.evolve(facts, module=ModuleFacts(name="synapse_dp_auth", where="new entry"))
    for decision in decisions:
        if decision.target is Method.SHARED_SECRET:
            problem = login_problem(decision.recipe, judged)
            if problem is not None and problem not in found:
                found.append(problem)
    return found
