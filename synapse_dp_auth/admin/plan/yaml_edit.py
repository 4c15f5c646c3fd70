"""Edits to a YAML config that leave every other byte of it as the admin wrote it.

Dumping a round-trip-loaded document rewrites more than it should (line widths, spacing inside
flow collections, some comments, quoting of keys), so ruamel.yaml is used only to *find* things:
its composer gives every key and value the exact place in the text where it starts and ends. The
change is then spliced into the original text, a value replaced where it stands or whole lines
inserted after the entry they follow, indented as the file indents, in the quoting its
neighbours use, with its line breaks (CRLF stays CRLF). Every result is parsed again and must
equal the old document with exactly the intended change; anything else is an :class:`EditError`,
never a file written on a guess.

Refused, with the key path and the reason: a document that is not one mapping (several documents,
a list, a scalar), a duplicate key, a key reached through a merge key (``<<``), a mapping or value
that an alias (``*name``) also points to (the change would show up there too), a value in a
block scalar (``|``, ``>``), and replacing a whole mapping or list by something else.

Strings are written plain only when every YAML reader takes them back as the same string (no
YAML 1.1 booleans like ``on``, nothing number- or date-shaped, no ``: `` or `` #``), otherwise
double-quoted. ``as_token:...`` is plain in block context.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attr
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from synapse_dp_auth.admin.plan.values import (
    EditError,
    Secret,
    Value,
    describe,
    plain,
    same,
)
from synapse_dp_auth.admin.shared.files import yaml_problem

_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

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
class _Splice:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Layout:
    """How the file indents, learnt from the file so that new lines look like the old ones."""

    newline: str
    #: Columns from a key to the keys of the mapping under it.
    step: int
    #: Columns from a key to the ``-`` of the list under it (0 or the step, usually).
    dash: int
    #: Columns from ``-`` to the item (``- a`` is 2).
    item: int


def set_value(text: str, path: Sequence[str], value: Value) -> str:
    """``text`` with the value at ``path`` set to ``value``, missing mappings on the way created.

    Sets an entry of a mapping too: the last element of ``path`` is the entry's key
    (``("bridge", "login_shared_secret_map", "example.org")``). Returns ``text`` itself when the
    value is already there, so applying a plan twice changes nothing the second time.
    """
    path = _checked_path(path)
    root, before = _parse(text)
    if _lookup(before, path) is not _MISSING and same(_lookup(before, path), plain(value)):
        return text
    layout = _layout(text, root)
    splices = _set_splices(text, root, path, value, layout)
    return _verified(text, splices, _with_set(before, path, plain(value)), path)


def append_item(
    text: str, path: Sequence[str], item: Value, *, identity_key: str | None = None
) -> str:
    """``text`` with ``item`` added at the end of the list at ``path`` (created if missing).

    Nothing changes when the list already holds an equal item or, with ``identity_key``, a
    mapping with the same value under that key (a ``modules:`` entry with the same ``module:``):
    the caller decides what to do with an entry that is there but differs.
    """
    path = _checked_path(path)
    root, before = _parse(text)
    current = _lookup(before, path)
    if current is not _MISSING and current is not None:
        if not isinstance(current, list):
            raise EditError(f"{describe(path)} is not a list")
        if any(_same_item(existing, item, identity_key) for existing in current):
            return text
    layout = _layout(text, root)
    splices = _append_splices(text, root, path, item, layout)
    expected = copy.deepcopy(before) if before is not None else {}
    items = [*(current if isinstance(current, list) else []), plain(item)]
    return _verified(text, splices, _with_set(expected, path, items), path)


def yaml_scalars(text: str) -> list[tuple[tuple[str, ...], int, int, str | None]]:
    """Every scalar value in ``text``: its key path, start, end and quoting (``'``, ``"``,
    ``|``, ``>`` or None for plain).

    For the diff, which hides some of them; a list item has the path of its list. A value that
    several aliases share is listed once, where its anchor stands.
    """
    root, _ = _parse(text)
    found: list[tuple[tuple[str, ...], int, int, str | None]] = []
    seen: set[int] = set()

    def walk(node: Node, path: tuple[str, ...]) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                walk(value_node, (*path, key))
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item, path)
        elif isinstance(node, ScalarNode) and not _is_empty(node):
            found.append((path, _content_start(text, node), node.end_mark.index, node.style))

    if root is not None:
        walk(root, ())
    return found


# -- parsing and checking -------------------------------------------------------------------------


_MISSING: Any = object()


def _checked_path(path: Sequence[str]) -> tuple[str, ...]:
    if isinstance(path, str) or not path or not all(isinstance(key, str) for key in path):
        raise EditError("a key path is a non-empty sequence of strings")
    return tuple(path)


def _parse(text: str) -> tuple[Node | None, Any]:
    """The node tree (where things are) and the data (what they are), or :class:`EditError`."""
    try:
        root = YAML(typ="rt").compose(text)
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        raise EditError(f"not valid YAML: {yaml_problem(error)}") from None
    if root is not None and _is_null(root) and _is_empty(root):
        root = None  # "---" and nothing else: as empty as an empty file
    if root is not None and not isinstance(root, MappingNode):
        raise EditError("the document is not a mapping of keys to values")
    return root, data


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return _MISSING
        data = data[key]
    return data


def _with_set(data: Any, path: tuple[str, ...], value: object) -> Any:
    """What the document must parse to after the edit."""
    data = copy.deepcopy(data) if data is not None else {}
    target = data
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    return data


def _same_item(existing: object, item: Value, identity_key: str | None) -> bool:
    wanted = plain(item)
    if identity_key is not None and isinstance(existing, Mapping) and isinstance(wanted, dict):
        return identity_key in wanted and same(existing.get(identity_key), wanted[identity_key])
    return same(existing, wanted)


def _verified(text: str, splices: list[_Splice], expected: Any, path: tuple[str, ...]) -> str:
    """Apply ``splices``; the result must parse to ``expected`` or nothing is returned."""
    ordered = sorted(splices, key=lambda s: (s.start, s.end))
    if any(earlier.end > later.start for earlier, later in itertools.pairwise(ordered)):
        raise EditError(f"cannot edit {describe(path)} in this layout: edit it by hand")
    result = text
    for splice in reversed(ordered):
        result = result[: splice.start] + splice.new + result[splice.end :]
    try:
        after = YAML(typ="safe", pure=True).load(result)
    except YAMLError as error:
        raise EditError(
            f"editing {describe(path)} would break the file ({yaml_problem(error)}):"
            " edit it by hand"
        ) from None
    if not same(after, expected):
        raise EditError(
            f"editing {describe(path)} would change more than that key: edit it by hand"
        )
    return result


# -- finding --------------------------------------------------------------------------------------


def _shared_nodes(root: Node | None) -> set[int]:
    """Nodes reached twice: an anchor an alias points to. Their text stands in one place only."""
    seen: Counter[int] = Counter()

    def walk(node: Node) -> None:
        seen[id(node)] += 1
        if seen[id(node)] > 1:
            return
        for child in _children(node):
            walk(child)

    if root is not None:
        walk(root)
    return {node_id for node_id, count in seen.items() if count > 1}


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


def _entry(mapping: MappingNode, key: str, path: tuple[str, ...]) -> tuple[Node, Node] | None:
    """The key node and value node of ``key`` in ``mapping``."""
    found = [
        (key_node, value_node)
        for key_node, value_node in mapping.value
        if isinstance(key_node, ScalarNode) and key_node.tag == _STR_TAG and key_node.value == key
    ]
    if len(found) > 1:
        raise EditError(f"{describe(path)} is there more than once")
    if found:
        return found[0]
    if any(key_node.tag == _MERGE_TAG for key_node, _ in mapping.value):
        raise EditError(
            f"{describe(path[:-1])} takes keys from a merge key (<<): edit {describe(path)} by hand"
        )
    return None


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _is_empty(node: Node) -> bool:
    """A value written as nothing at all (``key:``): its marks point at the next token."""
    return isinstance(node, ScalarNode) and node.start_mark.index == node.end_mark.index


def _last_position(doc: _Doc, key: Node | None, value: Node) -> int:
    """A position on the last line of an entry (or list item): new lines go after that line."""
    if key is None and _is_empty(value):
        # A lone "-": its marks are not where it stands.
        raise EditError("a list has an empty item (a lone -): edit it by hand")
    if key is not None and (_is_empty(value) or value.start_mark.index < key.end_mark.index):
        # "key:" has no marks of its own; "key: *alias" has those of its anchor, further up:
        # either way the entry ends on the key's line (an alias is one token).
        alias = f"*{value.anchor}" if value.start_mark.index < key.end_mark.index else ""
        at = doc.text.find(alias, key.end_mark.index) if alias else -1
        return at + len(alias) if at >= 0 else int(key.end_mark.index)
    if isinstance(value, MappingNode) and not value.flow_style:
        last_key, last_value = value.value[-1]
        return _last_position(doc, last_key, last_value)
    if isinstance(value, SequenceNode) and not value.flow_style:
        position = int(value.start_mark.index)
        for item in value.value:
            if _is_empty(item) or item.start_mark.index >= position:
                position = _last_position(doc, None, item)
                continue
            # "- *name": the marks are those of its anchor, further up.
            alias = f"*{item.anchor}"
            at = doc.text.find(alias, position)
            if at < 0:
                raise EditError("cannot find the end of a list: edit it by hand")
            position = at + len(alias)
        return position
    end = value.end_mark
    # A block scalar ends at the start of the line after it.
    if end.column == 0 and end.index > value.start_mark.index:
        return int(end.index) - 1
    return int(end.index)


def _check_not_shared(node: Node, shared: set[int], path: tuple[str, ...]) -> None:
    if id(node) in shared:
        raise EditError(
            f"{describe(path)} is an anchor that an alias (*name) also uses: changing it would"
            " change both; edit it by hand"
        )


# -- layout ---------------------------------------------------------------------------------------


def _layout(text: str, root: Node | None) -> _Layout:
    """The file's most common indentation steps (2 and 0 when it shows none)."""
    steps: Counter[int] = Counter()
    dashes: Counter[int] = Counter()
    items: Counter[int] = Counter()
    for node in _walk(root):
        if isinstance(node, MappingNode) and not node.flow_style:
            column = node.value[0][0].start_mark.column
            for _, child in node.value:
                if isinstance(child, MappingNode) and not child.flow_style:
                    steps[child.value[0][0].start_mark.column - column] += 1
                elif isinstance(child, SequenceNode) and not child.flow_style:
                    dashes[child.start_mark.column - column] += 1
        if isinstance(node, SequenceNode) and not node.flow_style:
            for child in node.value:
                if not _is_empty(child):
                    items[child.start_mark.column - node.start_mark.column] += 1
    first_break = text.find("\n")
    newline = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
    return _Layout(
        newline=newline,
        step=_most_common(steps, lambda n: n > 0, 2),
        dash=_most_common(dashes, lambda n: n >= 0, 2),
        item=_most_common(items, lambda n: n >= 2, 2),
    )


