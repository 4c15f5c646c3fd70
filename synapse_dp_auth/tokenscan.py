"""Find tokens in text, in the forms a client or a reader decodes back into a working token.

A token is 128 hex digits (:data:`synapse_dp_auth.token.TOKEN_LENGTH`). In a log line it can be
written as is, in upper or mixed case, or with some or all of its digits escaped: as JSON
``\\u0061``, percent-encoded ``%61``, as a ``\\x61`` escape, or spread out by ``\\x00`` or NUL
characters (a UTF-16 or UTF-32 body shown as bytes), and with the backslashes doubled as a bytes
``repr`` doubles them. Every one of those forms is found; a token re-encoded in any other way
(base64, escaped twice, split by other characters) is not.

The scan runs in Synapse's reactor on text anyone can send, so its cost must be linear in the
text, with a small constant, whatever the text is. Per-character work is therefore done only by
``bytes`` methods (in C, about a gigabyte a second), and work per match (a regex substitution
costs about 0.1 µs a match) only on a bounded amount of text. In two steps:

1. Each character that can be part of a token in any of those forms (:data:`TOKEN_CHARACTERS`)
   is marked, and the runs of marks at least a token long are found with ``bytes.find``. No token
   lies outside such a run, and ordinary text has none.
2. The first runs, up to :data:`EXACT_CHECK_BUDGET` characters, are checked exactly: each
   escape of a digit is rewritten into as many ``0`` characters as it has (so positions do not
   move), and runs of digits (and of the backslashes a ``repr`` doubles) at least a token long
   are blanked. The copy counts characters, not digits, so a run
   holding escapes is blanked from 128 characters on, before it holds 128 digits. Text beyond
   the budget, from the next run to the end of the last one, is blanked in one piece without a
   closer look: only text with long runs of hex digits, ``%``, ``\\``, ``u`` and ``x`` gets
   there, which ordinary lines do not have, and blanking too much is the safe side.
"""

from __future__ import annotations

from bisect import bisect_right

from synapse_dp_auth.token import TOKEN_LENGTH

#: Every character that can be part of a token in any of the forms above; what the log filter drops
#: from the end of a text it shortens, so that no part of a token is left at the cut.
TOKEN_CHARACTERS = "0123456789abcdefABCDEF%\\ux\0"

#: How many characters of runs a text has checked exactly, at most (so at most 4 runs). A single
#: run longer than that, a token with every digit escaped for instance, is blanked whole all the
#: same; checking that much costs about what marking 16 KiB does.
EXACT_CHECK_BUDGET = 512

#: How many short runs after the last long one are stepped over to find where that one ends.
_RUNS_LOOKED_BACK = 16

#: ``str.encode("ascii", "replace")`` writes one ``?`` for each other character, so a position
#: in the marks is the same position in the text.
_CANDIDATE_MARKS = bytes(ord("x" if chr(i) in TOKEN_CHARACTERS else " ") for i in range(256))
_CANDIDATE = b"x" * TOKEN_LENGTH

#: The escapes counted as a token's digits are those of the code points of hex digits, of either
#: case, and 00 (the high bytes of a UTF-16 or UTF-32 character): ``00``, ``3[0-9]``, ``4[1-6]``
#: and ``6[1-6]``. For step 2 each character is first replaced by its class, chosen so that those
#: codes are nine pairs of classes (and no other code is one of them): ``0`` and NUL (which
#: stands for a ``0`` in UTF-16) are ``Z``; ``3`` is ``T``; ``4`` and ``6`` are ``F``; ``1``,
#: ``2``, ``5`` are ``S``; ``7``, ``8``, ``9`` are ``N``; the letters of hex digits are ``H``.
_CLASSES = bytes.maketrans(b"\0000123456789abcdefABCDEF", b"ZZSSTFSFNNNHHHHHHHHHHHH")
_DIGIT_CODES = (b"ZZ", *(b"T" + c for c in (b"Z", b"T", b"F", b"S", b"N")), b"FS", b"FT", b"FF")

#: Each escape of a digit, in classes, by what it starts with; each is rewritten into as many
#: ``Z`` (the class of ``0``) as it has characters, so positions do not move.
_DIGIT_ESCAPES = {
    prefix: [(prefix + code, b"Z" * (len(prefix) + 2)) for code in _DIGIT_CODES]
    for prefix in (b"%", b"\\uZZ", b"\\x")
}

#: After the rewriting, what a token's run is made of: digits and the backslashes that stay in
#: front of an escape when a ``repr`` doubles them (so any number of them can be doubled).
_RUN_MARKS = bytes(ord("x" if chr(i) in "ZTFSNH\\" else " ") for i in range(256))


def token_spans(text: str) -> list[tuple[int, int]]:
    """Where to blank ``text`` so that no token is left in it, in order (see the module's text)."""
    marks = text.encode("ascii", "replace").translate(_CANDIDATE_MARKS)
    checked: list[tuple[int, int]] = []
    budget = EXACT_CHECK_BUDGET
    start = marks.find(_CANDIDATE)
    while start >= 0:
        end = marks.find(b" ", start + TOKEN_LENGTH)  # ``start`` is where a run starts
        end = len(marks) if end < 0 else end
        if end - start > budget:
            return [*_exact_spans(text, checked), (start, _end_of_last_run(marks))]
        checked.append((start, end))
        budget -= end - start
        start = marks.find(_CANDIDATE, end)
    return _exact_spans(text, checked)


def _end_of_last_run(marks: bytes) -> int:
    """Where the last run of marks at least a token long ends, or (if more than a few shorter
    runs follow it) where the last mark is: a little further, but found in C whatever the text.
    (``bytes.rfind`` of a long needle is not linear in CPython; of one byte it is ``memrchr``.)"""
    last_mark = end = marks.rfind(b"x") + 1
    for _ in range(_RUNS_LOOKED_BACK):
        start = marks.rfind(b" ", 0, end) + 1
        if end - start >= TOKEN_LENGTH:
            return end
        end = marks.rfind(b"x", 0, start) + 1
    return last_mark


def _exact_spans(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Step 2 on ``runs`` of ``text``, all in one piece of bytes (one rewriting pass per escape,
    not per run): the spans of digits at least a token long, as positions in ``text``."""
    if not runs:
        return []
    # Runs hold ASCII characters only; a space between them ends any digit or escape.
    data = b" ".join(text[start:end].encode("ascii") for start, end in runs).translate(_CLASSES)
    for prefix, rewrites in _DIGIT_ESCAPES.items():
        if prefix in data:
            for escape, zeros in rewrites:
                data = data.replace(escape, zeros)
    marks = data.translate(_RUN_MARKS)
    bases = []  # where each run starts in ``data``
    base = 0
    for start, end in runs:
        bases.append(base)
        base += end - start + 1
    spans = []
    found = marks.find(_CANDIDATE)
    while found >= 0:
        stop = marks.find(b" ", found)
        stop = len(marks) if stop < 0 else stop
        which = bisect_right(bases, found) - 1
        offset = runs[which][0] - bases[which]
        spans.append((found + offset, stop + offset))
        found = marks.find(_CANDIDATE, stop)
    return spans
