"""The Synapse versions we claim: one list (synapse_dp_auth.releases), and all else agrees."""

from __future__ import annotations

import configparser
import re

import pytest
from constants import REPO_ROOT

from synapse_dp_auth import releases
from synapse_dp_auth.releases import (
    BCRYPT_5_SAFE_SINCE,
    TESTED_SYNAPSE_RELEASES,
    bcrypt_5_problem,
    release_key,
)
from testbed import generated_sections
from testbed.synapse_guard import GET_LOGIN_FLOW_TESTS

FLOOR, PINNED = TESTED_SYNAPSE_RELEASES[0], TESTED_SYNAPSE_RELEASES[-1]


def read(path: str) -> str:
    return (REPO_ROOT / path).read_text(encoding="utf-8")


def test_releases_are_oldest_first() -> None:
    keys = [release_key(release) for release in TESTED_SYNAPSE_RELEASES]
    assert keys == sorted(set(keys))
    # Through the module: imported by name, pytest would collect `tested_range` as a test.
    assert releases.tested_range() == f"Synapse {FLOOR} to {PINNED}"


def test_install_requires_names_the_floor() -> None:
    setup = configparser.ConfigParser()
    setup.read_string(read("setup.cfg"))
    requires = [line.strip() for line in setup["options"]["install_requires"].splitlines()]
    assert f"matrix-synapse>={FLOOR}" in requires


def test_unit_tier_installs_every_dependency_but_synapse() -> None:
    """The unit tier's environment (tox env ``unit``) is the package's without Synapse."""
    setup = configparser.ConfigParser()
    setup.read_string(read("setup.cfg"))
    requires = {
        line.strip()
        for line in setup["options"]["install_requires"].splitlines()
        if line.strip() and not line.strip().startswith("#")
    }
    unit = {
        line.strip()
        for line in read("tests/requirements-unit.txt").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {r for r in requires if not r.startswith("matrix-synapse")} <= unit
    assert not [line for line in unit if line.startswith("matrix-synapse")]


def test_requirements_pin_the_newest_tested_release() -> None:
    pins = re.findall(r"^matrix-synapse\[[^\]]*\]==(\S+)$", read("tests/requirements.txt"), re.M)
    assert pins == [PINNED]


def test_each_release_has_its_constraints_and_tox_env() -> None:
    for release in TESTED_SYNAPSE_RELEASES:
        lines = read(f"tests/constraints/synapse-{release}.txt").splitlines()
        assert f"matrix-synapse=={release}" in lines
    canary = read("tests/constraints/synapse-canary.txt")
    assert not any(line.startswith("matrix-synapse") for line in canary.splitlines())
    tox = configparser.ConfigParser(interpolation=None)
    tox.read_string(read("tox.ini"))
    sections = [name for name in tox.sections() if name.startswith("testenv:synapse-")]
    assert sections == ["testenv:synapse-{" + ",".join([*TESTED_SYNAPSE_RELEASES, "canary"]) + "}"]
    assert f"synapse-{FLOOR}" in tox["tox"]["envlist"].replace(" ", "").split(",")


def test_the_compatibility_page_shows_every_tested_release_passing() -> None:
    shown = generated_sections.section(
        read(generated_sections.COMPATIBILITY_PAGE), "synapse-versions"
    )
    assert shown is not None
    rows = [line for line in shown.splitlines() if line.startswith("| ") and "---" not in line]
    releases = [row.split("|")[1].split()[0] for row in rows[1:]]
    assert releases[:-1] == list(TESTED_SYNAPSE_RELEASES), shown
    assert "canary" in rows[-1]
    assert all("✓ passed" in row for row in rows[1:]), shown


#: A Synapse release number in text (1.53.0, 1.163.2), not part of a longer number or name.
_SYNAPSE_RELEASE = re.compile(r"(?<![\w.])1\.\d{2,3}\.\d+(?![\w.]*\d)")


def handwritten_documentation() -> dict[str, str]:
    """README.md, CONTRIBUTING.md and docs/*.md, without their generated sections."""
    paths = [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md"]
    paths += sorted((REPO_ROOT / "docs").glob("*.md"))
    return {
        str(path.relative_to(REPO_ROOT)): generated_sections.without_sections(
            path.read_text(encoding="utf-8")
        )
        for path in paths
    }


def test_the_documentation_names_only_releases_the_code_knows() -> None:
    """A Synapse release in the text is one releases.py names, so that moving the pin (or the
    floor) cannot leave an old number behind: the pinned release itself is written from the code
    (``./tox.sh -e docs``) or referred to as "the pinned release"."""
    known = {*TESTED_SYNAPSE_RELEASES, BCRYPT_5_SAFE_SINCE}
    found = {
        (name, number)
        for name, text in handwritten_documentation().items()
        for number in _SYNAPSE_RELEASE.findall(text)
    }
    assert {(name, number) for name, number in found if number not in known} == set()
    assert ("docs/compatibility.md", FLOOR) in found


def test_the_release_pattern_finds_releases_only() -> None:
    text = "Synapse 1.163.2, 1.53.0 and 1.141.0; not v0.10.1, 0.1.7, 3.11.7, 15.18 or 1.5 s"
    assert _SYNAPSE_RELEASE.findall(text) == ["1.163.2", "1.53.0", "1.141.0"]


def test_requirements_comment_names_files_that_exist() -> None:
    comment = [line for line in read("tests/requirements.txt").splitlines() if line[:1] == "#"]
    named = re.findall(r"(?:synapse_dp_auth|tests|scripts)/[\w/]+\.py", " ".join(comment))
    assert named, comment
    assert [path for path in named if not (REPO_ROOT / path).exists()] == []


def test_get_login_flow_lists_are_for_tested_releases() -> None:
    assert set(GET_LOGIN_FLOW_TESTS) <= set(TESTED_SYNAPSE_RELEASES)
    assert FLOOR in GET_LOGIN_FLOW_TESTS


@pytest.mark.parametrize(
    ("synapse_version", "bcrypt_version", "problem"),
    [
        ("1.130.0", "5.0.0", True),
        ("1.140.0", "5.1.2", True),
        ("1.53.0", "5.0.0", True),
        (BCRYPT_5_SAFE_SINCE, "5.0.0", False),
        ("1.163.2", "5.0.0", False),
        ("1.130.0", "4.3.0", False),
        ("1.130.0", None, False),
    ],
)
def test_bcrypt_5_problem(synapse_version: str, bcrypt_version: str | None, problem: bool) -> None:
    found = bcrypt_5_problem(synapse_version, bcrypt_version)
    assert (found is not None) == problem
    if found is not None:
        assert "bcrypt<5" in found
        assert BCRYPT_5_SAFE_SINCE in found