def _walk(root: Node | None) -> Iterator[Node]:
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(_children(node))


def _most_common(counter: Counter[int], valid: Callable[[int], bool], default: int) -> int:
    for value, _ in counter.most_common():
        if valid(value):
            return int(value)
    return default


def _line_end(text: str, position: int) -> int:
    """Where the line holding ``position`` ends, its line break included."""
    newline = text.find("\n", position)
    return len(text) if newline < 0 else newline + 1


def _insert_lines(text: str, after: int, lines: list[str], newline: str) -> _Splice:
    """Whole lines after the line holding ``after``; a file without a final line break keeps
    having none."""
    at = _line_end(text, after) if text else 0
    if at == len(text) and text and not text.endswith("\n"):
        return _Splice(at, at, newline + newline.join(lines))
    return _Splice(at, at, "".join(line + newline for line in lines))


#: An anchor (``&name``) or a tag (``!!str``) before a value: its marks start there.
_PROPERTIES = re.compile(r"(?:[&!][^\s]*[ \t]+)*")


def _content_start(text: str, node: Node) -> int:
    """Where ``node``'s value itself starts, after its anchor and tag (which stay)."""
    match = _PROPERTIES.match(text, node.start_mark.index)
    return match.end() if match else int(node.start_mark.index)


def _colon_after(text: str, key: Node, path: tuple[str, ...]) -> int:
    """The index just after the ``:`` that follows ``key``."""
    match = re.compile(r"[ \t]*:").match(text, key.end_mark.index)
    if match is None:
        raise EditError(f"cannot find where the value of {describe(path)} goes: edit it by hand")
    return match.end()


