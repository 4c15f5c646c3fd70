"""Real bridge login code against real Synapse processes: who can double-puppet, in which config.

The expected results below are written out by hand from what Synapse and each client do (reasons
in the comments), not computed from the module. The measurement itself is ``testbed.compat``
(one throwaway server per configuration row), the same code that generates the table of
docs/compatibility.md, so the page cannot drift from what is tested.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_support import (
    delete_device,
    device_exists,
    password_login_device,
    read_counter,
    require_js_clients,
)

from synapse_dp_auth.admin.shared.families import (
    MAUTRIX_IMESSAGE,
    MAUTRIX_SIGNAL_PYTHON,
    MAUTRIX_SLACK_LEGACY,
    BodyShape,
    Choice,
    Family,
)
from synapse_dp_auth.token import make_token
from testbed import compat
from testbed.bridges import FAMILIES, LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET
from testbed.homeserver import Homeserver

P = LOGIN_TYPE_PASSWORD
D = LOGIN_TYPE_SHARED_SECRET


@dataclass(frozen=True)
class Works:
    """Logs in with ``login_type``; the token then acts as the user."""

    login_type: str


@dataclass(frozen=True)
class Fails:
    """Sends ``login_type`` and the server refuses with this status, errcode and message."""

    login_type: str
    status: int
    errcode: str
    error: str


@dataclass(frozen=True)
class SendsNothing:
    """The client finds no login type it uses in ``GET /login`` and gives up with ``error``."""

    error: str


Expected = Works | Fails | SendsNothing

OK_P = Works(P)
OK_D = Works(D)
# Synapse refuses m.login.password itself when password_config.enabled is false, before any module.
P_DISABLED = Fails(P, 400, "M_UNKNOWN", "Password login has been disabled.")
# No module checks the token as a password, so Synapse compares it with the user's own password.
P_WRONG = Fails(P, 403, "M_FORBIDDEN", "Invalid username or password")
# No module registered the type and Synapse's own password database is off.
P_UNKNOWN = Fails(P, 400, "M_UNKNOWN", "Unknown login type m.login.password")
D_UNKNOWN = Fails(D, 400, "M_UNKNOWN", "Unknown login type com.devture.shared_secret_auth")
MAUTRIX_NOTHING = SendsNothing("No supported shared secret auth login flows")
GO_NOTHING = SendsNothing("no supported auth types for shared secret auth found")

FAMILY_ORDER = (
    "mautrix-python",  # first of devture / password in GET /login order
    "mautrix-go-legacy",  # devture if listed, else password if listed
    "matrix-corporal",  # always password
    "mautrix-go-bots",  # always devture
    "mx-puppet-bridge",  # always password
    "mautrix-imessage",  # always password (restated)
    "mautrix-slack-legacy",  # always password (restated)
    "mautrix-signal-python",  # always password: mautrix-python 0.19 (restated)
)

#: (module config, password_config, GET /login's password/devture types in order, one per family)
#: The last three families send what matrix-corporal and mx-puppet-bridge send (m.login.password,
#: whatever GET /login says), so their cells are those two's.
EXPECTED_ROWS: tuple[tuple[str, str, tuple[str, ...], tuple[Expected, ...]], ...] = (
    # Synapse moves m.login.password to the front of GET /login whenever it is listed.
    ("defaults", "passwords-on", (P, D), (OK_P, OK_D, OK_P, OK_D, OK_P, OK_P, OK_P, OK_P)),
    (
        "defaults",
        "passwords-off",
        (D,),
        (OK_D, OK_D, P_DISABLED, OK_D, P_DISABLED, P_DISABLED, P_DISABLED, P_DISABLED),
    ),
    # localdb off changes nothing while the module itself accepts m.login.password.
    ("defaults", "no-localdb", (P, D), (OK_P, OK_D, OK_P, OK_D, OK_P, OK_P, OK_P, OK_P)),
    ("password-only", "passwords-on", (P,), (OK_P, OK_P, OK_P, D_UNKNOWN, OK_P, OK_P, OK_P, OK_P)),
    (
        "password-only",
        "passwords-off",
        (),
        (
            MAUTRIX_NOTHING,
            GO_NOTHING,
            P_DISABLED,
            D_UNKNOWN,
            P_DISABLED,
            P_DISABLED,
            P_DISABLED,
            P_DISABLED,
        ),
    ),
    ("password-only", "no-localdb", (P,), (OK_P, OK_P, OK_P, D_UNKNOWN, OK_P, OK_P, OK_P, OK_P)),
    # The documented warning: Synapse lists its own m.login.password first, mautrix-python takes it.
    (
        "custom-type-only",
        "passwords-on",
        (P, D),
        (P_WRONG, OK_D, P_WRONG, OK_D, P_WRONG, P_WRONG, P_WRONG, P_WRONG),
    ),
    (
        "custom-type-only",
        "passwords-off",
        (D,),
        (OK_D, OK_D, P_DISABLED, OK_D, P_DISABLED, P_DISABLED, P_DISABLED, P_DISABLED),
    ),
    (
        "custom-type-only",
        "no-localdb",
        (D,),
        (OK_D, OK_D, P_UNKNOWN, OK_D, P_UNKNOWN, P_UNKNOWN, P_UNKNOWN, P_UNKNOWN),
    ),
)

#: How mautrix-python turns an HTTP refusal into its own exception (mautrix.errors).
MAUTRIX_EXCEPTIONS = {"M_FORBIDDEN": "MForbidden", "M_UNKNOWN": "MUnknown"}

#: The row every Synapse release of the version matrix runs (pytest marker ``core``): each
#: bridge family's login against the default configuration.
CORE_ROW = ("defaults", "passwords-on")


def _marks(module_key: str, password_key: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.core] if (module_key, password_key) == CORE_ROW else []


CELLS = [
    pytest.param(
        module_key,
        password_key,
        family,
        expected,
        id=f"{module_key}-{password_key}-{family}",
        marks=_marks(module_key, password_key),
    )
    for module_key, password_key, _, expectations in EXPECTED_ROWS
    for family, expected in zip(FAMILY_ORDER, expectations, strict=True)
]
ROWS = [
    pytest.param(
        module_key,
        password_key,
        flows,
        id=f"{module_key}-{password_key}",
        marks=_marks(module_key, password_key),
    )
    for module_key, password_key, flows, _ in EXPECTED_ROWS
]


@pytest.fixture(scope="module", autouse=True)
def _js_clients() -> None:
    require_js_clients()


@pytest.fixture(scope="module")
def matrix() -> compat.Matrix:
    """Measured rows, shared by every test here (each row's server runs once, then stops)."""
    return compat.Matrix()


@pytest.mark.core
def test_the_expected_table_covers_everything_measured() -> None:
    assert tuple(FAMILIES) == FAMILY_ORDER
    assert [(m, p) for m, p, _, _ in EXPECTED_ROWS] == [
        (m.key, p.key) for m in compat.MODULE_CONFIGS for p in compat.PASSWORD_CONFIGS
    ]


@pytest.mark.parametrize(("module_key", "password_key", "flows"), ROWS)
def test_login_flows_advertised(
    matrix: compat.Matrix, module_key: str, password_key: str, flows: tuple[str, ...]
) -> None:
    row = matrix.row(module_key, password_key)
    assert tuple(t for t in row.flows if t in (P, D)) == flows, row.flows


@pytest.mark.parametrize(("module_key", "password_key", "family", "expected"), CELLS)
def test_double_puppet_login(
    matrix: compat.Matrix, module_key: str, password_key: str, family: str, expected: Expected
) -> None:
    cell = matrix.row(module_key, password_key).cells[family]
    login = cell.login
    assert cell.user_id == "@alice:test.local"
    if isinstance(expected, Works):
        assert login.ok, login
        assert login.login_type == expected.login_type
        assert cell.whoami_user_id == cell.user_id
        assert cell.message_sender == cell.user_id
        assert cell.works
        return
    assert not login.ok, login
    assert not cell.works
    assert login.access_token is None
    if isinstance(expected, SendsNothing):
        assert (login.login_type, login.status, login.error) == (None, None, expected.error)
        if family == "mautrix-python":
            assert login.exception_type == "AutologinError"
        return
    assert (login.login_type, login.status, login.errcode, login.error) == (
        expected.login_type,
        expected.status,
        expected.errcode,
        expected.error,
    )
    if family == "mautrix-python":
        assert login.exception_type == MAUTRIX_EXCEPTIONS[expected.errcode]


def test_the_compatibility_page_shows_the_measured_table(matrix: compat.Matrix) -> None:
    generated = compat.render_table(matrix.rows())
    shown = compat.shown_table()
    assert shown is not None, (
        f"{compat.PAGE} has no {compat.TABLE_START} ... {compat.TABLE_END} section: put the"
        " output of `python -m testbed.compat` between those markers"
    )
    assert shown == generated, (
        f"{compat.PAGE}'s table is stale: regenerate with python -m testbed.compat"
    )


# -- refusals reach the bridge code as the errors it handles -----------------------------------


@dataclass
class Deployment:
    homeserver: Homeserver
    secret: str
    user_id: str


@pytest.fixture(scope="module")
def defaults_server() -> Iterator[Deployment]:
    secret = secrets.token_hex(32)
    defaults = compat.find_setting(compat.MODULE_CONFIGS, "defaults")
    passwords_on = compat.find_setting(compat.PASSWORD_CONFIGS, "passwords-on")
    with compat.start_homeserver(defaults, passwords_on, secret) as homeserver:
        user_id = homeserver.register_user("alice", secrets.token_urlsafe(16))
        yield Deployment(homeserver, secret, user_id)


#: What each family sends with the default config (the first row of EXPECTED_ROWS).
DEFAULTS_TYPE = {
    family: expected.login_type
    for family, expected in zip(FAMILY_ORDER, EXPECTED_ROWS[0][3], strict=True)
    if isinstance(expected, Works)
}
REFUSALS = ("wrong-secret", "missing-user", "remote-user")


@pytest.mark.core
@pytest.mark.parametrize("family", FAMILY_ORDER)
@pytest.mark.parametrize("case", REFUSALS)
def test_refusal_reaches_the_bridge_as_forbidden(
    defaults_server: Deployment, family: str, case: str
) -> None:
    homeserver = defaults_server.homeserver
    user_id, secret = {
        "wrong-secret": (defaults_server.user_id, secrets.token_hex(32)),
        "missing-user": (homeserver.user_id("nobody"), defaults_server.secret),
        "remote-user": ("@x:elsewhere.example", defaults_server.secret),
    }[case]
    login_type = DEFAULTS_TYPE[family]
    refusal_line = re.compile(
        rf"Shared-secret login as {re.escape(user_id)} refused \({re.escape(login_type)}\)"
    )
    refusals_before = len(refusal_line.findall(homeserver.log_text()))

    result = FAMILIES[family](homeserver.url, user_id, secret)

    assert not result.ok, result
    assert result.login_type == login_type
    assert (result.status, result.errcode) == (403, "M_FORBIDDEN"), result
    if family == "mautrix-python":
        assert result.exception_type == "MForbidden"
    # The module itself refused it (once), rather than something on the way.
    assert len(refusal_line.findall(homeserver.log_text())) == refusals_before + 1


#: The restated password-only mautrix bridges, with the device ID and display name each asks for
#: in its source (see testbed.bridges; the slack bridge's ID ends in the Slack team's ID).
RESTATED_MAUTRIX_DEVICES = {
    MAUTRIX_IMESSAGE: ("iMessage Bridge", "iMessage Bridge"),
    MAUTRIX_SLACK_LEGACY: ("Slack Bridge T0DEMO", "Slack Bridge"),
    MAUTRIX_SIGNAL_PYTHON: ("Signal Bridge", "Signal Bridge"),
}


@pytest.mark.parametrize("family", list(RESTATED_MAUTRIX_DEVICES), ids=lambda f: f.name)
def test_restated_mautrix_password_bridges_send_what_the_model_says(
    defaults_server: Deployment, family: Family
) -> None:
    """The request of each restatement is the one the families model describes (and doctor
    predicts from): m.login.password with mautrix's fields, and the server keeps its device."""
    assert (family.choice, family.shape) == (Choice.PASSWORD_ONLY, BodyShape.MAUTRIX)
    device_id, device_name = RESTATED_MAUTRIX_DEVICES[family]
    user_id, secret = defaults_server.user_id, defaults_server.secret

    result = FAMILIES[family.name](defaults_server.homeserver.url, user_id, secret)

    assert result.ok, result
    assert result.request_body == {
        "type": P,
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": make_token(secret, user_id),
        "device_id": device_id,
        "initial_device_display_name": device_name,
    }
    assert (result.user_id, result.device_id) == (user_id, device_id)


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_count_each_outcome_exactly() -> None:
    secret = secrets.token_hex(32)
    defaults = compat.find_setting(compat.MODULE_CONFIGS, "defaults")
    passwords_on = compat.find_setting(compat.PASSWORD_CONFIGS, "passwords-on")
    with compat.start_homeserver(defaults, passwords_on, secret, enable_metrics=True) as hs:
        password = secrets.token_urlsafe(16)
        alice = hs.register_user("alice", password)
        bob = hs.register_user("bob")
        hs.deactivate_user(bob)

        def login(login_type: str, user_id: str, token: str) -> int:
            field = "token" if login_type == D else "password"
            body = {"type": login_type, "identifier": {"type": "m.id.user", "user": user_id}}
            status, _ = hs.login({**body, field: token})
            return status

        # An ordinary password is not a shared-secret attempt: it must not be counted.
        main_token = password_login_device(hs, alice, password, "MAIN")
        assert login(P, alice, make_token(secret, alice)) == 200  # success
        assert login(D, alice, make_token(secrets.token_hex(32), alice)) == 403  # bad_token
        nobody = hs.user_id("nobody")
        assert login(P, nobody, make_token(secret, nobody)) == 403  # unknown_user
        remote = "@x:elsewhere.example"
        assert login(D, remote, make_token(secret, remote)) == 403  # remote_user
        assert login(D, bob, make_token(secret, bob)) == 403  # not_allowed: deactivated
        assert login(D, alice, "not a token") == 403  # malformed
        password_login_device(hs, alice, password, "VICTIM")
        status, _ = delete_device(
            hs,
            main_token,
            "VICTIM",
            {
                "type": P,
                "identifier": {"type": "m.id.user", "user": alice},
                "password": make_token(secret, alice),
            },
        )
        assert status == 401  # uia_refused
        assert device_exists(hs, main_token, "VICTIM")

        counts = read_counter(hs.metrics_url, "synapse_dp_auth_login_attempts_total")

    def labels(login_type: str, outcome: str) -> frozenset[tuple[str, str]]:
        return frozenset({("login_type", login_type), ("outcome", outcome)})

    assert counts == {
        labels(P, "success"): 1.0,
        labels(D, "bad_token"): 1.0,
        labels(P, "unknown_user"): 1.0,
        labels(D, "remote_user"): 1.0,
        labels(D, "not_allowed"): 1.0,
        labels(D, "malformed"): 1.0,
        labels(P, "uia_refused"): 1.0,
    }
