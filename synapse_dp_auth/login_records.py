"""The record of shared-secret logins, so that an admin can find and end what a secret created.

One row per successful login: who, which device, whether the login created that device, which
login type, which configured secret (by fingerprint, :func:`synapse_dp_auth.token.
secret_fingerprint`) and when; never the token. The table lives in Synapse's own database, so the
main process and its workers share it. Every statement here is valid on SQLite and PostgreSQL
(Synapse turns the ``?`` placeholders into what its database driver expects), except the one
column definition that differs (:func:`schema`). The functions take a DB-API cursor (Synapse's
transaction, or ``sqlite3`` in tests) and nothing else: no Synapse import. Two statements read
Synapse's own ``devices`` table (``user_id``, ``device_id``: its primary key since 2016).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attr

TABLE = "synapse_dp_auth_logins"

#: The table of earlier versions of the module (no ``id``, no ``created_device``): its rows are
#: moved into :data:`TABLE` at start-up, and it is dropped.
OLD_TABLE = "synapse_dp_auth_sessions"

#: Where the module lists the records to server admins
#: (:mod:`synapse_dp_auth.login_records_resource`).
ADMIN_PATH = "/_synapse/client/synapse_dp_auth/v1/sessions"

#: The most rows one answer of a listing holds; it then says where the next one starts (a
#: ``next_token``), so a flood of logins cannot hide sessions from a revocation.
MAX_ROWS = 10_000

#: The most bytes one answer of a listing takes as JSON: the server stops adding rows before it
#: would be larger, and the command line reads no more than this. At about 200 bytes a row, a
#: full page of :data:`MAX_ROWS` rows takes half of it; a page of the longest rows Synapse allows
#: (255-character user IDs, 512-character device IDs, each character escaped) is cut by bytes.
MAX_ANSWER_BYTES = 4 << 20

#: The largest ``BIGINT``: a larger ``since_ts`` or record ID would make the database raise.
_MAX_BIGINT = 2**63 - 1

#: A ``next_token``: the login time and record ID of the last row of the previous page.
_TOKEN = re.compile(r"([0-9]{1,19})_([0-9]{1,19})")


def schema(postgres: bool) -> tuple[str, ...]:
    """The table and its indexes. Each index serves one filter in the listing's order
    (``logged_in_ts, id``), so a page is read from an index, never sorted from the whole table.

    ``created_device`` is ``NULL`` for records moved from :data:`OLD_TABLE` and where Synapse
    cannot tell (before 1.87, see :mod:`synapse_dp_auth.login_recorder`).
    """
    # The one difference: an ID the database assigns.
    id_column = "id BIGSERIAL PRIMARY KEY" if postgres else "id INTEGER PRIMARY KEY"
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        f" {id_column},"
        " user_id TEXT NOT NULL,"
        " device_id TEXT NOT NULL,"
        " login_type TEXT NOT NULL,"
        " secret_fingerprint TEXT NOT NULL,"
        " logged_in_ts BIGINT NOT NULL,"
        " created_device BOOLEAN)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (logged_in_ts, id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_fingerprint"
        f" ON {TABLE} (secret_fingerprint, logged_in_ts, id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_user ON {TABLE} (user_id, logged_in_ts, id)",
    )


class Cursor(Protocol):
    """What is needed of a database cursor: Synapse's ``LoggingTransaction`` has it."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    @property
    def rowcount(self) -> int: ...


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Session:
    """One shared-secret login. ``logged_in_ts`` is in milliseconds since the epoch;
    ``created_device`` is ``None`` where it is not known; ``record_id`` is the database's
    (``None`` until written)."""

    user_id: str
    device_id: str
    login_type: str
    secret_fingerprint: str
    logged_in_ts: int
    created_device: bool | None = None
    record_id: int | None = attr.ib(default=None, eq=False)

    def to_json(self) -> dict[str, Any]:
        return attr.asdict(self, filter=lambda field, _: field.name != "record_id")


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class SessionFilter:
    """Which sessions a listing returns: the filters (``None`` means any), and where a page
    starts (``after``: the login time and record ID of the previous page's last row)."""

    secret_fingerprint: str | None = None
    user_id: str | None = None
    since_ts: int | None = None
    after: tuple[int, int] | None = None


class FilterError(ValueError):
    """A listing's query parameters are not valid; the message says which and why."""