# -- rendering ------------------------------------------------------------------------------------


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


def _scalar(value: Value, *, flow: bool, style: str | None = None, key: bool = False) -> str:
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


def _flow(value: Value) -> str:
    if isinstance(value, Mapping):
        entries = (f"{_scalar(k, flow=True, key=True)}: {_flow(v)}" for k, v in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value, flow=True)


def _block_entry(
    key: str, value: Value, column: int, layout: _Layout, styles: tuple[str | None, str | None]
) -> list[str]:
    """Lines of ``key: value`` at ``column``; ``styles`` is the (key, value) quoting to match."""
    head = " " * column + _scalar(key, flow=False, style=styles[0], key=True) + ":"
    if isinstance(value, Mapping) and value:
        lines = [head]
        for child_key, child in value.items():
            lines += _block_entry(child_key, child, column + layout.step, layout, (None, None))
        return lines
    if isinstance(value, list) and value:
        lines = [head]
        for item in value:
            lines += _block_item(item, column + layout.dash, layout, None)
        return lines
    if isinstance(value, (Mapping, list)):
        return [f"{head} {_flow(value)}"]
    return [f"{head} {_scalar(value, flow=False, style=styles[1])}"]


def _block_item(item: Value, dash_column: int, layout: _Layout, style: str | None) -> list[str]:
    """Lines of ``- item`` with its ``-`` at ``dash_column``."""
    dash = " " * dash_column + "-" + " " * (layout.item - 1)
    if isinstance(item, Mapping) and item:
        lines: list[str] = []
        for key, value in item.items():
            lines += _block_entry(key, value, dash_column + layout.item, layout, (None, None))
        return [dash + lines[0][dash_column + layout.item :], *lines[1:]]
    if isinstance(item, (Mapping, list)):
        return [dash + _flow(item)]
    return [dash + _scalar(item, flow=False, style=style)]


