"""``plan``'s decisions, without Synapse: which bridge wrote a config, the method it uses now and
whether that can work, the method it should use, what is written where, the server side, and the
command as a whole on real files in a temporary directory (plan, --apply, plan again).

The bridge configs are tests/fixtures/bridge_configs/ (our own restatements of the upstream
layouts, with the values listed in its README): the module's secret and the double-puppet
registration's as_token below are the ones they use.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
from pathlib import Path

import attr
import pytest
import yaml

from synapse_dp_auth.admin import cli
from synapse_dp_auth.admin.plan.apply import Outcome
from synapse_dp_auth.admin.plan.bridge_plan import Decision, Method, Write, decide
from synapse_dp_auth.admin.plan.bridge_reading import (
    BridgeFamily,
    UnreadableConfigError,
    parse_config_text,
    recognise,
)
from synapse_dp_auth.admin.plan.execute import apply_plan
from synapse_dp_auth.admin.plan.planning import make_plan
from synapse_dp_auth.admin.plan.recipes import recipe_for
from synapse_dp_auth.admin.plan.server_facts import ModuleFacts, Registration, ServerFacts
from synapse_dp_auth.admin.plan.server_plan import plan_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bridge_configs"
SERVER = "example.com"
SECRET = "fixture-shared-secret-3f8a1c9e7b52"
AS_TOKEN = "6f1c2a9e-4b7d-5e3a-8c21-9d0e4f7a3b15"
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

DOUBLE_PUPPET = Registration(
    path="/etc/matrix-synapse/doublepuppet.yaml",
    registration_id="double-puppet",
    as_token=AS_TOKEN,
    double_puppet=True,
)


def facts(
    *,
    module: ModuleFacts | None = None,
    registrations: tuple[Registration, ...] = (DOUBLE_PUPPET,),
    delegated: bool = False,
    password_login: bool = True,
) -> ServerFacts:
    return ServerFacts(
        files=("/etc/matrix-synapse/homeserver.yaml",),
        sources={},
        server_name=SERVER,
        delegated=delegated,
        password_login=password_login,
        module=module,
        registrations=registrations,
    )


OUR_MODULE = ModuleFacts(name="synapse_dp_auth", where="modules[0]", secrets=(SECRET,))


def fixture(name: str) -> tuple[BridgeFamily, dict[str, object]]:
    path = FIXTURES / name
    config = dict(parse_config_text(path.read_text(encoding="utf-8"), str(path)))
    return recognise(config, str(path)).family, config


def decision_for(name: str, server: ServerFacts, *, recent: bool = False) -> Decision:
    path = FIXTURES / name
    config = parse_config_text(path.read_text(encoding="utf-8"), str(path))
    return decide(recipe_for(recognise(config, str(path))), config, server, recent=recent)


# -- which bridge wrote it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("mautrix-go-bridgev2/shared-secret.yaml", BridgeFamily.BRIDGEV2),
        ("mautrix-go-bridgev2/mdad-rendered-disabled.yaml", BridgeFamily.BRIDGEV2),
        ("mautrix-go-legacy/discord-shared-secret.yaml", BridgeFamily.LEGACY_MAUTRIX_GO),
        ("mautrix-go-legacy/whatsapp-example.yaml", BridgeFamily.LEGACY_MAUTRIX_GO),
        ("mautrix-python/telegram-shared-secret.yaml", BridgeFamily.MAUTRIX_PYTHON),
        ("mautrix-python/googlechat-mdad-rendered.yaml", BridgeFamily.MAUTRIX_PYTHON),
        ("mautrix-signal-python/shared-secret.yaml", BridgeFamily.SIGNAL_PYTHON),
        ("mautrix-imessage/shared-secret.yaml", BridgeFamily.IMESSAGE),
        ("mautrix-imessage/example.yaml", BridgeFamily.IMESSAGE),
        ("mautrix-slack-legacy/shared-secret.yaml", BridgeFamily.SLACK_LEGACY),
        ("mautrix-slack-legacy/mdad-rendered.yaml", BridgeFamily.SLACK_LEGACY),
        ("mx-puppet-bridge/sample.yaml", BridgeFamily.MX_PUPPET_BRIDGE),
        ("matrix-corporal/config-dist.json", BridgeFamily.MATRIX_CORPORAL),
    ],
)
def test_recognises_each_family(name: str, family: BridgeFamily) -> None:
    assert fixture(name)[0] is family


def test_an_unknown_or_broken_config_is_refused_by_name_without_its_content(tmp_path: Path) -> None:
    broken = "homeserver: {address: http://x\n  secret: topsecret-value\n"
    with pytest.raises(UnreadableConfigError) as raised:
        parse_config_text(broken, "broken.yaml")
    assert "broken.yaml is not valid YAML" in str(raised.value)
    assert "topsecret" not in str(raised.value)
    with pytest.raises(UnreadableConfigError, match="not a config file of a bridge"):
        recognise({"something": {"else": 1}}, "other.yaml")
    # JSON nested thousands deep (the doctor's parser, now plan's too): an error, not a
    # RecursionError out of json.loads.
    with pytest.raises(UnreadableConfigError, match="nested too deeply"):
        parse_config_text('{"a": ' * 5000 + "1" + "}" * 5000, "corporal.json")


# -- what the bridge reads, what is written --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reads", "writes"),
    [
        # bridgev2: the map only.
        (
            "mautrix-go-bridgev2/shared-secret.yaml",
            ("double_puppet", "secrets", SERVER),
            [("double_puppet", "secrets", SERVER)],
        ),
        # googlechat takes the single key when it is there, over the map (config.py L41-46); the
        # map is kept consistent.
        (
            "mautrix-python/googlechat-both-keys.yaml",
            ("bridge", "login_shared_secret"),
            [("bridge", "login_shared_secret"), ("bridge", "login_shared_secret_map", SERVER)],
        ),
        # ... even empty (MDAD's rendering without double puppeting).
        (
            "mautrix-python/googlechat-mdad-rendered-disabled.yaml",
            ("bridge", "login_shared_secret"),
            [("bridge", "login_shared_secret")],
        ),
        # telegram's Go rewrite migrates the map only: the map gets the value too.
        (
            "mautrix-python/telegram-single-login-shared-secret.yaml",
            ("bridge", "login_shared_secret"),
            [("bridge", "login_shared_secret"), ("bridge", "login_shared_secret_map", SERVER)],
        ),
        # legacy whatsapp copies a non-empty single key over the map; bridgev2 reads the map.
        (
            "mautrix-go-legacy/whatsapp-single-login-shared-secret.yaml",
            ("bridge", "login_shared_secret"),
            [("bridge", "login_shared_secret"), ("bridge", "login_shared_secret_map", SERVER)],
        ),
        # imessage has the single key only; corporal its one key.
        (
            "mautrix-imessage/example.yaml",
            ("bridge", "login_shared_secret"),
            [("bridge", "login_shared_secret")],
        ),
        (
            "matrix-corporal/mdad-rendered.json",
            ("Matrix", "AuthSharedSecret"),
            [("Matrix", "AuthSharedSecret")],
        ),
        (
            "mx-puppet-bridge/sample.yaml",
            ("bridge", "loginSharedSecretMap", SERVER),
            [("bridge", "loginSharedSecretMap", SERVER)],
        ),
    ],
)
def test_reads_and_writes_the_keys_the_bridge_reads(
    name: str, reads: tuple[str, ...], writes: list[tuple[str, ...]]
) -> None:
    path = FIXTURES / name
    config = parse_config_text(path.read_text(encoding="utf-8"), str(path))
    recipe = recipe_for(recognise(config, str(path)))
    assert recipe.reads(config, SERVER).key == reads
    assert recipe.writes(config, SERVER) == writes


def test_signal_python_takes_the_single_key_only_when_truthy() -> None:
    config = {
        "homeserver": {"address": "http://x", "domain": SERVER},
        "appservice": {"database": "sqlite:///x.db", "id": "signal"},
        "signal": {"socket_path": "/var/run/signald/signald.sock"},
        "bridge": {"login_shared_secret": "", "login_shared_secret_map": {SERVER: SECRET}},
    }
    recipe = recipe_for(recognise(config, "signal.yaml"))
    assert recipe.family is BridgeFamily.SIGNAL_PYTHON
    assert recipe.reads(config, SERVER).key == ("bridge", "login_shared_secret_map", SERVER)
    config["bridge"]["login_shared_secret"] = SECRET  # type: ignore[index]
    assert recipe.reads(config, SERVER).key == ("bridge", "login_shared_secret")


# -- the method now, and the method to use -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module", "now", "works", "target", "write"),
    [
        # bridgev2: any value without as_token: is ignored; the appservice method, always.
        ("mautrix-go-bridgev2/shared-secret.yaml", OUR_MODULE, Method.NONE, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        ("mautrix-go-bridgev2/as-token.yaml", None, Method.APPSERVICE, True,
         Method.APPSERVICE, None),
        ("mautrix-go-bridgev2/example.yaml", None, Method.APPSERVICE, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        ("mautrix-go-bridgev2/mdad-rendered-disabled.yaml", None, Method.NONE, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        # mautrix/signal#542: quotes after the prefix are sent with the token.
        ("mautrix-go-bridgev2/as-token-inner-quotes.yaml", None, Method.APPSERVICE, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        # mautrix/meta#134: the module's secret behind as_token:.
        ("mautrix-go-bridgev2/as-token-is-shared-secret.yaml", OUR_MODULE, Method.APPSERVICE,
         False, Method.APPSERVICE, Write.AS_TOKEN),
        # Version-dependent families keep what works today ...
        ("mautrix-go-legacy/discord-shared-secret.yaml", OUR_MODULE, Method.SHARED_SECRET, True,
         Method.SHARED_SECRET, None),
        ("mautrix-python/telegram-single-login-shared-secret.yaml", OUR_MODULE,
         Method.SHARED_SECRET, True, Method.SHARED_SECRET, None),
        ("mautrix-go-legacy/discord-as-token.yaml", None, Method.APPSERVICE, True,
         Method.APPSERVICE, None),
        # ... and move to the appservice method when nothing works today.
        ("mautrix-python/telegram-shared-secret.yaml", None, Method.SHARED_SECRET, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        ("mautrix-go-legacy/whatsapp-example.yaml", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.APPSERVICE, Write.AS_TOKEN),
        # The families that cannot use the appservice method stay on the module.
        ("mautrix-signal-python/as-token.yaml", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("mautrix-imessage/as-token.yaml", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("mautrix-imessage/shared-secret.yaml", OUR_MODULE, Method.SHARED_SECRET, True,
         Method.SHARED_SECRET, None),
        ("mautrix-slack-legacy/as-token.yaml", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("mx-puppet-bridge/as-token.yaml", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("matrix-corporal/config-dist.json", OUR_MODULE, Method.SHARED_SECRET, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("matrix-corporal/auth-shared-secret-empty.json", None, Method.NONE, False,
         Method.SHARED_SECRET, Write.SECRET),
        ("matrix-corporal/mdad-rendered.json", OUR_MODULE, Method.SHARED_SECRET, True,
         Method.SHARED_SECRET, None),
    ],
)  # fmt: skip
def test_decisions(
    name: str,
    module: ModuleFacts | None,
    now: Method,
    works: bool,
    target: Method,
    write: Write | None,
) -> None:
    decision = decision_for(name, facts(module=module))
    assert decision.problem is None
    assert decision.current is not None
    assert (decision.current.method, decision.current.works) == (now, works), decision.current.why
    assert (decision.target, decision.write) == (target, write), decision.why
    for text in (decision.why, decision.current.why, *decision.notes):
        assert SECRET not in text and AS_TOKEN not in text


def test_placeholders_are_named_as_such() -> None:
    for name in (
        "mautrix-go-bridgev2/example.yaml",
        "mautrix-go-legacy/discord-example.yaml",
        "mautrix-python/telegram-example.yaml",
        "mautrix-signal-python/example.yaml",
        "matrix-corporal/config-dist.json",
    ):
        decision = decision_for(name, facts(module=OUR_MODULE))
        assert decision.current is not None
        assert "the shipped example's placeholder" in decision.current.why, name


def test_recent_bridges_move_version_dependent_families() -> None:
    kept = decision_for("mautrix-go-legacy/discord-shared-secret.yaml", facts(module=OUR_MODULE))
    assert kept.target is Method.SHARED_SECRET
    assert any("--recent-bridges" in note for note in kept.notes)
    moved = decision_for(
        "mautrix-go-legacy/discord-shared-secret.yaml", facts(module=OUR_MODULE), recent=True
    )
    assert (moved.target, moved.write) == (Method.APPSERVICE, Write.AS_TOKEN)
    assert moved.leaves_shared_secret
    # --recent-bridges changes nothing for a family that never reads as_token:.
    imessage = decision_for(
        "mautrix-imessage/shared-secret.yaml", facts(module=OUR_MODULE), recent=True
    )
    assert (imessage.target, imessage.write) == (Method.SHARED_SECRET, None)


def test_a_wrong_secret_or_login_type_does_not_work() -> None:
    other = ModuleFacts(name="synapse_dp_auth", where="modules[0]", secrets=("another-secret",))
    decision = decision_for("mx-puppet-bridge/shared-secret.yaml", facts(module=other))
    assert decision.current is not None and decision.current.works is False
    assert decision.write is Write.SECRET
    # m.login.password takes no tokens: mx-puppet-bridge sends nothing else.
    no_password = attr.evolve(OUR_MODULE, password_tokens=False)
    decision = decision_for("mx-puppet-bridge/shared-secret.yaml", facts(module=no_password))
    assert decision.current is not None and decision.current.works is False
    assert "m_login_password_support_enabled: true" in decision.current.why
    # Legacy mautrix-go prefers com.devture.shared_secret_auth: fine without password tokens.
    decision = decision_for(
        "mautrix-go-legacy/discord-shared-secret.yaml", facts(module=no_password)
    )
    assert decision.current is not None and decision.current.works is True


def test_an_unreadable_module_secret_cannot_be_judged() -> None:
    unknown = ModuleFacts(name="synapse_dp_auth", where="modules[0]", secret_problem="no access")
    decision = decision_for("mx-puppet-bridge/shared-secret.yaml", facts(module=unknown))
    assert decision.current is not None and decision.current.works is None
    assert (decision.target, decision.write) == (Method.SHARED_SECRET, None)


def test_under_mas_shared_secret_bridges_cannot_double_puppet() -> None:
    mas = facts(module=None, delegated=True, password_login=False)
    stuck = decision_for("mx-puppet-bridge/shared-secret.yaml", mas)
    assert stuck.target is None and stuck.write is None
    assert "Matrix Authentication Service" in stuck.why
    # A version-dependent bridge's shared secret cannot work there: the appservice method.
    moved = decision_for("mautrix-go-legacy/discord-shared-secret.yaml", mas)
    assert (moved.target, moved.write) == (Method.APPSERVICE, Write.AS_TOKEN)


def test_a_bridge_of_another_server_is_left_alone() -> None:
    server = attr.evolve(facts(), server_name="other.example")
    decision = decision_for("mautrix-go-bridgev2/shared-secret.yaml", server)
    assert decision.problem is not None and "not for this homeserver" in decision.problem
    assert decision.write is None


# -- the server side -------------------------------------------------------------------------------


def test_an_existing_double_puppet_registration_is_reused(tmp_path: Path) -> None:
    server = attr.evolve(
        facts(), files=(str(tmp_path / "homeserver.yaml"),), new_file_dir=str(tmp_path)
    )
    planned = plan_server(server, needs_appservice=True, needs_module=False)
    assert (planned.registration_path, planned.as_token) == (DOUBLE_PUPPET.path, AS_TOKEN)
    assert planned.registration_reused
    assert planned.new_files == () and planned.edits == ()


def test_a_new_registration_gets_a_free_id_and_its_line(tmp_path: Path) -> None:
    taken = Registration(
        path="a.yaml", registration_id="doublepuppet", as_token="x", double_puppet=False
    )
    server = attr.evolve(
        facts(registrations=(taken,)),
        files=(str(tmp_path / "homeserver.yaml"),),
        new_file_dir=str(tmp_path),
        sources={"app_service_config_files": str(tmp_path / "conf.d" / "as.yaml")},
    )
    planned = plan_server(server, needs_appservice=True, needs_module=False)
    (new_file,) = planned.new_files
    assert new_file.path == tmp_path / "doublepuppet.yaml"
    registration = yaml.safe_load(new_file.text)
    assert registration["id"] == "doublepuppet-2"
    assert registration["as_token"] == planned.as_token
    assert registration["namespaces"]["users"] == [
        {"regex": r"@.*:example\.com$", "exclusive": False}
    ]
    (edit,) = planned.edits
    assert (edit.file, edit.key, edit.item) == (
        str(tmp_path / "conf.d" / "as.yaml"),
        "app_service_config_files",
        str(tmp_path / "doublepuppet.yaml"),
    )
    assert planned.as_token is not None and planned.as_token not in repr(planned)


def test_a_registration_left_by_an_earlier_run_is_listed_not_duplicated(tmp_path: Path) -> None:
    existing = tmp_path / "doublepuppet.yaml"
    shutil.copy(FIXTURES / "homeserver" / "mdad-double-puppet-registration.yaml", existing)
    server = attr.evolve(
        facts(registrations=()),
        files=(str(tmp_path / "homeserver.yaml"),),
        new_file_dir=str(tmp_path),
    )
    planned = plan_server(server, needs_appservice=True, needs_module=False)
    assert planned.new_files == ()
    assert (planned.registration_path, planned.as_token) == (str(existing), AS_TOKEN)
    assert [edit.item for edit in planned.edits] == [str(existing)]


def test_the_module_is_added_with_a_secret_file_unless_under_mas(tmp_path: Path) -> None:
    server = attr.evolve(
        facts(), files=(str(tmp_path / "homeserver.yaml"),), new_file_dir=str(tmp_path)
    )
    planned = plan_server(server, needs_appservice=False, needs_module=True)
    (new_file,) = planned.new_files
    assert new_file.kind == "secret" and new_file.path == tmp_path / "synapse_dp_auth_secret"
    assert new_file.text == f"{planned.module_secret}\n" and len(new_file.text) > 32
    (edit,) = planned.edits
    assert edit.item == {
        "module": "synapse_dp_auth.SharedSecretAuthProvider",
        "config": {"shared_secret_path": str(tmp_path / "synapse_dp_auth_secret")},
    }
    mas = attr.evolve(server, delegated=True)
    assert plan_server(mas, needs_appservice=False, needs_module=True).edits == ()
    configured = attr.evolve(server, module=OUR_MODULE)
    planned = plan_server(configured, needs_appservice=False, needs_module=True)
    assert (planned.edits, planned.module_secret) == ((), SECRET)


# -- the command on files ------------------------------------------------------------------------

HOMESERVER = """\
# homeserver.yaml, as an admin keeps it
server_name: 'example.com'
public_baseurl: "https://matrix.example.com/"

