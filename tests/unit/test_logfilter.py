"""The log filter: what it blanks, in which forms, that it can be installed twice, and that its
cost stays linear on text built against it (Synapse's own loggers quoting user-interactive auth
input: tests/harness/test_logfilter_harness.py)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import unittest
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from synapse_dp_auth import logfilter
from synapse_dp_auth.logfilter import MAX_LINE_LENGTH, REDACTED, RedactingFilter, install
from synapse_dp_auth.token import make_token
from testbed.hostile_logs import (
    SYNAPSE_MAX_BODY,
    SYNAPSE_MAX_REQUEST_SIZE,
    WORST_CASE_UNITS,
    repeated,
    shape_units,
)
from testbed.logscan import findings

SECRET = 'a "quoted" back\\slash ünïcödé secret, long enough to be realistic'
TOKEN = make_token(SECRET, "@alice:example.org")


@contextmanager
def logger_writing_to(stream: io.StringIO, name: str) -> Iterator[logging.Logger]:
    """A logger with one plain handler of its own; its filters are removed afterwards."""
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)  # Synapse's harness, when imported, sets root to ERROR
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        for existing in list(logger.filters):
            logger.removeFilter(existing)


class RedactingFilterTests(unittest.TestCase):
    def setUp(self) -> None:
        self.filter = RedactingFilter()
        self.filter.add_secrets([SECRET])

    def written(self, msg: str, *args: object, exc: BaseException | None = None) -> str:
        stream = io.StringIO()
        with logger_writing_to(stream, "test_logfilter.written") as logger:
            logger.addFilter(self.filter)
            if exc is None:
                logger.warning(msg, *args)
            else:
                try:
                    raise exc
                except BaseException:
                    logger.exception(msg, *args)
        return stream.getvalue()

    def test_token_in_bytes_argument(self) -> None:
        body = json.dumps({"token": TOKEN}).encode() + b",\xff"
        line = self.written("Unable to parse JSON from %s: %s (%s)", "POST", "error", body)
        self.assertNotIn(TOKEN, line)
        self.assertIn(f'{{"token": "{REDACTED}"}},\\xff', line)

    def test_longer_hex_runs_are_blanked_and_shorter_ones_kept(self) -> None:
        line = self.written("%s %s %s", TOKEN + "0", "f" * 127, "an ordinary line")
        self.assertEqual(line, f"WARNING {REDACTED} {'f' * 127} an ordinary line\n")

    def test_secret_in_every_quoted_form(self) -> None:
        forms = {
            "as is": SECRET,
            "json": json.dumps(SECRET),
            "json, utf-8 bytes": json.dumps(SECRET, ensure_ascii=False).encode(),
            "json bytes": json.dumps({"password": SECRET}).encode(),
            "repr": repr(SECRET),
            "bytes": SECRET.encode(),
            "url": urllib.parse.quote(SECRET),
            "form": urllib.parse.quote_plus(SECRET),
        }
        for name, value in forms.items():
            line = self.written("got %s", value)
            self.assertIn(REDACTED, line, name)
            self.assertNotIn("back", line, name)

    def test_token_in_a_traceback(self) -> None:
        line = self.written("Failed handle request", exc=ValueError(f"bad value {TOKEN}"))
        self.assertNotIn(TOKEN, line)
        self.assertIn(f"ValueError: bad value {REDACTED}", line)

    def test_clean_record_is_left_alone(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s", ("@a:b",), None)
        self.assertTrue(self.filter.filter(record))
        self.assertEqual((record.msg, record.args), ("user %s", ("@a:b",)))

    def test_broken_record_is_passed_on(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
        self.assertTrue(self.filter.filter(record))
        self.assertEqual(record.getMessage(), "%d ('not a number',)")

    def test_broken_record_with_a_token_is_written_blanked(self) -> None:
        """Not left to logging's error report, which prints the arguments raw to stderr."""
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            line = self.written("%d of them", TOKEN)
        self.assertEqual((line, stderr.getvalue()), (f"WARNING %d of them ('{REDACTED}',)\n", ""))


