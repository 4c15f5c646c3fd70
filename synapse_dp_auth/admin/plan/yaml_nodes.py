"""What :mod:`~synapse_dp_auth.admin.plan.yaml_edit` reads from ruamel.yaml's node tree: where
an entry stands, whether a value is written at all, which nodes an alias shares, how the file
indents and quotes, so that new text can look like the old.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from synapse_dp_auth.admin.plan.values import EditError, describe
from synapse_dp_auth.admin.plan.yaml_render import Layout

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"


def shared_nodes(root: Node | None) -> set[int]:
    """Nodes reached twice: an anchor an alias points to. Their text stands in one place only."""
    seen: Counter[int] = Counter()

    def walk(node: Node) -> None:
        seen[id(node)] += 1
        if seen[id(node)] > 1:
            return
        for child in children(node):
            walk(child)

    if root is not None:
        walk(root)
    return {node_id for node_id, count in seen.items() if count > 1}


def children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


def entry(mapping: MappingNode, key: str, path: tuple[str, ...]) -> tuple[Node, Node] | None:
    """The key node and value node of ``key`` in ``mapping``."""
    found = [
        (key_node, value_node)
        for key_node, value_node in mapping.value
        if isinstance(key_node, ScalarNode) and key_node.tag == STR_TAG and key_node.value == key
    ]
    if len(found) > 1:
        raise EditError(f"{describe(path)} is there more than once")
    if found:
        return found[0]
    if any(key_node.tag == MERGE_TAG for key_node, _ in mapping.value):
        raise EditError(
            f"{describe(path[:-1])} takes keys from a merge key (<<): edit {describe(path)} by hand"
        )
    return None


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def is_empty(node: Node) -> bool:
    """A value written as nothing at all (``key:``): its marks point at the next token."""
    return isinstance(node, ScalarNode) and node.start_mark.index == node.end_mark.index


def check_not_shared(node: Node, shared: set[int], path: tuple[str, ...]) -> None:
    if id(node) in shared:
        raise EditError(
            f"{describe(path)} is an anchor that an alias (*name) also uses: changing it would"
            " change both; edit it by hand"
        )


# -- layout ---------------------------------------------------------------------------------------


def layout(text: str, root: Node | None) -> Layout:
    """The file's most common indentation steps (2 and 0 when it shows none)."""
    steps: Counter[int] = Counter()
    dashes: Counter[int] = Counter()
    items: Counter[int] = Counter()
    for node in walk(root):
        if isinstance(node, MappingNode) and not node.flow_style:
            column = node.value[0][0].start_mark.column
            for _, child in node.value:
                if isinstance(child, MappingNode) and not child.flow_style:
                    steps[child.value[0][0].start_mark.column - column] += 1
                elif isinstance(child, SequenceNode) and not child.flow_style:
                    dashes[child.start_mark.column - column] += 1
        if isinstance(node, SequenceNode) and not node.flow_style:
            for child in node.value:
                if not is_empty(child):
                    items[child.start_mark.column - node.start_mark.column] += 1
    first_break = text.find("\n")
    newline = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
    return Layout(
        newline=newline,
        step=most_common(steps, lambda n: n > 0, 2),
        dash=most_common(dashes, lambda n: n >= 0, 2),
        item=most_common(items, lambda n: n >= 2, 2),
    )


def walk(root: Node | None) -> Iterator[Node]:
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(children(node))


def most_common(counter: Counter[int], valid: Callable[[int], bool], default: int) -> int:
    for value, _ in counter.most_common():
        if valid(value):
            return int(value)
    return default


#: An anchor (``&name``) or a tag (``!!str``) before a value: its marks start there.
PROPERTIES = re.compile(r"(?:[&!][^\s]*[ \t]+)*")


def content_start(text: str, node: Node) -> int:
    """Where ``node``'s value itself starts, after its anchor and tag (which stay)."""
    match = PROPERTIES.match(text, node.start_mark.index)
    return match.end() if match else int(node.start_mark.index)


def colon_after(text: str, key: Node, path: tuple[str, ...]) -> int:
    """The index just after the ``:`` that follows ``key``."""
    match = re.compile(r"[ \t]*:").match(text, key.end_mark.index)
    if match is None:
        raise EditError(f"cannot find where the value of {describe(path)} goes: edit it by hand")
    return match.end()


def sibling_styles(mapping: MappingNode) -> tuple[str | None, str | None]:
    """The quoting of the last string key and value in ``mapping``, for new entries to match."""
    key_style: str | None = None
    value_style: str | None = None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.tag == STR_TAG:
            key_style = key_node.style if key_node.style in ("'", '"') else None
        if isinstance(value_node, ScalarNode) and value_node.tag == STR_TAG:
            value_style = value_node.style if value_node.style in ("'", '"') else None
    return key_style, value_style


def item_style(sequence: SequenceNode) -> str | None:
    styles = [
        item.style
        for item in sequence.value
        if isinstance(item, ScalarNode) and item.tag == STR_TAG
    ]
    return styles[-1] if styles and styles[-1] in ("'", '"') else None
