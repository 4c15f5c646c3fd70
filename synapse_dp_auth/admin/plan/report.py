"""What ``plan`` prints: per bridge, the method now and whether it can work, the method it should
use and why, and the change as a diff; then the server side, what to change by hand, the order of
restarts, and the old sessions a move away from shared-secret login leaves behind.

Secrets and tokens never appear: the diffs hide them (:mod:`.diff`), and every other line names
keys and files only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TextIO

from synapse_dp_auth.admin.plan.apply import Outcome, Result
from synapse_dp_auth.admin.plan.changes import FileChange
from synapse_dp_auth.admin.plan.planning import BridgeEntry, Plan

_WIDTH = 100


class _Writer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "", indent: str = "", hanging: str | None = None) -> None:
        if not text:
            self.out.write("\n")
            return
        wrapped = textwrap.wrap(
            text,
            width=_WIDTH,
            initial_indent=indent,
            subsequent_indent=hanging if hanging is not None else indent + "  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
        self.out.write("\n".join(wrapped) + "\n")

    def block(self, text: str, indent: str = "    ") -> None:
        for line in text.splitlines():
            self.out.write(f"{indent}{line}\n" if line else "\n")


def render_plan(plan: Plan, out: TextIO) -> None:
    write = _Writer(out)
    _server_facts(plan, write)
    if plan.backups:
        write.line()
        write.line(
            "Skipped, as copies that --apply kept of files it replaced: " + ", ".join(plan.backups)
        )
    for entry in plan.bridges:
        write.line()
        _bridge(entry, plan, write)
    _server_side(plan, write)
    _after(plan, write)


def _verdict(works: bool | None) -> str:
    return {True: "can work", False: "cannot work", None: "cannot tell from the configs"}[works]


def _server_facts(plan: Plan, write: _Writer) -> None:
    facts = plan.facts
    write.line(f"Homeserver {facts.server_name} ({', '.join(facts.files)}):")
    found = facts.double_puppet
    if found is not None:
        registration = (
            f"{found.path} (id {found.registration_id}), listed in app_service_config_files"
        )
    else:
        registration = "none listed in app_service_config_files"
    write.line(f"double-puppet registration: {registration}", "  ")
    module = facts.module
    if module is None:
        write.line("shared-secret module: none in modules:", "  ")
    else:
        secret = (
            f"{len(module.secrets)} secret(s), not shown"
            if module.secrets is not None
            else f"its secret cannot be read: {module.secret_problem}"
        )
        write.line(f"shared-secret module: {module.name} ({module.where}); {secret}", "  ")
    if facts.delegated:
        write.line(
            "auth is delegated to the Matrix Authentication Service: no shared-secret module"
            " can run, bridges double-puppet with the appservice method only",
            "  ",
        )
    for text in (*facts.unreadable, *facts.unusable):
        write.line(f"note: {text}", "  ")


def _bridge(entry: BridgeEntry, plan: Plan, write: _Writer) -> None:
    write.line(f"Bridge {entry.path}:")
    decision = entry.decision
    if decision is None:
        write.line(f"problem: {entry.problem}", "  ")
        return
    recipe = decision.recipe
    named = f" (appservice.id {recipe.bridge_name})" if recipe.bridge_name else ""
    write.line(f"family: {recipe.family.value}{named}: {recipe.releases}", "  ")
    if decision.current is None:
        write.line(f"problem: {entry.problem}", "  ")
        return
    current = decision.current
    write.line(f"now: {current.method.value}: {_verdict(current.works)}: {current.why}", "  ")
    if decision.target is None:
        write.line(f"should use: nothing can work here: {decision.why}", "  ")
    else:
        write.line(f"should use: {decision.target.value}: {decision.why}", "  ")
    for note in decision.notes:
        write.line(f"note: {note}", "  ")
    change = entry.change
    if entry.problem is not None:
        write.line(f"problem: {entry.problem}", "  ")
    elif change is not None and change.error is not None:
        write.line(f"problem: {change.error}: left alone", "  ")
        write.line(f"by hand: {change.what}", "  ")
    elif change is not None and change.changes:
        write.line(f"change: {change.what}", "  ")
        write.block(change.diff())
        if change.read_only:
            write.line("note: this file is read-only for you: --apply will leave it alone", "  ")
    else:
        write.line("change: none", "  ")


def _server_side(plan: Plan, write: _Writer) -> None:
    server = plan.server
    changes = [*plan.new_files, *plan.homeserver]
    if not (changes or server.notes or server.problems or server.registration_reused):
        return
    write.line()
    write.line("Server side:")
    if server.registration_reused:
        write.line(
            f"double-puppet registration: {server.registration_path} is reused (its as_token goes"
            " into the bridges); nothing to create",
            "  ",
        )
    for change in plan.new_files:
        write.line(f"create {change.label}: {change.what}, readable by its owner only", "  ")
        write.block(change.diff())
    for change in plan.homeserver:
        if change.error is not None:
            write.line(f"problem: {change.label}: {change.error}: left alone", "  ")
            write.line(f"by hand: {change.what}", "  ")
            continue
        write.line(f"edit {change.label}: {change.what}", "  ")
        write.block(change.diff())
        if change.read_only:
            write.line("note: this file is read-only for you: --apply will leave it alone", "  ")
    for note in server.notes:
        write.line(f"note: {note}", "  ")
    for problem in server.problems:
        write.line(f"problem: {problem}", "  ")


def _after(plan: Plan, write: _Writer) -> None:
    stuck = [
        entry.path
        for entry in plan.bridges
        if entry.decision is not None
        and entry.decision.current is not None
        and entry.decision.target is None
    ]
    if stuck:
        write.line()
        write.line(
            "These bridges cannot double-puppet on this server (they need shared-secret login,"
            " which the Matrix Authentication Service rules out): " + ", ".join(stuck)
        )
    if plan.by_hand:
        write.line()
        write.line("By hand (this command does not edit these):")
        for item in plan.by_hand:
            write.line(f"- {item}", "  ", "    ")
    changing = [change for change in plan.changes if change.changes]
    if changing:
        server_changes = [*plan.new_files, *plan.homeserver]
        bridges = [entry.path for entry in plan.bridges if entry.change in changing]
        write.line()
        write.line("Then restart, in this order:")
        step = 1
        if any(change.changes for change in server_changes):
            write.line(
                f"{step}. Synapse: it reads homeserver.yaml, the registration and the module's"
                " secret at start-up only",
                "  ",
                "     ",
            )
            step += 1
        if bridges:
            write.line(f"{step}. each bridge changed: {', '.join(bridges)}", "  ", "     ")
    leaving = [
        entry.path
        for entry in plan.bridges
        if entry.decision is not None
        and entry.decision.leaves_shared_secret
        and entry.change is not None
        and entry.change.changes
    ]
    if leaving:
        url = plan.facts.public_baseurl or "HOMESERVER_URL"
        write.line()
        write.line(
            "Moving from shared-secret login to the appservice method: "
            + ", ".join(leaving)
            + ". The devices their earlier logins created stay in their users' device lists"
            " (and keep working until deleted). Those made through synapse_dp_auth are listed by:"
        )
        write.line(
            f"synapse_dp_auth sessions list {url} --admin-token-file ADMIN_TOKEN_FILE", "    "
        )
        write.line(
            "(`sessions revoke` with the same filters deletes them; bridgev2 keeps using a"
            " saved token until it is deleted, so set as_token: first, then delete.)"
        )
    write.line()
    if plan.nothing_to_do:
        write.line("Nothing to change: every bridge given double-puppets as planned.")
    else:
        count = len(changing)
        problems = len(plan.problems) + len(plan.by_hand)
        parts = []
        if count:
            parts.append(f"{count} file(s) to change")
        if problems:
            parts.append(f"{problems} thing(s) to fix by hand or left alone")
        tail = ": run again with --apply to make exactly these changes." if count else "."
        write.line(", ".join(parts) + tail)


def render_outcomes(results: Sequence[tuple[FileChange, Result | None]], out: TextIO) -> int:
    """What ``--apply`` did to each file; returns how many were left alone."""
    write = _Writer(out)
    write.line()
    write.line("Applying:")
    left = 0
    for change, result in results:
        if result is None:
            left += 1
            write.line(
                f"{change.label}: left alone: a file it points to could not be created", "  "
            )
            continue
        text = f"{change.label}: {result.outcome.value}"
        if result.backup is not None:
            text += f": {result.backup}"
        if result.reason:
            text += f": {result.reason}"
        if result.outcome not in (Outcome.WRITTEN, Outcome.CREATED, Outcome.UNCHANGED):
            left += 1
        write.line(text, "  ")
    write.line()
    if left:
        write.line(
            f"{left} file(s) left alone: see why above, fix it, and run plan again (what was"
            " written stays)."
        )
    else:
        write.line("Done. Restart as listed above; `synapse_dp_auth plan` again says what is left.")
    return left
