"""The demo (``python -m testbed.demo``), run as an admin would run it."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from constants import REPO_ROOT
from e2e_support import require_bridge_process, require_js_clients

from testbed import bridge_process, compat, demo
from testbed.bridges import LoginResult, mautrix_python_login

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


@pytest.fixture(scope="module", autouse=True)
def _js_clients_and_bridge() -> None:
    require_js_clients()
    require_bridge_process()


def run_demo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "testbed.demo", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def family_line(block: str, family: str) -> list[str]:
    """The columns of ``family``'s line in one config block (columns are 2+ spaces apart)."""
    for line in block.splitlines():
        if line.strip().startswith(family + " "):
            return re.split(r"\s{2,}", line.strip())
    raise AssertionError(f"no line for {family} in:\n{block}")


def test_report() -> None:
    completed = run_demo()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr == ""  # no tracebacks, no library logs
    blocks = re.split(r"^\[\d/3\] ", completed.stdout, flags=re.MULTILINE)
    assert len(blocks) == 4, completed.stdout
    defaults, password_only, custom_only = blocks[1:]
    assert defaults.startswith("module config: defaults")
    assert (
        "GET /login offers (in this order): m.login.password, com.devture.shared_secret_auth,"
        " m.login.application_service" in defaults
    )
    assert family_line(defaults, "mautrix-python") == [
        "mautrix-python",
        "real code",
        "m.login.password",
        "OK",
        "whoami: @alice:demo.local, sends messages as @alice:demo.local",
    ]
    assert family_line(password_only, "mautrix-go-bots")[2:4] == [
        "com.devture.shared_secret_auth",
        "FAILED",
    ]
    assert family_line(custom_only, "mautrix-python")[2:] == [
        "m.login.password",
        "FAILED",
        "HTTP 403 M_FORBIDDEN: Invalid username or password",
    ]
    assert "Why mautrix-python fails here" in custom_only
    assert "Why" not in defaults
    appservice = completed.stdout.split("Appservice method: ", 1)[1]
    assert family_line(appservice, "mautrix-python") == [
        "mautrix-python",
        "real code",
        "OK",
        "whoami: @alice:demo.local, sends messages as @alice:demo.local",
    ]
    assert family_line(appservice, "mautrix-go-bridgev2")[1:3] == ["restated", "OK"]
    assert family_line(appservice, "mx-puppet-bridge")[1:3] == ["-", "CANNOT"]
    bridge = completed.stdout.split("A real bridge process: ", 1)[1]
    assert bridge.startswith(bridge_process.NAME)
    assert family_line(bridge, "shared secret (module)")[2:] == [
        "@alice:demo.local",
        "OK",
        'logged in with m.login.password, new device "Telegram Bridge"; joined the portal room'
        " as @alice:demo.local",
    ]
    assert family_line(bridge, "appservice")[2:] == [
        "@bob:demo.local",
        "OK",
        "no login, no new device; joined the portal room as @bob:demo.local",
    ]
    assert (
        completed.stdout.rstrip()
        .splitlines()[-1]
        .startswith("Result: with the default config, mautrix-python bridges double-puppet")
    )
    assert "a real bridge process did both" in completed.stdout


def test_report_exit_status_when_mautrix_python_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """Real mautrix-python code, holding the wrong secret: the demo must not exit 0."""

    def wrong_secret(url: str, user_id: str, _secret: str) -> LoginResult:
        return mautrix_python_login(url, user_id, "not the secret the server has")

    defaults = compat.find_setting(compat.MODULE_CONFIGS, "defaults")
    families = {"mautrix-python": wrong_secret}
    assert demo.run_report(families, configs=[defaults], bridge_skipped="not this test's") == 1
    out = capsys.readouterr().out
    assert "Result: FAILED" in out


def test_bridge_process_report_when_the_bridge_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real bridge, holding the wrong secret: the report says FAILED with its reason."""

    def wrong_secret(server_name: str, _secret: str) -> dict[str, object]:
        return {"login_shared_secret_map": {server_name: "not the secret the server has"}}

    monkeypatch.setattr(bridge_process, "shared_secret_map", wrong_secret)
    assert demo.report_bridge_process() is False
    out = capsys.readouterr().out
    line = family_line(out, "shared secret (module)")
    assert line[3] == "FAILED", line
    assert "Invalid username or password" in line[4], line
    assert family_line(out, "appservice")[3] == "OK"


class ServeProcess:
    """``python -m testbed.demo --serve`` with its stdout read line by line in a thread."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "testbed.demo", "--serve"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                match = re.search(pattern, line)
                if match is not None:
                    return match
            try:
                next_line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                seen = "\n".join(self.seen)
                raise AssertionError(f"no line matching {pattern!r} in:\n{seen}") from None
            if next_line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(
                    f"the demo ended before printing {pattern!r}:\n" + "\n".join(self.seen) + stderr
                )
            self.seen.append(next_line)

    def rest(self) -> str:
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
        return "\n".join(self.seen)


@pytest.fixture
def serving() -> Iterator[ServeProcess]:
    served = ServeProcess()
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def post_curl(command: str) -> dict[str, object]:
    """Do what a printed ``curl -X POST URL -H ... -d BODY`` line does, with urllib."""
    words = shlex.split(command)
    assert words[:4] == ["curl", "-sS", "-X", "POST"], words
    url, body = words[4], words[words.index("-d") + 1]
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(  # noqa: S310 - a loopback URL the demo printed
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with _OPENER.open(request, timeout=30) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def whoami(base_url: str, access_token: str) -> object:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL the demo printed
        base_url + "/_matrix/client/v3/account/whoami",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    with _OPENER.open(request, timeout=30) as response:
        return json.loads(response.read())["user_id"]


def test_serve_logs_in_with_the_printed_curl_and_stops_on_sigint(serving: ServeProcess) -> None:
    pid = int(serving.wait_for(r"^\s+Synapse pid\s+(\d+)$")[1])
    data_dir = Path(serving.wait_for(r"^\s+data dir\s+(\S+) \(deleted on exit\)$")[1])
    base_url = serving.wait_for(r"^\s+homeserver\s+(http://\S+)$")[1]
    user_id = serving.wait_for(r"^\s+user\s+(@\S+) ")[1]
    password_curl = serving.wait_for(r"^curl .*m\.login\.password.*$")[0]
    devture_curl = serving.wait_for(r"^curl .*com\.devture\.shared_secret_auth.*$")[0]
    serving.wait_for(r"^Serving until Ctrl-C")

    for command in (password_curl, devture_curl):
        answer = post_curl(command)
        assert answer["user_id"] == user_id
        assert whoami(base_url, str(answer["access_token"])) == user_id

    serving.process.send_signal(signal.SIGINT)
    assert serving.process.wait(timeout=30) == 0
    output = serving.rest()
    assert output.splitlines()[-1] == "Stopped."
    assert serving.process.stderr is not None
    assert serving.process.stderr.read() == ""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # Synapse is gone (stopped and reaped by the demo)
    assert not data_dir.exists()
