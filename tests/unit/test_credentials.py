"""One reader for every secret and token (shared/credentials.py): the same checks whatever the
kind (shared secret, as_token, admin token) and the source (file, stdin, environment, prompt),
and no error that quotes the value."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli

from synapse_dp_auth.admin.shared import credentials
from synapse_dp_auth.admin.shared.credentials import (
    ADMIN_TOKEN,
    AS_TOKEN,
    SHARED_SECRET,
    Credential,
    read_credential,
)
from synapse_dp_auth.admin.shared.exits import EXIT_USAGE, CliError

KINDS = [SHARED_SECRET, AS_TOKEN, ADMIN_TOKEN]
IDS = [kind.noun for kind in KINDS]

#: What the value would be without the bad character; none of it may appear in an error.
VALUE = "syt_YWxpY2U_CnVzZXJuYW1lZm9yZXhhbXBsZQ_1a2B3c"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


def refused(kind: Credential, path: str | None = None) -> str:
    """The usage error reading ``kind`` ends in; checked to quote nothing of the value."""
    with pytest.raises(CliError) as caught:
        read_credential(kind, path)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert "\n" not in message
    for piece in (VALUE[:8], VALUE[-8:]):
        assert piece not in message
    return message


def on_a_terminal(monkeypatch: pytest.MonkeyPatch, entered: str) -> list[str]:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return entered

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


# -- every kind, every source -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_source_in_order(
    kind: Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "value"
    path.write_text("\n  from-file  \n", encoding="utf-8")
    monkeypatch.setenv(kind.env, " from-env ")
    assert read_credential(kind, str(path)) == "from-file"
    assert read_credential(kind, None) == "from-env"
    monkeypatch.delenv(kind.env)
    prompts = on_a_terminal(monkeypatch, " from-prompt ")
    assert read_credential(kind, None) == "from-prompt"
    assert prompts == [kind.prompt]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufefffrom-stdin\n"))
    assert read_credential(kind, "-") == "from-stdin"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_empty_is_a_usage_error_from_every_source(
    kind: Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "value"
    path.write_text(" \n\n", encoding="utf-8")
    assert refused(kind, str(path)) == f"{path} holds no {kind.noun}"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert refused(kind, "-") == f"stdin holds no {kind.noun}"
    # Set but empty: a mistake, not a reason to look elsewhere (a prompt, say).
    monkeypatch.setenv(kind.env, "  ")
    on_a_terminal(monkeypatch, VALUE)
    assert refused(kind) == f"{kind.env} is set but empty"
    monkeypatch.delenv(kind.env)
    on_a_terminal(monkeypatch, "   ")
    assert refused(kind) == f"no {kind.name} entered"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    message = refused(kind)
    assert message.startswith(f"no {kind.name}: give {kind.option} PATH")
    assert "never as an argument" in message


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_not_utf8_from_every_source(
    kind: Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte that is not UTF-8 reaches Python as a lone surrogate (environment, stdin, prompt)."""
    undecodable = VALUE[:20] + "\udcff" + VALUE[20:]
    monkeypatch.setenv(kind.env, undecodable)
    assert refused(kind) == f"{kind.env} is not valid UTF-8"
    monkeypatch.delenv(kind.env)
    monkeypatch.setattr(sys, "stdin", io.StringIO(undecodable + "\n"))
    assert refused(kind, "-") == "stdin is not valid UTF-8"
    on_a_terminal(monkeypatch, undecodable)
    assert refused(kind) == f"the {kind.noun} entered is not valid UTF-8"
    path = tmp_path / "value"
    path.write_bytes(VALUE[:20].encode() + b"\xff" + VALUE[20:].encode() + b"\n")
    assert refused(kind, str(path)) == f"cannot read {path}: not valid UTF-8"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@pytest.mark.parametrize(
    "inside", ["\n", "\r", "\x1b", "\t", "\x07", "\x7f", "\x85", "\u2028"], ids=repr
)
def test_control_characters_from_the_environment(
    kind: Credential, inside: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line break inside (two lines of a rotation file pasted as one value), an escape, a NUL:
    refused, naming where it came from and nothing of it."""
    monkeypatch.setenv(kind.env, VALUE[:20] + inside + VALUE[20:])
    message = refused(kind)
    assert message.startswith(f"the {kind.noun} from {kind.env} holds ")
    assert "control character" in message


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_control_characters_from_a_file_and_a_prompt(
    kind: Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "value"
    path.write_text(VALUE[:20] + "\x1b[2J" + VALUE[20:] + "\n", encoding="utf-8")
    assert refused(kind, str(path)).startswith(f"the {kind.noun} from {path} holds ")
    on_a_terminal(monkeypatch, VALUE[:20] + "\x00" + VALUE[20:])
    assert refused(kind).startswith(f"the {kind.noun} entered holds ")


@pytest.mark.parametrize("kind", [AS_TOKEN, ADMIN_TOKEN], ids=["as_token", "access token"])
def test_a_token_holds_no_space(kind: Credential, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kind.env, VALUE[:20] + " " + VALUE[20:])
    assert refused(kind) == f"the {kind.noun} from {kind.env} holds spaces or control characters"


def test_a_secret_may_hold_spaces_and_any_printable_character(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "correct horse battery staple, ünïcödé and \u00a0 too"
    monkeypatch.setenv(credentials.SECRET_ENV, secret)
    assert credentials.read_secret(None) == secret


# -- through the command line ---------------------------------------------------------------------


def test_admin_token_with_a_newline_is_never_sent_nor_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """http.client refuses a header with a line break and its error quotes the header: the token
    is refused before any request, in one line that holds none of it."""
    monkeypatch.setenv(credentials.ADMIN_TOKEN_ENV, f"{VALUE[:20]}\n{VALUE[20:]}")
    code, out, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        "synapse_dp_auth sessions: error: the access token from"
        f" {credentials.ADMIN_TOKEN_ENV} holds spaces or control characters\n"
    )


def test_empty_admin_token_variable_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a reason to prompt instead (as it was), as for the secret and the as_token."""
    monkeypatch.setenv(credentials.ADMIN_TOKEN_ENV, "")
    on_a_terminal(monkeypatch, VALUE)
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1")
    assert code == EXIT_USAGE
    assert err == (
        f"synapse_dp_auth sessions: error: {credentials.ADMIN_TOKEN_ENV} is set but empty\n"
    )


@pytest.mark.parametrize(
    ("env", "argv"),
    [
        (credentials.SECRET_ENV, ["token", "@alice:example.org"]),
        (
            credentials.AS_TOKEN_ENV,
            ["doctor", "http://127.0.0.1:1", "--user", "@a:b", "--appservice"],
        ),
        (credentials.ADMIN_TOKEN_ENV, ["sessions", "list", "http://127.0.0.1:1"]),
    ],
)
def test_every_command_refuses_a_control_character(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str, argv: list[str]
) -> None:
    monkeypatch.setenv(env, f"{VALUE[:20]}\x1b]0;{VALUE[20:]}")
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.count("\n") == 1
    assert f"from {env} holds" in err
    assert VALUE[:8] not in err