def _nest(path: tuple[str, ...], value: Value) -> Value:
    """``value`` under the keys of ``path`` (the mappings an edit creates)."""
    for key in reversed(path):
        value = {key: value}
    return value


def _sibling_styles(mapping: MappingNode) -> tuple[str | None, str | None]:
    """The quoting of the last string key and value in ``mapping``, for new entries to match."""
    key_style: str | None = None
    value_style: str | None = None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.tag == _STR_TAG:
            key_style = key_node.style if key_node.style in ("'", '"') else None
        if isinstance(value_node, ScalarNode) and value_node.tag == _STR_TAG:
            value_style = value_node.style if value_node.style in ("'", '"') else None
    return key_style, value_style


def _item_style(sequence: SequenceNode) -> str | None:
    styles = [
        item.style
        for item in sequence.value
        if isinstance(item, ScalarNode) and item.tag == _STR_TAG
    ]
    return styles[-1] if styles and styles[-1] in ("'", '"') else None


# -- the edits ------------------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Doc:
    """The text being edited, with what was learnt about it."""

    text: str
    layout: _Layout
    shared: set[int]


#: What an edit puts where its path ends, given the key and value node found there.
_AtTarget = Callable[[_Doc, MappingNode, Node, Node, tuple[str, ...]], list[_Splice]]


def _set_splices(
    text: str, root: Node | None, path: tuple[str, ...], value: Value, layout: _Layout
) -> list[_Splice]:
    def at_target(
        doc: _Doc, mapping: MappingNode, key_node: Node, value_node: Node, here: tuple[str, ...]
    ) -> list[_Splice]:
        return _replace_value(doc, mapping, key_node, value_node, value, here)

    return _walk_to(_Doc(text, layout, _shared_nodes(root)), root, path, value, at_target)


def _append_splices(
    text: str, root: Node | None, path: tuple[str, ...], item: Value, layout: _Layout
) -> list[_Splice]:
    def at_target(
        doc: _Doc, mapping: MappingNode, key_node: Node, value_node: Node, here: tuple[str, ...]
    ) -> list[_Splice]:
        if _is_null(value_node):
            return _fill_null(doc, mapping, key_node, value_node, [item], here)
        if not isinstance(value_node, SequenceNode):
            raise EditError(f"{describe(here)} is not a list")
        return [_append_to_sequence(doc, value_node, item)]

    return _walk_to(_Doc(text, layout, _shared_nodes(root)), root, path, [item], at_target)


def _walk_to(
    doc: _Doc, root: Node | None, path: tuple[str, ...], value: Value, at_target: _AtTarget
) -> list[_Splice]:
    """Follow ``path`` down the mappings; create what is missing, or hand the target over.

    ``value`` is what the last key must end up holding (a one-item list for an append).
    """
    if root is None:
        lines = _block_entry(path[0], _nest(path[1:], value), 0, doc.layout, (None, None))
        return [_insert_lines(doc.text, max(len(doc.text) - 1, 0), lines, doc.layout.newline)]
    mapping: Node = root
    for depth, key in enumerate(path):
        here = path[: depth + 1]
        if not isinstance(mapping, MappingNode):
            raise EditError(f"{describe(path[:depth])} is not a mapping")
        _check_not_shared(mapping, doc.shared, path[:depth])
        found = _entry(mapping, key, here)
        if found is None:
            return [_add_entry(doc, mapping, key, _nest(path[depth + 1 :], value))]
        key_node, value_node = found
        _check_not_shared(value_node, doc.shared, here)
        if depth == len(path) - 1:
            return at_target(doc, mapping, key_node, value_node, here)
        if _is_null(value_node):
            nested = _nest(path[depth + 1 :], value)
            return _fill_null(doc, mapping, key_node, value_node, nested, here)
        mapping = value_node
    raise AssertionError("unreachable: the loop returns at the last key")


