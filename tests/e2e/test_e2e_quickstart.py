"""The README's quick start, run as written, against a real Synapse and real bridge configs.

The commands are read from the README itself (the fenced block under its quick-start marker),
never restated here. Only what the README names as placeholders is replaced: the paths of
homeserver.yaml and of the bridges' configs (``/etc/...``: here files in a temporary directory)
and the user (``@alice:example.org``: a user of this server). ``systemctl restart matrix-synapse``
restarts this Synapse; no bridge process runs here, so restarting a bridge does nothing, and what
each bridge then does with its edited config is shown by its own double-puppet code instead.

The server is the testbed's Synapse with its settings written as an admin's homeserver.yaml (no
module, no registration). The bridges' configs are the shipped examples as an admin first edits
them (tests/fixtures/bridge_configs/: the upstream placeholders left in the double-puppet
settings), with the homeserver's address set to this server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from constants import REPO_ROOT
from docs_support import quickstart_commands

from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from testbed import bridges
from testbed.homeserver import Homeserver

#: The server name of the fixtures (the upstream examples' own).
SERVER = "example.com"
#: The placeholders of the README's quick start.
README_USER = "@alice:example.org"
README_HOMESERVER_YAML = "/etc/matrix-synapse/homeserver.yaml"
README_BRIDGE_CONFIG = re.compile(r"^/etc/(?P<unit>[\w.-]+)/config\.yaml$")

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bridge_configs"
#: The config an admin starts from, per bridge the README names (its systemd unit), and the URLs
#: of the example that the admin replaces with their homeserver's address.
BRIDGE_CONFIGS = {
    "mautrix-whatsapp": (
        FIXTURES / "mautrix-go-bridgev2" / "example.yaml",
        ("http://example.localhost:8008",),
    ),
    "mautrix-telegram": (
        FIXTURES / "mautrix-python" / "telegram-example.yaml",
        ("https://example.com",),
    ),
}

#: What each bridge's own double-puppet code does with the value its config ends with.
BRIDGE_CODE = {
    "mautrix-whatsapp": bridges.bridgev2_appservice,
    "mautrix-telegram": bridges.mautrix_python_appservice,
}
SECRET_KEYS = {
    "mautrix-whatsapp": ("double_puppet", "secrets"),
    "mautrix-telegram": ("bridge", "login_shared_secret_map"),
}

COMMAND = Path(sys.executable).with_name("synapse_dp_auth")


class Machine:
    """The admin's machine: a running Synapse, its homeserver.yaml, the bridges' configs."""

    def __init__(self, homeserver: Homeserver, etc: Path, user_id: str) -> None:
        self.homeserver = homeserver
        self.etc = etc
        self.user_id = user_id
        self.restarted: list[str] = []

    def path(self, readme_path: str) -> str:
        """The file behind a path of the README."""
        if readme_path == README_HOMESERVER_YAML:
            return str(self.homeserver.config_path)
        match = README_BRIDGE_CONFIG.match(readme_path)
        assert match and match["unit"] in BRIDGE_CONFIGS, (
            f"the quick start names {readme_path}: give this test a config for it"
        )
        return str(self.etc / match["unit"] / "config.yaml")

    def substitute(self, argv: list[str]) -> list[str]:
        out = []
        for arg in argv:
            if arg.startswith("/etc/"):
                arg = self.path(arg)
            elif arg == README_USER:
                arg = self.user_id
            out.append(arg)
        return out

    def files(self) -> dict[str, bytes]:
        paths = [self.homeserver.config_path, *sorted(self.etc.glob("*/config.yaml"))]
        return {str(path): path.read_bytes() for path in paths}


def admin_homeserver_yaml(generated: dict[str, object]) -> str:
    """The testbed's settings as an admin keeps homeserver.yaml: YAML, with a comment; no module
    and no registration yet."""
    kept = {
        key: value
        for key, value in generated.items()
        if key not in ("modules", "app_service_config_files") or value
    }
    return "# Synapse's configuration\n" + yaml.safe_dump(kept, sort_keys=False)


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    homeserver = Homeserver(server_name=SERVER)
    with homeserver:
        # The testbed writes its settings as JSON; the admin's own homeserver.yaml replaces it.
        generated = json.loads(homeserver.config_path.read_text(encoding="utf-8"))
        homeserver.stop()
        homeserver.config_path.write_text(admin_homeserver_yaml(generated), encoding="utf-8")
        homeserver.start()
        etc = tmp_path / "etc"
        for unit, (example, addresses) in BRIDGE_CONFIGS.items():
            text = example.read_text(encoding="utf-8")
            for address in addresses:
                assert address in text, (example, address)
                text = text.replace(address, homeserver.url)
            (etc / unit).mkdir(parents=True)
            (etc / unit / "config.yaml").write_text(text, encoding="utf-8")
        yield Machine(homeserver, etc, homeserver.register_user("alice"))


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``synapse_dp_auth`` command, in a shell-like environment with no secret in
    it and no terminal to prompt on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNAPSE_DP_AUTH_")}
    env.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(  # noqa: S603 - the package's own console script
        [str(COMMAND), *argv[1:]],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_quick_start_as_written(machine: Machine, tmp_path: Path) -> None:
    commands = quickstart_commands((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    ran = []
    for line in commands:
        argv = machine.substitute(shlex.split(line))
        if argv[0] == "synapse_dp_auth":
            before = machine.files()
            done = run(argv, tmp_path)
            output = f"$ {line}\n{done.stdout}{done.stderr}"
            assert done.stderr == "" and "Traceback" not in done.stdout, output
            if argv[1] == "plan" and "--apply" not in argv:
                assert done.returncode == 1, output  # changes to make
                assert machine.files() == before, "plan without --apply changed a file"
            else:
                assert done.returncode == 0, output
            if argv[1] == "doctor":
                assert f"can double-puppet {machine.user_id}" in done.stdout, output
        elif argv[:2] == ["systemctl", "restart"]:
            for unit in argv[2:]:
                if unit == "matrix-synapse":
                    machine.homeserver.stop()
                    machine.homeserver.start()  # with what plan --apply wrote
                else:
                    assert unit in BRIDGE_CONFIGS, f"restarts {unit}, a bridge this test lacks"
                machine.restarted.append(unit)
        else:
            raise AssertionError(f"the quick start runs {line!r}: teach this test what it means")
        ran.append(argv[:2])
    assert ran[0] == ["synapse_dp_auth", "plan"]
    assert machine.restarted[0] == "matrix-synapse"
    assert set(machine.restarted[1:]) == set(BRIDGE_CONFIGS)

    # Each bridge's own double-puppet code, with the value its config now holds.
    for unit, code in BRIDGE_CODE.items():
        config = yaml.safe_load((machine.etc / unit / "config.yaml").read_text(encoding="utf-8"))
        section, key = SECRET_KEYS[unit]
        value = config[section][key][SERVER]
        assert value.startswith(AS_TOKEN_PREFIX), unit
        result = code(machine.homeserver.url, machine.user_id, value)
        assert result.works_for(machine.user_id), (unit, result)

    # And plan, asked again, finds nothing to do.
    again = run(machine.substitute(shlex.split(commands[0])), tmp_path)
    assert again.returncode == 0 and "Nothing to change" in again.stdout, again.stdout
