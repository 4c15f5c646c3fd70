"""The double-puppet registration on its own: server names, the regex, tokens, the file
(``appservice``), and check-config's findings on registrations. (The findings against Synapse's
own loader: tests/harness/test_registration_harness.py.)"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml

from synapse_dp_auth.admin.appservice.registration import (
    DEFAULT_ID,
    RegistrationError,
    build_registration,
    registration_yaml,
    write_registration,
)
from synapse_dp_auth.admin.check_config.registrations import (
    Finding,
    Level,
    RegistrationFile,
    check_registrations,
)
from synapse_dp_auth.admin.shared.matrix_ids import (
    ServerNameError,
    user_regex,
    validate_server_name,
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
            [
                "@alice:exampleXorg",
                "@alice:other.org",
                "#room:example.org",
                "@alice:example.org.evil.example",
                "@alice:example.org:8448",
            ],
        ),
        (
            "example.org:8448",
            ["@alice:example.org:8448"],
            [
                "@alice:example.org",
                "@alice:example.org:8449",
                "@alice:exampleXorg:8448",
                "@alice:example.org:84481",
            ],
        ),
        ("[::1]:8448", ["@alice:[::1]:8448"], ["@alice:[::1]", "@alice::8448", "@alice:1:8448"]),
        ("192.0.2.1", ["@alice:192.0.2.1"], ["@alice:192x0x2x1", "@alice:192.0.2.10"]),
    ],
)
def test_user_regex_covers_the_server_and_only_it(
    server_name: str, local: list[str], others: list[str]
) -> None:
    regex = re.compile(user_regex(server_name))
    for user_id in local:
        assert regex.match(user_id), user_id  # Synapse uses match(), anchored at the start
    for user_id in others:
        # Exactly a user of this server, not one whose name merely starts alike: matched as
        # Synapse matches, from the start only.
        assert not regex.match(user_id), user_id


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
        "users": [{"regex": r"@.*:example\.org$", "exclusive": False}]
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


def test_a_directory_where_no_file_can_be_made() -> None:
    """/proc exists, but refuses new files with ENOENT: not 'the directory does not exist'."""
    path = Path("/proc/doublepuppet.yaml")
    with pytest.raises(RegistrationError) as caught:
        write_registration(path, "id: x\n")
    assert str(caught.value) == f"cannot write {path}: No such file or directory"


def test_a_directory_as_the_file(tmp_path: Path) -> None:
    with pytest.raises(RegistrationError) as caught:
        write_registration(tmp_path, "id: x\n")
    assert str(caught.value) == (
        f"{tmp_path} is a directory: give the path of the file to write in it, e.g."
        f" {tmp_path / 'doublepuppet.yaml'}"
    )


def test_unwritable_directory(tmp_path: Path) -> None:
    path = tmp_path / "is-a-file" / "doublepuppet.yaml"
    (tmp_path / "is-a-file").write_text("", encoding="utf-8")
    with pytest.raises(RegistrationError, match=r"cannot write .*: Not a directory"):
        write_registration(path, "id: x\n")


# -- check-config's registration checks, on their own -------------------------------------------


def loaded(path: str, content: object) -> RegistrationFile:
    return RegistrationFile(path, content)


def texts(findings: list[Finding], level: Level) -> list[str]:
    return [f.text for f in findings if f.level is level]


def bridge_registration(**overrides: object) -> dict[str, object]:
    registration: dict[str, object] = {
        "id": "whatsapp",
        "url": "http://127.0.0.1:29318",
        "as_token": "bridge-as-token-" + "a" * 48,
        "hs_token": "bridge-hs-token-" + "b" * 48,
        "sender_localpart": "whatsappbot",
        "rate_limited": False,
        "namespaces": {
            "users": [
                {"regex": r"^@whatsappbot:example\.org$", "exclusive": True},
                {"regex": r"^@whatsapp_.*:example\.org$", "exclusive": True},
            ]
        },
    }
    registration.update(overrides)
    return registration


@pytest.mark.parametrize("server_name", ["example.org", "example.org:8448", "[::1]:8448"])
def test_generated_registration_passes(server_name: str) -> None:
    findings = check_registrations(
        server_name,
        [
            loaded("/etc/dp.yaml", build_registration(server_name)),
            loaded("/etc/wa.yaml", bridge_registration()),
        ],
    )
    assert texts(findings, Level.ERROR) == []
    assert texts(findings, Level.WARNING) == []
    assert texts(findings, Level.NOTE) == [
        "/etc/dp.yaml (id 'doublepuppet'): double-puppet registration",
        "/etc/wa.yaml (id 'whatsapp'): appservice registration, not for double puppeting",
    ]


def test_no_double_puppet_registration_is_noted() -> None:
    findings = check_registrations("example.org", [loaded("/etc/wa.yaml", bridge_registration())])
    assert any("no double-puppet registration is listed" in t for t in texts(findings, Level.NOTE))


def test_each_double_puppet_mistake() -> None:
    registration = build_registration("example.org")
    registration.update(url="http://localhost:1234", rate_limited=True)
    registration["namespaces"]["users"][0]["exclusive"] = True
    findings = check_registrations("example.org", [loaded("/etc/dp.yaml", registration)])
    errors, warnings = texts(findings, Level.ERROR), texts(findings, Level.WARNING)
    assert errors == [
        "/etc/dp.yaml (id 'doublepuppet'): namespaces.users[0].exclusive is true: this"
        " appservice would own every local user, and Synapse would refuse everyone else's"
        " registration of a user name; set exclusive: false"
    ]
    assert len(warnings) == 2
    assert "url is set ('http://localhost:1234'): Synapse pushes every event" in warnings[0]
    assert "set url: null" in warnings[0]
    assert "rate_limited is not false" in warnings[1]


def test_missing_rate_limited_is_rate_limited() -> None:
    registration = build_registration("example.org")
    del registration["rate_limited"]
    findings = check_registrations("example.org", [loaded("/etc/dp.yaml", registration)])
    assert any("rate_limited is not false" in t for t in texts(findings, Level.WARNING))


@pytest.mark.parametrize(
    ("server_name", "regex", "level", "expected"),
    [
        # Written for the client API's host name instead of the server name.
        ("example.org", r"@.*:matrix\.example\.org", Level.ERROR, "e.g. @alice:example.org"),
        # Anchored without the port that this server's user IDs carry.
        ("example.org:8448", r"@.*:example\.org$", Level.ERROR, "@alice:example.org:8448"),
        # User IDs are case-sensitive, and so is the server name in them.
        ("example.org", r"@.*:Example\.org", Level.ERROR, "e.g. @alice:example.org"),
        ("example.org", "@.*:example.org", Level.WARNING, "an unescaped '.'"),
        ("example.org", "@.*", Level.WARNING, "matches the users of every server"),
        ("example.org", ".*", Level.WARNING, "matches the users of every server"),
        ("example.org", r"@.*:example\.org", Level.NOTE, "also matches longer server names"),
        ("example.org:8448", r"@.*:example\.org:8448", Level.NOTE, "longer server names"),
    ],
)
def test_user_regex_mistakes(server_name: str, regex: str, level: Level, expected: str) -> None:
    registration = build_registration(server_name)
    registration["namespaces"]["users"][0]["regex"] = regex
    findings = check_registrations(server_name, [loaded("/etc/dp.yaml", registration)])
    [text] = [t for t in texts(findings, level) if "namespaces.users[0]" in t]
    # Shown as it stands in a single-quoted YAML registration (backslashes not doubled).
    assert f"namespaces.users[0].regex '{regex}'" in text
    if level is Level.NOTE:
        assert texts(findings, Level.WARNING) == texts(findings, Level.ERROR) == []
    assert expected in text
    # The advice, pasted into a registration as printed, loads as the regex meant.
    advice = re.search(r"write (regex: '[^']*')", text)
    assert advice is not None
    assert yaml.safe_load(advice.group(1)) == {"regex": user_regex(server_name)}


def test_bridge_with_catch_all_namespace_is_flagged() -> None:
    registration = bridge_registration()
    registration["namespaces"]["users"].append(  # type: ignore[index]
        {"regex": r"@.*:example\.org", "exclusive": False}
    )
    findings = check_registrations("example.org", [loaded("/etc/wa.yaml", registration)])
    [warning] = texts(findings, Level.WARNING)
    assert warning.startswith("/etc/wa.yaml (id 'whatsapp'): a bridge's registration with a")
    assert "deprecated" in warning
    assert "synapse_dp_auth appservice" in warning


def test_shared_values_name_the_files_never_the_tokens() -> None:
    double_puppet = build_registration("example.org", "whatsapp")
    bridge = bridge_registration()
    double_puppet["as_token"] = bridge["as_token"]
    double_puppet["hs_token"] = bridge["hs_token"]
    findings = check_registrations(
        "example.org", [loaded("/etc/wa.yaml", bridge), loaded("/etc/dp.yaml", double_puppet)]
    )
    errors = texts(findings, Level.ERROR)
    assert errors == [
        "/etc/dp.yaml and /etc/wa.yaml have the same id 'whatsapp': Synapse refuses to start"
        " with two registrations of one id; give each registration its own",
        "/etc/dp.yaml and /etc/wa.yaml have the same as_token: Synapse refuses to start with"
        " two registrations of one as_token (and its error prints the token into the log); give"
        " each registration its own",
        "/etc/dp.yaml and /etc/wa.yaml have the same hs_token: Synapse accepts it, but each"
        " appservice could then pose as the homeserver to the other; give each registration"
        " its own",
    ]
    everything = " ".join(f.text for f in findings)
    assert str(bridge["as_token"]) not in everything
    assert str(bridge["hs_token"]) not in everything


def test_listed_twice() -> None:
    registration = build_registration("example.org")
    findings = check_registrations(
        "example.org", [loaded("/etc/dp.yaml", registration), loaded("/etc/dp.yaml", registration)]
    )
    assert texts(findings, Level.ERROR) == [
        "/etc/dp.yaml is listed twice in app_service_config_files"
    ]


def test_not_a_mapping_and_unreadable() -> None:
    findings = check_registrations(
        "example.org",
        [
            loaded("/etc/list.yaml", ["a", "list"]),
            RegistrationFile("/etc/gone.yaml", problem="cannot read /etc/gone.yaml: gone"),
        ],
    )
    assert texts(findings, Level.ERROR) == [
        "/etc/list.yaml does not hold a registration (a mapping with id, as_token, ...)",
        "cannot read /etc/gone.yaml: gone",
    ]
