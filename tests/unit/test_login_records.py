"""The session records' SQL and query parameters, on a real SQLite database (no Synapse)."""

from __future__ import annotations

import sqlite3
import unittest

from synapse_dp_auth import login_records
from synapse_dp_auth.login_records import FilterError, Session, SessionFilter, parse_filter


def session(user: str, device: str, fingerprint: str, ts: int) -> Session:
    return Session(
        user_id=user,
        device_id=device,
        login_type="m.login.password",
        secret_fingerprint=fingerprint,
        logged_in_ts=ts,
    )


class SessionsTableTests(unittest.TestCase):
    def setUp(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.txn = self.db.cursor()
        login_records.create_schema(self.txn)
        login_records.create_schema(self.txn)  # IF NOT EXISTS: every process runs it
        self.rows = [
            session("@a:x", "D1", "aaaa0000", 3000),
            session("@b:x", "D2", "bbbb1111", 1000),
            session("@a:x", "D3", "bbbb1111", 2000),
        ]
        login_records.record_all(self.txn, self.rows)

    def test_a_batch_longer_than_one_statement(self) -> None:
        """Every row of a batch that spans several multi-row INSERTs arrives, once."""
        many = [
            session(f"@u{n}:x", f"M{n}", "cccc2222", 10_000 + n)
            for n in range(2 * login_records.INSERT_ROWS + 7)
        ]
        login_records.record_all(self.txn, many)
        found = login_records.select(self.txn, SessionFilter(secret_fingerprint="cccc2222"), 10_000)
        self.assertEqual(found, many)

    def test_everything_oldest_first(self) -> None:
        found = login_records.select(self.txn, SessionFilter(), 10)
        self.assertEqual(found, sorted(self.rows, key=lambda row: row.logged_in_ts))

    def test_filters_combine(self) -> None:
        by_secret = login_records.select(self.txn, SessionFilter(secret_fingerprint="bbbb1111"), 10)
        self.assertEqual([row.device_id for row in by_secret], ["D2", "D3"])
        by_user = login_records.select(self.txn, SessionFilter(user_id="@a:x"), 10)
        self.assertEqual([row.device_id for row in by_user], ["D3", "D1"])
        since = login_records.select(self.txn, SessionFilter(since_ts=2000), 10)
        self.assertEqual([row.device_id for row in since], ["D3", "D1"])
        both = SessionFilter(secret_fingerprint="bbbb1111", user_id="@a:x", since_ts=2001)
        self.assertEqual(login_records.select(self.txn, both, 10), [])

    def test_pages(self) -> None:
        oldest_first = sorted(self.rows, key=lambda row: row.logged_in_ts)
        self.assertEqual(login_records.select(self.txn, SessionFilter(), 2), oldest_first[:2])
        self.assertEqual(
            login_records.select(self.txn, SessionFilter(start=2), 2), oldest_first[2:]
        )
        by_secret = SessionFilter(secret_fingerprint="bbbb1111", start=1)
        self.assertEqual(
            [row.device_id for row in login_records.select(self.txn, by_secret, 5)], ["D3"]
        )

    def test_largest_since_ts_accepted_is_one_the_database_takes(self) -> None:
        latest = parse_filter({"since_ts": [str(2**63 - 1)]})
        self.assertEqual(login_records.select(self.txn, latest, 10), [])

    def test_never_a_token_column(self) -> None:
        columns = [c[1] for c in self.txn.execute(f"PRAGMA table_info({login_records.TABLE})")]
        self.assertEqual(
            columns, ["user_id", "device_id", "login_type", "secret_fingerprint", "logged_in_ts"]
        )

    def test_json(self) -> None:
        self.assertEqual(
            self.rows[0].to_json(),
            {
                "user_id": "@a:x",
                "device_id": "D1",
                "login_type": "m.login.password",
                "secret_fingerprint": "aaaa0000",
                "logged_in_ts": 3000,
            },
        )


class ParseFilterTests(unittest.TestCase):
    def test_parameters(self) -> None:
        self.assertEqual(parse_filter({}), SessionFilter())
        self.assertEqual(parse_filter({"since_ts": [str(2**63 - 1)]}).since_ts, 2**63 - 1)
        self.assertEqual(
            parse_filter(
                {"fingerprint": ["abcd1234"], "user_id": ["@a:x"], "since_ts": ["5"], "from": ["7"]}
            ),
            SessionFilter(secret_fingerprint="abcd1234", user_id="@a:x", since_ts=5, start=7),
        )

    def test_access_token_is_left_to_synapse(self) -> None:
        args = {"access_token": ["syt_x"], "user_id": ["@a:x"]}
        self.assertEqual(parse_filter(args), SessionFilter(user_id="@a:x"))

    def test_rejections(self) -> None:
        for args, message in [
            ({"limit": ["1"]}, "unknown query parameter 'limit'"),
            ({"user_id": ["@a:x", "@b:x"]}, "give user_id once"),
            ({"since_ts": ["-1"]}, "since_ts must be"),
            ({"since_ts": ["1.5"]}, "since_ts must be"),
            ({"since_ts": ["١٢"]}, "since_ts must be"),
            ({"since_ts": [str(2**63)]}, "since_ts must be"),
            ({"from": ["-1"]}, "from must be the next_token"),
            ({"from": [str(2**63)]}, "from must be the next_token"),
            ({"user_id": ["@a\x00:x"]}, "user_id must not contain a NUL"),
            ({"fingerprint": ["\x00"]}, "fingerprint must not contain a NUL"),
        ]:
            with self.assertRaisesRegex(FilterError, message):
                parse_filter(args)
