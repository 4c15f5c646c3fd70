"""Reading the documentation as GitHub renders it: its links, its headings' anchors, and the
README's quick start. No Synapse: the unit tier and the end-to-end tier both use it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from constants import REPO_ROOT

#: The Markdown files whose links must lead somewhere.
DOCUMENTS = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
DOCS_DIR = "docs"

#: The comment that marks the fenced block of the README's quick start.
QUICKSTART_MARKER = "<!-- quickstart:"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_CODE_SPAN = re.compile(r"`+[^`]*?`+", re.DOTALL)
#: An inline link or image: ``[text](target)`` (text may hold one level of brackets).
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def documents() -> list[Path]:
    """README.md, CONTRIBUTING.md, CHANGELOG.md and every page in docs/."""
    found = [REPO_ROOT / name for name in DOCUMENTS if (REPO_ROOT / name).exists()]
    return found + sorted((REPO_ROOT / DOCS_DIR).glob("*.md"))


def prose(text: str) -> str:
    """``text`` with every fenced code block blanked (its lines kept, empty)."""
    lines = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def _heading_text(markdown: str) -> str:
    """What GitHub shows of a heading: code spans, links and emphasis reduced to their text."""
    text = re.sub(r"`+([^`]*)`+", r"\1", markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"(\*{1,3}|_{1,3})(\S.*?\S|\S)\1", r"\2", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before duplicates are numbered): lower case, every
    character that is not a letter, digit, ``_``, ``-`` or space dropped, spaces made ``-``."""
    text = _heading_text(heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor GitHub gives the headings of a Markdown text (a repeated one gets ``-1``,
    ``-2``...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(text).splitlines():
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> Iterator[str]:
    """The target of every inline link and image outside code."""
    for match in _LINK.finditer(_CODE_SPAN.sub("", prose(text))):
        yield match.group(1)


def broken_links(path: Path) -> list[str]:
    """``target: why`` for each relative link or ``#anchor`` of ``path`` that leads nowhere."""
    problems = []
    text = path.read_text(encoding="utf-8")
    for target in links(text):
        if not target or _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{target}: {file_part} does not exist")
            continue
        if not anchor:
            continue
        if destination.suffix != ".md":
            problems.append(f"{target}: an anchor into a file that is not Markdown")
        elif anchor not in anchors(destination.read_text(encoding="utf-8")):
            problems.append(f"{target}: {destination.name} has no heading with that anchor")
    return problems


def quickstart_commands(readme_text: str) -> list[str]:
    """The command lines of the README's quick start: the fenced block right after the marker
    comment, without blank and comment lines."""
    start = readme_text.find(QUICKSTART_MARKER)
    if start < 0:
        raise AssertionError(f"README.md has no {QUICKSTART_MARKER} ... --> marker")
    lines = readme_text[start:].splitlines()[1:]
    if not lines or not _FENCE.match(lines[0]):
        raise AssertionError("the quick start's marker is not right above a fenced block")
    commands: list[str] = []
    for line in lines[1:]:
        if _FENCE.match(line):
            return commands
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    raise AssertionError("the quick start's fenced block is not closed")
