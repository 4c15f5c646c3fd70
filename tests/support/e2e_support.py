"""Helpers shared by the tests that run real Synapse processes (``tests/e2e/``)."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from testbed import bridge_process
from testbed.compat import js_clients_problem
from testbed.homeserver import Homeserver, JsonDict
from testbed.services import INSTALL_HINT, PostgresServer, RedisServer, missing_services
from testbed.workers import WorkerDeployment

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def require_js_clients() -> None:
    """Fail (never skip) when the Node clients cannot run: a skipped family proves nothing."""
    problem = js_clients_problem()
    if problem is not None:
        pytest.fail(f"the JavaScript bridge clients cannot run: {problem}", pytrace=False)


def require_bridge_process() -> None:
    """Fail (never skip) when a real bridge's virtualenv is missing or stale."""
    problem = bridge_process.problem()
    if problem is not None:
        pytest.fail(f"the real bridge process cannot run: {problem}", pytrace=False)


@contextmanager
def worker_deployment(modules: Sequence[Mapping[str, Any]]) -> Iterator[WorkerDeployment]:
    """A main process and a worker on throwaway PostgreSQL and Redis, with ``modules`` loaded.

    Fails (never skips) when PostgreSQL or Redis is not installed.
    """
    missing = missing_services()
    if missing:
        pytest.fail(f"{'; '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    with (
        PostgresServer() as postgres,
        RedisServer() as redis,
        WorkerDeployment(modules, postgres=postgres, redis=redis) as running,
    ):
        yield running


def device_path(device_id: str) -> str:
    return f"/_matrix/client/v3/devices/{urllib.parse.quote(device_id, safe='')}"


def delete_device(
    homeserver: Homeserver,
    access_token: str,
    device_id: str,
    auth: Mapping[str, Any] | None,
) -> tuple[int, JsonDict]:
    """``DELETE /devices/{device_id}``, answering the UIA challenge with ``auth`` in its session.

    Returns the first answer when it is not a UIA challenge (or ``auth`` is ``None``).
    """
    status, first = homeserver.request("DELETE", device_path(device_id), {}, access_token)
    if auth is None or status != 401 or "session" not in first:
        return status, first
    body = {"auth": {"session": first["session"], **auth}}
    return homeserver.request("DELETE", device_path(device_id), body, access_token)


def device_exists(homeserver: Homeserver, access_token: str, device_id: str) -> bool:
    status, body = homeserver.get(device_path(device_id), access_token)
    if status not in (200, 404):
        raise AssertionError(f"GET {device_path(device_id)} answered {status}: {body}")
    return status == 200


def password_login_device(
    homeserver: Homeserver, user_id: str, password: str, device_id: str
) -> str:
    """Log in with the user's own password on ``device_id``; return the access token."""
    status, body = homeserver.login(
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "device_id": device_id,
        }
    )
    assert status == 200, body
    return str(body["access_token"])


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def read_counter(metrics_url: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of ``name`` on a Prometheus listener, keyed by its set of labels."""
    with _OPENER.open(metrics_url, timeout=30) as response:
        text = response.read().decode("utf-8")
    samples: dict[frozenset[tuple[str, str]], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        labels = frozenset(_LABEL.findall(match["labels"] or ""))
        samples[labels] = float(match["value"])
    return samples
