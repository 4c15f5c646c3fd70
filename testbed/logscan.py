"""Find tokens and secrets in a homeserver's logs: the check behind "no log line carries one".

Used by a session-wide check (``conftest.py``) on every real Synapse the test suite starts with
this module loaded, and by the tests of the log filter itself.
"""

from __future__ import annotations

import codecs
import re
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from synapse_dp_auth.config import ConfigValueError, parse_config
from synapse_dp_auth.token import TOKEN_LENGTH

#: How much of a line around a finding a report shows (the finding itself is shortened).
_CONTEXT = 60

#: Token-shaped text in either case, tried only where a run starts (linear on any line).
_HEX_RUN = re.compile(rf"(?<![0-9a-fA-F])[0-9a-fA-F]{{{TOKEN_LENGTH},}}")

#: The escapes of a token's digits that a client decodes, as the README lists them (written
#: independently of the filter's own rewriting, to check it): JSON ``\u0061`` and ``\x61``
#: (behind up to 8 backslashes, as ``repr`` doubles them), ``%61``, and the NUL bytes of UTF-16
#: or UTF-32 (``\x00``, ``\u0000``, ``%00``, or a NUL itself).
_HEX_CODES = "3[0-9]|4[1-6]|6[1-6]"
_ESCAPED_DIGIT = re.compile(rf"\\{{1,8}}(?:u00|x)({_HEX_CODES})|%({_HEX_CODES})")
_ESCAPED_NUL = re.compile(r"\\{1,8}(?:u0000|x00)|%00|\0")


def _decoded(line: str) -> str:
    """``line`` with every escaped digit written as the digit, and the NULs between removed."""
    line = _ESCAPED_NUL.sub("", line)
    return _ESCAPED_DIGIT.sub(lambda match: chr(int(match[1] or match[2], 16)), line)


#: ``\\uXXXX`` and ``\\UXXXXXXXX``, which Python's ``escape_decode`` leaves as they are.
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})")


def _unescaped(line: str) -> str:
    """One level of backslash escapes decoded, by Python's own decoder where it has one, as a
    reader would: the bytes ``repr``'s (``\\\\``, ``\\'``, ``\\xc3\\xa9`` as UTF-8 bytes, ``\\n``),
    then JSON's ``\\/`` and ``\\u00e9`` (surrogate pairs joined). Written apart from the filter's
    decoding, to check it."""
    with warnings.catch_warnings():  # it warns about the escapes it does not know (``\\u``)
        warnings.simplefilter("ignore")
        data, _ = codecs.escape_decode(line.encode("utf-8", "surrogatepass"), "replace")
    text = data.decode("utf-8", "surrogateescape").replace("\\/", "/")
    text = _UNICODE_ESCAPE.sub(lambda m: chr(min(int(m[1] or m[2], 16), 0x10FFFF)), text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _secret_views(line: str) -> set[str]:
    """``line`` as a reader could decode it: backslash escapes undone up to twice (a JSON body in
    a bytes ``repr``), then percent-encoding (with ``+`` as a space, or not)."""
    views = {line}
    once = _unescaped(line)
    views |= {once, _unescaped(once)}
    for view in list(views):
        views |= {urllib.parse.unquote(view), urllib.parse.unquote_plus(view)}
    return views


def module_secrets(modules: Iterable[Mapping[str, Any]]) -> set[str] | None:
    """The secrets of this module's entries in ``modules``; ``None`` if none loads this module."""
    secrets: set[str] | None = None
    for module in modules:
        if not str(module.get("module", "")).startswith("synapse_dp_auth"):
            continue
        secrets = secrets or set()
        try:
            config = parse_config(module.get("config"))
        except ConfigValueError:
            continue  # a server that must refuse to start: its tokens are still looked for
        secrets |= {secret.decode("utf-8") for secret in config.secrets}
    return secrets


def findings(texts: Mapping[str, str], secrets: Iterable[str] = ()) -> list[str]:
    """Each token-shaped run or secret in ``texts`` (name -> text), with where it was."""
    secrets = [secret for secret in secrets if secret]
    found = []
    for name, text in texts.items():
        for line_number, line in enumerate(text.splitlines(), start=1):
            hits = [match.span() for match in _HEX_RUN.finditer(line)]
            decoded = _decoded(line)
            if decoded != line and not hits and _HEX_RUN.search(decoded):
                hits.append((0, len(line)))  # escaped: where in the line is not worth finding
            hits += [(at, at + len(s)) for s in secrets if (at := line.find(s)) >= 0]
            if not hits and any(s in view for view in _secret_views(line) for s in secrets):
                hits.append((0, len(line)))  # escaped: where in the line is not worth finding
            for start, end in hits:
                shown = f"{line[max(0, start - _CONTEXT) : start]}<{end - start} characters>"
                shown += line[end : end + _CONTEXT]
                for needle in {line[a:b] for a, b in hits}:  # no finding shown in another's context
                    shown = shown.replace(needle, "<...>")
                found.append(f"{name}:{line_number}: ...{shown}...")
    return found
