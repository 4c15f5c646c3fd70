"""The log filter: what it blanks, in which forms, and that it can be installed twice (Synapse's
own loggers quoting user-interactive auth input: tests/harness/test_logfilter_harness.py)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import unittest
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from synapse_dp_auth import logfilter
from synapse_dp_auth.logfilter import REDACTED, RedactingFilter, install
from synapse_dp_auth.token import make_token

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