app_service_config_files:
  - {bridge_registration}    # whatsapp's own

# modules go here
"""

BRIDGE_REGISTRATION = """\
id: whatsapp
url: http://localhost:29318
as_token: bridge-own-as-token-0123456789
hs_token: bridge-own-hs-token-0123456789
sender_localpart: whatsappbot
namespaces:
  users:
    - {regex: '^@whatsapp_.*:example\\.com$', exclusive: true}
"""

BRIDGES = (
    "mautrix-go-bridgev2/shared-secret.yaml",
    "mautrix-go-bridgev2/mdad-rendered-disabled.yaml",
    "mautrix-go-legacy/discord-shared-secret.yaml",
    "mautrix-python/telegram-shared-secret.yaml",
    "mautrix-python/googlechat-mdad-rendered-shared-secret.yaml",
    "mx-puppet-bridge/shared-secret.yaml",
    "matrix-corporal/mdad-rendered.json",
)


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    (tmp_path / "whatsapp-registration.yaml").write_text(BRIDGE_REGISTRATION, encoding="utf-8")
    (tmp_path / "homeserver.yaml").write_text(
        HOMESERVER.format(bridge_registration=tmp_path / "whatsapp-registration.yaml"),
        encoding="utf-8",
    )
    for name in BRIDGES:
        target = tmp_path / name.replace("/", "--")
        shutil.copy(FIXTURES / name, target)
    return tmp_path


def bridge_files(directory: Path) -> list[str]:
    return [str(directory / name.replace("/", "--")) for name in BRIDGES]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["plan", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def flat(text: str) -> str:
    """The report's prose with its line wrapping undone, for finding a sentence in it."""
    return " ".join(text.split())


