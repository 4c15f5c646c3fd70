"""A base for tests in Synapse's own harness (tests/harness/): a real homeserver in-process, our
module loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar, cast

from constants import DEVTURE, MODULE, SECRET
from parameterized import parameterized
from synapse.rest import admin
from synapse.rest.client import account, devices, login

from synapse_dp_auth.token import make_token
from testbed.harness import HARNESS_STARTS_MODULES, start_modules_like_synapse

# Synapse's harness, with a clear error when it is missing or our tests/ hides it.
try:
    from tests import unittest
except ImportError as error:  # pragma: no cover - only on a broken set-up
    raise ImportError(
        f"Synapse's test harness is not importable ({error}): run"
        " `python scripts/fetch_synapse_harness.py` in this environment (tox does it for you)"
    ) from None
if not hasattr(unittest, "HomeserverTestCase"):  # pragma: no cover
    raise ImportError(
        f"`tests.unittest` is {unittest.__file__}, not Synapse's harness: our tests/ folders must"
        " have no __init__.py, and the harness must be on sys.path"
    )

USER_PASSWORD = "alice's own password"


F = TypeVar("F", bound=Callable[..., Any])


def expand(cases: Sequence[tuple[Any, ...]]) -> Callable[[F], F]:
    """``parameterized.expand`` (untyped) with a type, so test functions stay typed."""
    return cast(Callable[[F], F], parameterized.expand(cases))


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, name_prefix: str = "") -> list[str]:
        return [r.getMessage() for r in self.records if r.name.startswith(name_prefix)]


class ModuleTestCase(unittest.HomeserverTestCase):
    """Each subclass sets ``module_config`` (``None``: the module is not loaded at all)."""

    servlets: ClassVar[list[Any]] = [
        admin.register_servlets,
        login.register_servlets,
        devices.register_servlets,
        account.register_servlets,
    ]
    module_config: ClassVar[dict[str, Any] | None] = {"shared_secret": SECRET}

    def default_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().default_config()
        if self.module_config is not None:
            config.setdefault("modules", [{"module": MODULE, "config": dict(self.module_config)}])
        # Many logins from one address in a test; Synapse would answer 429.
        config["rc_login"] = {
            kind: {"per_second": 1000, "burst_count": 1000}
            for kind in ("address", "account", "failed_attempts")
        }
        return config

    def setup_test_homeserver(self, *args: Any, **kwargs: Any) -> Any:
        hs = super().setup_test_homeserver(*args, **kwargs)
        if not HARNESS_STARTS_MODULES:
            start_modules_like_synapse(hs)
        return hs

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        self.alice = self.register_user("alice", USER_PASSWORD)

    def post_login(self, body: dict[str, Any]) -> Any:
        return self.make_request("POST", "/_matrix/client/v3/login", body)

    def login_body(
        self, login_type: str, user: Any, token: Any, field: str | None = None
    ) -> dict[str, Any]:
        """A login as the bridges send it: ``identifier`` with the full user ID, a device ID."""
        field = field or ("token" if login_type == DEVTURE else "password")
        return {
            "type": login_type,
            "identifier": {"type": "m.id.user", "user": user},
            field: token,
            "device_id": "BRIDGE",
            "initial_device_display_name": "Test Bridge",
        }

    def token_for(self, user_id: str, secret: str = SECRET) -> str:
        return make_token(secret, user_id)

    def whoami(self, access_token: str) -> str:
        channel = self.make_request(
            "GET", "/_matrix/client/v3/account/whoami", access_token=access_token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        user_id: str = channel.json_body["user_id"]
        return user_id

    def login_types(self) -> list[str]:
        channel = self.make_request("GET", "/_matrix/client/v3/login")
        self.assertEqual(channel.code, 200, channel.json_body)
        return [flow["type"] for flow in channel.json_body["flows"]]

    @contextmanager
    def captured_logs(self, logger_name: str = "") -> Iterator[ListHandler]:
        """Every log record of ``logger_name`` (default: all of them) from INFO up."""
        handler = ListHandler()
        target = logging.getLogger(logger_name)
        previous = target.level
        target.addHandler(handler)
        target.setLevel(logging.INFO)
        try:
            yield handler
        finally:
            target.removeHandler(handler)
            target.setLevel(previous)
