"""The double-puppet registration writer on its own: server names, the regex, tokens, the file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml

from synapse_dp_auth.admin.registration import (
    DEFAULT_ID,
    RegistrationError,
    ServerNameError,
    build_registration,
    registration_yaml,
    user_regex,
    validate_server_name,
    write_registration,
)


@pytest.mark.parametrize(
    "server_name",
    [
        "example.org",
        "localhost",
        "matrix-1.example.org",
        "example.org:8448",
        "192.0.2.1",
        "192.0.2.1:8448",
        "[::1]",
        "[2001:db8::1]:8448",
        "[::ffff:192.0.2.1]",
        "EXAMPLE.ORG",
    ],
)
def test_valid_server_names(server_name: str) -> None:
    assert validate_server_name(server_name) == server_name


@pytest.mark.parametrize(
    ("server_name", "message"),
    [
        ("", "empty"),
        (" example.org", "whitespace"),
        ("::1", "IPv6 literal goes in brackets"),
        ("2001:db8::1:8448", "IPv6 literal goes in brackets"),
        ("[::g]", "not a Matrix server name"),
        ("[1::2::3]", "not an IPv6 address"),
        ("example.org:", "not a Matrix server name"),
        ("example.org:0", "port 0 is not between 1 and 65535"),
        ("example.org:99999", "port 99999 is not between 1 and 65535"),
        ("example.org:123456", "not a Matrix server name"),
        ("exa mple.org", "not a Matrix server name"),
        ("@alice:example.org", "not a Matrix server name"),
        ("https://example.org", "not a Matrix server name"),
        ("example_org", "not a Matrix server name"),
        ("x" * 256, "not a Matrix server name"),
    ],
)
def test_invalid_server_names(server_name: str, message: str) -> None:
    with pytest.raises(ServerNameError, match=re.escape(message)):
        validate_server_name(server_name)


@pytest.mark.parametrize(
    ("server_name", "local", "others"),
    [
        (
            "example.org",
            ["@alice:example.org", "@a.b-c_d=e/f:example.org", "@:example.org"],
            ["@alice:exampleXorg", "@alice:other.org", "#room:example.org"],
        ),
        (
            "example.org:8448",
            ["@alice:example.org:8448"],
            ["@alice:example.org", "@alice:example.org:8449", "@alice:exampleXorg:8448"],
        ),
        ("[::1]:8448", ["@alice:[::1]:8448"], ["@alice:[::1]", "@alice::8448", "@alice:1:8448"]),
        ("192.0.2.1", ["@alice:192.0.2.1"], ["@alice:192x0x2x1"]),
    ],
)
def test_user_regex_covers_the_server_and_only_it(
    server_name: str, local: list[str], others: list[str]
) -> None:
    regex = re.compile(user_regex(server_name))
    for user_id in local:
        assert regex.match(user_id), user_id  # Synapse uses match(), anchored at the start
    for user_id in others:
        # Exactly a user of this server, not one whose name merely starts alike.
        assert not regex.fullmatch(user_id), user_id


def test_registration_as_mautrix_documents_it() -> None:
    registration = build_registration("example.org")
    assert list(registration) == [
        "id",
        "url",
        "as_token",
        "hs_token",
        "sender_localpart",
        "rate_limited",
        "namespaces",
    ]
    assert registration["id"] == DEFAULT_ID
    assert registration["url"] is None
    assert registration["rate_limited"] is False
    assert registration["namespaces"] == {
        "users": [{"regex": r"@.*:example\.org", "exclusive": False}]
    }
    for key in ("as_token", "hs_token", "sender_localpart"):
        assert re.fullmatch(r"[0-9a-f]{32,}", registration[key]), key
    assert len(registration["as_token"]) == 64  # 256 bits


def test_tokens_are_fresh_and_never_shared() -> None:
    first, second = build_registration("example.org"), build_registration("example.org", "dp2")
    values = [r[k] for r in (first, second) for k in ("as_token", "hs_token", "sender_localpart")]
    assert len(set(values)) == len(values)
    assert second["id"] == "dp2"


@pytest.mark.parametrize("registration_id", ["", "with space", "x" * 65, "a/b"])
def test_bad_ids(registration_id: str) -> None:
    with pytest.raises(RegistrationError, match="--id"):
        build_registration("example.org", registration_id)


def test_yaml_round_trips_with_a_header() -> None:
    registration = build_registration("[2001:db8::1]:8448")
    text = registration_yaml(registration, "[2001:db8::1]:8448")
    assert text.startswith("# Double-puppet appservice registration")
    assert "url: null" in text
    assert yaml.safe_load(text) == registration


def test_written_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "doublepuppet.yaml"
    write_registration(path, "id: x\n")
    assert path.read_text(encoding="utf-8") == "id: x\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "doublepuppet.yaml"
    path.write_text("the registration Synapse loads\n", encoding="utf-8")
    with pytest.raises(RegistrationError, match="already exists: not overwriting"):
        write_registration(path, "id: x\n")
    assert path.read_text(encoding="utf-8") == "the registration Synapse loads\n"


def test_never_follows_a_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.yaml"
    link = tmp_path / "doublepuppet.yaml"
    link.symlink_to(target)
    with pytest.raises(RegistrationError, match="already exists"):
        write_registration(link, "id: x\n")
    assert not target.exists()


def test_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "doublepuppet.yaml"
    with pytest.raises(RegistrationError) as caught:
        write_registration(path, "id: x\n")
    assert str(caught.value) == (
        f"cannot write {path}: the directory {tmp_path / 'no-such-dir'} does not exist"
    )


def test_unwritable_directory(tmp_path: Path) -> None:
    path = tmp_path / "is-a-file" / "doublepuppet.yaml"
    (tmp_path / "is-a-file").write_text("", encoding="utf-8")
    with pytest.raises(RegistrationError, match=r"cannot write .*: Not a directory"):
        write_registration(path, "id: x\n")
