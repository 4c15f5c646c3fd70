"""Keep tokens and secrets out of the lines Synapse's own loggers write about client requests.

Some of Synapse's log lines quote what a client sent: the raw body of a request that is not valid
JSON or not valid UTF-8 (``synapse.http.servlet``, at WARNING), the identifier fields of a login
(``synapse.rest.client.login``), a user ID or 3PID address that does not exist
(``synapse.handlers.auth``), a user-interactive auth stage's ``threepid_creds`` or CAPTCHA
response (``synapse.handlers.ui_auth.checkers``, for whatever stage type a client names), the
same ``threepid_creds`` as Synapse checks them with an identity server
(``synapse.handlers.identity``, and the request's query string in ``synapse.http.client``), error
messages that quote the offending input and the tracebacks of 500s (``synapse.http.server``),
and request URIs with their query strings and user agents (the access loggers,
``synapse.access.<http|https>.<listener tag>``, and ``synapse.http.site``). A bridge that sends a
correct token in a malformed body would otherwise leave a working login in the log. A filter on
exactly those loggers blanks every token, in any case and with any of its digits escaped as a
client would decode them (see :mod:`synapse_dp_auth.tokenscan`), and every configured secret, in
the forms in which a log line can quote it (as is, JSON- or ``repr``-escaped, as bytes,
percent-encoded).

These lines quote what anyone can send, so the filter's cost must not grow faster than the line:
each step is linear in its length, and a line longer than :data:`MAX_LINE_LENGTH` (a body of up
to Synapse's largest request) is cut to that length before it is scanned. Beyond formatting the
line, which the handler would do anyway (and does not do again for a line that was cut or
blanked), a line costs at most a fixed amount however much was sent, and the handler does not
write it whole either.

A filter on a logger runs for that logger's records only, and only for records that are emitted:
nothing here runs on the login path unless one of these loggers writes a line. Logging is per
process, so each Synapse process (main or worker) installs its own; installing again in the same
process (a second module entry, or Synapse's harness building many homeservers) adds the new
secrets to the one filter already there.
"""

from __future__ import annotations

import json
import logging
import traceback
import urllib.parse
from collections.abc import Iterable

from synapse_dp_auth import tokenscan

#: Synapse's loggers that can write what a client sent (found by reading Synapse 1.163's source).
CLIENT_ECHOING_LOGGERS = (
    "synapse.http.servlet",
    "synapse.http.server",
    "synapse.http.site",
    "synapse.rest.client.login",
    "synapse.handlers.auth",
    "synapse.handlers.ui_auth.checkers",
    "synapse.handlers.identity",
    "synapse.http.client",
)

#: What replaces a token or a secret.
REDACTED = "<redacted by synapse_dp_auth>"

#: The longest line these loggers write, in characters. Synapse quotes a body that is not JSON
#: whole, up to its largest request (50 MiB by default on a process with the media repository):
#: that much is worth neither the scan nor the disk. Longer lines keep their first part and
#: :data:`CUT_NOTE`. Tracebacks of 500s are a few kilobytes.
MAX_LINE_LENGTH = 64 * 1024

#: What ends a cut line; it says how many characters were left out.
CUT_NOTE = "<{} more characters cut by synapse_dp_auth>"


def access_logger_name(tls: bool, site_tag: str) -> str:
    """The name of the access logger of one HTTP listener, as Synapse builds it."""
    return f"synapse.access.{'https' if tls else 'http'}.{site_tag}"


