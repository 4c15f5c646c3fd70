"""Sections of the documentation that are generated, not written: ``<!-- NAME:start -->`` to
``<!-- NAME:end -->`` in a Markdown file.

Used for the tables a measurement makes (the bridge compatibility tables, ``python -m
testbed.compat``; the tested Synapse releases, ``scripts/versions.py``) and for the text that
comes from the code (``scripts/docs_from_code.py``). Imports nothing else, so the version matrix
and the unit tier can use it from an environment without Synapse or the bridge libraries.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The pages that hold generated sections, relative to the repository root.
README = "README.md"
COMPATIBILITY_PAGE = "docs/compatibility.md"


def read(page: str) -> str:
    """The text of ``page`` (a path relative to the repository root)."""
    return (REPO_ROOT / page).read_text(encoding="utf-8")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section(text: str, name: str) -> str | None:
    """The text between the section's markers (without them), or ``None`` if they are missing."""
    start_marker, end_marker = markers(name)
    start = text.find(start_marker)
    end = text.find(end_marker)
    if start < 0 or end < start:
        return None
    return text[start + len(start_marker) : end].strip("\n") + "\n"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the section's body replaced by ``body``; the markers must exist."""
    start_marker, end_marker = markers(name)
    start = text.find(start_marker)
    end = text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"no {start_marker} ... {end_marker} section")
    return text[: start + len(start_marker)] + "\n" + body + text[end:]


def without_sections(text: str) -> str:
    """``text`` with the body of every generated section left out (the markers stay): what was
    written by hand."""
    return _SECTION.sub(r"\1\n\3", text)


_SECTION = re.compile(r"(<!-- ([\w-]+):start -->).*?(<!-- \2:end -->)", re.DOTALL)
