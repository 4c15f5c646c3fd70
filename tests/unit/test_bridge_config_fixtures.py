"""``doctor --bridge-config`` on the configs admins really have: every bridge fixture of
``tests/fixtures/bridge_configs/`` (its README is the specification: the expected verdict per
fixture), read offline.

What the config alone decides is decided before any request: the client factory given to the
check fails the test if it is ever called for those rows. The live half (a real Synapse in three
module configurations) is ``tests/e2e/test_e2e_bridge_configs.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from synapse_dp_auth.admin.doctor.bridge_config import container_host, run_bridge_plan
from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    identify,
    load_bridge_config,
)
from synapse_dp_auth.admin.doctor.bridge_config_method import plan_double_puppet
from synapse_dp_auth.admin.doctor.bridge_config_model import Method
from synapse_dp_auth.admin.shared.client import HomeserverClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bridge_configs"
USER = "@alice:example.com"
SECRET = "fixture-shared-secret-3f8a1c9e7b52"
AS_TOKEN = "6f1c2a9e-4b7d-5e3a-8c21-9d0e4f7a3b15"

K = BridgeKind
M = Method
ERROR = "error"  # BridgeConfigError: the config does not set double puppeting up

#: fixture -> (kind, outcome, family whose login the bridge sends). Written out from the
#: fixtures' README, not computed from the code under test.
EXPECTED: dict[str, tuple[BridgeKind, Method | str, str | None]] = {
    "mautrix-go-bridgev2/example.yaml": (K.BRIDGEV2, M.PLACEHOLDER, None),
    "mautrix-go-bridgev2/shared-secret.yaml": (K.BRIDGEV2, M.IGNORED, None),
    "mautrix-go-bridgev2/as-token.yaml": (K.BRIDGEV2, M.APPSERVICE_TOKEN, None),
    "mautrix-go-bridgev2/mdad-rendered.yaml": (K.BRIDGEV2, M.APPSERVICE_TOKEN, None),
    "mautrix-go-bridgev2/mdad-rendered-disabled.yaml": (K.BRIDGEV2, ERROR, None),
    "mautrix-go-bridgev2/as-token-inner-quotes.yaml": (K.BRIDGEV2, M.UNUSABLE, None),
    "mautrix-go-bridgev2/as-token-is-shared-secret.yaml": (K.BRIDGEV2, M.APPSERVICE_TOKEN, None),
    "mautrix-go-legacy/whatsapp-example.yaml": (K.LEGACY_MAUTRIX_GO, M.PLACEHOLDER, None),
    "mautrix-go-legacy/whatsapp-shared-secret.yaml": (
        K.LEGACY_MAUTRIX_GO,
        M.VERSION_DEPENDENT,
        None,
    ),
    "mautrix-go-legacy/whatsapp-single-login-shared-secret.yaml": (
        K.LEGACY_MAUTRIX_GO,
        M.VERSION_DEPENDENT,
        None,
    ),
    "mautrix-go-legacy/discord-example.yaml": (K.LEGACY_MAUTRIX_GO, M.PLACEHOLDER, None),
    "mautrix-go-legacy/discord-shared-secret.yaml": (
        K.LEGACY_MAUTRIX_GO,
        M.SHARED_SECRET,
        "mautrix-go-legacy",
    ),
    "mautrix-go-legacy/discord-as-token.yaml": (K.LEGACY_MAUTRIX_GO, M.APPSERVICE_TOKEN, None),
    "mautrix-go-legacy/discord-mdad-rendered.yaml": (
        K.LEGACY_MAUTRIX_GO,
        M.APPSERVICE_TOKEN,
        None,
    ),
    "mautrix-imessage/example.yaml": (K.IMESSAGE, ERROR, None),
    "mautrix-imessage/shared-secret.yaml": (K.IMESSAGE, M.SHARED_SECRET, "mautrix-imessage"),
    "mautrix-imessage/as-token.yaml": (K.IMESSAGE, M.IGNORED, None),
    "mautrix-slack-legacy/example.yaml": (K.SLACK_LEGACY, M.PLACEHOLDER, None),
    "mautrix-slack-legacy/shared-secret.yaml": (
        K.SLACK_LEGACY,
        M.SHARED_SECRET,
        "mautrix-slack-legacy",
    ),
    "mautrix-slack-legacy/as-token.yaml": (K.SLACK_LEGACY, M.VERSION_DEPENDENT, None),
    "mautrix-slack-legacy/mdad-rendered.yaml": (
        K.SLACK_LEGACY,
        M.SHARED_SECRET,
        "mautrix-slack-legacy",
    ),
    "mautrix-python/telegram-example.yaml": (K.MAUTRIX_PYTHON, M.PLACEHOLDER, None),
    "mautrix-python/telegram-shared-secret.yaml": (K.MAUTRIX_PYTHON, M.VERSION_DEPENDENT, None),
    "mautrix-python/telegram-as-token.yaml": (K.MAUTRIX_PYTHON, M.APPSERVICE_TOKEN, None),
    "mautrix-python/telegram-single-login-shared-secret.yaml": (
        K.MAUTRIX_PYTHON,
        M.VERSION_DEPENDENT,
        None,
    ),
    "mautrix-python/telegram-mdad-rendered.yaml": (K.MAUTRIX_PYTHON, M.APPSERVICE_TOKEN, None),
    "mautrix-python/googlechat-example.yaml": (K.MAUTRIX_PYTHON, M.PLACEHOLDER, None),
    "mautrix-python/googlechat-mdad-rendered.yaml": (
        K.MAUTRIX_PYTHON,
        M.APPSERVICE_TOKEN,
        None,
    ),
    "mautrix-python/googlechat-mdad-rendered-shared-secret.yaml": (
        K.MAUTRIX_PYTHON,
        M.SHARED_SECRET,
        "mautrix-python",
    ),
    "mautrix-python/googlechat-mdad-rendered-disabled.yaml": (K.MAUTRIX_PYTHON, ERROR, None),
    "mautrix-python/googlechat-both-keys.yaml": (
        K.MAUTRIX_PYTHON,
        M.SHARED_SECRET,
        "mautrix-python",
    ),
    "mautrix-signal-python/example.yaml": (K.SIGNAL_PYTHON, M.PLACEHOLDER, None),
    "mautrix-signal-python/shared-secret.yaml": (
        K.SIGNAL_PYTHON,
        M.SHARED_SECRET,
        "mautrix-signal-python",
    ),
    "mautrix-signal-python/as-token.yaml": (K.SIGNAL_PYTHON, M.IGNORED, None),
    "mautrix-signal-python/mdad-rendered.yaml": (
        K.SIGNAL_PYTHON,
        M.SHARED_SECRET,
        "mautrix-signal-python",
    ),
    "mautrix-signal-python/mdad-rendered-disabled.yaml": (K.SIGNAL_PYTHON, ERROR, None),
    "mx-puppet-bridge/sample.yaml": (K.MX_PUPPET_BRIDGE, ERROR, None),
    "mx-puppet-bridge/shared-secret.yaml": (
        K.MX_PUPPET_BRIDGE,
        M.SHARED_SECRET,
        "mx-puppet-bridge",
    ),
    "mx-puppet-bridge/as-token.yaml": (K.MX_PUPPET_BRIDGE, M.IGNORED, None),
    "mx-puppet-bridge/mdad-rendered.yaml": (
        K.MX_PUPPET_BRIDGE,
        M.SHARED_SECRET,
        "mx-puppet-bridge",
    ),
    "matrix-corporal/config-dist.json": (K.MATRIX_CORPORAL, M.PLACEHOLDER, None),
    "matrix-corporal/mdad-rendered.json": (
        K.MATRIX_CORPORAL,
        M.SHARED_SECRET,
        "matrix-corporal",
    ),
    "matrix-corporal/auth-shared-secret-empty.json": (K.MATRIX_CORPORAL, ERROR, None),
}

#: The rows decided from the config alone: no request may be sent for them.
OFFLINE = {M.PLACEHOLDER, M.IGNORED, M.UNUSABLE, M.NOT_ALLOWED, M.VERSION_DEPENDENT}


def test_every_bridge_fixture_has_an_expected_verdict() -> None:
    found = {
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.glob("*/*")
        if path.suffix in (".yaml", ".json") and path.parent.name != "homeserver"
    }
    assert found == set(EXPECTED)


def _no_request(url: str) -> HomeserverClient:
    raise AssertionError(f"a request to {url} for a verdict the config alone decides")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_verdict_on_each_real_config_shape(name: str) -> None:
    kind, outcome, family = EXPECTED[name]
    path = str(FIXTURES / name)
    config = load_bridge_config(path)
    assert identify(config, path) is kind
    if outcome == ERROR:
        with pytest.raises(BridgeConfigError) as raised:
            plan_double_puppet(config, path, USER)
        message = str(raised.value)
        assert SECRET not in message and AS_TOKEN not in message
        return
    plan = plan_double_puppet(config, path, USER)
    assert plan.method is outcome
    assert (plan.family.name if plan.family else None) == family
    if outcome in OFFLINE:
        out = io.StringIO()
        code = run_bridge_plan(
            plan, out, user_id=USER, homeserver_url=None, make_client=_no_request
        )
        assert code == 1
        text = out.getvalue()
        assert SECRET not in text and AS_TOKEN not in text
        verdict = "VERSION  " if outcome is M.VERSION_DEPENDENT else "FAIL  "
        assert any(line.startswith(verdict) for line in text.splitlines())
        if outcome is M.PLACEHOLDER:
            assert "placeholder" in text


def _error(name: str) -> str:
    path = str(FIXTURES / name)
    with pytest.raises(BridgeConfigError) as raised:
        plan_double_puppet(load_bridge_config(path), path, USER)
    return str(raised.value)


def _report(name: str) -> str:
    path = str(FIXTURES / name)
    plan = plan_double_puppet(load_bridge_config(path), path, USER)
    out = io.StringIO()
    run_bridge_plan(plan, out, user_id=USER, homeserver_url=None, make_client=_no_request)
    return out.getvalue()


def test_the_single_key_is_named_where_the_bridge_reads_it() -> None:
    for name in (
        "mautrix-imessage/example.yaml",
        "mautrix-python/googlechat-mdad-rendered-disabled.yaml",
    ):
        message = _error(name)
        assert "bridge.login_shared_secret " in message
        assert "login_shared_secret_map" not in message


def test_the_single_key_wins_over_the_map_in_mautrix_python() -> None:
    path = str(FIXTURES / "mautrix-python/googlechat-both-keys.yaml")
    plan = plan_double_puppet(load_bridge_config(path), path, USER)
    assert plan.secret_key == "bridge.login_shared_secret"
    assert plan.secret == SECRET  # not the map's placeholder


def test_the_bridges_that_cannot_read_as_token_are_told_to_use_the_module() -> None:
    assert (
        "as_token:"
        not in _error("mautrix-signal-python/mdad-rendered-disabled.yaml").split("To set it up:")[1]
    )
    assert "synapse_dp_auth" in _error("matrix-corporal/auth-shared-secret-empty.json")
    report = _report("mautrix-signal-python/as-token.yaml")
    assert "never reads `as_token:`" in report


def test_a_version_verdict_names_both_sides_and_the_change_for_both() -> None:
    report = _report("mautrix-go-legacy/whatsapp-shared-secret.yaml")
    assert "v0.10.9 and older" in report and "v0.11.0 and later" in report
    assert '"as_token:<the registration\'s as_token>"' in report
    report = _report("mautrix-slack-legacy/as-token.yaml")
    assert "98d157b" in report and "shared secret" in report


def test_quotes_inside_an_as_token_value_are_found_from_the_config() -> None:
    report = _report("mautrix-go-bridgev2/as-token-inner-quotes.yaml")
    assert "quote" in report


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://matrix-traefik:8008", "matrix-traefik"),
        ("http://matrix-synapse:8008/", "matrix-synapse"),
        ("http://localhost:8008", None),
        ("https://matrix.example.com", None),
        ("http://127.0.0.1:8008", None),
        ("http://[::1]:8008", None),
        ("http://[::1", None),  # not a URL: the client refuses it in a line of its own
    ],
)
def test_a_container_name_is_told_apart_from_a_reachable_address(
    url: str, host: str | None
) -> None:
    assert container_host(url) == host


@pytest.mark.parametrize(
    "name",
    [
        "mautrix-imessage/shared-secret.yaml",
        "mautrix-slack-legacy/shared-secret.yaml",
        "mautrix-signal-python/shared-secret.yaml",
    ],
)
def test_the_value_appservice_is_the_appservice_login_in_every_mautrix_kind(
    name: str, tmp_path: Path
) -> None:
    """imessage and legacy slack (custompuppet.go) and mautrix-python 0.19 take the literal
    `appservice` as a login with the bridge's own as_token, not as a shared secret."""
    text = (FIXTURES / name).read_text(encoding="utf-8").replace(SECRET, "appservice")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    plan = plan_double_puppet(load_bridge_config(str(path)), str(path), USER)
    assert plan.method is Method.APPSERVICE_LOGIN


