"""Glue between :mod:`synapse_dp_auth.login_records` and Synapse's database, through the module API.

A login does not wait for the database: its record is queued in memory and every queued record
is written in one transaction each :data:`FLUSH_INTERVAL_MS`, and when Synapse shuts down
cleanly. One transaction per login cost about a tenth of the login throughput (measured with
``./tox.sh -e bench``); a batch costs a fraction of that. The price: a record reaches the table
up to that long after the login, and a process that crashes loses its queue (the "accepted" log
line of each login still names its device and secret). A listing made by this process writes
its own queue first. A write that fails is tried again with the next one, up to
:data:`FLUSH_ATTEMPTS` times and :data:`MAX_PENDING` records; what is then given up is logged
and counted (``synapse_dp_auth_login_records_lost_total``).

The table is created at start-up and, should a record or a listing come first, before that
statement; once per process, by every process, so a worker never depends on the main process
having started first. ``CREATE ... IF NOT EXISTS`` run by two processes at once can still fail
on PostgreSQL; the second attempt then finds the table.

Records of ended sessions older than ``login_records_retention_period`` are deleted by the
process that runs Synapse's background tasks, every :data:`PRUNE_INTERVAL_MS`, in short
transactions of :data:`~synapse_dp_auth.login_records.PRUNE_BATCH` records.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Literal

import attr
from synapse.logging.context import current_context
from synapse.module_api import ModuleApi
from synapse.storage.engines import PostgresEngine
from twisted.internet import reactor

from synapse_dp_auth import login_records
from synapse_dp_auth.metrics import LOGIN_RECORDS_LOST

logger = logging.getLogger(__name__)

#: How often queued records are written (milliseconds).
FLUSH_INTERVAL_MS = 1000

#: How many writes a record is part of before it is given up: with a write each
#: :data:`FLUSH_INTERVAL_MS`, a database that refuses writes for up to a minute loses nothing.
FLUSH_ATTEMPTS = 60

#: The most records held for another attempt; beyond it the oldest are given up (a database
#: that stays down must not make Synapse run out of memory).
MAX_PENDING = 100_000

#: How often records past their retention period are looked for (milliseconds).
PRUNE_INTERVAL_MS = 60 * 60 * 1000

#: Logins between Synapse's auth check and its creation of the device, at most (see
#: :class:`DeviceCheck`); a login that fails in between leaves its entry until pushed out.
_MAX_PENDING_LOGINS = 1000


def run_in_background(api: ModuleApi, desc: str, func: Callable[[], Awaitable[None]]) -> object:
    """``func`` as a Synapse background process, on every release this module supports.

    ``ModuleApi.run_as_background_process`` exists since Synapse 1.136; before it, modules used
    Synapse's own function, which then took no server name (tested by the version matrix).
    """
    run = getattr(api, "run_as_background_process", None)
    if run is not None:
        return run(desc, func)
    from synapse.metrics import background_process_metrics

    # Typed loosely: the installed Synapse may be a newer one whose function takes a server name.
    legacy: Callable[..., object] = background_process_metrics.run_as_background_process
    return legacy(desc, func)


def _create_schema(txn: Any) -> None:
    """:func:`login_records.create_schema` with the engine of this transaction (Synapse's
    ``LoggingTransaction.database_engine``)."""
    login_records.create_schema(txn, isinstance(txn.database_engine, PostgresEngine))


@attr.s(auto_attribs=True)
class _Pending:
    attempts: int
    batch: list[login_records.Session]


class SessionRecorder:
    def __init__(
        self, api: ModuleApi, now_msec: Callable[[], int], retention_ms: int | None
    ) -> None:
        self._api = api
        self._now_msec = now_msec
        self._retention_ms = retention_ms
        self._schema_ready = False
        self._queue: list[login_records.Session] = []
        self._retry: list[_Pending] = []

    def start(self) -> None:
        """Create the table now, write the queue periodically and at shutdown, prune."""
        run_in_background(self._api, "synapse_dp_auth_create_sessions_table", self._ensure_schema)
        self._api.looping_background_call(
            self.flush,
            FLUSH_INTERVAL_MS,
            desc="synapse_dp_auth_record_sessions",
            run_on_all_instances=True,
        )
        if self._retention_ms is not None:
            # Only on the process that runs Synapse's background tasks: one prune at a time.
            self._api.looping_background_call(
                self.prune, PRUNE_INTERVAL_MS, desc="synapse_dp_auth_prune_records"
            )
        # The homeserver's own reactor where it has one (Synapse's harness gives each test
        # homeserver its own, which the process-wide one would otherwise keep alive). Twisted
        # declares the method on an interface, which mypy reads with the wrong arity.
        get_reactor = getattr(getattr(self._api, "_hs", None), "get_reactor", lambda: reactor)
        add_trigger: Callable[..., object] = get_reactor().addSystemEventTrigger
        add_trigger(
            "before",
            "shutdown",
            run_in_background,
            self._api,
            "synapse_dp_auth_record_sessions",
            self._final_flush,
        )

    def record(self, session: login_records.Session) -> None:
        """Queue ``session``; costs the login nothing but a list append."""
        self._queue.append(session)

    async def flush(self) -> None:
        await self._flush(final=False)

    async def _final_flush(self) -> None:
        await self._flush(final=True)

    async def _flush(self, final: bool) -> None:
        pending, self._retry = self._retry, []
        if self._queue:
            pending.append(_Pending(0, self._queue))
            self._queue = []
        if not pending:
            return
        batch = [session for item in pending for session in item.batch]
        try:
            await self._ensure_schema()
            await self._api.run_db_interaction(
                "synapse_dp_auth_record_sessions", login_records.record_all, batch
            )
        except Exception:
            self._failed(pending, final)

    def _failed(self, pending: list[_Pending], final: bool) -> None:
        """Keep what may be tried again; log and count what is given up."""
        kept, lost = [], 0
        for item in pending:
            if final or item.attempts + 1 >= FLUSH_ATTEMPTS:
                lost += len(item.batch)
            else:
                kept.append(_Pending(item.attempts + 1, item.batch))
        kept += self._retry  # what a concurrent write put back meanwhile
        held = sum(len(item.batch) for item in kept)
        while kept and held > MAX_PENDING:
            oldest = kept.pop(0)
            held -= len(oldest.batch)
            lost += len(oldest.batch)
        self._retry = kept
        logger.warning(
            "synapse_dp_auth: could not record %d shared-secret login(s)%s",
            sum(len(item.batch) for item in pending),
            "" if final else "; trying again with the next write",
            exc_info=True,
        )
        if lost:
            LOGIN_RECORDS_LOST.inc(lost)
            logger.error(
                "synapse_dp_auth: gave up recording %d shared-secret login(s) (%s); their devices"
                " are named in the 'accepted' log lines",
                lost,
                "Synapse is stopping"
                if final
                else f"after {FLUSH_ATTEMPTS} attempts, or more than {MAX_PENDING} waiting",
            )

    async def select(
        self, which: login_records.SessionFilter, limit: int
    ) -> list[login_records.Session]:
        await self.flush()
        await self._ensure_schema()
        found: list[login_records.Session] = await self._api.run_db_interaction(
            "synapse_dp_auth_list_sessions", login_records.select, which, limit
        )
        return found

    async def device_exists(self, user_id: str, device_id: str) -> bool:
        exists: bool = await self._api.run_db_interaction(
            "synapse_dp_auth_device_exists", login_records.device_exists, user_id, device_id
        )
        return exists

    async def prune(self) -> int:
        """Delete the records of ended sessions older than the retention period, a batch per
        transaction; returns how many."""
        if self._retention_ms is None:
            return 0
        await self._ensure_schema()
        before_ts = self._now_msec() - self._retention_ms
        after: tuple[int, int] | None = None
        total = 0
        while True:
            deleted, after = await self._api.run_db_interaction(
                "synapse_dp_auth_prune_records", login_records.prune_batch, before_ts, after
            )
            total += deleted
            if after is None:
                break
        if total:
            logger.info(
                "synapse_dp_auth: deleted %d record(s) of shared-secret logins whose devices are"
                " gone, older than login_records_retention_period",
                total,
            )
        return total

    async def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        try:
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", _create_schema
            )
        except Exception:
            logger.info(
                "synapse_dp_auth: creating table %s failed (another Synapse process may be"
                " creating it at the same time); trying again",
                login_records.TABLE,
                exc_info=True,
            )
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", _create_schema
            )
        self._schema_ready = True


@attr.s(auto_attribs=True)
class _Login:
    request: object
    user_id: str
    created_device: bool | None = None


class DeviceCheck:
    """Whether a shared-secret login created its device or reused one that existed.

    A login may name a ``device_id``; Synapse then reuses that device if the user has it (their
    phone, say, with its encryption keys). Synapse tells a password-auth checker nothing of the
    device, so this uses its ``check_login_for_spam`` callback (Synapse 1.87 and later), which
    Synapse calls for every login after auth and before it creates the device, with the device
    ID the client asked for. The three steps of one login (auth, this check, the post-login
    callback) are matched by the request that Synapse's logging context carries (the same object
    in the request's context and the contexts Synapse nests in it, e.g. to time a callback);
    where anything does not match, or on an older Synapse, the answer is ``None``: not known.
    """

    def __init__(self, recorder: SessionRecorder) -> None:
        self._recorder = recorder
        self._logins: dict[int, _Login] = {}

    @staticmethod
    def supported(api: ModuleApi) -> bool:
        import inspect

        register = api.register_spam_checker_callbacks
        return "check_login_for_spam" in inspect.signature(register).parameters

    def register(self, api: ModuleApi) -> None:
        """Have Synapse call :meth:`check_login_for_spam`, where it can."""
        if self.supported(api):
            api.register_spam_checker_callbacks(check_login_for_spam=self.check_login_for_spam)

    def expect(self, user_id: str) -> None:
        """The module has just accepted a login as ``user_id`` in this request."""
        request = _current_request()
        if request is None:
            return
        self._logins.pop(id(request), None)
        while len(self._logins) >= _MAX_PENDING_LOGINS:
            del self._logins[next(iter(self._logins))]
        self._logins[id(request)] = _Login(request, user_id)

    async def check_login_for_spam(
        self,
        user_id: str,
        device_id: str | None,
        initial_display_name: str | None,
        request_info: Collection[tuple[str | None, str]],
        auth_provider_id: str | None,
    ) -> Literal["NOT_SPAM"]:
        """Called by Synapse for every login; looks the device up only for the module's own."""
        login = self._login(user_id)
        if login is not None:
            if device_id is None:
                login.created_device = True  # Synapse makes up a new ID
            else:
                try:
                    login.created_device = not await self._recorder.device_exists(
                        user_id, device_id
                    )
                except Exception:
                    logger.warning(
                        "synapse_dp_auth: could not tell whether a login as %s creates its device",
                        user_id,
                        exc_info=True,
                    )
        return "NOT_SPAM"

    def created_device(self, user_id: str) -> bool | None:
        """Whether the login being completed in this request created its device (``None``: not
        known); forgets the login."""
        login = self._login(user_id)
        if login is None:
            return None
        del self._logins[id(login.request)]
        return login.created_device

    def _login(self, user_id: str) -> _Login | None:
        request = _current_request()
        login = self._logins.get(id(request))
        if login is None or login.request is not request or login.user_id != user_id:
            return None
        return login


def _current_request() -> object:
    """The request Synapse's current logging context is for (``None`` outside one)."""
    return getattr(current_context(), "request", None)
