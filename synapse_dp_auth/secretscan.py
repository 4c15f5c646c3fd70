"""Find the configured secrets in text, in the forms in which a log line can quote them.

A log line can hold a secret as it is, or escaped by whatever wrote what the line quotes: JSON
(``\\u00e9`` in either case, ``\\u0026`` for ``&`` as Go writes it, ``\\/``, ``\\"``, ``\\\\``,
surrogate pairs), Python's ``repr`` (``\\'``, ``\\x85``, ``\\U0001f600``), a bytes ``repr`` of
any of those (UTF-8 bytes as ``\\xc3\\xa9``, backslashes doubled), percent-encoding of either case
(``%C3%A9``, ``%c3%a9``; ``+`` for a space). Any character can be written either way, in any mix.

So the secrets are not searched for as such: the text is decoded, one level, into a canonical
form (each escape, behind any number of backslashes, replaced by what it stands for; ``+`` read
as a space), and each secret's canonical form is searched for in it; where one is found, the span
of the original text it came from is blanked. Decoding is linear, but it costs about a
microsecond per escape: only the first :data:`DECODE_ESCAPES` escapes of a text, among its first
:data:`DECODE_SITES` backslashes and percent signs, are decoded. Beyond them, a secret is found
as it is (and with ``+`` for a space) but not escaped: only a line holding more escapes than that
before the secret, which a client sending its secret does not write, loses the rest.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from bisect import bisect_right
from collections.abc import Iterable

#: How many escapes of a text are decoded, at most (each costs about a microsecond); a run of
#: escapes of one kind (``%C3%A9%C3%A8``) is one.
DECODE_ESCAPES = 16

#: Among how many backslashes and percent signs (each costs about half a microsecond).
DECODE_SITES = 32

#: How many characters of escapes are decoded, at most: a run of escapes is matched at about
#: 10 ns a character. A secret of 64 characters, each percent-encoded as 3 UTF-8 bytes, takes 576.
DECODE_LENGTH = 1024

#: The escapes, by kind; a run of escapes of one kind is decoded as one (a character's UTF-8 bytes,
#: a surrogate pair). Each may follow any number of backslashes: a ``repr`` doubles them. Each
#: alternative starts with a literal ``\\`` or ``%``, so the regex engine skips to those in C.
_ESCAPE = re.compile(
    r"\\(?:"
    r"\\*(?P<u>u[0-9a-fA-F]{4}(?:\\+u[0-9a-fA-F]{4})*)"
    r"|\\*(?P<x>x[0-9a-fA-F]{2}(?:\\+x[0-9a-fA-F]{2})*)"
    r"|\\*(?P<U>U[0-9a-fA-F]{8})"
    # Two or more backslashes and what follows them, or one before a character JSON or repr escape.
    r"|\\+(?P<other>.?)"
    r"|(?P<short>[/\"'bfnrt])"
    r")"
    r"|%(?P<percent>[0-9a-fA-F]{2}(?:%[0-9a-fA-F]{2})*)",
    re.DOTALL,
)

#: What a backslash before each of these stands for.
_SHORT_ESCAPES = {
    "/": "/",
    '"': '"',
    "'": "'",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def quoted_forms(secret: str) -> set[str]:
    """The ways ``secret`` is written whole by the usual encoders: raw, escaped by JSON or
    ``repr``, encoded, and a JSON body quoted as bytes (as Synapse logs a body it cannot parse).
    Each is found by its canonical form; most secrets have the same one for all."""
    as_bytes = secret.encode("utf-8")
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        repr(as_bytes)[2:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
    }
    forms |= {repr(form.encode("utf-8"))[2:-1] for form in list(forms)}
    return {form for form in forms if form}


def _text_of(data: bytes) -> str:
    """Bytes as the text they encode: UTF-8, or else one character per byte (``repr`` of a
    ``str`` writes ``\\x85`` for the character U+0085)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decoded(match: re.Match[str]) -> str:
    kind = match.lastgroup
    escape = match[0]
    if kind == "u":
        hex_digits = escape.replace("\\", "").replace("u", "")
        return bytes.fromhex(hex_digits).decode("utf-16-be", "surrogatepass")
    if kind == "x":
        return _text_of(bytes.fromhex(escape.replace("\\", "").replace("x", "")))
    if kind == "percent":
        return _text_of(bytes.fromhex(escape.replace("%", "")))
    if kind == "U":
        code_point = int(escape[-8:], 16)
        return chr(code_point) if code_point <= 0x10FFFF else escape
    if kind == "short":
        return _SHORT_ESCAPES[escape[1]]
    after = match["other"]
    return _SHORT_ESCAPES.get(after) or "\\" + after


