"""What every tier of the suite shares: a scratch directory for the harness's droppings, no
process left behind, and no token in the log of any real homeserver.

Nothing here needs Synapse: the unit tier (tests/unit/) runs without it. Our test files live in
``tests/`` folders without an ``__init__.py``, so the name ``tests`` belongs to Synapse's harness
(which ``scripts/fetch_synapse_harness.py`` puts on ``sys.path``); tests/support/harness_support.py
checks that it is there for the tests that need it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import bridge_process, logscan
from testbed.bridge_process import TelegramBridge
from testbed.homeserver import CLOSE_HOOKS, Homeserver


def _child_processes(pid: int) -> list[str]:
    """Live processes whose parent is ``pid``, as "PID command" (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(f"{stat.parent.name} {cmdline.strip()}")
    return children


@pytest.fixture(autouse=True, scope="session")
def _no_process_left_behind() -> Iterator[None]:
    """Every Synapse, PostgreSQL, Redis, Node or bridge process a test starts must be gone at the
    end (each is started directly, so it is a child of this process)."""
    before = set(_child_processes(os.getpid()))
    yield
    left = [child for child in _child_processes(os.getpid()) if child not in before]
    if left:
        pytest.fail("processes left running by the tests:\n" + "\n".join(left), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _run_in_scratch_directory() -> Iterator[None]:
    """Synapse's harness writes _trial_temp/ and media/ into the current directory."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="synapse_dp_auth-tests-") as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(previous)


@pytest.fixture(autouse=True, scope="session")
def _no_token_in_any_homeserver_log() -> Iterator[None]:
    """No real Synapse started with this module may log a token or a secret, whatever a test sent.

    Every homeserver's logs (its workers' too) are read as it closes; the run fails at the end,
    naming the lines, if any holds a run of token-shaped text or one of the configured secrets.
    A server started without this module is not checked: Synapse logs what it likes there.
    """
    found: list[str] = []

    def scan(homeserver: Homeserver) -> None:
        secrets = logscan.module_secrets(homeserver.modules_ever)
        if secrets is not None:
            found.extend(logscan.findings(homeserver.all_output(), secrets))

    CLOSE_HOOKS.append(scan)
    try:
        yield
    finally:
        CLOSE_HOOKS.remove(scan)
    if found:
        pytest.fail(
            "tokens or secrets in the logs of a homeserver running synapse_dp_auth:\n"
            + "\n".join(found[:50]),
            pytrace=False,
        )


@pytest.fixture(autouse=True, scope="session")
def _no_token_in_any_bridge_log() -> Iterator[None]:
    """No real bridge process may log a token, or a secret it was configured with.

    Each bridge's log and output are read as it closes: token-shaped runs (a login token it
    computed), its double-puppet secrets and the as_token of an ``as_token:`` value.
    """
    found: list[str] = []

    def scan(bridge: TelegramBridge) -> None:
        found.extend(logscan.findings(bridge.all_output(), bridge.secrets_ever))

    bridge_process.CLOSE_HOOKS.append(scan)
    try:
        yield
    finally:
        bridge_process.CLOSE_HOOKS.remove(scan)
    if found:
        pytest.fail(
            "tokens or secrets in the logs of a bridge process:\n" + "\n".join(found[:50]),
            pytrace=False,
        )


_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit without waiting for thread-pool threads that older Synapse harnesses leave behind.

    Some releases' harnesses (seen with 1.53.0 and 1.130.0) start Twisted thread pools that
    nothing stops; their threads are not daemons, so the interpreter would wait for them forever
    after the last test. Everything is reported by now: leave with pytest's own exit status.
    """
    stuck = [
        thread
        for thread in threading.enumerate()
        if thread.name.startswith("PoolThread-") and not thread.daemon
    ]
    if stuck and _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