def _add_entry(doc: _Doc, mapping: MappingNode, key: str, value: Value) -> _Splice:
    """A new last entry of ``mapping``."""
    styles = _sibling_styles(mapping)
    if mapping.flow_style:
        rendered = (
            _flow(value)
            if isinstance(value, (Mapping, list))
            else _scalar(value, flow=True, style=styles[1])
        )
        entry = f"{_scalar(key, flow=True, style=styles[0], key=True)}: {rendered}"
        if not mapping.value:
            at = _content_start(doc.text, mapping) + 1  # just after "{"
            return _Splice(at, at, entry)
        last_key, last_value = mapping.value[-1]
        at = _last_position(doc, last_key, last_value)
        if _is_empty(last_value):
            # "{a: }" or "{a}": after the colon and a space if there is a colon ("a:," is no
            # separator to every reader).
            colon = re.compile(r"[ \t]*:[ \t]*").match(doc.text, last_key.end_mark.index)
            if colon:
                at = colon.end()
                return _Splice(at, at, (", " if doc.text[at - 1] in " \t" else " , ") + entry)
        return _Splice(at, at, ", " + entry)
    column = mapping.value[0][0].start_mark.column
    last_key, last_value = mapping.value[-1]
    lines = _block_entry(key, value, column, doc.layout, styles)
    position = _last_position(doc, last_key, last_value)
    return _insert_lines(doc.text, position, lines, doc.layout.newline)


def _replace_value(
    doc: _Doc,
    mapping: MappingNode,
    key_node: Node,
    value_node: Node,
    value: Value,
    path: tuple[str, ...],
) -> list[_Splice]:
    if _is_null(value_node):
        return _fill_null(doc, mapping, key_node, value_node, value, path)
    if not isinstance(value_node, ScalarNode) or isinstance(value, (Mapping, list)):
        raise EditError(
            f"{describe(path)} holds a mapping or list and would be replaced: edit it by hand"
        )
    if value_node.style in ("|", ">"):
        raise EditError(f"{describe(path)} is a block scalar (| or >): edit it by hand")
    style = value_node.style if value_node.tag == _STR_TAG else None
    new = _scalar(value, flow=bool(mapping.flow_style), style=style)
    return [_Splice(_content_start(doc.text, value_node), value_node.end_mark.index, new)]


def _fill_null(
    doc: _Doc,
    mapping: MappingNode,
    key_node: Node,
    value_node: Node,
    value: Value,
    path: tuple[str, ...],
) -> list[_Splice]:
    """A value where there was none (``key:``, ``key: ~``, ``key: null``)."""
    flow = bool(mapping.flow_style)
    if flow or not isinstance(value, (Mapping, list)) or not value:
        new = _flow(value) if isinstance(value, (Mapping, list)) else _scalar(value, flow=flow)
        if _is_empty(value_node):
            at = _colon_after(doc.text, key_node, path)
            return [_Splice(at, at, " " + new)]
        return [_Splice(_content_start(doc.text, value_node), value_node.end_mark.index, new)]
    splices = []
    if not _is_empty(value_node):
        # "key: ~  # comment" becomes "key:  # comment", the new lines go under it.
        colon = _colon_after(doc.text, key_node, path)
        splices.append(_Splice(colon, value_node.end_mark.index, ""))
    column = key_node.start_mark.column
    lines = []
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            lines += _block_entry(
                child_key, child, column + doc.layout.step, doc.layout, (None, None)
            )
    else:
        for item in value:
            lines += _block_item(item, column + doc.layout.dash, doc.layout, None)
    splices.append(_insert_lines(doc.text, key_node.end_mark.index, lines, doc.layout.newline))
    return splices


def _append_to_sequence(doc: _Doc, sequence: SequenceNode, item: Value) -> _Splice:
    if sequence.flow_style:
        if not sequence.value:
            at = _content_start(doc.text, sequence) + 1  # just after "["
            return _Splice(at, at, _flow(item))
        at = _last_position(doc, None, sequence.value[-1])
        return _Splice(at, at, ", " + _flow(item))
    first = sequence.value[0]
    item_layout = doc.layout
    if not _is_empty(first) and id(first) not in doc.shared:
        offset = first.start_mark.column - sequence.start_mark.column
        item_layout = attr.evolve(doc.layout, item=max(offset, 2))
    lines = _block_item(item, sequence.start_mark.column, item_layout, _item_style(sequence))
    position = _last_position(doc, None, sequence)
    return _insert_lines(doc.text, position, lines, doc.layout.newline)
