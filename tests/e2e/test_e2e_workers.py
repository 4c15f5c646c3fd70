"""A worker deployment: bridges log in through a ``generic_worker``, on PostgreSQL and Redis.

Real processes on loopback: a throwaway PostgreSQL and Redis, Synapse's main process and one
``generic_worker`` serving ``/login`` (set up as Synapse's worker docs describe), the module loaded
by both. Each bridge family logs in through the worker, and the token it gets must act on the main
process. The module's login checks (success, wrong token, missing and deactivated users) run on
both processes, so on PostgreSQL too, and a token must not confirm user-interactive auth on main.

Without PostgreSQL or Redis installed these tests fail (they do not skip): a CI machine that lost
them must not go green. ``scripts/install_services.sh`` installs both.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from e2e_support import worker_deployment

from synapse_dp_auth.token import make_token
from testbed import bridges
from testbed.homeserver import JsonDict
from testbed.services import INSTALL_HINT, missing_services
from testbed.workers import WorkerDeployment

SECRET = "worker deployment secret: long, random and shared with the bridges!!"
OTHER_SECRET = "some other secret, equally long, that this homeserver never heard of"
MODULE = {"module": "synapse_dp_auth.SharedSecretAuthProvider", "config": {"shared_secret": SECRET}}
DEVTURE = "com.devture.shared_secret_auth"
PASSWORD = "m.login.password"
LOGIN_TYPES = (PASSWORD, DEVTURE)

#: How long a cache invalidation may take to travel from main to the worker over Redis.
REPLICATION_TIMEOUT = 10.0


class LoginEndpoint(Protocol):
    """What the tests need of a process that serves ``/login``: main or the worker."""

    def login(self, body: dict[str, Any]) -> tuple[int, JsonDict]: ...
    def log_text(self) -> str: ...


def test_postgres_and_redis_are_installed() -> None:
    """Fails, with the way out, where the servers are missing (every other test errors then)."""
    missing = missing_services()
    assert not missing, f"{'; '.join(missing)}: {INSTALL_HINT}"


@pytest.fixture(scope="module")
def deployment() -> Iterator[WorkerDeployment]:
    with worker_deployment([MODULE]) as running:
        yield running


@pytest.fixture(params=["worker", "main"])
def endpoint(request: pytest.FixtureRequest, deployment: WorkerDeployment) -> LoginEndpoint:
    """Each login check runs on the worker and on the main process (both on PostgreSQL)."""
    process: LoginEndpoint = getattr(deployment, request.param)
    return process


_users = 0


def new_user(deployment: WorkerDeployment, password: str | None = None) -> str:
    """A fresh user per test, so each test's log lines are its own."""
    global _users
    _users += 1
    return deployment.main.register_user(f"user{_users}", password)


def login_body(login_type: str, user_id: str, token: str) -> dict[str, Any]:
    field = "token" if login_type == DEVTURE else "password"
    return {
        "type": login_type,
        "identifier": {"type": "m.id.user", "user": user_id},
        field: token,
        "initial_device_display_name": "Worker Test Bridge",
    }


def accepted(process: LoginEndpoint, user_id: str, login_type: str) -> bool:
    """Whether ``process`` logged that the module accepted this user's login."""
    return f"Shared-secret login as {user_id} accepted ({login_type})" in process.log_text()


def refused(process: LoginEndpoint, user_id: str, login_type: str, reason: str) -> bool:
    """Whether ``process`` logged that the module refused this user's attempt for ``reason``."""
    line = f"Shared-secret login as {user_id} refused ({login_type}): {reason}"
    return line in process.log_text()


def mentioned(process: LoginEndpoint, user_id: str) -> bool:
    return f"Shared-secret login as {user_id} " in process.log_text()


# -- the deployment ------------------------------------------------------------------------------


def test_module_is_loaded_by_both_processes(deployment: WorkerDeployment) -> None:
    """``GET /login`` lists the module's type on each: every process builds it from its modules."""
    assert deployment.worker.pid != deployment.main.pid
    assert "synapse/app/generic_worker.py" in deployment.worker.log_text()
    assert DEVTURE in deployment.worker.login_flows()
    assert DEVTURE in deployment.main.login_flows()


@pytest.mark.parametrize("family", list(bridges.FAMILIES))
def test_bridge_logs_in_through_worker_and_acts_on_main(
    deployment: WorkerDeployment, family: str
) -> None:
    """The bridge's own login code against the worker; the token then works on main."""
    user_id = new_user(deployment)
    result = bridges.FAMILIES[family](deployment.worker.url, user_id, SECRET)

    assert result.ok, result
    assert result.user_id == user_id
    assert result.access_token is not None and result.login_type is not None
    # The worker handled the login (the module there accepted it), not the main process.
    assert accepted(deployment.worker, user_id, result.login_type)
    assert not mentioned(deployment.main, user_id)
    # The device and token the worker had main create are valid on main.
    status, whoami = deployment.main.whoami(result.access_token)
    assert status == 200, whoami
    assert whoami["user_id"] == user_id
    assert whoami["device_id"] == result.device_id
    assert deployment.main.sender_of_new_message(result.access_token) == user_id