def token_forms(token: str) -> dict[str, str]:
    """``token`` in every form the README says the filter reads: what a client would decode into
    the token, and a bytes ``repr`` of each as Synapse logs a body it cannot parse."""

    def written(*forms: str) -> str:
        """Each digit in the next of ``forms`` in turn ("{c}": as is, "{o:04x}": its code)."""
        return "".join(forms[i % len(forms)].format(c=c, o=ord(c)) for i, c in enumerate(token))

    json_escaped = written("\\u{o:04x}")
    return {
        "upper case": token.upper(),
        "mixed case": written("{c}", "{c}", "{c}").title(),
        "JSON escapes": json_escaped,
        "JSON escapes, upper-case hex": written("\\u{o:04X}"),
        "every other digit JSON-escaped": written("{c}", "\\u{o:04x}"),
        "JSON escapes in a body Synapse cannot parse": repr(
            f'{{"token": "{json_escaped}",'.encode()
        ),
        "percent-encoded": written("%{o:02X}"),
        "every third digit percent-encoded": written("{c}", "{c}", "%{o:02x}"),
        "\\x escapes": written("\\x{o:02x}"),
        "every escape, mixed with plain digits": written(
            "{c}", "%{o:02x}", "\\u{o:04X}", "\\x{o:02x}"
        ),
        "UTF-16 body": repr(json.dumps({"token": token}).encode("utf-16")),
        "UTF-16-BE body": repr(json.dumps({"token": token}).encode("utf-16-be")),
        "UTF-32 body": repr(json.dumps({"token": token}).encode("utf-32")),
        "NUL characters between the digits": written("{c}\0"),
    }


class EncodedTokenTests(unittest.TestCase):
    def setUp(self) -> None:
        self.filter = RedactingFilter()
        self.filter.add_secrets([SECRET])

    def test_token_in_every_form_a_client_decodes(self) -> None:
        for name, form in token_forms(TOKEN).items():
            with self.subTest(name):
                # The check below finds the token as sent: it can fail.
                self.assertNotEqual(findings({"sent": f"body {form} end"}), [])
                line = self.filter.redact(f"body {form} end")
                self.assertEqual(findings({"written": line}), [])
                self.assertIn(REDACTED, line)
                self.assertTrue(line.startswith("body ") and line.endswith(" end"), line)

    def test_near_misses_are_written_as_they_are(self) -> None:
        """Not a token, in no form: a run one digit short, in any case or escaped as it comes
        (escapes count by the characters they take, so a run of 127 digits is 127 characters
        only when no digit is escaped), percent-encoded non-ASCII text, escapes of non-digits."""
        texts = [
            "f" * 127,
            "ab" * 63 + "A",
            "/_matrix/client/v3/directory/room/%23" + "%D0%BF%D1%80%D0%B8" * 40,
            "\\u00e9\\u00e8" * 30,
            "%" * 500 + "\\u" * 500,
        ]
        for text in texts:
            self.assertEqual(self.filter.redact(f"x {text} y"), f"x {text} y")

    def test_token_in_each_worst_case_shape(self) -> None:
        """The shapes built to make the scan slow do not make it blind: a token in any form,
        in the middle of each and at its end, is blanked."""
        forms = token_forms(TOKEN)
        for name, unit in shape_units(SECRET).items():
            for form_name in ("upper case", "every escape, mixed with plain digits"):
                with self.subTest(shape=name, form=form_name):
                    filler = repeated(unit, 100_000)
                    text = f"{filler} {forms[form_name]} {filler} {TOKEN}"
                    line = self.filter.redact(text)
                    self.assertNotIn(TOKEN, line)
                    self.assertEqual(findings({"written": line}), [])
                    self.assertEqual(line.count(REDACTED) >= 2, True)


