"""Edits to a JSON config (matrix-corporal's) that leave every other byte of it as it was.

``json.dumps(json.loads(text))`` would rewrite the whole file (corporal's documented example
indents with tabs and groups sections with blank lines), so, as for YAML, the file is only read to
find where a value starts and ends, and the change is spliced in: a value replaced where it
stands, a new member written after the last one with the same indentation and ``:`` spacing.
The result is parsed again and must equal the old document with exactly the intended change.
A duplicate key anywhere is refused: readers disagree on which one counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attr

from synapse_dp_auth.admin.plan.values import EditError, Value, describe, plain, same

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERAL = re.compile(r"true|false|null")
_SEPARATOR = re.compile(r"[ \t]*:[ \t]*")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Member:
    key: str
    key_start: int
    key_end: int
    value: _Node


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Node:
    """Where a JSON value stands in the text; ``members`` for an object."""

    start: int
    end: int
    members: tuple[_Member, ...] | None = None
    items: tuple[_Node, ...] = ()


def set_json_value(text: str, path: Sequence[str], value: Value) -> str:
    """``text`` with the member at ``path`` set to ``value``, missing objects on the way created.

    Returns ``text`` itself when the value is already there.
    """
    if isinstance(path, str) or not path:
        raise EditError("a key path is a non-empty sequence of strings")
    path = tuple(path)
    before = _load(text)
    if not isinstance(before, dict):
        raise EditError("the document is not a JSON object")
    current: Any = before
    for key in path:
        current = current.get(key, _MISSING) if isinstance(current, dict) else _MISSING
    wanted = plain(value)
    if current is not _MISSING and same(current, wanted):
        return text
    root = _Parser(text).document()
    start, end, new = _splice(text, root, path, wanted)
    result = text[:start] + new + text[end:]
    expected = json.loads(text)
    target = expected
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = wanted
    try:
        after = _load(result)
    except EditError:
        after = _MISSING
    if not same(after, expected):
        raise EditError(
            f"editing {describe(path)} would change more than that key: edit it by hand"
        )
    return result


_MISSING: Any = object()


def _load(text: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise EditError("not valid JSON for editing: an object has the same key twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        # The message names the problem and the place, never a piece of the file.
        raise EditError(
            f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None


def json_scalars(text: str) -> list[tuple[tuple[str, ...], int, int]]:
    """Every scalar value in ``text`` (a JSON object): its key path, start and end.

    For the diff, which hides some of them; a list item has the path of its list.
    """
    found: list[tuple[tuple[str, ...], int, int]] = []

    def walk(node: _Node, path: tuple[str, ...]) -> None:
        if node.members is not None:
            for member in node.members:
                walk(member.value, (*path, member.key))
        elif node.items or text.startswith("[", node.start):
            for item in node.items:
                walk(item, path)
        else:
            found.append((path, node.start, node.end))

    walk(_Parser(text).document(), ())
    return found


def _splice(text: str, root: _Node, path: tuple[str, ...], value: object) -> tuple[int, int, str]:
    """What to replace (start, end) with what, for ``path`` to hold ``value``."""
    node = root
    for depth, key in enumerate(path):
        assert node.members is not None
        found = [member for member in node.members if member.key == key]
        rest = path[depth + 1 :]
        if not found:
            nested: object = value
            for inner in reversed(rest):
                nested = {inner: nested}
            return _add_member(text, node, key, nested)
        member = found[0]
        target = member.value
        if not rest:
            if target.members is not None or text[target.start] == "[":
                raise EditError(f"{describe(path)} holds an object or array: edit it by hand")
            return target.start, target.end, _dumps(value, text, target.start)
        if target.members is None:
            if text[target.start : target.end] != "null":
                raise EditError(f"{describe(path[: depth + 1])} is not an object")
            nested = value
            for inner in reversed(rest):
                nested = {inner: nested}
            return target.start, target.end, _dumps(nested, text, member.key_start)
        node = target
    raise AssertionError("unreachable: the loop returns at the last key")


def _add_member(text: str, obj: _Node, key: str, value: object) -> tuple[int, int, str]:
    assert obj.members is not None
    if not obj.members:
        at = obj.start + 1
        return at, at, f"{json.dumps(key, ensure_ascii=False)}: {_dumps(value, text, obj.start)}"
    last = obj.members[-1]
    separator_match = _SEPARATOR.fullmatch(text, last.key_end, last.value.start)
    separator = separator_match.group() if separator_match else ": "
    line_start = text.rfind("\n", 0, last.key_start) + 1
    indent = text[line_start : last.key_start]
    key_text = json.dumps(key, ensure_ascii=False)
    at = last.value.end
    if indent.strip(" \t") or line_start <= obj.start:
        # Members on one line with the braces: keep it on one line.
        return at, at, f", {key_text}{separator}{_dumps(value, text, obj.start)}"
    newline = _newline(text)
    rendered = _dumps(value, text, last.key_start)
    return at, at, f",{newline}{indent}{key_text}{separator}{rendered}"


def _dumps(value: object, text: str, near: int) -> str:
    """``value`` as JSON; an object or array spread over lines indented like the line holding
    ``near``, one more level in, with the file's indentation unit and line breaks."""
    if not isinstance(value, (Mapping, list)) or not value or "\n" not in text:
        return json.dumps(value, ensure_ascii=False)
    line_start = text.rfind("\n", 0, near) + 1
    indent = re.match(r"[ \t]*", text[line_start:near])
    base = indent.group() if indent else ""
    rendered = json.dumps(value, ensure_ascii=False, indent=_unit(text))
    return rendered.replace("\n", _newline(text) + base)


