"""No token or secret in what a real Synapse logs about requests, however malformed they are.

Each request below carries a valid token (or the secret itself) in a place that one of Synapse's
own loggers quotes: a body that is not JSON or not UTF-8 (``synapse.http.servlet`` logs it raw),
the login identifier (``synapse.rest.client.login``, ``synapse.handlers.auth``), an input that a
validation error quotes (``synapse.http.server``), the query string and the user agent (the access
log). The same requests go to a server without the module first: there the token is in the log,
so the search below does find what it looks for, and the module's filter is what removes it.

Last, the filter's cost: a body of the worst shape at Synapse's largest request, posted to both
servers in turn while a concurrent request is timed; and the server's CPU time per request for
bodies of each shape built against the filter, as long as the lines it scans whole.
"""

from __future__ import annotations

import json
import mmap
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from synapse_dp_auth.logfilter import CUT_NOTE, REDACTED
from synapse_dp_auth.token import make_token
from testbed import request_cost
from testbed.homeserver import Homeserver
from testbed.hostile_logs import SYNAPSE_MAX_BODY, WORST_CASE_UNITS, repeated
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


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def json_escaped(token: str) -> str:
    return "".join(f"\\u{ord(digit):04x}" for digit in token)


def worst_case_body(token: str) -> bytes:
    """A login body of exactly Synapse's largest request, not JSON: the token upper-case and
    JSON-escaped near the start (where the filter keeps the line and scans it), then runs one
    digit short of a token to the end (what made the filter before issue 17 try again from every
    digit: 13.7 s of reactor time here), and the token as is at the very end."""
    escaped = json_escaped(token)
    head = f'{{"type": "m.login.password", "password": "{token.upper()}", "token": "{escaped}", '
    filler = repeated(WORST_CASE_UNITS["runs one digit short of a token"], SYNAPSE_MAX_BODY)
    body = head + filler[: SYNAPSE_MAX_BODY - len(head) - len(token)] + token
    return body.encode("ascii")


def post_login(homeserver: Homeserver, body: bytes) -> tuple[int | None, str]:
    """POST ``body`` to /login; (status, errcode), or (None, error) if the connection was cut."""
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, built by the launcher
        homeserver.url + LOGIN, data=body, headers=JSON_HEADERS, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=120) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, str(json.loads(error.read() or b"{}").get("errcode", ""))
    except OSError as error:
        return None, repr(error)


def stall_while_posting(homeserver: Homeserver, body: bytes) -> float:
    """The longest a ``GET /_matrix/client/versions`` waits while ``body`` is posted to /login
    (the GETs follow one another, 5 ms apart, until the POST is answered)."""
    answer: list[tuple[int | None, str]] = []
    poster = threading.Thread(target=lambda: answer.append(post_login(homeserver, body)))
    poster.start()
    longest = 0.0
    while poster.is_alive():
        start = time.perf_counter()
        with _OPENER.open(homeserver.url + "/_matrix/client/versions", timeout=120) as response:
            response.read()
        longest = max(longest, time.perf_counter() - start)
        time.sleep(0.005)
    poster.join()
    assert answer == [(400, "M_NOT_JSON")], answer
    return longest