def quoted_forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a log line: raw, escaped by JSON or ``repr``, encoded."""
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
    # A JSON body quoted as bytes, as Synapse logs a body it cannot parse.
    forms |= {repr(form.encode("utf-8"))[2:-1] for form in list(forms)}
    return {form for form in forms if form}


class RedactingFilter(logging.Filter):
    """Rewrites a record whose text holds a token or a secret, is too long, or cannot be
    formatted; every record is kept."""

    def __init__(self) -> None:
        super().__init__()
        #: Every quoted form of every secret, longest first, so that a secret containing another
        #: is blanked whole.
        self._secret_forms: list[str] = []

    def add_secrets(self, secrets: Iterable[str]) -> None:
        forms = set(self._secret_forms)
        forms |= {form for secret in secrets for form in quoted_forms(secret)}
        self._secret_forms = sorted(forms, key=lambda form: (-len(form), form))

    def redact(self, text: str) -> str:
        """``text`` with every secret and every token blanked, in time linear in its length.

        Secrets go first, so that a secret holding a run of hex digits is blanked whole.
        """
        return tokenscan.redact_tokens(self._redact_secrets(text), REDACTED)

    def _redact_secrets(self, text: str) -> str:
        # A plain substring search per form, not one regex alternation: CPython's search
        # switches to the two-way algorithm on long texts, so it stays linear whatever the text.
        for form in self._secret_forms:
            text = text.replace(form, REDACTED)
        return text

    def line_to_write(self, text: str) -> str:
        """What may be written of ``text``: :meth:`redact`, after cutting a text longer than
        :data:`MAX_LINE_LENGTH` to that length and :data:`CUT_NOTE`.

        The cut is moved back to the start of any secret it would split, and the characters
        that could belong to a token just before it are dropped too: no first part of a secret
        or a token is left where the text ends.
        """
        if len(text) <= MAX_LINE_LENGTH:
            return self.redact(text)
        end = MAX_LINE_LENGTH
        moved = True
        while moved:
            moved = False
            for form in self._secret_forms:
                # Found in this window, an occurrence has characters on both sides of ``end``.
                start = text.find(form, max(0, end - len(form) + 1), end + len(form) - 1)
                if 0 <= start < end:
                    end, moved = start, True
        head = self._redact_secrets(text[:end])
        kept = head.rstrip(tokenscan.TOKEN_CHARACTERS)
        left_out = len(text) - end + len(head) - len(kept)
        return tokenscan.redact_tokens(kept, REDACTED) + CUT_NOTE.format(left_out)

    def filter(self, record: logging.LogRecord) -> bool:
        """Blank what must not be written; the record's arguments are folded into its message."""
        try:
            message = record.getMessage()
        except Exception:
            # Formatting would fail again in the handler, whose error report prints the message
            # and its arguments raw (to stderr): fold them into one checked line instead.
            try:
                message = f"{record.msg!s} {record.args!r}"
            except Exception:  # not even printable: nothing of it can be written
                message = "<a log record that cannot be formatted>"
            record.msg, record.args = message, None  # checked below like any other
        extra = _exception_text(record)
        text = message if extra is None else f"{message}\n{extra}"
        written = self.line_to_write(text)
        if written == text:
            return True
        # Folded in, so that the handler does not format the arguments (a whole body) again.
        record.msg = written
        record.args = None
        # Formatters render exc_info and stack_info themselves: they are folded in above.
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def _exception_text(record: logging.LogRecord) -> str | None:
    """The traceback and stack a formatter would append to the record, if any."""
    parts = []
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(record.exc_text or "".join(traceback.format_exception(*record.exc_info)))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(part.rstrip("\n") for part in parts) if parts else None


def install(logger_names: Iterable[str], secrets: Iterable[str]) -> RedactingFilter:
    """Put the process's one :class:`RedactingFilter` on each named logger; add ``secrets`` to it.

    Idempotent: the filter found on any of the loggers is reused, so a second call adds its
    secrets rather than a second filter.
    """
    loggers = [logging.getLogger(name) for name in dict.fromkeys(logger_names)]
    found = (f for lg in loggers for f in lg.filters if isinstance(f, RedactingFilter))
    redacting = next(found, None) or RedactingFilter()
    redacting.add_secrets(secrets)
    for logger in loggers:
        if redacting not in logger.filters:
            logger.addFilter(redacting)
    return redacting
