"""check-config's findings on registrations against Synapse's own loader, in-process: each shape
check-config calls an error makes the installed Synapse refuse the file (and not start), and
what Synapse loads has no shape error."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from synapse_dp_auth.admin.appservice.registration import build_registration
from synapse_dp_auth.admin.check_config.registrations import (
    Finding,
    Level,
    RegistrationFile,
    check_registrations,
)


def loaded(path: str, content: object) -> RegistrationFile:
    return RegistrationFile(path, content)


def texts(findings: list[Finding], level: Level) -> list[str]:
    return [f.text for f in findings if f.level is level]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("as_token"), "/etc/dp.yaml: as_token is missing or not a string"),
        (lambda r: r.update(id=5), "/etc/dp.yaml: id is missing or not a string"),
        (lambda r: r.pop("url"), "/etc/dp.yaml: url must be a string or an explicit null"),
        (lambda r: r.pop("namespaces"), "/etc/dp.yaml: namespaces is missing or not a mapping"),
        (
            lambda r: r["namespaces"]["users"][0].pop("exclusive"),
            "/etc/dp.yaml: namespaces.users[0].exclusive must be true or false",
        ),
        (
            lambda r: r["namespaces"]["users"][0].update(regex="@(.*:example"),
            "/etc/dp.yaml: namespaces.users[0].regex is not a valid regular expression",
        ),
        (
            lambda r: r["namespaces"].update(users="@.*"),
            "/etc/dp.yaml: namespaces.users must be a list",
        ),
        (
            lambda r: r["namespaces"].update(rooms=None),  # `rooms:` with nothing after it
            "/etc/dp.yaml: namespaces.rooms must be a list (Synapse refuses to start): write"
            " rooms: [] or remove the key",
        ),
        (
            lambda r: r["namespaces"].update(aliases={"regex": "#.*", "exclusive": False}),
            "/etc/dp.yaml: namespaces.aliases must be a list",
        ),
        (
            lambda r: r.update(sender_localpart="bad localpart"),
            "/etc/dp.yaml: sender_localpart may hold only letters, digits and '_.-~/'",
        ),
        (
            lambda r: r.update(sender_localpart="bot:x"),
            "/etc/dp.yaml: sender_localpart may hold only letters, digits and '_.-~/'",
        ),
        (
            lambda r: r.update(protocols="whatsapp"),
            "/etc/dp.yaml: protocols must be a list of strings",
        ),
        (
            lambda r: r.update(protocols=["whatsapp", 5]),
            "/etc/dp.yaml: protocols must be a list of strings",
        ),
    ],
)
def test_missing_and_malformed_fields(mutate: Callable[[Any], object], expected: str) -> None:
    """Each of these makes Synapse's own loader refuse the file (and Synapse not start), which is
    checked first, with the loader of the Synapse the tests run."""
    from synapse.config.appservice import _load_appservice

    registration = build_registration("example.org")
    mutate(registration)
    with pytest.raises((KeyError, ValueError, TypeError, re.error)):
        _load_appservice("example.org", registration, "/etc/dp.yaml")
    findings = check_registrations("example.org", [loaded("/etc/dp.yaml", registration)])
    errors = texts(findings, Level.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith(expected)
    if isinstance(registration.get("as_token"), str):
        assert registration["as_token"] not in " ".join(f.text for f in findings)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: None,
        lambda r: r["namespaces"].update(rooms=[], aliases=[]),
        lambda r: r.update(protocols=None),
        lambda r: r.update(protocols=["whatsapp"]),
        lambda r: r.update(sender_localpart="dp-bot_1.x~/y"),
    ],
)
def test_what_synapse_loads_has_no_shape_error(mutate: Callable[[Any], object]) -> None:
    from synapse.config.appservice import _load_appservice

    registration = build_registration("example.org")
    mutate(registration)
    _load_appservice("example.org", registration, "/etc/dp.yaml")
    findings = check_registrations("example.org", [loaded("/etc/dp.yaml", registration)])
    assert texts(findings, Level.ERROR) == []