def canonical(text: str) -> str:
    """``text`` with every escape decoded (one level) and ``+`` read as a space."""
    unbounded = len(text) + len("\\U0001f600")
    return _decode(text, unbounded, unbounded, unbounded)[0]


#: One decoded escape: where it is in the text, and where what it stands for is in the decoding.
_Escape = tuple[int, int, int, int]  # text start, text end, decoded start, decoded end


def _decode(text: str, escapes: int, sites: int, length: int) -> tuple[str, list[_Escape]]:
    """:func:`canonical`, with at most ``escapes`` escapes (``length`` characters in all)
    decoded among the first ``sites`` backslashes and percent signs; and where each decoded
    escape was.

    The sites are found with ``str.find`` and the escapes matched where they are: the regex
    engine's own search tries every character (about 6 ns each), ``str.find`` skips in C."""
    text = text.replace("+", " ")
    pieces: list[str] = []
    decoded_escapes: list[_Escape] = []
    last = decoded_length = 0
    backslash, percent = text.find("\\"), text.find("%")
    for _ in range(sites):
        if backslash < 0 or 0 <= percent < backslash:
            if percent < 0:
                break
            site = percent
        else:
            site = backslash
        match = _ESCAPE.match(text, site, site + length)
        if match is None:
            after = site + 1
        else:
            decoded = _decoded(match).replace("+", " ")
            pieces += (text[last:site], decoded)
            decoded_length += site - last
            after = last = match.end()
            decoded_escapes.append((site, after, decoded_length, decoded_length + len(decoded)))
            decoded_length += len(decoded)
            length -= after - site
            if len(decoded_escapes) == escapes or length < len("\\U0001f600"):
                break  # (the longest single escape: with less left, none would match)
        if 0 <= backslash < after:
            backslash = text.find("\\", after)
        if 0 <= percent < after:
            percent = text.find("%", after)
    if not decoded_escapes:
        return text, []
    pieces.append(text[last:])
    return "".join(pieces), decoded_escapes


def _smallest_period(needle: str) -> int:
    """The smallest ``p`` such that ``needle[i] == needle[i + p]`` for every ``i`` (KMP's failure
    function): two occurrences of ``needle`` closer than that cannot overlap."""
    border = [0] * len(needle)
    length = 0
    for i in range(1, len(needle)):
        while length and needle[i] != needle[length]:
            length = border[length - 1]
        if needle[i] == needle[length]:
            length += 1
        border[i] = length
    return len(needle) - border[-1]


def _occurrences(text: str, needle: str, period: int) -> Iterable[tuple[int, int]]:
    """Where ``needle`` is in ``text``; occurrences that overlap (those of a periodic needle,
    ``period`` apart) as one span. Linear: ``str.find`` uses a linear search on long texts."""
    found = text.find(needle)
    while found >= 0:
        end = found + len(needle)
        if period < len(needle):
            tail = needle[-period:]
            while text.startswith(tail, end):
                end += period
        yield found, end
        found = text.find(needle, end - len(needle) + 1)


def _text_position(position: int, escapes: list[_Escape], starts: list[int], after: bool) -> int:
    """Where the character at ``position`` of a decoding comes from in its text: its start, or
    (``after``) the position after it; the whole escape if it is part of what one stands for."""
    which = bisect_right(starts, position) - 1
    if which < 0:
        return position + after
    text_start, text_end, _, decoded_end = escapes[which]
    if position < decoded_end:
        return text_end if after else text_start
    return text_end + position - decoded_end + after


class SecretFinder:
    """Finds each of the secrets it was given, in any of the forms above."""

    def __init__(self) -> None:
        #: Each secret's canonical forms (more than one only for a secret that holds an escape
        #: itself), with their smallest periods.
        self._needles: dict[str, int] = {}

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            for form in quoted_forms(secret):
                needle = canonical(form)
                self._needles[needle] = _smallest_period(needle)

    @property
    def longest_form(self) -> int:
        """How long, at most, the text of a secret can be: 16 characters each (``\\xf0`` and
        three more for an emoji in a bytes ``repr``), for the log filter's cut."""
        return 16 * max(map(len, self._needles), default=0)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds a secret, as ``(start, end)`` of ``text``, in no order."""
        if not self._needles:
            return []
        decoded, escapes = _decode(text, DECODE_ESCAPES, DECODE_SITES, DECODE_LENGTH)
        found = [
            span
            for needle, period in self._needles.items()
            for span in _occurrences(decoded, needle, period)
        ]
        if not escapes or not found:
            return found
        starts = [escape[2] for escape in escapes]
        return [
            (
                _text_position(start, escapes, starts, False),
                _text_position(end - 1, escapes, starts, True),
            )
            for start, end in found
        ]
