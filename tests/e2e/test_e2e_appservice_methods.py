"""The appservice method, per bridge family, on a real Synapse without this module.

The registration is written by ``synapse_dp_auth.admin.appservice.registration`` (the code behind
``synapse_dp_auth appservice``). mautrix-python runs its own custom-puppet code; the Go bridges are
restatements (see ``testbed.bridges``). The expected results are written out below; the
measurement is ``testbed.compat.measure_appservice``, which also generates the table of
docs/compatibility.md.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from synapse_dp_auth.admin.shared.families import (
    MAUTRIX_GO_BRIDGEV2,
    MAUTRIX_IMESSAGE,
    MAUTRIX_SIGNAL_PYTHON,
    MAUTRIX_SLACK_LEGACY,
)
from testbed import compat
from testbed.bridges import (
    AppserviceResult,
    bridgev2_appservice,
    legacy_mautrix_go_appservice,
    mautrix_python_appservice,
)
from testbed.homeserver import Homeserver

#: Which families double-puppet with an `as_token:` secret (True), and which cannot use it.
EXPECTED = {
    MAUTRIX_GO_BRIDGEV2.name: True,
    "mautrix-python": True,
    "mautrix-go-legacy": True,
    # Each uses the value as an HMAC key of a login, or is not an appservice at all.
    "mx-puppet-bridge": False,
    "matrix-corporal": False,
    "mautrix-go-bots": False,
    # Not listed by `synapse_dp_auth appservice`, but in the table: password-only mautrix bridges.
    MAUTRIX_IMESSAGE.name: False,
    MAUTRIX_SLACK_LEGACY.name: False,
    MAUTRIX_SIGNAL_PYTHON.name: False,
}


@pytest.fixture(scope="module")
def rows() -> list[compat.AppserviceRow]:
    return compat.measure_appservice()


def test_every_family_as_expected(rows: list[compat.AppserviceRow]) -> None:
    assert [row.family for row in rows] == list(EXPECTED)
    for row in rows:
        assert row.works is EXPECTED[row.family], row
        assert row.supported is EXPECTED[row.family]
        if row.works:
            assert row.result is not None
            assert row.result.whoami_user_id == row.user_id
            assert row.result.message_sender == row.user_id


def test_bridgev2_ignores_a_plain_secret(rows: list[compat.AppserviceRow]) -> None:
    (bridgev2,) = (row for row in rows if row.family == MAUTRIX_GO_BRIDGEV2.name)
    assert bridgev2.plain_secret == AppserviceResult(MAUTRIX_GO_BRIDGEV2.name, used=False)


def test_the_compatibility_page_shows_the_measured_table(
    rows: list[compat.AppserviceRow],
) -> None:
    generated = compat.render_appservice_table(rows)
    shown = compat.shown_table(compat.APPSERVICE_SECTION)
    assert shown is not None, f"{compat.PAGE} has no appservice table between its markers"
    assert shown == generated, (
        f"{compat.PAGE}'s appservice table is stale: regenerate with"
        " python -m testbed.compat --appservice"
    )


def test_a_token_the_server_does_not_know_fails(tmp_path: Path) -> None:
    path, _ = compat.write_double_puppet_registration(tmp_path, "test.local")
    clients = [mautrix_python_appservice, bridgev2_appservice, legacy_mautrix_go_appservice]
    with Homeserver(app_service_config_files=[path]) as homeserver:
        alice = homeserver.register_user("alice")
        for client in clients:
            result = client(homeserver.url, alice, "as_token:" + secrets.token_hex(32))
            assert result.used, result
            assert not result.works_for(alice), result
            assert result.whoami_user_id is None, result
