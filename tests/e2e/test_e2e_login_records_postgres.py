"""The session records' SQL on a real PostgreSQL server (no Synapse): the table, the move of the
old table's records (also with two processes at once), keyset pages served by an index, pruning.

The statements go through a cursor that turns ``?`` into ``%s``, as Synapse's own does for
psycopg2. psycopg2 is imported when a test first connects, not at collection: the
synapse-<release> envs collect this file (and deselect it, it is not in the core) without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from synapse_dp_auth import login_records
from synapse_dp_auth.login_records import Session, SessionFilter
from testbed.services import INSTALL_HINT, POSTGRES_ROLE, PostgresServer, missing_services


def psycopg2() -> Any:
    import psycopg2 as module  # type: ignore[import-untyped]  # no stubs in the test deps

    return module


class Cursor:
    """A psycopg2 cursor taking SQLite's ``?`` placeholders, like Synapse's transactions."""

    def __init__(self, connection: Any) -> None:
        self._cursor = connection.cursor()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql.replace("?", "%s"), list(parameters))

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._cursor.fetchall()
        return rows

    @property
    def rowcount(self) -> int:
        count: int = self._cursor.rowcount
        return count


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    missing = missing_services()
    if missing:
        pytest.fail(f"{'; '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    with PostgresServer() as running:
        yield running


@pytest.fixture
def connect(server: PostgresServer) -> Iterator[Any]:
    database = server.create_database()
    opened = []

    def open_connection() -> Any:
        connection = psycopg2().connect(
            host=server.host, port=server.port, user=POSTGRES_ROLE, dbname=database
        )
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


def session(user: str, device: str, ts: int, fingerprint: str = "aaaa0000") -> Session:
    return Session(
        user_id=user,
        device_id=device,
        login_type="m.login.password",
        secret_fingerprint=fingerprint,
        logged_in_ts=ts,
        created_device=True,
    )


OLD_TABLE_SQL = (
    f"CREATE TABLE {login_records.OLD_TABLE} (user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
    " login_type TEXT NOT NULL, secret_fingerprint TEXT NOT NULL, logged_in_ts BIGINT NOT NULL)"
)


def test_table_pages_and_booleans(connect: Any) -> None:
    connection = connect()
    txn = Cursor(connection)
    login_records.create_schema(txn, postgres=True)
    login_records.create_schema(txn, postgres=True)
    rows = [session("@a:x", f"D{n}", 1000 + n // 3) for n in range(9)]
    rows.append(Session(**{**rows[0].to_json(), "device_id": "R", "created_device": False}))
    rows.append(Session(**{**rows[0].to_json(), "device_id": "U", "created_device": None}))
    login_records.record_all(txn, rows)
    connection.commit()
    seen: list[Session] = []
    which = SessionFilter(secret_fingerprint="aaaa0000")
    while True:
        page = login_records.select(txn, which, 4)
        seen += page
        if len(page) < 4:
            break
        which = login_records.parse_filter(
            {"fingerprint": ["aaaa0000"], "from": [login_records.next_token(page[-1])]}
        )
    assert sorted(seen, key=lambda row: row.device_id) == sorted(
        rows, key=lambda row: row.device_id
    )
    assert {row.device_id: row.created_device for row in seen}["R"] is False
    assert {row.device_id: row.created_device for row in seen}["U"] is None


def test_every_filter_reads_an_index_in_order(connect: Any) -> None:
    connection = connect()
    txn = Cursor(connection)
    login_records.create_schema(txn, postgres=True)
    login_records.record_all(
        txn,
        # A secret or a user with a small share of the records: what is looked for after a leak.
        [session(f"@u{n % 50}:x", f"D{n}", n, f"{n % 100:08x}") for n in range(20_000)],
    )
    txn.execute(f"ANALYZE {login_records.TABLE}")
    # Where a page matches few rows the planner may rather sort them; forbidding sorts shows
    # whether an index gives the order (a plan that needs a sort keeps it, at a high cost).
    txn.execute("SET enable_sort = off")
    traced: list[bytes] = []

    class Tracing(Cursor):
        def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
            if sql.startswith("SELECT"):
                traced.append(self._cursor.mogrify(sql.replace("?", "%s"), parameters))
            super().execute(sql, parameters)

    for which, index in [
        (SessionFilter(after=(10_000, 10_000)), "ts"),
        (SessionFilter(secret_fingerprint="00000003", after=(10_000, 10_000)), "fingerprint"),
        (SessionFilter(user_id="@u7:x", since_ts=5, after=(10_000, 10_000)), "user"),
        (SessionFilter(since_ts=19_000), "ts"),
    ]:
        traced.clear()
        login_records.select(Tracing(connection), which, 100)
        txn.execute(f"EXPLAIN {traced[0].decode()}")
        plan = "\n".join(row[0] for row in txn.fetchall())
        assert f"Index Scan using {login_records.TABLE}_{index} " in plan, plan
        assert "Sort" not in plan, plan


def test_old_records_are_moved_once(connect: Any) -> None:
    connection = connect()
    txn = Cursor(connection)
    txn.execute(OLD_TABLE_SQL)
    txn.execute(
        f"INSERT INTO {login_records.OLD_TABLE} VALUES"  # noqa: S608 - a constant
        " ('@a:x', 'NEWER', 'm.login.password', 'aaaa0000', 2000),"
        " ('@b:x', 'OLDER', 'm.login.password', 'aaaa0000', 1000)"
    )
    connection.commit()
    login_records.create_schema(txn, postgres=True)
    login_records.create_schema(txn, postgres=True)
    connection.commit()
    found = login_records.select(txn, SessionFilter(), 10)
    assert [(row.device_id, row.created_device) for row in found] == [
        ("OLDER", None),
        ("NEWER", None),
    ]
    txn.execute("SELECT 1 FROM pg_tables WHERE tablename = ?", [login_records.OLD_TABLE])
    assert txn.fetchall() == []


@pytest.mark.parametrize("table_exists", [False, True])
def test_two_processes_moving_at_once_copy_once(connect: Any, table_exists: bool) -> None:
    """The second process's move waits for the first one's, then fails and is tried again (as
    the recorder does), finding nothing left to move; with the new table made by an earlier
    start, and without."""
    first, second = connect(), connect()
    setup = Cursor(first)
    setup.execute(OLD_TABLE_SQL)
    setup.execute(
        f"INSERT INTO {login_records.OLD_TABLE}"  # noqa: S608 - a constant
        " SELECT '@a:x', 'D' || n, 'm.login.password', 'aaaa0000', n"
        " FROM generate_series(1, 500) AS n"
    )
    if table_exists:
        for statement in login_records.schema(postgres=True):
            setup.execute(statement)
    first.commit()
    login_records.create_schema(setup, postgres=True)  # moves, and holds its transaction open
    outcome: list[object] = []

    def move_too() -> None:
        try:
            login_records.create_schema(Cursor(second), postgres=True)
            second.commit()
            outcome.append("moved")
        except psycopg2().Error as error:
            second.rollback()
            outcome.append(error)

    thread = threading.Thread(target=move_too)
    thread.start()
    thread.join(timeout=2)
    assert thread.is_alive()  # waiting for the first one
    first.commit()
    thread.join(timeout=30)
    assert len(outcome) == 1
    if outcome != ["moved"]:  # failed: the recorder tries again once
        login_records.create_schema(Cursor(second), postgres=True)
        second.commit()
    count = Cursor(second)
    count.execute(f"SELECT COUNT(*) FROM {login_records.TABLE}")  # noqa: S608 - a constant
    assert count.fetchall() == [(500,)]


def test_prune_batches(connect: Any) -> None:
    connection = connect()
    txn = Cursor(connection)
    login_records.create_schema(txn, postgres=True)
    txn.execute("CREATE TABLE devices (user_id TEXT, device_id TEXT)")
    count = login_records.PRUNE_BATCH + 5
    login_records.record_all(txn, [session("@a:x", f"D{n}", n) for n in range(count)])
    txn.execute("INSERT INTO devices VALUES ('@a:x', 'D3'), ('@a:x', 'D1004')")
    after, deleted = None, 0
    while True:
        batch_deleted, after = login_records.prune_batch(txn, 1000, after)
        deleted += batch_deleted
        if after is None:
            break
    # Older than 1000 ms and device gone: D0..D999 except D3.
    assert deleted == 999
    left = [row.device_id for row in login_records.select(txn, SessionFilter(), 20)]
    assert left[:2] == ["D3", "D1000"]
    assert len(login_records.select(txn, SessionFilter(), 10_000)) == 6
