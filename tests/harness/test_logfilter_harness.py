"""The log filter in Synapse's harness: the lines of Synapse's own loggers that quote
user-interactive auth input are blanked with the module loaded."""

from __future__ import annotations

import logging
from typing import Any

from harness_support import USER_PASSWORD, ModuleTestCase

from synapse_dp_auth.logfilter import REDACTED


class ThreepidCredsLinesTests(ModuleTestCase):
    """Synapse logs a UIA stage's ``threepid_creds`` at INFO, as sent, in several places.

    Synapse runs the checker of whatever stage type the client names, offered or not, once email
    is configured; a token sent there would be quoted in the lines.
    """

    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["email"] = {"notif_from": "Synapse <synapse@example.org>", "smtp_host": "127.0.0.1"}
        return config

    def test_token_in_threepid_creds_is_blanked(self) -> None:
        access_token = self.login(self.alice, USER_PASSWORD)
        token = self.token_for(self.alice)
        auth = {
            "type": "m.login.email.identity",
            "threepid_creds": {"sid": token, "client_secret": "x"},
        }
        name = "synapse.handlers.ui_auth.checkers"
        with self.captured_logs(name) as logs:
            channel = self.make_request(
                "POST",
                "/_matrix/client/v3/delete_devices",
                {"devices": [], "auth": auth},
                access_token=access_token,
            )
        self.assertEqual(channel.code, 401, channel.json_body)
        lines = [line for line in logs.messages(name) if "threepidcreds" in line]
        self.assertEqual(len(lines), 1, logs.messages(name))
        self.assertNotIn(token, lines[0])
        self.assertIn(REDACTED, lines[0])

    def test_identity_server_lines_are_filtered(self) -> None:
        """Where Synapse checks ``threepid_creds`` with an identity server it quotes them twice:
        the creds (``synapse.handlers.identity``) and the request URI (``synapse.http.client``).
        Synapse's own format strings, logged through its loggers with the module loaded."""
        token = self.token_for(self.alice)
        creds = {"sid": token, "client_secret": "x"}
        uri = f"https://id.example.org/_matrix/identity/api/v1/3pid/getValidated3pid?sid={token}"
        server = "https://id.example.org"
        lines: list[tuple[str, str, tuple[object, ...]]] = [
            (
                "synapse.handlers.identity",
                "%s returned %i for threepid validation for: %s",
                (server, 404, creds),
            ),
            (
                "synapse.handlers.identity",
                "%s reported non-validated threepid: %s",
                (server, creds),
            ),
            ("synapse.http.client", "Received response to %s %s: %s", ("GET", uri, 200)),
        ]
        for name, line, args in lines:
            with self.captured_logs(name) as logs:
                logging.getLogger(name).info(line, *args)
            (message,) = logs.messages(name)
            self.assertNotIn(token, message)
            self.assertIn(REDACTED, message)
