"""The session records' SQL and query parameters, on a real SQLite database (no Synapse)."""

from __future__ import annotations

import json
import sqlite3
import unittest

from synapse_dp_auth import login_records
from synapse_dp_auth.login_records import FilterError, Session, SessionFilter, parse_filter


def session(
    user: str, device: str, fingerprint: str, ts: int, created: bool | None = True
) -> Session:
    return Session(
        user_id=user,
        device_id=device,
        login_type="m.login.password",
        secret_fingerprint=fingerprint,
        logged_in_ts=ts,
        created_device=created,
    )


class SessionsTableTests(unittest.TestCase):
    def setUp(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.txn = self.db.cursor()
        login_records.create_schema(self.txn, postgres=False)
        login_records.create_schema(
            self.txn, postgres=False
        )  # IF NOT EXISTS: every process runs it
        self.rows = [
            session("@a:x", "D1", "aaaa0000", 3000),
            session("@b:x", "D2", "bbbb1111", 1000, created=False),
            session("@a:x", "D3", "bbbb1111", 2000, created=None),
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
        self.assertEqual(len({row.record_id for row in found}), len(many))

    def test_everything_oldest_first(self) -> None:
        found = login_records.select(self.txn, SessionFilter(), 10)
        self.assertEqual(found, sorted(self.rows, key=lambda row: row.logged_in_ts))
        self.assertEqual([row.created_device for row in found], [False, None, True])

    def test_filters_combine(self) -> None:
        by_secret = login_records.select(self.txn, SessionFilter(secret_fingerprint="bbbb1111"), 10)
        self.assertEqual([row.device_id for row in by_secret], ["D2", "D3"])
        by_user = login_records.select(self.txn, SessionFilter(user_id="@a:x"), 10)
        self.assertEqual([row.device_id for row in by_user], ["D3", "D1"])
        since = login_records.select(self.txn, SessionFilter(since_ts=2000), 10)
        self.assertEqual([row.device_id for row in since], ["D3", "D1"])
        both = SessionFilter(secret_fingerprint="bbbb1111", user_id="@a:x", since_ts=2001)
        self.assertEqual(login_records.select(self.txn, both, 10), [])

    def test_pages_start_after_the_previous_ones_last_row(self) -> None:
        """Keyset pages: rows logged in at the same millisecond are told apart by record ID, so
        none is skipped or repeated at a page boundary."""
        same_time = [session("@c:x", f"S{n}", "dddd3333", 5000) for n in range(5)]
        login_records.record_all(self.txn, same_time)
        which = SessionFilter(secret_fingerprint="dddd3333")
        seen = []
        for _ in range(3):
            page = login_records.select(self.txn, which, 2)
            seen += page
            if page:
                which = parse_filter(
                    {"fingerprint": ["dddd3333"], "from": [login_records.next_token(page[-1])]}
                )
        self.assertEqual(seen, same_time)

    def test_every_filter_reads_an_index_in_order(self) -> None:
        """No page sorts the table: SQLite's plan uses an index and no temporary B-tree."""
        for which, index in [
            (SessionFilter(), "ts"),
            (SessionFilter(secret_fingerprint="x", after=(1, 1)), "fingerprint"),
            (SessionFilter(user_id="@a:x", since_ts=5, after=(1, 1)), "user"),
            (SessionFilter(since_ts=5), "ts"),
        ]:
            traced: list[str] = []
            self.db.set_trace_callback(traced.append)
            login_records.select(self.txn, which, 10)
            self.db.set_trace_callback(None)
            (statement,) = [line for line in traced if line.startswith("SELECT")]
            plan = " ".join(row[3] for row in self.db.execute(f"EXPLAIN QUERY PLAN {statement}"))
            self.assertRegex(plan, rf"USING INDEX {login_records.TABLE}_{index}\b")
            self.assertNotIn("TEMP B-TREE", plan)

    def test_largest_since_ts_accepted_is_one_the_database_takes(self) -> None:
        latest = parse_filter({"since_ts": [str(2**63 - 1)]})
        self.assertEqual(login_records.select(self.txn, latest, 10), [])
        last = parse_filter({"from": [f"{2**63 - 1}_{2**63 - 1}"]})
        self.assertEqual(login_records.select(self.txn, last, 10), [])

    def test_never_a_token_column(self) -> None:
        columns = [c[1] for c in self.txn.execute(f"PRAGMA table_info({login_records.TABLE})")]
        self.assertEqual(
            columns,
            [
                "id",
                "user_id",
                "device_id",
                "login_type",
                "secret_fingerprint",
                "logged_in_ts",
                "created_device",
            ],
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
                "created_device": True,
            },
        )


class MigrationTests(unittest.TestCase):
    def test_records_of_the_old_table_are_moved_once(self) -> None:
        db = sqlite3.connect(":memory:")
        txn = db.cursor()
        txn.execute(
            f"CREATE TABLE {login_records.OLD_TABLE} (user_id TEXT NOT NULL,"
            " device_id TEXT NOT NULL, login_type TEXT NOT NULL, secret_fingerprint TEXT NOT NULL,"
            " logged_in_ts BIGINT NOT NULL)"
        )
        txn.executemany(
            f"INSERT INTO {login_records.OLD_TABLE}"  # noqa: S608 - a constant
            " VALUES (?, ?, 'm.login.password', 'aaaa0000', ?)",
            [("@a:x", "NEWER", 2000), ("@b:x", "OLDER", 1000)],
        )
        login_records.create_schema(txn, postgres=False)
        login_records.create_schema(txn, postgres=False)
        found = login_records.select(txn, SessionFilter(), 10)
        self.assertEqual(
            found,
            [
                session("@b:x", "OLDER", "aaaa0000", 1000, created=None),
                session("@a:x", "NEWER", "aaaa0000", 2000, created=None),
            ],
        )
        tables = {row[0] for row in txn.execute("SELECT name FROM sqlite_master")}
        self.assertNotIn(login_records.OLD_TABLE, tables)

    def test_postgres_assigns_its_own_ids(self) -> None:
        (table, *_) = login_records.schema(postgres=True)
        self.assertIn("id BIGSERIAL PRIMARY KEY", table)
        self.assertIn("id INTEGER PRIMARY KEY", login_records.schema(postgres=False)[0])


class PruneTests(unittest.TestCase):
    """Records of ended sessions (no row in Synapse's ``devices``) older than the cut-off go."""

    def setUp(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.txn = self.db.cursor()
        login_records.create_schema(self.txn, postgres=False)
        # The two columns of Synapse's own table that the statement reads.
        self.txn.execute("CREATE TABLE devices (user_id TEXT, device_id TEXT)")

    def prune(self, before_ts: int) -> tuple[int, int]:
        """(deleted, transactions) for a whole prune."""
        after, deleted, batches = None, 0, 0
        while True:
            count, after = login_records.prune_batch(self.txn, before_ts, after)
            deleted, batches = deleted + count, batches + 1
            if after is None:
                return deleted, batches

    def test_only_old_records_of_devices_that_are_gone(self) -> None:
        rows = [
            session("@a:x", "GONE_OLD", "f", 1000),
            session("@a:x", "ALIVE_OLD", "f", 1000),
            session("@a:x", "GONE_NEW", "f", 9000),
        ]
        login_records.record_all(self.txn, rows)
        self.txn.execute("INSERT INTO devices VALUES ('@a:x', 'ALIVE_OLD')")
        self.assertEqual(self.prune(5000), (1, 1))
        left = login_records.select(self.txn, SessionFilter(), 10)
        self.assertEqual([row.device_id for row in left], ["ALIVE_OLD", "GONE_NEW"])

    def test_in_batches(self) -> None:
        count = 2 * login_records.PRUNE_BATCH + 5
        login_records.record_all(self.txn, [session("@a:x", f"D{n}", "f", n) for n in range(count)])
        self.txn.execute("INSERT INTO devices VALUES ('@a:x', 'D3')")
        self.assertEqual(self.prune(10**9), (count - 1, 3))
        self.assertEqual(len(login_records.select(self.txn, SessionFilter(), 10)), 1)


#: Characters that JSON escapes to the most bytes: 12 (a surrogate pair) or 6 (a control).
WIDE, CONTROL = "\U0001f600", "\x01"


class AnswerPageTests(unittest.TestCase):
    def rows(self, count: int, user: str, device: str) -> list[Session]:
        return [
            Session(
                user_id=user,
                device_id=device,
                login_type="com.devture.shared_secret_auth",
                secret_fingerprint="0123abcd",
                logged_in_ts=1_795_000_000_000 + n,
                created_device=True,
                record_id=n + 1,
            )
            for n in range(count)
        ]

    def test_a_full_page_of_ordinary_rows(self) -> None:
        found = self.rows(
            login_records.MAX_ROWS + 1, "@someone.with.a.long.name:example.org", "A" * 10
        )
        answer = login_records.answer_page(found, ["0123abcd"], login_records.MAX_ROWS)
        self.assertEqual(len(answer["sessions"]), login_records.MAX_ROWS)
        self.assertEqual(
            answer["next_token"], login_records.next_token(found[login_records.MAX_ROWS - 1])
        )
        self.assertLessEqual(len(json.dumps(answer)), login_records.MAX_ANSWER_BYTES)

    def test_the_widest_rows_are_cut_by_bytes(self) -> None:
        """Rows as long as Synapse allows (255-character user IDs, 512-character device IDs),
        every character escaped: the answer stays within what the command line reads."""
        for char in (WIDE, CONTROL):
            user = "@" + char * 240 + ":example.org"
            found = self.rows(login_records.MAX_ROWS + 1, user[:255], char * 512)
            answer = login_records.answer_page(found, ["0123abcd"] * 100, login_records.MAX_ROWS)
            self.assertLess(len(answer["sessions"]), login_records.MAX_ROWS)
            for encoded in (
                json.dumps(answer).encode(),
                json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode(),
            ):
                self.assertLessEqual(len(encoded), login_records.MAX_ANSWER_BYTES)
            last = found[len(answer["sessions"]) - 1]
            self.assertEqual(answer["next_token"], login_records.next_token(last))

    def test_the_last_page(self) -> None:
        answer = login_records.answer_page(self.rows(3, "@a:x", "D"), [], 5)
        self.assertEqual(len(answer["sessions"]), 3)
        self.assertNotIn("next_token", answer)


class ParseFilterTests(unittest.TestCase):
    def test_parameters(self) -> None:
        self.assertEqual(parse_filter({}), SessionFilter())
        self.assertEqual(parse_filter({"since_ts": [str(2**63 - 1)]}).since_ts, 2**63 - 1)
        self.assertEqual(
            parse_filter(
                {
                    "fingerprint": ["abcd1234"],
                    "user_id": ["@a:x"],
                    "since_ts": ["5"],
                    "from": ["7_12"],
                }
            ),
            SessionFilter(secret_fingerprint="abcd1234", user_id="@a:x", since_ts=5, after=(7, 12)),
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
            ({"since_ts": ["9" * 5000]}, "since_ts must be"),
            ({"since_ts": ["1" * 100_000]}, "since_ts must be"),
            ({"from": ["-1_1"]}, "from must be the next_token"),
            ({"from": ["7"]}, "from must be the next_token"),
            ({"from": [f"{2**63}_1"]}, "from must be the next_token"),
            ({"from": [f"1_{2**63}"]}, "from must be the next_token"),
            ({"from": ["9" * 5000 + "_1"]}, "from must be the next_token"),
            ({"from": ["1_" + "9" * 5000]}, "from must be the next_token"),
            ({"from": ["1_2\n"]}, "from must be the next_token"),
            ({"user_id": ["@a\x00:x"]}, "user_id must not contain a NUL"),
            ({"fingerprint": ["\x00"]}, "fingerprint must not contain a NUL"),
        ]:
            with self.assertRaisesRegex(FilterError, message):
                parse_filter(args)