def logged(homeserver: Homeserver, needle: str) -> bool:
    """Whether ``needle`` is in the server's log, read without loading it (hundreds of MB)."""
    with (
        (homeserver.data_dir / "homeserver.log").open("rb") as log,
        mmap.mmap(log.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        return mapped.find(needle.encode()) >= 0


#: Posts of the worst-case body to each server, interleaved.
STALL_REPEATS = 3


@pytest.mark.core
def test_the_largest_worst_case_body_stalls_synapse_no_longer_than_without_the_module() -> None:
    """Synapse logs a body that is not JSON whole (``synapse.http.servlet``), up to its largest
    request: 50 MiB on the main process. The filter must not make that line a denial of service:
    a concurrent request waits no longer with the module than without it (the filter cuts the
    line: each request adds 16 KiB to the log where Synapse alone adds 50 MiB), and no form of
    the token reaches the log, where without the module it does."""
    token = make_token(SECRET, "@alice:test.local")
    body = worst_case_body(token)
    with Homeserver([]) as bare, Homeserver([MODULE]) as loaded:
        # Synapse's limit, as it applies it: one byte more and it drops the connection (or
        # answers 413), so the body is exactly the largest Synapse reads.
        status, error = post_login(loaded, body + b" ")
        assert status in (None, 413), (status, error)
        stalls: dict[str, list[float]] = {"without": [], "with": []}
        for repeat in range(STALL_REPEATS):
            order = [("without", bare), ("with", loaded)]
            for name, homeserver in order if repeat % 2 == 0 else order[::-1]:
                stalls[name].append(stall_while_posting(homeserver, body))
        without, with_module = (statistics.median(stalls[name]) for name in ("without", "with"))
        print(
            f"GET /versions stall, median of {STALL_REPEATS}: {without:.3f} s without the module,"
            f" {with_module:.3f} s with it ({stalls})"
        )
        assert with_module <= 1.5 * without + 0.25, stalls

        assert logged(bare, token) and logged(bare, token.upper())  # the control
        # What is written: the whole body for each post without the module, the cut line with it.
        sizes = {name: (server.data_dir / "homeserver.log").stat().st_size for name, server in
                 (("without", bare), ("with", loaded))}  # fmt: skip
        assert sizes["without"] >= STALL_REPEATS * SYNAPSE_MAX_BODY > 100 * sizes["with"], sizes
        log = loaded.log_text()
        escaped = json_escaped(token)
        for form in (token, token.upper(), escaped, escaped.replace("\\", "\\\\")):
            assert form not in log
        assert findings({"homeserver.log": log}, [SECRET]) == []
        lines = [line for line in log.splitlines() if "Unable to parse JSON" in line]
        # Synapse 1.53.0 also parses (and logs) what it read of the body too large; 1.163.2 not.
        assert len(lines) >= STALL_REPEATS
        cut_note = CUT_NOTE.partition("}")[2]  # " more characters cut by ..."
        assert all(REDACTED in line and cut_note in line for line in lines), lines[0][:400]


#: Requests per measurement, and measurements per server and shape (interleaved).
CPU_REQUESTS, CPU_ROUNDS = 20, 13

#: How much more CPU per request Synapse may use with the module than without: on any shape of
#: :data:`testbed.request_cost.SHAPES`, and across them (the median of the shapes' figures, which
#: one noisy shape moves less), each a median of per-round ratios. The filter before this test
#: took 1.3 to 3.6 times (2.5 on ordinary text, 2.5 across them); now 1.0 to 1.2
#: (``bench/logfilter_bench.py`` prints the same figures). One shape's median is noisy: on an
#: idle machine, one run of the benchmark gave 1.54 on one shape (per-round range 1.04 to 2.38)
#: and the next 1.09 on it, with every other shape at 1.07 to 1.25 in both. So the bound per
#: shape is 2.0, which still fails the old filter's worst shapes (3.6), and the bound across
#: shapes, which noise moves least, is the tight one.
CPU_RATIO_BOUND = 2.0
CPU_RATIO_BOUND_ACROSS_SHAPES = 1.25


def test_the_filter_costs_little_cpu_per_request_on_any_shape() -> None:
    """Synapse logs a body that is not JSON whole, and the filter scans it whole up to
    :data:`~synapse_dp_auth.logfilter.MAX_LINE_LENGTH`: bodies just that long, of every shape
    built against the filter, cost the server little more CPU per request with the module than
    without it. Unauthenticated requests: anyone can send them."""
    bodies = {
        name: request_cost.body_at_the_cut(unit) for name, unit in request_cost.SHAPES.items()
    }
    with Homeserver([]) as bare, Homeserver([MODULE]) as loaded:
        servers = {"without": bare, "with": loaded}
        per_round = request_cost.compare(servers, bodies, CPU_REQUESTS, CPU_ROUNDS)
    ratios = {
        name: round(request_cost.paired_ratio(figures, "with", "without"), 2)
        for name, figures in per_round.items()
    }
    print(f"Server CPU per request with the module / without, medians of {CPU_ROUNDS}: {ratios}")
    assert max(ratios.values()) <= CPU_RATIO_BOUND, ratios
    assert statistics.median(ratios.values()) <= CPU_RATIO_BOUND_ACROSS_SHAPES, ratios
