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

How new values are quoted and laid out is :mod:`~synapse_dp_auth.admin.plan.yaml_render`; what
is read from the node tree, :mod:`~synapse_dp_auth.admin.plan.yaml_nodes`.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attr
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from synapse_dp_auth.admin.plan import yaml_nodes as nodes
from synapse_dp_auth.admin.plan import yaml_render as render
from synapse_dp_auth.admin.plan.values import (
    EditError,
    Value,
    describe,
    plain,
    same,
)
from synapse_dp_auth.admin.shared.files import yaml_problem


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Splice:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str


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
    layout = nodes.layout(text, root)
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
    layout = nodes.layout(text, root)
    splices = _append_splices(text, root, path, item, layout)
    expected = copy.deepcopy(before) if before is not None else {}
    items = [*(current if isinstance(current, list) else []), plain(item)]
    return _verified(text, splices, _with_set(expected, path, items), path)


#: The last part of the path :func:`yaml_scalars` gives a mapping's key (not its value).
KEY = "\x00key"


def yaml_scalars(text: str) -> list[tuple[tuple[str, ...], int, int, str | None]]:
    """Every scalar in ``text``: its key path, start, end and quoting (``'``, ``"``, ``|``,
    ``>`` or None for plain). A mapping's keys are listed too, with the path of the mapping and
    :data:`KEY` (a secret written as a key, with key and value swapped, is a scalar to hide).

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
                if isinstance(key_node, ScalarNode) and not nodes.is_empty(key_node):
                    start = nodes.content_start(text, key_node)
                    found.append(((*path, KEY), start, key_node.end_mark.index, key_node.style))
                walk(value_node, (*path, key))
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item, path)
        elif isinstance(node, ScalarNode) and not nodes.is_empty(node):
            found.append((path, nodes.content_start(text, node), node.end_mark.index, node.style))

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
    if root is not None and nodes.is_null(root) and nodes.is_empty(root):
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


def _last_position(doc: _Doc, key: Node | None, value: Node) -> int:
    """A position on the last line of an entry (or list item): new lines go after that line."""
    if key is None and nodes.is_empty(value):
        # A lone "-": its marks are not where it stands.
        raise EditError("a list has an empty item (a lone -): edit it by hand")
    if key is not None and (nodes.is_empty(value) or value.start_mark.index < key.end_mark.index):
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
            if nodes.is_empty(item) or item.start_mark.index >= position:
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


# -- the edits ------------------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Doc:
    """The text being edited, with what was learnt about it."""

    text: str
    layout: render.Layout
    shared: set[int]


#: What an edit puts where its path ends, given the key and value node found there.
_AtTarget = Callable[[_Doc, MappingNode, Node, Node, tuple[str, ...]], list[_Splice]]


def _set_splices(
    text: str, root: Node | None, path: tuple[str, ...], value: Value, layout: render.Layout
) -> list[_Splice]:
    def at_target(
        doc: _Doc, mapping: MappingNode, key_node: Node, value_node: Node, here: tuple[str, ...]
    ) -> list[_Splice]:
        return _replace_value(doc, mapping, key_node, value_node, value, here)

    return _walk_to(_Doc(text, layout, nodes.shared_nodes(root)), root, path, value, at_target)


def _append_splices(
    text: str, root: Node | None, path: tuple[str, ...], item: Value, layout: render.Layout
) -> list[_Splice]:
    def at_target(
        doc: _Doc, mapping: MappingNode, key_node: Node, value_node: Node, here: tuple[str, ...]
    ) -> list[_Splice]:
        if nodes.is_null(value_node):
            return _fill_null(doc, mapping, key_node, value_node, [item], here)
        if not isinstance(value_node, SequenceNode):
            raise EditError(f"{describe(here)} is not a list")
        return [_append_to_sequence(doc, value_node, item)]

    return _walk_to(_Doc(text, layout, nodes.shared_nodes(root)), root, path, [item], at_target)


def _walk_to(
    doc: _Doc, root: Node | None, path: tuple[str, ...], value: Value, at_target: _AtTarget
) -> list[_Splice]:
    """Follow ``path`` down the mappings; create what is missing, or hand the target over.

    ``value`` is what the last key must end up holding (a one-item list for an append).
    """
    if root is None:
        lines = render.block_entry(
            path[0], render.nest(path[1:], value), 0, doc.layout, (None, None)
        )
        return [_insert_lines(doc.text, max(len(doc.text) - 1, 0), lines, doc.layout.newline)]
    mapping: Node = root
    for depth, key in enumerate(path):
        here = path[: depth + 1]
        if not isinstance(mapping, MappingNode):
            raise EditError(f"{describe(path[:depth])} is not a mapping")
        nodes.check_not_shared(mapping, doc.shared, path[:depth])
        found = nodes.entry(mapping, key, here)
        if found is None:
            return [_add_entry(doc, mapping, key, render.nest(path[depth + 1 :], value))]
        key_node, value_node = found
        nodes.check_not_shared(value_node, doc.shared, here)
        if depth == len(path) - 1:
            return at_target(doc, mapping, key_node, value_node, here)
        if nodes.is_null(value_node):
            nested = render.nest(path[depth + 1 :], value)
            return _fill_null(doc, mapping, key_node, value_node, nested, here)
        mapping = value_node
    raise AssertionError("unreachable: the loop returns at the last key")


def _add_entry(doc: _Doc, mapping: MappingNode, key: str, value: Value) -> _Splice:
    """A new last entry of ``mapping``."""
    styles = nodes.sibling_styles(mapping)
    if mapping.flow_style:
        rendered = (
            render.flow(value)
            if isinstance(value, (Mapping, list))
            else render.scalar(value, flow=True, style=styles[1])
        )
        entry = f"{render.scalar(key, flow=True, style=styles[0], key=True)}: {rendered}"
        if not mapping.value:
            at = nodes.content_start(doc.text, mapping) + 1  # just after "{"
            return _Splice(at, at, entry)
        last_key, last_value = mapping.value[-1]
        at = _last_position(doc, last_key, last_value)
        if nodes.is_empty(last_value):
            # "{a: }" or "{a}": after the colon and a space if there is a colon ("a:," is no
            # separator to every reader).
            colon = re.compile(r"[ \t]*:[ \t]*").match(doc.text, last_key.end_mark.index)
            if colon:
                at = colon.end()
                return _Splice(at, at, (", " if doc.text[at - 1] in " \t" else " , ") + entry)
        return _Splice(at, at, ", " + entry)
    column = mapping.value[0][0].start_mark.column
    last_key, last_value = mapping.value[-1]
    lines = render.block_entry(key, value, column, doc.layout, styles)
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
    if nodes.is_null(value_node):
        return _fill_null(doc, mapping, key_node, value_node, value, path)
    if not isinstance(value_node, ScalarNode) or isinstance(value, (Mapping, list)):
        raise EditError(
            f"{describe(path)} holds a mapping or list and would be replaced: edit it by hand"
        )
    if value_node.style in ("|", ">"):
        raise EditError(f"{describe(path)} is a block scalar (| or >): edit it by hand")
    style = value_node.style if value_node.tag == nodes.STR_TAG else None
    new = render.scalar(value, flow=bool(mapping.flow_style), style=style)
    return [_Splice(nodes.content_start(doc.text, value_node), value_node.end_mark.index, new)]


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
        new = (
            render.flow(value)
            if isinstance(value, (Mapping, list))
            else render.scalar(value, flow=flow)
        )
        if nodes.is_empty(value_node):
            at = nodes.colon_after(doc.text, key_node, path)
            return [_Splice(at, at, " " + new)]
        return [_Splice(nodes.content_start(doc.text, value_node), value_node.end_mark.index, new)]
    splices = []
    if not nodes.is_empty(value_node):
        # "key: ~  # comment" becomes "key:  # comment", the new lines go under it.
        colon = nodes.colon_after(doc.text, key_node, path)
        splices.append(_Splice(colon, value_node.end_mark.index, ""))
    column = key_node.start_mark.column
    lines = []
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            lines += render.block_entry(
                child_key, child, column + doc.layout.step, doc.layout, (None, None)
            )
    else:
        for item in value:
            lines += render.block_item(item, column + doc.layout.dash, doc.layout, None)
    splices.append(_insert_lines(doc.text, key_node.end_mark.index, lines, doc.layout.newline))
    return splices


def _append_to_sequence(doc: _Doc, sequence: SequenceNode, item: Value) -> _Splice:
    if sequence.flow_style:
        if not sequence.value:
            at = nodes.content_start(doc.text, sequence) + 1  # just after "["
            return _Splice(at, at, render.flow(item))
        at = _last_position(doc, None, sequence.value[-1])
        return _Splice(at, at, ", " + render.flow(item))
    first = sequence.value[0]
    item_layout = doc.layout
    if not nodes.is_empty(first) and id(first) not in doc.shared:
        offset = first.start_mark.column - sequence.start_mark.column
        item_layout = attr.evolve(doc.layout, item=max(offset, 2))
    lines = render.block_item(
        item, sequence.start_mark.column, item_layout, nodes.item_style(sequence)
    )
    position = _last_position(doc, None, sequence)
    return _insert_lines(doc.text, position, lines, doc.layout.newline)
