"""Glue between :mod:`synapse_dp_auth.sessions` and Synapse's database, through the module API.

The table is created at start-up (in the background, as Synapse starts) and, should a login or a
listing come first, before that statement; once per process, by every process, so a worker never
depends on the main process having started first. ``CREATE ... IF NOT EXISTS`` run by two
processes at once can still fail on PostgreSQL; the second attempt then finds the table.
"""

from __future__ import annotations

import logging

from synapse.module_api import ModuleApi

from synapse_dp_auth import sessions

logger = logging.getLogger(__name__)


class SessionRecorder:
    def __init__(self, api: ModuleApi) -> None:
        self._api = api
        self._schema_ready = False

    def create_schema_in_background(self) -> None:
        self._api.run_as_background_process(
            "synapse_dp_auth_create_sessions_table", self._ensure_schema
        )

    async def record(self, session: sessions.Session) -> None:
        await self._ensure_schema()
        await self._api.run_db_interaction(
            "synapse_dp_auth_record_session", sessions.record, session
        )

    async def select(self, which: sessions.SessionFilter) -> list[sessions.Session]:
        await self._ensure_schema()
        found: list[sessions.Session] = await self._api.run_db_interaction(
            "synapse_dp_auth_list_sessions", sessions.select, which
        )
        return found

    async def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        try:
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", sessions.create_schema
            )
        except Exception:
            logger.info(
                "synapse_dp_auth: creating table %s failed (another Synapse process may be"
                " creating it at the same time); trying again",
                sessions.TABLE,
                exc_info=True,
            )
            await self._api.run_db_interaction(
                "synapse_dp_auth_create_sessions_table", sessions.create_schema
            )
        self._schema_ready = True