def parse_filter(args: Mapping[str, Sequence[str]]) -> SessionFilter:
    """The filter from a listing's query parameters (``fingerprint``, ``user_id``, ``since_ts``,
    and ``from``: the ``next_token`` of the previous answer).

    Raises:
        FilterError: for a repeated or unknown parameter, a ``since_ts`` or ``from`` that is not a
            number (or pair of numbers) a ``BIGINT`` holds, however many digits it has, or a value
            with a NUL character (PostgreSQL's text cannot hold one).
    """
    # access_token is Synapse's: its auth takes a token from the query string too.
    given_args = {name: given for name, given in args.items() if name != "access_token"}
    unknown = sorted(set(given_args) - {"fingerprint", "user_id", "since_ts", "from"})
    if unknown:
        raise FilterError(f"unknown query parameter {unknown[0]!r}")
    values: dict[str, str] = {}
    for name, given in given_args.items():
        if len(given) != 1:
            raise FilterError(f"give {name} once")
        if "\x00" in given[0]:
            raise FilterError(f"{name} must not contain a NUL character")
        values[name] = given[0]
    since = values.get("since_ts")
    if since is not None and not _is_bigint(since):
        raise FilterError("since_ts must be milliseconds since the epoch")
    after = None
    if "from" in values:
        after = parse_token(values["from"])
        if after is None:
            raise FilterError("from must be the next_token of the previous answer")
    return SessionFilter(
        secret_fingerprint=values.get("fingerprint"),
        user_id=values.get("user_id"),
        since_ts=int(since) if since is not None else None,
        after=after,
    )


def _is_bigint(text: str) -> bool:
    """Whether ``text`` is a whole number from 0 that a ``BIGINT`` column or parameter takes.

    The length is checked first: ``int()`` of thousands of digits raises (Python limits it) and
    costs time quadratic in the length.
    """
    return len(text) <= 19 and text.isascii() and text.isdigit() and int(text) <= _MAX_BIGINT


def next_token(session: Session) -> str:
    """Where the page after ``session`` (a row read from the table) starts."""
    if session.record_id is None:
        raise ValueError("a session not read from the table has no place in a listing")
    return f"{session.logged_in_ts}_{session.record_id}"