def secrets_in(directory: Path) -> list[str]:
    """Every secret and token the files hold now (to check that none is printed)."""
    found = [SECRET, AS_TOKEN, "bridge-own-as-token-0123456789"]
    for path in directory.rglob("*"):
        if path.name.startswith(("doublepuppet", "synapse_dp_auth_secret")) and path.is_file():
            text = path.read_text(encoding="utf-8")
            found += re.findall(r"[0-9a-f]{64}", text)
    return found


def changed_lines_only(before: str, after: str) -> list[str]:
    """The lines of ``before`` missing from ``after``: what the edit replaced."""
    remaining = after.splitlines()
    gone = []
    for line in before.splitlines():
        if line in remaining:
            remaining.remove(line)
        else:
            gone.append(line)
    return gone


def test_plan_apply_and_plan_again(server_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    homeserver = str(server_dir / "homeserver.yaml")
    bridges = bridge_files(server_dir)
    before = {path: Path(path).read_text(encoding="utf-8") for path in [homeserver, *bridges]}

    code, out = run(capsys, "-c", homeserver, *bridges)
    assert code == 1
    # Nothing changed without --apply.
    assert {path: Path(path).read_text(encoding="utf-8") for path in before} == before
    assert not (server_dir / "doublepuppet.yaml").exists()
    assert "create " + str(server_dir / "doublepuppet.yaml") in flat(out)
    assert "load synapse_dp_auth.SharedSecretAuthProvider" in flat(out)
    assert "1. Synapse" in out and "2. each bridge changed" in out
    assert "sessions list https://matrix.example.com --admin-token-file" in out
    assert 'double_puppet.secrets["example.com"] to as_token:' in flat(out)

    code, applied = run(capsys, "-c", homeserver, *bridges, "--apply")
    assert code == 0, applied
    assert "Done." in applied
    registration = yaml.safe_load((server_dir / "doublepuppet.yaml").read_text(encoding="utf-8"))
    secret = (server_dir / "synapse_dp_auth_secret").read_text(encoding="utf-8").strip()
    for new_file in ("doublepuppet.yaml", "synapse_dp_auth_secret"):
        assert os.stat(server_dir / new_file).st_mode & 0o777 == 0o600
    config = yaml.safe_load(Path(homeserver).read_text(encoding="utf-8"))
    assert config["app_service_config_files"][-1] == str(server_dir / "doublepuppet.yaml")
    assert config["modules"] == [
        {
            "module": "synapse_dp_auth.SharedSecretAuthProvider",
            "config": {"shared_secret_path": str(server_dir / "synapse_dp_auth_secret")},
        }
    ]
    loaded = {path: Path(path).read_text(encoding="utf-8") for path in bridges}
    as_value = "as_token:" + registration["as_token"]
    bridgev2 = yaml.safe_load(loaded[bridges[0]])
    assert bridgev2["double_puppet"]["secrets"] == {SERVER: as_value}
    assert yaml.safe_load(loaded[bridges[1]])["double_puppet"]["secrets"] == {SERVER: as_value}
    # The module was not configured: the shared secrets worked nowhere; discord, telegram and
    # googlechat move to the appservice method, mx-puppet-bridge and corporal get the new secret.
    assert (
        yaml.safe_load(loaded[bridges[2]])["bridge"]["login_shared_secret_map"][SERVER] == as_value
    )
    assert (
        yaml.safe_load(loaded[bridges[3]])["bridge"]["login_shared_secret_map"][SERVER] == as_value
    )
    assert yaml.safe_load(loaded[bridges[4]])["bridge"]["login_shared_secret"] == as_value
    assert yaml.safe_load(loaded[bridges[5]])["bridge"]["loginSharedSecretMap"][SERVER] == secret
    assert '"AuthSharedSecret": "' + secret + '"' in loaded[bridges[6]]
    # Outside the changed lines, every file is as it was; a backup of each is beside it.
    for path, text in before.items():
        after = Path(path).read_text(encoding="utf-8")
        gone = changed_lines_only(text, after)
        assert len(gone) <= 1, (path, gone)
        assert list(Path(path).parent.glob(Path(path).name + ".bak-*"))
    for value in secrets_in(server_dir):
        assert value not in out and value not in applied

    code, again = run(capsys, "-c", homeserver, *bridges)
    assert code == 0, again
    assert "Nothing to change" in again
    # A glob over the bridges' directory finds the backups too: they are not edited.
    everything = sorted(str(path) for path in server_dir.glob("*--*"))
    assert any(".bak-" in path for path in everything)
    code, again = run(capsys, "-c", homeserver, *everything)
    assert code == 0, again
    assert "Skipped, as copies that --apply kept" in again
    assert "create " not in again and "edit " not in again


def test_apply_leaves_read_only_and_unparseable_files_alone(
    server_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    homeserver = str(server_dir / "homeserver.yaml")
    read_only, broken = bridge_files(server_dir)[0], server_dir / "broken.yaml"
    broken.write_text("homeserver:\n  domain: example.com\n bad indent: [\n", encoding="utf-8")
    os.chmod(read_only, 0o444)
    original = Path(read_only).read_bytes()
    code, out = run(capsys, "-c", homeserver, read_only, str(broken))
    assert code == 1
    assert "read-only for you" in flat(out)
    assert f"{broken} is not valid YAML" in flat(out) and "left alone" in out
    code, out = run(capsys, "-c", homeserver, read_only, str(broken), "--apply")
    assert code == 1
    assert f"{read_only}: left alone: it is read-only for this user" in flat(out)
    assert Path(read_only).read_bytes() == original
    # The server side was still done; the next run has only the read-only bridge left.
    assert (server_dir / "doublepuppet.yaml").exists()
    os.chmod(read_only, 0o644)
    code, out = run(capsys, "-c", homeserver, read_only, "--apply")
    assert code == 0, out
    code, out = run(capsys, "-c", homeserver, read_only)
    assert code == 0 and "Nothing to change" in out


def test_a_file_changed_since_it_was_read_is_left_alone(server_dir: Path) -> None:
    homeserver = str(server_dir / "homeserver.yaml")
    bridge = bridge_files(server_dir)[0]
    plan = make_plan([homeserver], [bridge])
    with open(bridge, "a", encoding="utf-8") as file:
        file.write("# an admin's edit meanwhile\n")
    outcomes = {change.label: result for change, result in apply_plan(plan, now=NOW)}
    result = outcomes[bridge]
    assert result is not None and result.outcome is Outcome.CHANGED_SINCE_READ
    assert Path(bridge).read_text(encoding="utf-8").endswith("# an admin's edit meanwhile\n")


def test_an_existing_registration_and_module_are_reused(
    server_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registration = server_dir / "mdad-registration.yaml"
    shutil.copy(FIXTURES / "homeserver" / "mdad-double-puppet-registration.yaml", registration)
    homeserver = server_dir / "homeserver.yaml"
    homeserver.write_text(
        "server_name: example.com\n"
        f"app_service_config_files: ['{registration}']\n"
        "modules:\n"
        "- module: shared_secret_authenticator.SharedSecretAuthProvider\n"
        "  config: {shared_secret: " + SECRET + ", m_login_password_support_enabled: true}\n",
        encoding="utf-8",
    )
    before = homeserver.read_text(encoding="utf-8")
    bridges = bridge_files(server_dir)
    code, out = run(capsys, "-c", str(homeserver), *bridges, "--apply")
    assert code == 0, out
    assert f"{registration} is reused" in flat(out)
    assert homeserver.read_text(encoding="utf-8") == before
    assert not (server_dir / "doublepuppet.yaml").exists()
    assert not (server_dir / "synapse_dp_auth_secret").exists()
    bridgev2 = yaml.safe_load(Path(bridges[0]).read_text(encoding="utf-8"))
    assert bridgev2["double_puppet"]["secrets"] == {SERVER: "as_token:" + AS_TOKEN}
    # The working shared secrets (devture's module counts) are kept.
    assert Path(bridges[2]).read_text(encoding="utf-8") == (FIXTURES / BRIDGES[2]).read_text(
        encoding="utf-8"
    )
    assert SECRET not in out and AS_TOKEN not in out


def test_under_mas_no_module_is_added(server_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    homeserver = server_dir / "homeserver.yaml"
    with open(homeserver, "a", encoding="utf-8") as file:
        file.write("matrix_authentication_service:\n  enabled: true\n")
    bridges = bridge_files(server_dir)
    code, out = run(capsys, "-c", str(homeserver), *bridges)
    assert code == 1
    assert "synapse_dp_auth.SharedSecretAuthProvider" not in out
    assert "cannot double-puppet on this server" in flat(out)
    stuck = flat(out).split("cannot double-puppet on this server", 1)[1].split("Then restart")[0]
    assert bridges[5] in stuck and bridges[6] in stuck
    assert bridges[0] not in stuck


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["plan", "bridge.yaml"]) == 2  # no -c
    assert cli.main(["plan", "-c", str(tmp_path / "homeserver.yaml")]) == 2  # no bridge
    # The live check needs both, and checks the configs as they are, so not with --apply.
    base = ["plan", "-c", str(tmp_path / "homeserver.yaml"), "bridge.yaml"]
    assert cli.main([*base, "--homeserver-url", "http://localhost:8008"]) == 2
    assert cli.main([*base, "--user", "@alice:example.com"]) == 2
    live = ["--homeserver-url", "http://localhost:8008", "--user", "@alice:example.com"]
    assert cli.main([*base, *live, "--apply"]) == 2
    # A URL refused is refused before anything is read (homeserver.yaml does not exist) or
    # printed: exit 2, not the plan's exit 1 for an unreadable file.
    capsys.readouterr()
    off_loopback = ["--homeserver-url", "http://10.1.2.3:9", "--user", "@alice:example.com"]
    assert cli.main([*base, *off_loopback]) == 2
    assert capsys.readouterr().out == ""
    capsys.readouterr()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_as_root_new_files_get_the_signing_keys_owner(server_dir: Path) -> None:
    """Synapse, not root, reads the registration and the secret: they get the owner of the one
    file only Synapse reads, its signing key."""
    key = server_dir / "example.com.signing.key"
    key.write_text("ed25519 a_key not-a-real-key\n", encoding="utf-8")
    os.chown(key, 65534, 65534)
    homeserver = server_dir / "homeserver.yaml"
    with open(homeserver, "a", encoding="utf-8") as file:
        file.write(f"signing_key_path: {key}\n")
    plan = make_plan([str(homeserver)], bridge_files(server_dir))
    created = [
        change.label
        for change, result in apply_plan(plan, now=NOW)
        if result is not None and result.outcome is Outcome.CREATED
    ]
    assert sorted(Path(path).name for path in created) == [
        "doublepuppet.yaml",
        "synapse_dp_auth_secret",
    ]
    for path in created:
        status = os.stat(path)
        assert (status.st_uid, status.st_gid, status.st_mode & 0o777) == (65534, 65534, 0o600)


def test_new_files_never_go_into_a_config_directory(tmp_path: Path) -> None:
    """Synapse reads every *.yaml of a -c directory as config: a registration there would be
    read as settings."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-server.yaml").write_text("server_name: example.com\n", encoding="utf-8")
    bridge = tmp_path / "bridge.yaml"
    shutil.copy(FIXTURES / "mautrix-go-bridgev2" / "shared-secret.yaml", bridge)
    plan = make_plan([str(conf_d)], [str(bridge)])
    assert [change.label for change in plan.new_files] == [str(tmp_path / "doublepuppet.yaml")]
    (edit,) = plan.homeserver
    assert edit.label == str(conf_d / "10-server.yaml")


def test_module_settings_that_refuse_a_bridge_are_listed_by_hand(
    server_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    homeserver = server_dir / "homeserver.yaml"
    with open(homeserver, "a", encoding="utf-8") as file:
        file.write(
            "modules:\n"
            "  - module: synapse_dp_auth.SharedSecretAuthProvider\n"
            "    config:\n"
            f"      shared_secret: {SECRET}\n"
            "      m_login_password_support_enabled: false\n"
        )
    mx_puppet = bridge_files(server_dir)[5]
    code, out = run(capsys, "-c", str(homeserver), mx_puppet, "--apply")
    assert code == 1
    by_hand = flat(out).split("By hand", 1)[1]
    assert (
        "mx-puppet-bridge bridges log in with m.login.password, where the module takes no tokens:"
        " set m_login_password_support_enabled: true in modules[0]"
    ) in by_hand
    assert "Applying" not in out  # nothing to write: the bridge holds the module's secret
