"""``check-config`` on real files: the module's entry, devture's, the homeserver settings that
matter, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli
from constants import DEVTURE, MODULE, OTHER_SECRET, PASSWORD, SECRET

from synapse_dp_auth.admin.check_config import module_entry


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


def write_config(directory: Path, text: str, name: str = "homeserver.yaml") -> str:
    path = directory / name
    path.write_text("server_name: example.org\n" + text, encoding="utf-8")
    return str(path)


def module_yaml(config: str, section: str = "modules", module: str = MODULE) -> str:
    indented = "".join(f"      {line}\n" for line in config.strip().splitlines())
    return f"{section}:\n  - module: {module}\n    config:\n{indented}"


def test_check_config_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, module_yaml(f'shared_secret: ["{SECRET}", "{OTHER_SECRET}"]\nallow_admins: false')
    )
    code, out, err = run_cli(capsys, "check-config", path)
    assert (code, err) == (0, "")
    assert f"{MODULE}: modules[0] in {path}" in out
    assert "  shared_secret: 2 secrets (masked)\n" in out
    assert "  m_login_password_support_enabled: true (default)\n" in out
    assert "  allow_admins: false\n" in out
    assert "  allowed_users: every local user (default)\n" in out
    assert "rc_login.address: per_second 0.003, burst_count 5 (default)" in out
    assert f"Expected GET /login list: {PASSWORD}, {DEVTURE}" in out
    assert "warning:" not in out
    assert out.endswith("Valid, with 0 warning(s).\n")
    assert SECRET not in out
    assert OTHER_SECRET not in out


def test_check_config_secret_file_masked_and_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    secret_file.chmod(0o644)
    path = write_config(tmp_path, module_yaml(f"shared_secret_path: {secret_file}"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 0
    assert f"  shared_secret_path: {secret_file}: 1 secret (masked)\n" in out
    assert f"warning: shared_secret_path: {secret_file} is accessible by group or others" in out
    assert SECRET not in out


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("allow_admins: true", "modules[0].config.shared_secret: is required"),
        (f'shared_secret: "{SECRET}"\nallow_admins: "false"', "modules[0].config.allow_admins:"),
        (f'shared_secret: "{SECRET}"\nshared_secrets: x', "modules[0].config.shared_secrets:"),
        (
            f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: false\n'
            "com_devture_shared_secret_auth_support_enabled: false",
            "both false",
        ),
        (f'shared_secret: "{SECRET}"\nallowed_users: ["("]', "not a valid regular expression"),
        ("shared_secret_path: /nonexistent/secret", "cannot read /nonexistent/secret"),
    ],
)
def test_check_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, expected: str
) -> None:
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 1
    assert f"error: {expected}" in out or expected in out
    assert out.endswith("not valid.\n")
    assert SECRET not in out


def test_check_config_retention_is_shown_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, module_yaml(f"shared_secret: {SECRET}"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 0
    assert "  login_records_retention_period: 90 days after the session ends (default)\n" in out
    config = f"shared_secret: {SECRET}\nlogin_records_retention_period: 2 weeks"
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 1
    assert "modules[0].config.login_records_retention_period: must be a duration" in out


def test_check_config_empty_config_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"modules:\n  - module: {MODULE}\n    shared_secret: {SECRET}\n"
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "warning: modules[0] has shared_secret next to module:" in out
    assert "error: modules[0].config.shared_secret: is required" in out
    assert SECRET not in out


def test_check_config_under_password_providers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, module_yaml(f'shared_secret: "{SECRET}"', "password_providers"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 1
    assert "error: password_providers[0]: synapse_dp_auth is a module" in out
    assert "from password_providers: to modules:" in out
    assert "shared_secret: 1 secret (masked)" in out  # its config is still checked


def test_check_config_devture_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, module_yaml(f'shared_secret: "{SECRET}"', module=module_entry.DEVTURE_MODULE)
    )
    code, out, _ = run_cli(capsys, "check-config", path)
    # devture's module serves shared-secret logins: advice to migrate, as a note, not a failure.
    assert code == 0
    assert (
        f"note: modules[0]: devture's {module_entry.DEVTURE_MODULE} serves the bridges'"
        " shared-secret logins here"
    ) in out
    assert f"change its module: to {MODULE} and keep its config:" in out
    assert "its config: is valid for synapse_dp_auth as it is" in out
    assert "not configured" not in out
    assert "error:" not in out and "warning:" not in out
    assert SECRET not in out


def test_check_config_devture_module_with_a_string_boolean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: "true"'
    path = write_config(tmp_path, module_yaml(config, module=module_entry.DEVTURE_MODULE))
    _, out, _ = run_cli(capsys, "check-config", path)
    assert "synapse_dp_auth would refuse this" in out
    assert "m_login_password_support_enabled" in out


def test_check_config_devture_v1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        f"password_providers:\n  - module: {module_entry.DEVTURE_V1_PROVIDER}\n"
        f"    config:\n      sharedSecret: {SECRET}\n"
    )
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "shared-secret-authenticator v1" in out
    assert "<the value of its sharedSecret>" in out
    assert SECRET not in out


def test_check_config_both_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + (
        f"  - module: {module_entry.DEVTURE_MODULE}\n    config:\n      shared_secret: {SECRET}\n"
    )
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "error: modules[1]: devture's" in out
    assert "remove its entry" in out


def test_check_config_listed_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = module_yaml(f'shared_secret: "{SECRET}"')
    text = entry + entry.partition("\n")[2]
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "listed more than once" in out


def test_check_config_not_configured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, "modules: []\n"))
    assert code == 1
    assert "error: synapse_dp_auth is not configured" in out


def test_check_config_predicts_mautrix_python_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: false'
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 0  # valid, but:
    assert (
        "warning: mautrix-python cannot log in: sends m.login.password, listed first, where the"
        " module takes no tokens: set m_login_password_support_enabled: true"
    ) in out
    assert "ok    mautrix-go-legacy: com.devture.shared_secret_auth" in out


def test_check_config_password_login_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + "password_config:\n  enabled: false\n"
    _, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert "password_config.enabled: false: Synapse lists and accepts no m.login.password" in out
    assert "warning: matrix-corporal cannot log in" in out
    assert "ok    mautrix-python: com.devture.shared_secret_auth" in out


def test_check_config_rate_limits_and_mas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + (
        "rc_login:\n  address: {per_second: 1, burst_count: 50}\n"
        "matrix_authentication_service:\n  enabled: true\n"
    )
    _, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert "rc_login.address: per_second 1, burst_count 50\n" in out
    assert "rc_login.account: per_second 0.003, burst_count 5 (default)" in out
    assert "warning: login is delegated to the Matrix Authentication Service" in out


def test_check_config_merges_like_synapse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = write_config(tmp_path, "modules: []\n")
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-dp-auth.yaml").write_text(module_yaml(f'shared_secret: "{SECRET}"'), "utf-8")
    (conf_d / "20-empty.yaml").write_text("", "utf-8")
    (conf_d / "notes.txt").write_text("not yaml: [", "utf-8")
    code, out, _ = run_cli(capsys, "check-config", main, str(conf_d))
    assert code == 0
    assert f"modules[0] in {conf_d / '10-dp-auth.yaml'}" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'modules:\n  - module: {MODULE}\n    config:\n      shared_secret: "{SECRET}\n',
            "not valid YAML: ",
        ),
        ("- just\n- a list\n", "does not hold a mapping of settings"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_check_config_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, expected: str
) -> None:
    path = tmp_path / "homeserver.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "check-config", str(path))
    assert (code, out) == (1, "")
    assert expected in err
    assert err.count("\n") == 1
    assert SECRET not in err  # PyYAML's snippet of the offending line is left out


def test_check_config_not_utf8_is_not_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "homeserver.yaml"
    secret = SECRET[:20].encode() + b"\xff" + SECRET[20:].encode()
    path.write_bytes(
        f"modules:\n  - module: {MODULE}\n    config:\n      shared_secret: ".encode() + secret
    )
    code, out, err = run_cli(capsys, "check-config", str(path))
    assert (code, out) == (1, "")
    # The decoder's own message would quote a byte of the inline secret (0xff).
    assert err == f"synapse_dp_auth check-config: error: cannot read {path}: not valid UTF-8\n"


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "check-config", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err == (
        f"synapse_dp_auth check-config: error: cannot read {tmp_path / 'nope.yaml'}:"
        " No such file or directory\n"
    )


def test_check_config_devture_module_under_oauth_delegation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Synapse refuses every password-auth module under delegation, devture's too: not "serves
    the bridges' shared-secret logins here"."""
    text = module_yaml(f'shared_secret: "{SECRET}"', module=module_entry.DEVTURE_MODULE) + (
        "matrix_authentication_service:\n  enabled: true\n"
    )
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert (
        f"error: modules[0]: devture's {module_entry.DEVTURE_MODULE} cannot run while auth is"
        " delegated to the Matrix Authentication Service"
    ) in out
    assert "serves the bridges' shared-secret logins" not in out
    assert "warning: no bridge can double-puppet here" in out
    assert SECRET not in out
