"""The admin half's shared pieces on their own: homeserver URLs and the cleartext guard (the HTTP
client), full user IDs, server text made safe to print."""

from __future__ import annotations

import pytest

from synapse_dp_auth.admin.shared import client
from synapse_dp_auth.admin.shared.matrix_ids import is_full_user_id
from synapse_dp_auth.admin.shared.server_text import MAX_SERVER_TEXT, server_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://matrix.example.org", "https://matrix.example.org"),
        ("https://matrix.example.org/", "https://matrix.example.org"),
        (" http://127.0.0.1:8008/prefix/ ", "http://127.0.0.1:8008/prefix"),
    ],
)
def test_homeserver_urls(text: str, expected: str) -> None:
    assert client.parse_homeserver_url(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "matrix.example.org",
        "ftp://example.org",
        "http://",
        "http://example.org:99999",
        "",
        "https://x?a=1",
    ],
)
def test_bad_homeserver_urls(text: str) -> None:
    with pytest.raises(client.HomeserverError, match=r"https://matrix\.example\.org"):
        client.parse_homeserver_url(text)


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        ("@alice:example.org", True),
        ("@a:b:8448", True),
        ("alice", False),
        ("@alice", False),
        ("@:example.org", False),
        ("@alice:", False),
        ("alice:example.org", False),
        ("@alice:example.org\n", False),
    ],
)
def test_full_user_ids(user_id: str, valid: bool) -> None:
    assert is_full_user_id(user_id) is valid


def test_server_text_escapes_what_a_terminal_would_act_on() -> None:
    assert server_text("Invalid username or password") == "Invalid username or password"
    assert server_text("a\x1b[2Jb\x07\r\n\t\x9b") == "a\\x1b[2Jb\\x07\\x0d\\x0a\\x09\\x9b"
    # Bidi overrides, lone surrogates (PEP 383), invisible tags; printable non-ASCII stays.
    assert server_text("\u202eexe.txt \udcff \U000e0041 ü") == (
        "\\u202eexe.txt \\udcff \\U000e0041 ü"
    )


def test_server_text_is_bounded() -> None:
    assert server_text("x" * MAX_SERVER_TEXT) == "x" * MAX_SERVER_TEXT
    assert server_text("x" * 10_000) == "x" * MAX_SERVER_TEXT + "..."
    # Escapes count towards the bound.
    assert server_text("\x1b" * 10_000, limit=8) == "\\x1b\\x1b..."


@pytest.mark.parametrize(
    ("url", "in_clear"),
    [
        ("http://127.0.0.1:8008", False),
        ("http://127.1.2.3", False),
        ("http://[::1]:8008", False),
        ("http://localhost:8008", False),
        ("http://LocalHost", False),
        ("https://matrix.example.org", False),
        ("https://203.0.113.7:8448", False),
        ("http://matrix.example.org", True),
        ("http://192.168.1.10:8008", True),
        ("http://[fe80::1]", True),
        ("http://localhost.example.org", True),
        ("http://127.0.0.1.example.org", True),
    ],
)
def test_plain_http_beyond_loopback(url: str, in_clear: bool) -> None:
    assert client.sends_in_clear_over_network(url) is in_clear