# -- the module's login checks, on PostgreSQL, on both processes ---------------------------------


@pytest.mark.parametrize("login_type", LOGIN_TYPES)
def test_token_logs_in(
    deployment: WorkerDeployment, endpoint: LoginEndpoint, login_type: str
) -> None:
    user_id = new_user(deployment)
    status, body = endpoint.login(login_body(login_type, user_id, make_token(SECRET, user_id)))
    assert status == 200, body
    assert body["user_id"] == user_id
    assert deployment.main.whoami(body["access_token"])[1].get("user_id") == user_id
    assert accepted(endpoint, user_id, login_type)


@pytest.mark.parametrize("login_type", LOGIN_TYPES)
def test_wrong_token_is_refused(
    deployment: WorkerDeployment, endpoint: LoginEndpoint, login_type: str
) -> None:
    user_id = new_user(deployment)
    status, body = endpoint.login(
        login_body(login_type, user_id, make_token(OTHER_SECRET, user_id))
    )
    assert status == 403, body
    assert body["errcode"] == "M_FORBIDDEN"
    assert refused(endpoint, user_id, login_type, "the token does not match the shared secret")


@pytest.mark.parametrize("login_type", LOGIN_TYPES)
def test_missing_user_is_refused(
    deployment: WorkerDeployment, endpoint: LoginEndpoint, login_type: str
) -> None:
    user_id = deployment.main.user_id("nobody-here")
    status, body = endpoint.login(login_body(login_type, user_id, make_token(SECRET, user_id)))
    assert status == 403, body
    assert refused(endpoint, user_id, login_type, "no such user")


@pytest.mark.parametrize("login_type", LOGIN_TYPES)
def test_deactivated_user_is_refused(
    deployment: WorkerDeployment, endpoint: LoginEndpoint, login_type: str
) -> None:
    """Deactivated on main after a login, so a process that cached the account must hear of it.

    On the worker that news comes over Redis replication; allow it a moment to arrive.
    """
    user_id = new_user(deployment)
    body = login_body(login_type, user_id, make_token(SECRET, user_id))
    assert endpoint.login(body)[0] == 200
    deployment.main.deactivate_user(user_id)

    deadline = time.monotonic() + REPLICATION_TIMEOUT
    status, answer = endpoint.login(body)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        status, answer = endpoint.login(body)
    assert status == 403, answer
    assert refused(endpoint, user_id, login_type, "the account is deactivated")


def test_ordinary_password_still_works_on_worker(deployment: WorkerDeployment) -> None:
    """What is not a token goes on to Synapse's own password check, on a worker too."""
    user_id = new_user(deployment, password="an ordinary password")
    status, body = deployment.worker.login(login_body(PASSWORD, user_id, "an ordinary password"))
    assert status == 200, body
    status, body = deployment.worker.login(login_body(PASSWORD, user_id, "a wrong password"))
    assert status == 403, body
    assert not mentioned(deployment.worker, user_id)


# -- user-interactive auth on main ---------------------------------------------------------------


def test_token_does_not_confirm_ui_auth_on_main(deployment: WorkerDeployment) -> None:
    """A bridge's token (got through the worker) cannot delete a device on main; the password can.

    The control at the end shows the request itself is right, so the refusal is the module's.
    """
    main = deployment.main
    password = "alice's real password"
    user_id = new_user(deployment, password=password)
    token = make_token(SECRET, user_id)
    status, login = deployment.worker.login(login_body(PASSWORD, user_id, token))
    assert status == 200, login
    access_token, device_id = login["access_token"], login["device_id"]
    device_path = (
        f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id, safe='')}"
        f"/devices/{urllib.parse.quote(device_id, safe='')}"
    )

    def delete_device(auth: dict[str, Any] | None) -> tuple[int, JsonDict]:
        body: dict[str, Any] = {"devices": [device_id]}
        if auth is not None:
            body["auth"] = auth
        return main.post("/_matrix/client/v3/delete_devices", body, access_token)

    status, challenge = delete_device(None)
    assert status == 401, challenge
    offered = {stage for flow in challenge["flows"] for stage in flow["stages"]}
    assert DEVTURE not in offered
    assert PASSWORD in offered

    identifier = {"type": "m.id.user", "user": user_id}
    auth = {"type": PASSWORD, "identifier": identifier, "session": challenge["session"]}
    status, answer = delete_device({**auth, "password": token})
    assert status == 401, answer
    assert refused(main, user_id, PASSWORD, "shared-secret tokens only log in")
    assert main.get(device_path, main.admin_token)[0] == 200

    status, answer = delete_device({**auth, "password": password})
    assert status == 200, answer
    assert main.get(device_path, main.admin_token)[0] == 404
