"""The documentation as a reader meets it: every relative link and ``#anchor`` leads somewhere,
what the code says is written from the code, and the README stays a first ten minutes."""

from __future__ import annotations

import shlex
import sys
import textwrap
from pathlib import Path

import pytest
from constants import REPO_ROOT
from docs_support import anchors, broken_links, documents, links, quickstart_commands, slug

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import docs_from_code

#: "At most about 15 KB": the README is what an admin reads before the first change.
README_LIMIT_BYTES = 16_000


@pytest.mark.parametrize("path", documents(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_relative_link_and_anchor_leads_somewhere(path: Path) -> None:
    assert broken_links(path) == []


def test_the_documentation_pages_are_found() -> None:
    names = {str(path.relative_to(REPO_ROOT)) for path in documents()}
    assert {"README.md", "CONTRIBUTING.md", "docs/compatibility.md"} <= names


def test_slugs_are_githubs() -> None:
    assert slug("`plan`: set up double puppeting for every bridge at once") == (
        "plan-set-up-double-puppeting-for-every-bridge-at-once"
    )
    assert slug("From a bridge's own config: `doctor --bridge-config`") == (
        "from-a-bridges-own-config-doctor---bridge-config"
    )
    assert slug("Mitigations, and what they cost") == "mitigations-and-what-they-cost"
    assert slug("**Bold** and [a link](x.md)") == "bold-and-a-link"


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n", encoding="utf-8")
    page.write_text(
        textwrap.dedent(
            """\
            # Page

            ## Twice
            ## Twice

            [ok](other.md#a-section) [ok](#twice-1) [ok](https://example.org/#x)
            [missing file](nowhere.md) [missing anchor](other.md#b-section)
            [wrapped
            text](#nowhere) `[in code](#ignored)`

            ```md
            [in a fence](#ignored-too)
            ```
            """
        ),
        encoding="utf-8",
    )
    assert anchors(page.read_text(encoding="utf-8")) == {"page", "twice", "twice-1"}
    assert "#ignored" not in list(links(page.read_text(encoding="utf-8")))
    assert broken_links(page) == [
        "nowhere.md: nowhere.md does not exist",
        "other.md#b-section: other.md has no heading with that anchor",
        "#nowhere: page.md has no heading with that anchor",
    ]


@pytest.mark.parametrize(
    ("page", "section"), [(page, name) for page, name, _ in docs_from_code.SECTIONS]
)
def test_what_the_code_says_is_written_from_it(page: str, section: str) -> None:
    assert f"{page}#{section}" not in docs_from_code.stale(), (
        f"{page}: the {section} section differs from the code: rewrite it with ./tox.sh -e docs"
    )


def test_the_readme_is_short() -> None:
    size = len((REPO_ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT_BYTES, (
        f"README.md is {size} bytes: reference material goes in docs/, contributor matters in"
        " CONTRIBUTING.md"
    )


def test_the_quick_start_leads_with_plan_and_ends_with_doctor() -> None:
    """What tests/e2e/test_e2e_quickstart.py runs: plan, plan --apply, the restarts, doctor."""
    commands = [shlex.split(line) for line in quickstart_commands(read("README.md"))]
    assert commands[0][:2] == ["synapse_dp_auth", "plan"] and "--apply" not in commands[0]
    assert commands[1][:2] == ["synapse_dp_auth", "plan"] and commands[1][-1] == "--apply"
    assert commands[1][:-1] == commands[0]
    assert ["systemctl", "restart", "matrix-synapse"] in commands
    doctors = [argv for argv in commands if argv[:2] == ["synapse_dp_auth", "doctor"]]
    assert doctors and all("--bridge-config" in argv for argv in doctors)
    assert commands[-len(doctors) :] == doctors


def read(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


#: Issue 18's bound: a package file past it holds several jobs.
LONGEST_FILE_LINES = 500


def test_the_layout_map_names_every_package_file_and_none_is_long() -> None:
    """CONTRIBUTING.md's "Where things are" lists each file of the package (admin files relative
    to ``synapse_dp_auth/admin/``), so that a newcomer finds which file serves which command."""
    text = read("CONTRIBUTING.md")
    package = REPO_ROOT / "synapse_dp_auth"
    unlisted, long = [], []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        shown = relative.relative_to("admin") if relative.parts[0] == "admin" else relative
        listed = f"`{shown.as_posix()}`" in text
        if not listed and (path.name != "__init__.py" or relative.parts[0] != "admin"):
            unlisted.append(relative.as_posix())
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > LONGEST_FILE_LINES:
            long.append(f"{relative.as_posix()}: {lines} lines")
    assert not unlisted, f"CONTRIBUTING.md's layout map does not list {unlisted}"
    assert not long, f"over {LONGEST_FILE_LINES} lines: {long}"
