"""The version matrix: run every ``synapse-<release>`` tox env in turn, then print a table.

Each release runs in its own tox env with the dependency versions of its day
(``tests/constraints/synapse-<release>.txt``): the module's harness tests, the real-process core
and Synapse's own tests with the module loaded (``pytest -m core``; see tox.ini). The releases are
``synapse_dp_auth.releases.TESTED_SYNAPSE_RELEASES`` plus the canary, the newest Synapse on the
package index at run time. A release passes when its env succeeds with no test skipped.

    ./tox.sh -e versions                         # all of them
    ./tox.sh -e versions -- 1.80.0 canary        # some of them
    ./tox.sh -e versions -- --write-docs         # all, then update docs/compatibility.md

``--write-docs`` writes the table into docs/compatibility.md only when every release passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testbed import generated_sections  # noqa: E402


def _releases_module() -> object:
    """``synapse_dp_auth/releases.py`` alone: importing the package would import Synapse."""
    spec = importlib.util.spec_from_file_location(
        "synapse_dp_auth_releases", REPO_ROOT / "synapse_dp_auth" / "releases.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTED_SYNAPSE_RELEASES: tuple[str, ...] = _releases_module().TESTED_SYNAPSE_RELEASES  # type: ignore[attr-defined]

CANARY = "canary"
DOCS_SECTION = "synapse-versions"
LOG_DIR = REPO_ROOT / ".tox" / "versions-logs"


@dataclass(frozen=True)
class Result:
    name: str  # a release, or "canary"
    release: str  # the Synapse release that ran (the canary's is found at run time)
    returncode: int
    summary: str  # pytest's closing counts, e.g. "187 passed in 301.2s"
    seconds: float
    log: Path

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and "passed" in self.summary and "skipped" not in self.summary


def run_release(name: str) -> Result:
    """``tox -e synapse-<name>``, its output in a log file; the environment of the outer tox is
    left out so that the inner one builds its env from scratch as a developer's would."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"synapse-{name}.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TOX_", "VIRTUAL_ENV", "PYTHONHOME"))
    }
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        completed = subprocess.run(
            [sys.executable, "-m", "tox", "-e", f"synapse-{name}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    harness = re.findall(r"Synapse (\S+) test harness:", text)
    summaries = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?) =*$", text, flags=re.MULTILINE)
    return Result(
        name=name,
        release=harness[-1] if harness else ("?" if name == CANARY else name),
        returncode=completed.returncode,
        summary=summaries[-1] if summaries else "no pytest summary",
        seconds=seconds,
        log=log,
    )


def pins(name: str) -> list[str]:
    """The dependency pins a release needs besides itself (its constraints file)."""
    path = REPO_ROOT / "tests" / "constraints" / f"synapse-{name}.txt"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "matrix-synapse"))]


def label(result: Result) -> str:
    if result.name == CANARY:
        return f"{result.release} (canary: newest on the index)"
    if result.name == TESTED_SYNAPSE_RELEASES[0]:
        return f"{result.release} (floor)"
    if result.name == TESTED_SYNAPSE_RELEASES[-1]:
        return f"{result.release} (pinned)"
    return result.release


def markdown(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(row) for row in rows[1:]
    ]


def console_table(results: list[Result]) -> str:
    rows = [["release", "result", "tests", "time"]]
    for result in results:
        verdict = "passed" if result.passed else f"FAILED (log: {result.log})"
        rows.append([label(result), verdict, result.summary, f"{result.seconds:.0f} s"])
    return "\n".join(markdown(rows)) + "\n"


def docs_table(results: list[Result]) -> str:
    """The compatibility page's section: what was tested, and the pins each release needs."""
    rows = [["Synapse", "result", "dependency pins needed (Python 3.11)"]]
    for result in results:
        needed = ", ".join(f"`{pin}`" for pin in pins(result.name)) or "none"
        rows.append([label(result), "✓ passed" if result.passed else "✗ failed", needed])
    return (
        "\n".join(
            [
                "<!-- generated by `./tox.sh -e versions -- --write-docs`: do not edit -->",
                *markdown(rows),
            ]
        )
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("releases", nargs="*", help="releases to run (default: all + canary)")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"update the table in {generated_sections.COMPATIBILITY_PAGE}",
    )
    args = parser.parse_args()
    names = args.releases or [*TESTED_SYNAPSE_RELEASES, CANARY]
    unknown = [name for name in names if name not in (*TESTED_SYNAPSE_RELEASES, CANARY)]
    if unknown:
        parser.error(f"not in the matrix: {', '.join(unknown)}")

    results = []
    for name in names:
        print(f"synapse-{name}: running (log: {LOG_DIR / f'synapse-{name}.log'})", flush=True)
        result = run_release(name)
        print(f"synapse-{name}: {result.summary} ({result.seconds:.0f} s)", flush=True)
        results.append(result)
    print()
    print(console_table(results), end="")

    all_passed = all(result.passed for result in results)
    if args.write_docs:
        page = generated_sections.COMPATIBILITY_PAGE
        if not all_passed or args.releases:
            print(f"{page} not updated: it shows a full run where every release passed")
            return 1
        path = REPO_ROOT / page
        text = path.read_text(encoding="utf-8")
        path.write_text(
            generated_sections.replace_section(text, DOCS_SECTION, docs_table(results)),
            encoding="utf-8",
        )
        print(f"{page} updated")
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
