"""Reading the files an admin names (homeserver.yaml, registrations, bridge configs, secret and
token files): one way for every command, with errors that name the file and never quote it.

Any of these files may hold a secret or a token, so no error carries a piece of its content:
not the decoder's offending byte, not PyYAML's snippet of the line, not the names and characters
PyYAML's messages quote.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from synapse_dp_auth.config import error_reason

#: A quoted part of PyYAML's message: an alias or tag name, an escape or other character of the
#: file, any of which may be a piece of a secret or token (repr may use either quote).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


#: PyYAML and ``json`` parse nested lists and mappings recursively: a file nested some
#: thousand levels deep (``[[[[...``) makes them raise ``RecursionError``, reported thus.
NESTED_TOO_DEEPLY = (
    "is nested too deeply to be read (lists or mappings inside each other hundreds of levels"
    " deep): no configuration file is"
)


class SourceError(Exception):
    """The file cannot be read or parsed; the message names it (and the line) and says why."""


def read_text(path: str, *, dash_is_stdin: bool = False) -> tuple[str, str]:
    """``(label, text)``: the file's text as UTF-8, ``-`` meaning stdin when ``dash_is_stdin``.

    A UTF-8 byte order mark (as some Windows editors write) is not part of the text, as in the
    module's own reading of ``shared_secret_path``; YAML allows one anyway.
    """
    from_stdin = dash_is_stdin and path == "-"
    label = "stdin" if from_stdin else path
    try:
        if from_stdin:
            text = sys.stdin.read().removeprefix("\ufeff")
        else:
            with open(path, encoding="utf-8-sig") as file:
                text = file.read()
    except UnicodeDecodeError:
        # Not error_reason: the decoder's message quotes the offending byte.
        raise SourceError(f"cannot read {label}: not valid UTF-8") from None
    except OSError as error:
        raise SourceError(f"cannot read {label}: {error_reason(error)}") from None
    return label, text


def parse_yaml(text: str, label: str) -> Any:
    """``text`` parsed as YAML (safely); :class:`SourceError` says where it is broken."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SourceError(f"{label} is not valid YAML: {yaml_problem(error)}") from None
    except RecursionError:
        raise SourceError(f"{label} {NESTED_TOO_DEEPLY}") from None


def read_yaml(path: str) -> Any:
    """The YAML file's content; :class:`SourceError` names the file when it cannot be had."""
    label, text = read_text(path)
    return parse_yaml(text, label)


def yaml_problem(error: Exception) -> str:
    """Where and what, without PyYAML's snippet of the line and without the parts of its message
    that quote the file (``found undefined alias '...'``): any of them may hold a secret."""
    parts = []
    for text_name, mark_name in (("context", "context_mark"), ("problem", "problem_mark")):
        text, mark = getattr(error, text_name, None), getattr(error, mark_name, None)
        if text:
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            parts.append(f"{_unquoted(str(text))}{where}")
    return ": ".join(parts) or type(error).__name__


def _unquoted(text: str) -> str:
    """``text`` with every quoted part replaced, and cut at a stray quote."""
    text = _QUOTED.sub("[not shown]", text)
    for quote in ("'", '"'):
        text = text.partition(quote)[0]
    return text.rstrip(" ;,:") or "not shown"
