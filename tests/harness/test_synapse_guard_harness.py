"""Synapse's own tests, with this module loaded into every homeserver they build, still pass.

Runs Synapse's own login, UIA, devices and account tests (``testbed.synapse_guard.GUARDED_FILES``)
from the harness of the installed release, unchanged, with the module added to ``modules:`` by
the ``testbed.synapse_guard`` plugin. The only tests left out are those that assert the exact
``GET /login`` flows; for them this proves that they fail with the module only because the
module's login type is listed, and that they pass without it. On the pinned release every other
test passes; on older releases, a test that fails with today's dependency versions must fail
without the module too (the module changes no outcome).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from constants import REPO_ROOT

import tests as synapse_tests
from synapse_dp_auth.releases import TESTED_SYNAPSE_RELEASES
from testbed.synapse_guard import (
    GUARDED_FILES,
    LOGIN_TYPES,
    SUMMARY_PREFIX,
    get_login_flow_tests,
)

pytestmark = pytest.mark.core

#: The release, as installed (``synapse.__version__`` can carry git details of the current folder).
SYNAPSE_VERSION = metadata.version("matrix-synapse")
#: The folder that holds Synapse's ``tests`` package (the harness of the installed release).
HARNESS_ROOT = Path(next(iter(synapse_tests.__path__))).parent
FLOW_TESTS = get_login_flow_tests(SYNAPSE_VERSION)


@dataclass(frozen=True)
class Run:
    summary: str
    outcomes: dict[str, str]  # test id -> "passed", "failed", "error" or "skipped"
    messages: dict[str, str]  # test id -> failure message
    output: str


def run_synapse_tests(args: list[str], *, with_module: bool, scratch: Path) -> Run:
    """Run Synapse's own tests under pytest in a child process; report each test's outcome."""
    report = scratch / "report.xml"
    plugin = ["-p", "testbed.synapse_guard"] if with_module else []
    completed = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            *plugin,
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "ignore::DeprecationWarning",
            f"--rootdir={HARNESS_ROOT}",
            f"--junitxml={report}",
            *args,
        ],
        cwd=scratch,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 - our child's report
        test_id = _test_id(case)
        outcomes[test_id] = "passed"
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcomes[test_id] = "failed" if kind == "failure" else kind
                messages[test_id] = (found.get("message") or "") + (found.text or "")
    lines = completed.stdout.splitlines()
    summary = next((line for line in lines if line.startswith(SUMMARY_PREFIX)), "")
    return Run(summary, outcomes, messages, completed.stdout[-5000:] + completed.stderr[-3000:])


def _test_id(case: ElementTree.Element) -> str:
    """``tests/rest/client/test_x.py::Class::test`` from a JUnit ``classname`` and ``name``."""
    module, _, cls = (case.get("classname") or "").rpartition(".")
    return f"{module.replace('.', '/')}.py::{cls}::{case.get('name')}"


def guarded_files() -> list[str]:
    present = [name for name in GUARDED_FILES if (HARNESS_ROOT / name).is_file()]
    assert "tests/rest/client/test_login.py" in present, HARNESS_ROOT
    return present


def test_synapse_own_tests_pass_with_the_module(tmp_path: Path) -> None:
    deselect = [arg for test in FLOW_TESTS for arg in ("--deselect", test)]
    args = [*(str(HARNESS_ROOT / name) for name in guarded_files()), *deselect]
    run = run_synapse_tests(args, with_module=True, scratch=tmp_path)
    assert len(run.outcomes) >= 50, run.output
    # Not vacuous: the module was really loaded into (nearly) every homeserver built.
    loaded = int(run.summary.split()[-2]) if run.summary else 0
    assert loaded >= len(run.outcomes) // 2, (run.summary, run.output)

    not_passed = {test: outcome for test, outcome in run.outcomes.items() if outcome != "passed"}
    if not not_passed:
        return
    # An older release's own tests can fail with today's dependency versions (Twisted, authlib):
    # then they must fail the same way without the module, i.e. the module changes no outcome.
    # (Only those are run again: every other test passed with the module, which is the goal.)
    without = run_synapse_tests(
        [str(HARNESS_ROOT / test) for test in sorted(not_passed)],
        with_module=False,
        scratch=tmp_path,
    )
    changed = {
        test: f"{without.outcomes.get(test, 'missing')} without the module, {outcome} with it:"
        f" {run.messages.get(test, '')[:300]}"
        for test, outcome in not_passed.items()
        if without.outcomes.get(test) != outcome
    }
    assert changed == {}, "\n".join([f"{test}: {why}" for test, why in changed.items()])
    assert TESTED_SYNAPSE_RELEASES[-1] != SYNAPSE_VERSION, (
        "Synapse's own tests must all pass on the pinned release",
        not_passed,
    )
    warnings.warn(
        f"{len(not_passed)} of Synapse {SYNAPSE_VERSION}'s own tests fail in this environment"
        " with and without the module alike (dependency versions newer than that release):"
        f" {', '.join(sorted(not_passed))}",
        stacklevel=1,
    )


def test_get_login_flow_tests_fail_only_over_the_modules_login_type(tmp_path: Path) -> None:
    files = {test.partition("::")[0] for test in FLOW_TESTS}
    selected = [str(HARNESS_ROOT / test) for test in FLOW_TESTS]
    assert all((HARNESS_ROOT / name).is_file() for name in files), FLOW_TESTS

    with_module = run_synapse_tests(selected, with_module=True, scratch=tmp_path)
    assert set(with_module.outcomes) == set(FLOW_TESTS), with_module.output
    for test in FLOW_TESTS:
        assert with_module.outcomes[test] == "failed", (test, with_module.output)
        message = with_module.messages[test]
        # The difference is the module's own login type being listed, and nothing else.
        assert LOGIN_TYPES[1] in message, (test, message)
        assert "Element counts were not equal" in message or "Lists differ" in message, message

    without = run_synapse_tests(selected, with_module=False, scratch=tmp_path)
    assert without.outcomes == dict.fromkeys(FLOW_TESTS, "passed"), without.output
