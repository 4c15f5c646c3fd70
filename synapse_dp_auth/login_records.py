"""The record of shared-secret logins, so that an admin can find and end what a secret created.

One row per successful login: who, which device, which login type, which configured secret (by
fingerprint, :func:`synapse_dp_auth.token.secret_fingerprint`) and when; never the token. The
table lives in Synapse's own database, so the main process and its workers share it, and every
statement here is valid on SQLite and PostgreSQL (Synapse turns the ``?`` placeholders into what
its database driver expects). The functions take a DB-API cursor (Synapse's transaction, or
``sqlite3`` in tests) and nothing else: no Synapse import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attr

TABLE = "synapse_dp_auth_sessions"

#: Where the module lists the records to server admins
#: (:mod:`synapse_dp_auth.login_records_resource`).
ADMIN_PATH = "/_synapse/client/synapse_dp_auth/v1/sessions"

SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " user_id TEXT NOT NULL,"
    " device_id TEXT NOT NULL,"
    " login_type TEXT NOT NULL,"
    " secret_fingerprint TEXT NOT NULL,"
    " logged_in_ts BIGINT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_fingerprint ON {TABLE} (secret_fingerprint, logged_in_ts)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_user ON {TABLE} (user_id, logged_in_ts)",
)

#: The most rows one answer of a listing holds; it then says where the next one starts, so a
#: flood of logins cannot hide sessions from a revocation.
MAX_ROWS = 10_000

#: The largest ``BIGINT``: a larger ``since_ts`` would make the database raise (a 500).
_MAX_TS = 2**63 - 1


class Cursor(Protocol):
    """What is needed of a database cursor: Synapse's ``LoggingTransaction`` has it."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Session:
    """One shared-secret login. ``logged_in_ts`` is in milliseconds since the epoch."""

    user_id: str
    device_id: str
    login_type: str
    secret_fingerprint: str
    logged_in_ts: int

    def to_json(self) -> dict[str, Any]:
        return attr.asdict(self)


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class SessionFilter:
    """Which sessions a listing returns: the filters (``None`` means any), and how many of the
    matching sessions, oldest first, to skip (``start``: a page of a listing that had more)."""

    secret_fingerprint: str | None = None
    user_id: str | None = None
    since_ts: int | None = None
    start: int = 0


class FilterError(ValueError):
    """A listing's query parameters are not valid; the message says which and why."""


def parse_filter(args: Mapping[str, Sequence[str]]) -> SessionFilter:
    """The filter from a listing's query parameters (``fingerprint``, ``user_id``, ``since_ts``,
    and ``from``: the ``next_token`` of the previous answer).

    Raises:
        FilterError: for a repeated or unknown parameter, a ``since_ts`` or ``from`` that is not a
            number a ``BIGINT`` holds, or a value with a NUL character (PostgreSQL's text cannot
            hold one).
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
    start = values.get("from", "0")
    if not _is_bigint(start):
        raise FilterError("from must be the next_token of the previous answer")
    return SessionFilter(
        secret_fingerprint=values.get("fingerprint"),
        user_id=values.get("user_id"),
        since_ts=int(since) if since is not None else None,
        start=int(start),
    )


def _is_bigint(text: str) -> bool:
    """Whether ``text`` is a whole number from 0 that a ``BIGINT`` column or parameter takes."""
    return text.isascii() and text.isdigit() and int(text) <= _MAX_TS


def create_schema(txn: Cursor) -> None:
    for statement in SCHEMA:
        txn.execute(statement)


#: Rows per ``INSERT`` statement: 5 parameters each stays under SQLite's oldest limit of 999.
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
            " (user_id, device_id, login_type, secret_fingerprint, logged_in_ts) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
            [
                value
                for session in chunk
                for value in (
                    session.user_id,
                    session.device_id,
                    session.login_type,
                    session.secret_fingerprint,
                    session.logged_in_ts,
                )
            ],
        )


def select(txn: Cursor, which: SessionFilter, limit: int) -> list[Session]:
    """The sessions ``which`` matches, oldest first, from its ``start``; at most ``limit``."""
    conditions, parameters = [], []
    for column, value in (
        ("secret_fingerprint = ?", which.secret_fingerprint),
        ("user_id = ?", which.user_id),
        ("logged_in_ts >= ?", which.since_ts),
    ):
        if value is not None:
            conditions.append(column)
            parameters.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    txn.execute(
        "SELECT user_id, device_id, login_type, secret_fingerprint, logged_in_ts"  # noqa: S608
        # (only constants and "?" conditions are formatted in; the values go as parameters)
        f" FROM {TABLE}{where} ORDER BY logged_in_ts, user_id, device_id LIMIT ? OFFSET ?",
        [*parameters, limit, which.start],
    )
    return [
        Session(
            user_id=row[0],
            device_id=row[1],
            login_type=row[2],
            secret_fingerprint=row[3],
            logged_in_ts=int(row[4]),
        )
        for row in txn.fetchall()
    ]
