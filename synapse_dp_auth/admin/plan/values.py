"""What an edit writes, and the one error every edit raises.

A value to write is plain data (the shapes YAML and JSON share) in which a secret or a token is
wrapped in :class:`Secret`: the wrapper is how the diff knows what to hide, and it keeps the value
out of every ``repr`` and error message on its way to the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import attr


@attr.s(frozen=True, slots=True, repr=False)
class Secret:
    """A secret or token to write into a file; shown nowhere else (``repr`` included)."""

    value: str = attr.ib()

    def __repr__(self) -> str:
        return "Secret(<hidden>)"


Scalar: TypeAlias = str | int | bool | Secret | None
#: A mapping's keys are strings; a list is a YAML sequence or JSON array.
Value: TypeAlias = Scalar | Mapping[str, "Value"] | list["Value"]


class EditError(ValueError):
    """The edit cannot be made safely; the message names the key path and says why.

    Never carries a value from the file or from the edit: either may be a secret.
    """


def plain(value: Value) -> object:
    """``value`` as a parser would return it: every :class:`Secret` unwrapped."""
    if isinstance(value, Secret):
        return value.value
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def secrets_in(value: Value) -> list[str]:
    """Every secret ``value`` holds, for the diff to hide."""
    if isinstance(value, Secret):
        return [value.value]
    if isinstance(value, Mapping):
        return [secret for item in value.values() for secret in secrets_in(item)]
    if isinstance(value, list):
        return [secret for item in value for secret in secrets_in(item)]
    return []


def same(left: object, right: object) -> bool:
    """Equal as parsed data, with types compared too: ``1 == True`` and ``1 == 1.0`` in Python,
    but a config that held ``true`` and now holds ``1`` has changed."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


def describe(path: tuple[str, ...] | list[str]) -> str:
    """A key path as an admin reads it in docs (``bridge.login_shared_secret_map``)."""
    return ".".join(path) if path else "the top level"
