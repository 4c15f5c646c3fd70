"""The admin-only web resource that lists recorded shared-secret logins.

``GET /_synapse/client/synapse_dp_auth/v1/sessions`` (query parameters ``fingerprint``,
``user_id``, ``since_ts``) with a server admin's access token answers
``{"sessions": [...], "configured_fingerprints": [...]}``, oldest first, at most
:data:`~synapse_dp_auth.login_records.MAX_ROWS` of them and
:data:`~synapse_dp_auth.login_records.MAX_ANSWER_BYTES` in all; where more match, the answer also
holds ``next_token``, to be sent back as ``from`` for the next ones (as Synapse's admin API
pages). The admin command line reads it, so the command line never needs the database; it ends
sessions through Synapse's own admin API.

Synapse serves a module's resource on every HTTP listener of every process that loads the module
(federation and replication listeners included), so this one checks its requester itself: a
server admin's own access token, never an application service's (whose ``as_token`` with
``?user_id=`` would otherwise act as any admin in its namespace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synapse.module_api import DirectServeJsonResource, ModuleApi, SynapseRequest
from synapse.module_api.errors import SynapseError

from synapse_dp_auth import login_records
from synapse_dp_auth.login_recorder import SessionRecorder

PATH = login_records.ADMIN_PATH

# The error codes are spelled out: ``synapse.module_api.errors.Codes`` exists only since Synapse
# 1.60, and the floor is older.


class SessionsResource(DirectServeJsonResource):
    def __init__(
        self, api: ModuleApi, recorder: SessionRecorder, configured_fingerprints: Sequence[str]
    ) -> None:
        super().__init__()
        self._api = api
        self._recorder = recorder
        self._configured_fingerprints = list(configured_fingerprints)

    async def _async_render_GET(self, request: SynapseRequest) -> tuple[int, dict[str, Any]]:
        requester = await self._api.get_user_by_req(request)
        if _acts_for_an_appservice(requester):
            raise SynapseError(
                403,
                "Application services cannot list shared-secret sessions: use a server admin's"
                " own access token",
                "M_FORBIDDEN",
            )
        if not await self._api.is_user_admin(requester.user.to_string()):
            raise SynapseError(403, "You are not a server admin", "M_FORBIDDEN")
        try:
            which = login_records.parse_filter(
                {
                    key.decode("utf-8"): [value.decode("utf-8") for value in values]
                    for key, values in (request.args or {}).items()
                }
            )
        except (login_records.FilterError, UnicodeDecodeError) as error:
            raise SynapseError(400, str(error), "M_INVALID_PARAM") from None
        page_rows = login_records.MAX_ROWS
        found = await self._recorder.select(which, page_rows + 1)
        return 200, login_records.answer_page(found, self._configured_fingerprints, page_rows)


def _acts_for_an_appservice(requester: object) -> bool:
    """Whether the request was made with an application service's token. Synapse's requester
    names it ``app_service_id`` (1.140 and later, in Rust) or ``app_service`` (before); where it
    has neither, this cannot tell, and says yes: the resource then refuses (fails closed)."""
    for name in ("app_service_id", "app_service"):
        if hasattr(requester, name):
            return getattr(requester, name) is not None
    return True
