"""Glue between :mod:`synapse_dp_auth.login_records` and Synapse's database, through the module
API.

A login does not wait for the database: its record is queued in memory and every queued record
is written in one transaction each :data:`FLUSH_INTERVAL_MS`, and when Synapse shuts down
cleanly. One transaction per login cost about a tenth of the login throughput (measured with
``./tox.sh -e bench``); a batch costs a fraction of that. The price: a record reaches the table
up to that long after the login, and a process that crashes loses its queue (the "accepted" log
line of each login still names its device and secret). A listing made by this process writes
its own queue first.

The table is created at start-up and, should a record or a listing come first, before that
statement; once per process, by every process, so a worker never depends on the main process
having started first. ``CREATE ... IF NOT EXISTS`` run by two processes at once can still fail
on PostgreSQL; the second attempt then finds the table.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from synapse.module_api import ModuleApi
from twisted.internet import reactor

from synapse_dp_auth import login_records

logger = logging.getLogger(__name__)

#: How often queued records are written (milliseconds).
FLUSH_INTERVAL_MS = 1000


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


class SessionRecorder:
    def __init__(self, api: ModuleApi) -> None:
        self._api = api
        self._schema_ready = False
        self._queue: list[login_records.Session] = []

    def start(self) -> None:
        """Create the table now, write the queue periodically and at shutdown."""
        run_in_background(self._api, "synapse_dp_auth_create_sessions_table", self._ensure_schema)
        self._api.looping_background_call(
            self.flush,
            FLUSH_INTERVAL_MS,
            desc="synapse_dp_auth_record_sessions",
            run_on_all_instances=True,
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
            self.flush,
        )

    def record(self, session: login_records.Session) -> None:
        """Queue ``session``; costs the login nothing but a list append."""
        self._queue.append(session)

    async def flush(self) -> None:
        if not self._queue:
            return
        batch, self._queue = self._queue, []
        try:
            await self._ensure_schema()
            await self._api.run_db_interaction(
                "synapse_dp_auth_record_sessions", login_records.record_all, batch
            )
        except Exception:
            logger.exception(
                "synapse_dp_auth: could not record %d shared-secret login(s); their devices are"
                " named in the 'accepted' log lines",
                len(batch),
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

    async def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        try:
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", login_records.create_schema
            )
        except Exception:
            logger.info(
                "synapse_dp_auth: creating table %s failed (another Synapse process may be"
                " creating it at the same time); trying again",
                login_records.TABLE,
                exc_info=True,
            )
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", login_records.create_schema
            )
        self._schema_ready = True
