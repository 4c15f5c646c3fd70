"""Find tokens in text, in the forms a client or a reader decodes back into a working token.

A token is 128 hex digits (:data:`synapse_dp_auth.token.TOKEN_LENGTH`). In a log line it can be
written as is, in upper or mixed case, or with some or all of its digits escaped: as JSON
``\\u0061``, percent-encoded ``%61``, as a ``\\x61`` escape, or spread out by ``\\x00`` or NUL
characters (a UTF-16 or UTF-32 body shown as bytes), and with the backslashes doubled as a bytes
``repr`` doubles them. Every one of those forms is found; a token re-encoded in any other way
(base64, escaped twice, split by other characters) is not.

The scan must cost time linear in the text, with a small constant, whatever the text: log lines
quote what clients send, and the scan runs in Synapse's reactor. So it never starts a match
inside a run (the regex engine would otherwise try again at each of a run's digits, quadratic in
a run just short of a token), and escapes are rewritten, once, into a copy of the same length in
which each escape of a digit becomes as many ``0`` characters as it has: a run in the copy is at
the same place as in the text. The copy counts characters, not digits, so a run holding escapes is
blanked from 128 characters on, before it holds 128 digits; blanking a little too much is the
safe side.
"""

from __future__ import annotations

import re

from synapse_dp_auth.token import TOKEN_LENGTH

#: The code points, as two hex digits, whose escapes are counted as a token's digits: the hex
#: digits of either case, and 00 (the high bytes of a UTF-16 or UTF-32 character).
_DIGIT_CODES = "00|3[0-9]|4[1-6]|6[1-6]"

#: Escapes of a digit, each matched where it starts (a literal first character, so the regex
#: engine skips to it), and each replaced by as many ``0`` characters as it has.
_PERCENT_ESCAPE = re.compile(f"%(?:{_DIGIT_CODES})")
_JSON_ESCAPE = re.compile(rf"\\u00(?:{_DIGIT_CODES})")
_BYTES_ESCAPE = re.compile(rf"\\x(?:{_DIGIT_CODES})")

#: What a run in the rewritten copy is made of: hex digits, and the backslashes that stay in front
#: of an escape when a ``repr`` doubles them (so any number of them can be doubled).
_RUN_CHARACTER = r"[0-9a-fA-F\\]"

#: A run of at least a token's length, starting only where a run starts (the lookbehind): each
#: run is tried once, from its first character.
_TOKEN_RUN = re.compile(rf"(?<!{_RUN_CHARACTER}){_RUN_CHARACTER}{{{TOKEN_LENGTH},}}")

#: Every character that can be part of a token in any of the forms above; what the log filter drops
#: from the end of a text it shortens, so that no part of a token is left at the cut.
TOKEN_CHARACTERS = "0123456789abcdefABCDEF%\\ux\0"


def _with_escapes_as_digits(text: str) -> str:
    """``text`` with each escaped digit replaced by ``0`` characters of the same total length."""
    if "\0" in text:
        text = text.replace("\0", "0")
    if "%" in text:
        text = _PERCENT_ESCAPE.sub("000", text)
    if "\\" in text:
        text = _JSON_ESCAPE.sub("000000", text)
        text = _BYTES_ESCAPE.sub("0000", text)
    return text


def token_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a token, or a run of digits at least as long, in any form above."""
    return [match.span() for match in _TOKEN_RUN.finditer(_with_escapes_as_digits(text))]


def redact_tokens(text: str, replacement: str) -> str:
    """``text`` with each of :func:`token_spans` replaced; ``text`` itself when there is none."""
    spans = token_spans(text)
    if not spans:
        return text
    pieces: list[str] = []
    end = 0
    for start, stop in spans:
        pieces += (text[end:start], replacement)
        end = stop
    pieces.append(text[end:])
    return "".join(pieces)