def _unit(text: str) -> str:
    """The file's indentation unit: a tab, or the smallest run of leading spaces."""
    indents = re.findall(r"\n([ \t]+)\S", text)
    if any(indent.startswith("\t") for indent in indents):
        return "\t"
    widths = [len(indent) for indent in indents]
    return " " * (min(widths) if widths else 2)


def _newline(text: str) -> str:
    first_break = text.find("\n")
    return "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"


class _Parser:
    """Just enough of a JSON parser to know where each value starts and ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def document(self) -> _Node:
        self._skip()
        node = self._value()
        if node.members is None:
            raise EditError("the document is not a JSON object")
        return node

    def _skip(self) -> None:
        match = _WHITESPACE.match(self.text, self.at)
        assert match is not None  # the pattern matches the empty string
        self.at = match.end()

    def _expect(self, char: str) -> None:
        self._skip()
        if not self.text.startswith(char, self.at):
            raise EditError("not valid JSON")  # json.loads said it was: a parser bug
        self.at += 1

    def _value(self) -> _Node:
        self._skip()
        start = self.at
        char = self.text[start : start + 1]
        if char == "{":
            return self._object()
        if char == "[":
            self.at += 1
            self._skip()
            items = []
            if not self.text.startswith("]", self.at):
                while True:
                    items.append(self._value())
                    self._skip()
                    if not self.text.startswith(",", self.at):
                        break
                    self.at += 1
            self._expect("]")
            return _Node(start, self.at, items=tuple(items))
        for pattern in (_STRING, _NUMBER, _LITERAL):
            match = pattern.match(self.text, start)
            if match:
                self.at = match.end()
                return _Node(start, self.at)
        raise EditError("not valid JSON")

    def _object(self) -> _Node:
        start = self.at
        self.at += 1
        members: list[_Member] = []
        self._skip()
        if not self.text.startswith("}", self.at):
            while True:
                self._skip()
                match = _STRING.match(self.text, self.at)
                if match is None:
                    raise EditError("not valid JSON")
                key = json.loads(match.group())
                self.at = match.end()
                self._expect(":")
                members.append(_Member(key, match.start(), match.end(), self._value()))
                self._skip()
                if not self.text.startswith(",", self.at):
                    break
                self.at += 1
        self._expect("}")
        return _Node(start, self.at, tuple(members))
