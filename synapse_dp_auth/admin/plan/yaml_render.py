"""New YAML text for :mod:`~synapse_dp_auth.admin.plan.yaml_edit`: scalars quoted so that every
YAML reader takes them back as the same value, and entries and list items laid out as the file
around them is (its indentation steps, learnt by the editor).

Strings are written plain only when every YAML reader takes them back as the same string (no
YAML 1.1 booleans like ``on``, nothing number- or date-shaped, no ``: `` or `` #``), otherwise
double-quoted, or single-quoted where the value they replace or sit beside is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attr

from synapse_dp_auth.admin.plan.values import Secret, Value

#: Plain in block context: starts with a letter, ``_`` or ``/`` (so never a number, a date,
#: ``~``, ``-``, an indicator), then no space, quote, ``#``, comma or bracket; ``:`` only before
#: another character (``as_token:abc``, never ``a: b`` or a trailing colon).
_PLAIN_BLOCK = re.compile(r"[A-Za-z_/](?:[A-Za-z0-9_.\-/@+=]|:(?=[^\s:]))*")
#: In flow context (and for keys) no ``:`` at all: older PyYAML stops a flow scalar at one.
_PLAIN_FLOW = re.compile(r"[A-Za-z_/][A-Za-z0-9_.\-/@+=]*")
#: Read as booleans or null by YAML 1.1 readers (PyYAML, hence Synapse and mautrix-python).
_SPECIAL_WORDS = frozenset(
    "y n yes no on off true false null".split()  # noqa: SIM905 - a word list reads better
)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Layout:
    """How the file indents, learnt from the file so that new lines look like the old ones."""

    newline: str
    #: Columns from a key to the keys of the mapping under it.
    step: int
    #: Columns from a key to the ``-`` of the list under it (0 or the step, usually).
    dash: int
    #: Columns from ``-`` to the item (``- a`` is 2).
    item: int


#: Printable, but read as a line break (U+2028, U+2029) or a byte order mark, or not characters.
_ESCAPED = frozenset((0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF))


def _quoted(text: str) -> str:
    """A double-quoted YAML scalar; escapes what YAML does not allow raw."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in _ESCAPED:
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _single_quotable(text: str) -> bool:
    return all(char.isprintable() for char in text)


def _plain_ok(text: str, flow: bool) -> bool:
    pattern = _PLAIN_FLOW if flow else _PLAIN_BLOCK
    return pattern.fullmatch(text) is not None and text.lower() not in _SPECIAL_WORDS


def scalar(value: Value, *, flow: bool, style: str | None = None, key: bool = False) -> str:
    """A scalar as YAML text; ``style`` is the quoting of the value it replaces or sits beside."""
    if isinstance(value, Secret):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    if style == "'" and _single_quotable(value):
        return "'" + value.replace("'", "''") + "'"
    if style is None and _plain_ok(value, flow=flow or key):
        return value
    return _quoted(value)


def flow(value: Value) -> str:
    if isinstance(value, Mapping):
        entries = (f"{scalar(k, flow=True, key=True)}: {flow(v)}" for k, v in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    return scalar(value, flow=True)


def block_entry(
    key: str, value: Value, column: int, layout: Layout, styles: tuple[str | None, str | None]
) -> list[str]:
    """Lines of ``key: value`` at ``column``; ``styles`` is the (key, value) quoting to match."""
    head = " " * column + scalar(key, flow=False, style=styles[0], key=True) + ":"
    if isinstance(value, Mapping) and value:
        lines = [head]
        for child_key, child in value.items():
            lines += block_entry(child_key, child, column + layout.step, layout, (None, None))
        return lines
    if isinstance(value, list) and value:
        lines = [head]
        for item in value:
            lines += block_item(item, column + layout.dash, layout, None)
        return lines
    if isinstance(value, (Mapping, list)):
        return [f"{head} {flow(value)}"]
    return [f"{head} {scalar(value, flow=False, style=styles[1])}"]


def block_item(item: Value, dash_column: int, layout: Layout, style: str | None) -> list[str]:
    """Lines of ``- item`` with its ``-`` at ``dash_column``."""
    dash = " " * dash_column + "-" + " " * (layout.item - 1)
    if isinstance(item, Mapping) and item:
        lines: list[str] = []
        for key, value in item.items():
            lines += block_entry(key, value, dash_column + layout.item, layout, (None, None))
        return [dash + lines[0][dash_column + layout.item :], *lines[1:]]
    if isinstance(item, (Mapping, list)):
        return [dash + flow(item)]
    return [dash + scalar(item, flow=False, style=style)]


def nest(path: tuple[str, ...], value: Value) -> Value:
    """``value`` under the keys of ``path`` (the mappings an edit creates)."""
    for key in reversed(path):
        value = {key: value}
    return value
