"""``token``, and the shared secret as every command reads it: from a file, stdin, the
environment or a prompt, never an argument."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli
from constants import OTHER_SECRET, SECRET, USER

from synapse_dp_auth.admin.shared.credentials import SECRET_ENV
from synapse_dp_auth.token import make_token


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


def test_token_from_secret_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"\n   \n  {SECRET}  \r\n{OTHER_SECRET}\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(secret_file))
    assert (code, out, err) == (0, make_token(SECRET, USER) + "\n", "")


def test_token_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET + "\n")
    code, out, _ = run_cli(capsys, "token", USER)
    assert (code, out) == (0, make_token(SECRET, USER) + "\n")


def test_secret_file_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, OTHER_SECRET)
    (tmp_path / "secret").write_text(SECRET, encoding="utf-8")
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", str(tmp_path / "secret"))
    assert out == make_token(SECRET, USER) + "\n"


def test_token_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert out == make_token(SECRET, USER) + "\n"


def test_token_from_prompt_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    _, out, _ = run_cli(capsys, "token", USER)
    assert out == make_token(SECRET, USER) + "\n"
    assert prompts == ["Shared secret (not shown): "]


def test_token_refuses_without_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "token", USER)
    assert (code, out) == (2, "")
    assert err.startswith("synapse_dp_auth token: error: no shared secret: give --secret-file")
    assert "ps and shell history" in err
    assert err.count("\n") == 1


def test_token_has_no_secret_argument(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "token", USER, "--secret", SECRET)
    assert code == 2
    assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("\n  \n", "holds no secret"), (b"\xff\xfe", "cannot read")],
)
def test_token_bad_secret_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "secret"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1


def test_token_empty_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, "  ")
    code, _, err = run_cli(capsys, "token", USER)
    assert code == 2
    assert f"{SECRET_ENV} is set but empty" in err


# A byte that is not UTF-8, as Python hands it over from the environment or a non-UTF-8 stdin.
UNDECODABLE_SECRET = SECRET[:20] + "\udcff" + SECRET[20:]


@pytest.mark.parametrize(
    "argv", [["token", USER], ["doctor", "http://127.0.0.1:1", "--user", USER]]
)
def test_secret_not_utf8_in_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, UNDECODABLE_SECRET)
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    # One line naming the source, and nothing of the secret (not even the bad byte).
    assert err == f"synapse_dp_auth {argv[0]}: error: {SECRET_ENV} is not valid UTF-8\n"


def test_secret_not_utf8_on_stdin_or_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(UNDECODABLE_SECRET + "\n"))
    code, _, err = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert (code, err) == (2, "synapse_dp_auth token: error: stdin is not valid UTF-8\n")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": UNDECODABLE_SECRET)
    code, _, err = run_cli(capsys, "token", USER)
    assert (code, err) == (
        2,
        "synapse_dp_auth token: error: the secret entered is not valid UTF-8\n",
    )


def test_secret_file_byte_order_mark_is_not_part_of_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"\xef\xbb\xbf" + SECRET.encode() + b"\r\n")
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert out == make_token(SECRET, USER) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff" + SECRET + "\n"))
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert out == make_token(SECRET, USER) + "\n"


def test_secret_file_not_utf8_is_not_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET[:20].encode() + b"\xff" + SECRET[20:].encode())
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert (code, out) == (2, "")
    # The decoder's own message would quote the byte (0xff) and where it is.
    assert err == f"synapse_dp_auth token: error: cannot read {path}: not valid UTF-8\n"


def test_token_needs_a_full_user_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code, out, err = run_cli(capsys, "token", "alice")
    assert (code, out) == (2, "")
    assert "not a full user ID like @alice:example.org" in err