def _edited(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> str:
    """The fixture ``name`` with each ``(old, new)`` replaced, written to ``tmp_path``."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / Path(name).name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_null_single_key_leaves_mautrix_python_on_its_map(tmp_path: Path) -> None:
    """``"bridge.login_shared_secret" in self`` is ``get(key) is not None`` (mautrix/python
    recursive_dict.py): null keeps the map, an empty string replaces it."""
    name = "mautrix-python/googlechat-both-keys.yaml"
    both = (FIXTURES / name).read_text(encoding="utf-8")
    with_map = both.replace("example.com: foobar", f"example.com: {SECRET}")
    assert with_map != both
    null = tmp_path / "null.yaml"
    null.write_text(
        with_map.replace(f"login_shared_secret: {SECRET}", "login_shared_secret: null"), "utf-8"
    )
    plan = plan_double_puppet(load_bridge_config(str(null)), str(null), USER)
    assert plan.secret_key == 'bridge.login_shared_secret_map["example.com"]'
    assert plan.method is M.SHARED_SECRET and plan.secret == SECRET


def test_imessage_double_puppets_its_user_on_another_server(tmp_path: Path) -> None:
    """custompuppet.go @ 300ba6d0e556 does not check the user's server: it logs in at
    bridge.double_puppet_server_url."""
    path = _edited(
        tmp_path,
        "mautrix-imessage/shared-secret.yaml",
        ("    domain: example.com", "    domain: bridge.example.net"),
        ("double_puppet_server_url: null", "double_puppet_server_url: https://matrix.example.com"),
    )
    plan = plan_double_puppet(load_bridge_config(path), path, USER)
    assert plan.method is M.SHARED_SECRET
    assert (plan.homeserver_url, plan.url_key) == (
        "https://matrix.example.com",
        "bridge.double_puppet_server_url",
    )


def test_the_value_appservice_in_a_legacy_whatsapp_config_depends_on_the_release(
    tmp_path: Path,
) -> None:
    """bridgev2 honours as_token: only, so `appservice` stops working after the upgrade too."""
    path = _edited(
        tmp_path, "mautrix-go-legacy/whatsapp-shared-secret.yaml", (SECRET, "appservice")
    )
    plan = plan_double_puppet(load_bridge_config(path), path, USER)
    assert plan.method is M.VERSION_DEPENDENT
    assert "m.login.application_service" in plan.explanation


def test_bridge_user_marks_imessage_only_in_the_go_layout(tmp_path: Path) -> None:
    """A mautrix-python bridge may have bridge.user too (matrix-puppeteer-line)."""
    path = _edited(
        tmp_path,
        "mautrix-python/telegram-shared-secret.yaml",
        ("bridge:\n", 'bridge:\n    user: "@alice:example.com"\n'),
    )
    assert identify(load_bridge_config(path), path) is K.MAUTRIX_PYTHON


def test_a_server_name_that_is_not_one_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = _edited(
        tmp_path,
        "mautrix-go-legacy/discord-shared-secret.yaml",
        ("    domain: example.com", '    domain: "example.com\\nFAKE LINE: ok"'),
    )
    message = _plan_error(path)
    assert "homeserver.domain is not a server name" in message
    assert "\n" not in message and "FAKE" not in message


def _plan_error(path: str) -> str:
    with pytest.raises(BridgeConfigError) as raised:
        plan_double_puppet(load_bridge_config(path), path, USER)
    return str(raised.value)
