"""The admin-only web resource that lists recorded shared-secret logins.

``GET /_synapse/client/synapse_dp_auth/v1/sessions`` (query parameters ``fingerprint``,
``user_id``, ``since_ts``) with a server admin's access token answers
``{"sessions": [...], "configured_fingerprints": [...]}``, oldest first, at most
:data:`~synapse_dp_auth.login_records.MAX_ROWS` of them; where more match, the answer also holds
``next_token``, to be sent back as ``from`` for the next ones (as Synapse's admin API pages). The
admin command line reads it, so the command line never needs the database; it ends sessions
through Synapse's own admin API.
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
        page_size = login_records.MAX_ROWS
        found = await self._recorder.select(which, page_size + 1)
        answer: dict[str, Any] = {
            "sessions": [session.to_json() for session in found[:page_size]],
            "configured_fingerprints": self._configured_fingerprints,
        }
        if len(found) > page_size:
            answer["next_token"] = str(which.start + page_size)
        return 200, answer
