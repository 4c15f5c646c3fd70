"""What :class:`~synapse_dp_auth.admin.shared.client.HomeserverClient` returns for a login and a
``whoami``: the server's answer, never the token sent or received.

``describe`` puts each answer in one line for a report, with the server's words escaped and
bounded (:func:`~synapse_dp_auth.admin.shared.server_text.server_text`).
"""

from __future__ import annotations

import attr

from synapse_dp_auth.admin.shared.server_text import server_text


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class LoginOutcome:
    """The server's answer to one ``POST /login`` (the access token is never kept here)."""

    status: int
    errcode: str | None = None
    error: str | None = None
    user_id: str | None = None
    retry_after_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def describe(self) -> str:
        """One line for the report; the server's words in it are escaped and bounded."""
        if self.ok:
            return f"logged in as {server_text(self.user_id or '?')}"
        parts = [f"HTTP {self.status}"]
        if self.errcode:
            parts.append(server_text(self.errcode))
        text = " ".join(parts)
        return f"{text}: {server_text(self.error)}" if self.error else text

    @property
    def unknown_login_type(self) -> bool:
        return self.status == 400 and "unknown login type" in (self.error or "").lower()

    @property
    def password_login_disabled(self) -> bool:
        return (
            self.status == 400 and "password login has been disabled" in (self.error or "").lower()
        )


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class WhoamiOutcome:
    """The server's answer to ``GET /account/whoami`` (the token asked with is not kept here)."""

    status: int
    errcode: str | None = None
    error: str | None = None
    user_id: str | None = None
    #: The device of the token: a user's access token has one, an ``as_token`` none.
    device_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.user_id is not None

    def describe(self) -> str:
        """One line for the report; the server's words in it are escaped and bounded."""
        if self.ok:
            return f"HTTP 200: {server_text(self.user_id or '?')}"
        parts = [f"HTTP {self.status}"]
        if self.errcode:
            parts.append(server_text(self.errcode))
        text = " ".join(parts)
        return f"{text}: {server_text(self.error)}" if self.error else text