def parse_token(text: str) -> tuple[int, int] | None:
    """The (login time, record ID) of a :func:`next_token`, or ``None`` if it is not one."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    key = int(match[1]), int(match[2])
    return key if max(key) <= _MAX_BIGINT else None


def create_schema(txn: Cursor, postgres: bool) -> None:
    """Create the table where missing, and move the records of earlier versions into it.

    Run in one transaction by every process at start-up. Two processes moving at once cannot
    copy twice: the second one's read of the old table waits for the first one's ``DROP`` and
    then fails (PostgreSQL), and the caller tries again.
    """
    for statement in schema(postgres):
        txn.execute(statement)
    if postgres:
        txn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
            [OLD_TABLE],
        )
    else:
        txn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [OLD_TABLE])
    if not txn.fetchall():
        return
    columns = "user_id, device_id, login_type, secret_fingerprint, logged_in_ts"
    txn.execute(
        f"INSERT INTO {TABLE} ({columns})"  # noqa: S608 - constants only
        f" SELECT {columns} FROM {OLD_TABLE} ORDER BY logged_in_ts"
    )
    txn.execute(f"DROP TABLE {OLD_TABLE}")


#: Rows per ``INSERT`` statement: 6 parameters each stays under SQLite's oldest limit of 999.
INSERT_ROWS = 100


def record_all(txn: Cursor, batch: Sequence[Session]) -> None:
    """Insert every session of ``batch``, up to :data:`INSERT_ROWS` rows per statement.

    One multi-row ``INSERT`` rather than one per row: each statement costs a round trip and
    Synapse's per-statement bookkeeping, which one per login made visible in the benchmark.
    """
    for start in range(0, len(batch), INSERT_ROWS):
        chunk = batch[start : start + INSERT_ROWS]
        txn.execute(
            f"INSERT INTO {TABLE}"  # noqa: S608 - constants; the values go as parameters
            " (user_id, device_id, login_type, secret_fingerprint, logged_in_ts, created_device)"
            " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
            [
                value
                for session in chunk
                for value in (
                    session.user_id,
                    session.device_id,
                    session.login_type,
                    session.secret_fingerprint,
                    session.logged_in_ts,
                    session.created_device,
                )
            ],
        )


def select(txn: Cursor, which: SessionFilter, limit: int) -> list[Session]:
    """The sessions ``which`` matches, oldest first, after its ``after``; at most ``limit``.

    Keyset pagination: each page starts where the last one ended, read from an index in order,
    so a page costs the same however far into the listing it is.
    """
    conditions, parameters = [], []
    for column, value in (
        ("secret_fingerprint = ?", which.secret_fingerprint),
        ("user_id = ?", which.user_id),
        ("logged_in_ts >= ?", which.since_ts),
    ):
        if value is not None:
            conditions.append(column)
            parameters.append(value)
    if which.after is not None:
        conditions.append("(logged_in_ts, id) > (?, ?)")
        parameters.extend(which.after)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    txn.execute(
        "SELECT id, user_id, device_id, login_type, secret_fingerprint, logged_in_ts,"  # noqa: S608
        # (only constants and "?" conditions are formatted in; the values go as parameters)
        f" created_device FROM {TABLE}{where} ORDER BY logged_in_ts, id LIMIT ?",
        [*parameters, limit],
    )
    return [
        Session(
            record_id=int(row[0]),
            user_id=row[1],
            device_id=row[2],
            login_type=row[3],
            secret_fingerprint=row[4],
            logged_in_ts=int(row[5]),
            created_device=None if row[6] is None else bool(row[6]),
        )
        for row in txn.fetchall()
    ]


def answer_page(
    found: Sequence[Session], configured_fingerprints: Sequence[str], page_rows: int
) -> dict[str, Any]:
    """A listing's answer from the rows :func:`select` found (asked for ``page_rows + 1``, to
    know whether more follow): the first ``page_rows`` of them at most, fewer where the answer
    would take more than :data:`MAX_ANSWER_BYTES` as JSON, and a ``next_token`` where more follow.

    Sizes are counted as ``json.dumps`` writes them, ASCII-escaped and with spaces, which is never
    shorter than what Synapse sends. A single row is always included, so a page moves on.
    """
    answer: dict[str, Any] = {
        "sessions": [],
        "configured_fingerprints": list(configured_fingerprints),
    }
    # Room for `, "next_token": "<19 digits>_<19 digits>"`, whether or not it comes.
    size = len(json.dumps(answer)) + len(json.dumps({"next_token": "0" * 39}))
    rows: list[dict[str, Any]] = []
    for session in found[:page_rows]:
        row = session.to_json()
        row_size = len(json.dumps(row)) + len(", ")
        if rows and size + row_size > MAX_ANSWER_BYTES:
            break
        size += row_size
        rows.append(row)
    answer["sessions"] = rows
    if len(rows) < len(found):
        answer["next_token"] = next_token(found[len(rows) - 1])
    return answer


def device_exists(txn: Cursor, user_id: str, device_id: str) -> bool:
    """Whether Synapse has this device (its ``devices`` table; hidden devices count too, as
    Synapse will not create a device whose ID one of them holds)."""
    txn.execute("SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?", [user_id, device_id])
    return bool(txn.fetchall())


#: Records looked at per transaction of a prune: each transaction stays short, so logins and
#: Synapse's own queries never wait long for the database (SQLite has one connection).
PRUNE_BATCH = 1000


def prune_batch(
    txn: Cursor, before_ts: int, after: tuple[int, int] | None
) -> tuple[int, tuple[int, int] | None]:
    """Delete, of the next :data:`PRUNE_BATCH` records logged in before ``before_ts`` (after
    ``after`` in the listing's order), those whose device no longer exists.

    A record of a device that still exists is kept whatever its age: it is what a revocation
    needs. Returns how many were deleted and where the next batch starts (``None``: done).
    """
    conditions, parameters = ["logged_in_ts < ?"], [before_ts]
    if after is not None:
        conditions.append("(logged_in_ts, id) > (?, ?)")
        parameters.extend(after)
    where = " AND ".join(conditions)
    txn.execute(
        f"SELECT logged_in_ts, id FROM {TABLE} WHERE {where}"  # noqa: S608 - constants only
        " ORDER BY logged_in_ts, id LIMIT ?",
        [*parameters, PRUNE_BATCH],
    )
    keys = txn.fetchall()
    if not keys:
        return 0, None
    last = (int(keys[-1][0]), int(keys[-1][1]))
    txn.execute(
        f"DELETE FROM {TABLE} WHERE {where} AND (logged_in_ts, id) <= (?, ?)"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM devices WHERE devices.user_id = {TABLE}.user_id"
        f" AND devices.device_id = {TABLE}.device_id)",
        [*parameters, *last],
    )
    return max(txn.rowcount, 0), last if len(keys) == PRUNE_BATCH else None