class LongLineTests(unittest.TestCase):
    def setUp(self) -> None:
        self.filter = RedactingFilter()
        self.filter.add_secrets([SECRET])

    def test_a_line_longer_than_the_limit_is_cut_with_a_note(self) -> None:
        text = repeated("an ordinary line, ", 3 * MAX_LINE_LENGTH)
        line = self.filter.line_to_write(text)
        kept, _, note = line.partition("<")
        self.assertTrue(text.startswith(kept))
        self.assertLessEqual(len(kept), MAX_LINE_LENGTH)
        self.assertEqual(note, f"{len(text) - len(kept)} more characters cut by synapse_dp_auth>")

    def test_no_first_part_of_a_token_at_the_cut(self) -> None:
        for before_cut in (1, 64, 127, 128):
            for form in (TOKEN, token_forms(TOKEN)["every other digit JSON-escaped"]):
                with self.subTest(before_cut=before_cut, form=form[:20]):
                    kept = " " * (MAX_LINE_LENGTH - before_cut)
                    line = self.filter.line_to_write(kept + form + " " * MAX_LINE_LENGTH)
                    self.assertEqual(line[: line.rindex("<")], kept)

    def test_no_first_part_of_a_secret_at_the_cut(self) -> None:
        for name, secret in {"as is": SECRET, "JSON": json.dumps(SECRET)[1:-1]}.items():
            for before_cut in (1, 16, len(secret) - 1, len(secret)):
                with self.subTest(form=name, before_cut=before_cut):
                    kept = "z" * (MAX_LINE_LENGTH - before_cut)
                    line = self.filter.line_to_write(kept + secret + "z" * MAX_LINE_LENGTH)
                    # Where the secret ends at the cut, it is blanked whole; else it is cut whole.
                    whole = REDACTED if before_cut == len(secret) else ""
                    self.assertEqual(line[: line.rindex("<")], kept + whole)

    def test_a_body_at_synapses_largest_request_costs_little_more_than_formatting_it(self) -> None:
        """Synapse logs a body that is not JSON whole (``synapse.http.servlet``), as bytes. At its
        largest request (50 MiB on the main process) the handler would format and write it all:
        the filter formats it once (the handler does not again), cuts it, and blanks the tokens
        in what is left, so its cost beyond formatting is small and bounded."""
        body = (
            f'{{"token": "{TOKEN.upper()}", "password": "{token_forms(TOKEN)["JSON escapes"]}", '
        ).encode()
        filler = repeated(WORST_CASE_UNITS["runs one digit short of a token"], SYNAPSE_MAX_BODY)
        body += filler[: SYNAPSE_MAX_BODY - len(body) - len(TOKEN)].encode() + TOKEN.encode()
        self.assertEqual(len(body), SYNAPSE_MAX_BODY)
        line = "Unable to parse JSON from %s %s response: %s (%s)"
        args = ("POST", "/_matrix/client/v3/login", "Expecting ',' delimiter", body)

        def record() -> logging.LogRecord:
            return logging.LogRecord(
                "synapse.http.servlet", logging.WARNING, "", 1, line, args, None
            )

        formatting = filtering = float("inf")
        for _ in range(3):
            unfiltered = record()
            start = time.perf_counter()
            unfiltered.getMessage()
            formatting = min(formatting, time.perf_counter() - start)
            filtered = record()
            start = time.perf_counter()
            self.filter.filter(filtered)
            filtered.getMessage()  # what the handler then does
            filtering = min(filtering, time.perf_counter() - start)
        written = filtered.getMessage()
        self.assertLessEqual(len(written), MAX_LINE_LENGTH + 100)
        self.assertEqual(findings({"written": written}, [SECRET]), [])
        self.assertEqual(written.count(REDACTED), 2, written[:300])
        # bench/logfilter_bench.py: about 1x (0.2 s to format 50 MiB). The filter before issue 17
        # scanned the whole line: 58 s on this body, with this secret.
        self.assertLess(filtering, 1.5 * formatting + 0.05, (filtering, formatting))


#: How much longer than ordinary log lines of the same length any shape may take to scan.
#: ``bench/logfilter_bench.py`` measured medians of 0.8 to 2.5 (dense escapes are the slowest: each
#: is rewritten); the filter before issue 17 took about 10 times as long on runs one digit short
#: of a token.
WORST_CASE_COST_BOUND = 5.0


class LinearCostTests(unittest.TestCase):
    """The scan of the whole text (:meth:`RedactingFilter.redact`, no cut) on each shape built
    against it, at Synapse's own request size limit, against ordinary log lines of that length.
    A cost that grew faster than the text, or by a large factor per character, shows as a ratio
    far above the bound."""

    def test_every_worst_case_costs_about_what_ordinary_lines_cost(self) -> None:
        redacting = RedactingFilter()
        redacting.add_secrets([SECRET])
        units = shape_units(SECRET)
        ordinary_text = repeated(units.pop("ordinary log lines"), SYNAPSE_MAX_REQUEST_SIZE)
        ordinary = min(seconds(partial(redacting.redact, ordinary_text)) for _ in range(3))
        ratios = {}
        for name, unit in units.items():
            text = repeated(unit, SYNAPSE_MAX_REQUEST_SIZE)
            ratio = float("inf")
            # Measured again (at most three times, the lowest kept) while above the bound, as
            # another process on the machine can slow any one measurement.
            for _ in range(3):
                ratio = min(ratio, seconds(partial(redacting.redact, text)) / ordinary)
                if ratio < WORST_CASE_COST_BOUND:
                    break
            ratios[name] = round(ratio, 2)
        self.assertLess(max(ratios.values()), WORST_CASE_COST_BOUND, ratios)


def seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


class InstallTests(unittest.TestCase):
    def test_second_install_adds_secrets_to_the_same_filter(self) -> None:
        names = ["test_logfilter.one", "test_logfilter.two"]
        stream = io.StringIO()
        with (
            logger_writing_to(stream, names[0]) as one,
            logger_writing_to(stream, names[1]) as two,
        ):
            first = install(names, ["first secret"])
            second = install(names[1:], ["second secret"])
            self.assertIs(first, second)
            self.assertEqual(one.filters, [first])
            self.assertEqual(two.filters, [first])
            one.warning("first secret and second secret")
        self.assertEqual(stream.getvalue(), f"WARNING {REDACTED} and {REDACTED}\n")

    def test_access_logger_name(self) -> None:
        self.assertEqual(logfilter.access_logger_name(False, "8008"), "synapse.access.http.8008")
        self.assertEqual(logfilter.access_logger_name(True, "main"), "synapse.access.https.main")
