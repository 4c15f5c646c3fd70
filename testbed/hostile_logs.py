"""Text built against the log filter: the shapes an attacker would send to make it slow or blind.

One definition for the filter's unit tests (``tests/unit/test_logfilter.py``), the end-to-end test
on a real Synapse (``tests/e2e/test_e2e_logs.py``) and the benchmark (``bench/logfilter_bench.py``).

Each shape is a short unit repeated to any size. The filter used to find tokens with
``[0-9a-f]{128,}``, which the regex engine tries again from every digit of a run: a run one
digit short of a token cost 127 steps per digit, seconds for one request body. The shapes below
are that run and its variants for every form of a digit the filter reads (case, escapes, the
backslashes a ``repr`` doubles, UTF-16's NULs), escapes that open and never finish, runs just
long enough to be looked at closely, escapes of any character one after another (each of which
the search for secrets decodes), and a long prefix of a secret (for the substring search of the
secrets).
"""

from __future__ import annotations

from synapse_dp_auth.token import TOKEN_LENGTH

#: Synapse's largest request body on a process that serves media (the main process by default):
#: ``max_upload_size``, 50M by default, above ``MAX_REQUEST_SIZE`` (200 * 64 KiB). The same in
#: every release from 1.53.0 to 1.163.2 (``synapse.app._base.max_request_body_size``).
SYNAPSE_MAX_BODY = 50 * 1024 * 1024

#: Synapse's own limit for any other request: what a worker without media accepts.
SYNAPSE_MAX_REQUEST_SIZE = 200 * 64 * 1024

_SHORT = TOKEN_LENGTH - 1

#: A line of Synapse's access log, the lines the filter sees most (with the digits of a real one).
ORDINARY_LINE = (
    "2026-12-04 17:29:02,540 - synapse.access.http.8008 - 473 - INFO - POST-14 - 127.0.0.1 -"
    " 8008 - {@alice:example.org} Processed request: 0.004sec/0.000sec (0.001sec, 0.000sec)"
    ' (0.001sec/0.002sec/2) 310B 200 "POST /_matrix/client/v3/login HTTP/1.1"'
    ' "mautrix-python/0.20.4 aiohttp/3.9.1 Python/3.11" [0 dbevts]\n'
)


_DIGITS = "0123456789abcdefABCDEF"


def _digits(count: int, *forms: str) -> str:
    """``count`` digits of every kind, written in ``forms`` in turn ("{c}": as is, "{o:02X}" and
    the like: its code point)."""
    return "".join(
        forms[i % len(forms)].format(c=_DIGITS[i % len(_DIGITS)], o=ord(_DIGITS[i % len(_DIGITS)]))
        for i in range(count)
    )


#: The worst cases, by name: the unit each is made of.
WORST_CASE_UNITS: dict[str, str] = {
    "runs one digit short of a token": "a" * _SHORT + "g",
    "mixed-case runs one digit short": _digits(_SHORT, "{c}") + "g",
    "one digit, one other, repeated": "ag",
    "one run as long as the text": "f",
    "percent-escaped runs one short": _digits(_SHORT, "%{o:02X}") + "g",
    "JSON-escaped runs one short": _digits(_SHORT, "\\u{o:04x}") + "g",
    "JSON escapes in a bytes repr, one short": _digits(_SHORT, "\\\\u{o:04x}") + "g",
    "escaped and plain digits mixed, one short": (
        _digits(_SHORT, "{c}", "%{o:02x}", "\\u{o:04X}", "\\x{o:02x}") + "g"
    ),
    "UTF-16 digits in a bytes repr, one short": _digits(_SHORT, "{c}\\x00") + "g",
    "percent signs only": "%",
    "unfinished escapes": "\\u00%4\\x6",
    "runs of %30 just short of a token": "%30" * 42 + "g",
    "runs of \\x30 just short of a token": "\\x30" * 31 + "g",
    "runs a token long, one apart": "a" * TOKEN_LENGTH + "g",
    "JSON escapes of a letter": "\\u0077",
    "escaped quotes": '\\"',
}


def repeated(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def shape_units(secret: str) -> dict[str, str]:
    """Every shape's unit, the ordinary line first; for the secrets, ``secret`` less its last
    character, which every search for the secret matches this far each time."""
    return {
        "ordinary log lines": ORDINARY_LINE,
        **WORST_CASE_UNITS,
        "a secret less its last character": secret[:-1],
    }
