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
client would decode them (see :mod:`synapse_dp_auth.tokenscan`), and every configured secret, as
is or with any of its characters escaped as JSON, ``repr``, a bytes ``repr`` or percent-encoding
write them (see :mod:`synapse_dp_auth.secretscan`). Both are looked for in the text as it is, and
what either finds is blanked.

These lines quote what anyone can send, so the filter's cost must not grow faster than the line:
each step is linear in its length with a small constant (see the two modules), and a line longer
than :data:`MAX_LINE_LENGTH` (a body of up to Synapse's largest request) loses its middle before
it is scanned. Beyond formatting the line, which the handler would do anyway (and does not do
again: the filter folds what it formatted into the record), a line costs at most a fixed amount
however much was sent, and the handler does not write it whole either.

A filter on a logger runs for that logger's records only, and only for records that are emitted:
nothing here runs on the login path unless one of these loggers writes a line. Logging is per
process, so each Synapse process (main or worker) installs its own; installing again in the same
process (a second module entry, or Synapse's harness building many homeservers) adds the new
secrets to the one filter already there.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable

from synapse_dp_auth import secretscan, tokenscan
from synapse_dp_auth.token import TOKEN_LENGTH

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

#: The longest line these loggers write whole, in characters. Synapse quotes a body that is not
#: JSON whole, up to its largest request (50 MiB by default on a process with the media
#: repository): that much is worth neither the scan nor the disk, and the scan's cost per request
#: grows with this length (``tests/e2e/test_e2e_logs.py`` measures it at this length). A bridge's
#: login body is under 1 KiB; the longest lines otherwise are the tracebacks of 500s, a few
#: kilobytes, tens with chained exceptions: a longer line keeps its first :data:`HEAD_LENGTH`
#: characters and its last :data:`TAIL_LENGTH` (where a traceback names its exception), with
#: :data:`CUT_NOTE` between them.
MAX_LINE_LENGTH = 16 * 1024
HEAD_LENGTH = 12 * 1024
TAIL_LENGTH = MAX_LINE_LENGTH - HEAD_LENGTH

#: What stands where a line was cut; it says how many characters were left out.
CUT_NOTE = "<{} characters cut by synapse_dp_auth>"

#: A record whose message is longer than this is left with the message formatted (its arguments
#: folded in), even when nothing in it was blanked: the handler would format it again.
FOLD_LENGTH = 1024

#: How long a token can be in the forms the filter finds (each digit ``\\\\u0061``), for the cut.
_TOKEN_FORM_LENGTH = 8 * TOKEN_LENGTH


def access_logger_name(tls: bool, site_tag: str) -> str:
    """The name of the access logger of one HTTP listener, as Synapse builds it."""
    return f"synapse.access.{'https' if tls else 'http'}.{site_tag}"


class RedactingFilter(logging.Filter):
    """Rewrites a record whose text holds a token or a secret, is too long, or cannot be
    formatted; every record is kept."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets = secretscan.SecretFinder()

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets.add(secrets)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds a secret or a token, in order, overlapping spans merged: both
        are looked for in the text as it is, so that neither hides the other."""
        spans: list[tuple[int, int]] = []
        for start, end in sorted(self._secrets.spans(text) + tokenscan.token_spans(text)):
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
        return spans

    def redact(self, text: str) -> str:
        """``text`` with every secret and every token blanked, in time linear in its length."""
        return _blanked(text, self.spans(text))

    def line_to_write(self, text: str) -> str:
        """What may be written of ``text``: :meth:`redact`, after cutting out the middle of a
        text longer than :data:`MAX_LINE_LENGTH` (:data:`CUT_NOTE` stands there).

        Each cut is moved away from any secret or token it would split (back before it at the
        end of the head, forward past it at the start of the tail), and the characters that
        could belong to a token next to it are dropped too: no part of a secret or a token is
        left at a cut.
        """
        if len(text) <= MAX_LINE_LENGTH:
            return self.redact(text)
        # Each part is scanned a little beyond its cut, to see what a secret or a token across
        # the cut is.
        margin = max(self._secrets.longest_form, _TOKEN_FORM_LENGTH)
        end = HEAD_LENGTH
        head = []
        for start, stop in self.spans(text[: end + margin]):
            if stop > end:
                end = min(end, start)
                break
            head.append((start, stop))
        end = max(len(text[:end].rstrip(tokenscan.TOKEN_CHARACTERS)), head[-1][1] if head else 0)

        begin = len(text) - TAIL_LENGTH
        window = max(begin - margin, 0)
        tail: list[tuple[int, int]] = []
        for start, stop in reversed(self.spans(text[window:])):
            if start + window < begin:
                begin = max(begin, stop + window)
                break
            tail.append((start + window, stop + window))
        tail = [(start - begin, stop - begin) for start, stop in reversed(tail)]
        stripped = len(text) - len(text[begin:].lstrip(tokenscan.TOKEN_CHARACTERS))
        if tail and stripped > begin + tail[0][0]:
            stripped = begin + tail[0][0]  # not into a secret or token blanked there
        tail = [(start + begin - stripped, stop + begin - stripped) for start, stop in tail]
        begin = stripped
        return (
            _blanked(text[:end], head) + CUT_NOTE.format(begin - end) + _blanked(text[begin:], tail)
        )

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
        try:
            extra = _exception_text(record)
            exception_formats = True
        except Exception:
            # The handler would fail on it too, and its error report goes to stderr unfiltered.
            extra = _unformattable_exception(record)
            exception_formats = False
        text = message if extra is None else f"{message}\n{extra}"
        written = self.line_to_write(text)
        if written == text and exception_formats:
            if record.args and len(message) > FOLD_LENGTH:
                # Formatted once already: the handler need not do it again.
                record.msg, record.args = message, None
            return True
        # Folded in, so that the handler does not format the arguments (a whole body) again.
        record.msg = written
        record.args = None
        # Formatters render exc_info and stack_info themselves: they are folded in above.
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def _blanked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of ``spans`` (in order, apart) replaced by :data:`REDACTED`."""
    if not spans:
        return text
    pieces: list[str] = []
    end = 0
    for start, stop in spans:
        pieces += (text[end:start], REDACTED)
        end = stop
    pieces.append(text[end:])
    return "".join(pieces)


def _exception_text(record: logging.LogRecord) -> str | None:
    """The traceback and stack a formatter would append to the record, if any; raises what
    formatting them raises (a malformed ``exc_info``, a ``stack_info`` that is not text)."""
    parts = []
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(record.exc_text or "".join(traceback.format_exception(*record.exc_info)))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(part.rstrip("\n") for part in parts) if parts else None


def _unformattable_exception(record: logging.LogRecord) -> str:
    """What can be said of an exception or a stack that cannot be formatted."""
    try:
        what = (record.exc_info, record.exc_text, record.stack_info)
        return f"<an exception that cannot be formatted: {what!r}>"
    except Exception:
        return "<an exception that cannot be formatted>"


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
