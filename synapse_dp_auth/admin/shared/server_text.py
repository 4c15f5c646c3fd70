"""Text a homeserver sent, made safe to print on the admin's terminal (``doctor``, ``sessions``).

Every piece of text a homeserver sends back goes through :func:`server_text` before it reaches
the terminal, so that a hostile or broken server can neither drive the terminal with escape
sequences nor flood it.
"""

from __future__ import annotations

#: At most this many characters of one piece of server text (escapes included) in a report.
MAX_SERVER_TEXT = 200


def server_text(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """``text`` from the server made safe to print: every character that is not printable
    (ESC and the other controls, line breaks, bidi overrides, lone surrogates) as its Python
    escape, and at most ``limit`` characters of it (escapes counted), then ``...`` if cut.
    """
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = char if char.isprintable() else _escape(char)
        if length + len(piece) > limit:
            pieces.append("...")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
