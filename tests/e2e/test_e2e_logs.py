"""No token or secret in what a real Synapse logs about requests, however malformed they are.

Each request below carries a valid token (or the secret itself) in a place that one of Synapse's
own loggers quotes: a body that is not JSON or not UTF-8 (``synapse.http.servlet`` logs it raw),
the login identifier (``synapse.rest.client.login``, ``synapse.handlers.auth``), an input that a
validation error quotes (``synapse.http.server``), the query string and the user agent (the access
log). The same requests go to a server without the module first: there the token is in the log,
so the search below does find what it looks for, and the module's filter is what removes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from synapse_dp_auth.logfilter import REDACTED
from synapse_dp_auth.token import make_token
from testbed.homeserver import Homeserver
from testbed.logscan import findings

# Quotes, a backslash and non-ASCII: each is escaped differently by JSON, repr() and bytes.
SECRET = 'log filter secret with "quotes", a back\\slash and ünïcödé: long enough'
MODULE = {"module": "synapse_dp_auth.SharedSecretAuthProvider", "config": {"shared_secret": SECRET}}
LOGIN = "/_matrix/client/v3/login"
JSON_HEADERS = {"Content-Type": "application/json"}


def login_json(user_id: str, token: str) -> str:
    return json.dumps(
        {
            "type": "com.devture.shared_secret_auth",
            "identifier": {"type": "m.id.user", "user": user_id},
            "token": token,
        }
    )


def send_leaky_requests(homeserver: Homeserver, user_id: str) -> list[str]:
    """Send every request that makes Synapse quote client input; return the tokens sent."""
    token = make_token(SECRET, user_id)
    body = login_json(user_id, token)
    password_body = body.replace('"com.devture.shared_secret_auth"', '"m.login.password"').replace(
        '"token"', '"password"'
    )

    # Not JSON: a trailing comma after a correct login.
    status, answer = homeserver.raw_request("POST", LOGIN, body[:-1].encode() + b",}", JSON_HEADERS)
    assert (status, answer.get("errcode")) == (400, "M_NOT_JSON"), answer
    status, answer = homeserver.raw_request(
        "POST", LOGIN, password_body[:-1].encode() + b",}", JSON_HEADERS
    )
    assert (status, answer.get("errcode")) == (400, "M_NOT_JSON"), answer
    # Not UTF-8: a stray byte before the token.
    broken = body.replace('"token": "', '"token": "\xff').encode("latin-1")
    status, answer = homeserver.raw_request("POST", LOGIN, broken, JSON_HEADERS)
    assert (status, answer.get("errcode")) == (400, "M_NOT_JSON"), answer
    # The secret itself as a password, in a body that is not UTF-8 (so bytes, escaped twice).
    secret_body = json.dumps({"type": "m.login.password", "user": user_id, "password": SECRET})
    broken = secret_body.encode("utf-8") + b"\xff"
    status, answer = homeserver.raw_request("POST", LOGIN, broken, JSON_HEADERS)
    assert status == 400, answer
    # The token where the user ID belongs: quoted by the login servlet and the auth handler.
    status, answer = homeserver.login(
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": token}}
        | {"password": "not a token"}
    )
    assert status == 403, answer
    # The token in the query string and the user agent: the access log quotes both.
    status, answer = homeserver.raw_request(
        "POST",
        f"{LOGIN}?token={token}",
        body.encode(),
        {**JSON_HEADERS, "User-Agent": f"bridge/1.0 (token {token})"},
    )
    assert status == 200, answer
    # An error message that quotes the input (Synapse logs it at INFO): a token as UIA session.
    status, answer = homeserver.post(
        "/_matrix/client/v3/delete_devices",
        {"devices": [], "auth": {"type": "m.login.password", "session": token}},
        answer["access_token"],
    )
    assert status == 400, answer
    return [token]


@pytest.fixture(scope="module")
def homeserver() -> Iterator[Homeserver]:
    with Homeserver([MODULE]) as running:
        yield running


def test_without_the_module_synapse_logs_the_token_and_the_secret() -> None:
    """The control: the search finds each leak when nothing filters Synapse's lines."""
    with Homeserver([]) as bare:
        # No module: the login itself fails, so log in with a password where a token is needed.
        user_id = bare.register_user("alice", password="alice's password")
        token = make_token(SECRET, user_id)
        body = login_json(user_id, token)
        bare.raw_request("POST", LOGIN, body[:-1].encode() + b",}", JSON_HEADERS)
        broken = body.replace('"token": "', '"token": "\xff').encode("latin-1")
        bare.raw_request("POST", LOGIN, broken, JSON_HEADERS)
        secret_body = json.dumps({"type": "m.login.password", "user": user_id, "password": SECRET})
        bare.raw_request("POST", LOGIN, secret_body.encode("utf-8") + b"\xff", JSON_HEADERS)
        bare.password_login(token, "not a token")
        log = bare.log_text()

    assert "Unable to parse JSON" in log
    lines_with_token = [line for line in log.splitlines() if token in line]
    assert any("synapse.http.servlet" in line for line in lines_with_token), log
    assert any("synapse.rest.client.login" in line for line in lines_with_token), log
    assert any("synapse.handlers.auth" in line for line in lines_with_token), log
    assert len(findings({"homeserver.log": log}, [SECRET])) >= 5


def test_no_token_or_secret_in_the_log(homeserver: Homeserver) -> None:
    user_id = homeserver.register_user("bob")
    tokens = send_leaky_requests(homeserver, user_id)
    log = homeserver.log_text()

    for token in tokens:
        assert token not in log
    assert findings({"homeserver.log": log}, [SECRET]) == []
    # The lines are still there, with the token blanked: the admin still sees what happened.
    redacted = [line for line in log.splitlines() if REDACTED in line]
    for logger in (
        "synapse.http.servlet",
        "synapse.rest.client.login",
        "synapse.handlers.auth",
        "synapse.http.server",
        "synapse.access.http.",
    ):
        assert any(f" - {logger}" in line for line in redacted), (logger, redacted)
    assert any("Unable to parse JSON from POST /_matrix/client/v3/login" in x for x in redacted)
    # The module's own line for the successful login is untouched.
    assert f"Shared-secret login as {user_id} accepted" in log
