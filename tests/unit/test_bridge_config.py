"""Reading bridges' own config files: which kind, which address, which secret, which method.

The configs are shaped as each bridge writes them (cut down to the sections that matter, with
the surrounding keys kept so the kind is told apart as in real life): mautrix-go bridgev2's
``bridgev2/matrix/mxmain/example-config.yaml``, a legacy mautrix-go config (``appservice.database``
a mapping with ``uri``), a mautrix-python one (``appservice.database`` a string, Python logging),
mx-puppet-bridge's ``sample.config.yaml`` and matrix-corporal's JSON from its
``docs/configuration.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse_dp_auth.admin.doctor.bridge_config_file import (
    BridgeConfigError,
    BridgeKind,
    identify,
    load_bridge_config,
)
from synapse_dp_auth.admin.doctor.bridge_config_method import plan_double_puppet
from synapse_dp_auth.admin.doctor.bridge_config_model import DoublePuppetPlan, Method
from synapse_dp_auth.admin.shared.families import (
    LEGACY_MAUTRIX_GO,
    MATRIX_CORPORAL,
    MAUTRIX_PYTHON,
    MX_PUPPET_BRIDGE,
)

USER = "@alice:example.org"
SECRET = "s3cr3t-shared-with-the-module-0123456789abcdef"
AS_TOKEN = "dp-as-token-0123456789abcdefghijklmnop"

BRIDGEV2 = """\
bridge:
    command_prefix: '!wa'
    personal_filtering_spaces: true
    permissions:
        "*": relay
        "example.org": user
database:
    type: postgres
    uri: postgres://user:password@host/database?sslmode=disable
homeserver:
    address: http://localhost:8008
    domain: example.org
    software: standard
appservice:
    address: http://localhost:29318
    hostname: 127.0.0.1
    port: 29318
    id: whatsapp
    bot:
        username: whatsappbot
    as_token: "the-bridges-own-as-token"
    hs_token: "the-bridges-own-hs-token"
    username_template: whatsapp_{{.}}
network:
    os_name: Mautrix-WhatsApp bridge
double_puppet:
    servers:
        anotherserver.example.net: https://matrix.anotherserver.example.net
    allow_discovery: false
    secrets:
        example.org: %s
logging:
    min_level: debug
    writers:
        - type: stdout
          format: pretty-colored
"""

LEGACY_GO = """\
homeserver:
    address: https://matrix.example.org
    domain: example.org
    software: standard
appservice:
    address: http://localhost:29334
    hostname: 0.0.0.0
    port: 29334
    database:
        type: postgres
        uri: postgres://user:password@host/database?sslmode=disable
    id: discord
    bot:
        username: discordbot
    as_token: "the-bridges-own-as-token"
    hs_token: "the-bridges-own-hs-token"
bridge:
    username_template: discord_{{.}}
    double_puppet_server_map:
        example.org: http://127.0.0.1:8008
    double_puppet_allow_discovery: false
    login_shared_secret_map:
        example.org: %s
logging:
    min_level: debug
"""

MAUTRIX_PY = """\
homeserver:
    address: http://localhost:8008
    domain: example.org
    verify_ssl: true
appservice:
    address: http://localhost:29320
    hostname: 0.0.0.0
    port: 29320
    database: postgres://username:password@hostname/db
    database_opts:
        min_size: 1
    id: googlechat
    bot_username: googlechatbot
    as_token: "the-bridges-own-as-token"
    hs_token: "the-bridges-own-hs-token"
bridge:
    username_template: "googlechat_{userid}"
    double_puppet_server_map: {}
    double_puppet_allow_discovery: false
    login_shared_secret_map:
        example.org: %s
logging:
    version: 1
    root:
        level: DEBUG
"""

MX_PUPPET = """\
bridge:
  bindAddress: localhost
  port: 6000
  domain: example.org
  homeserverUrl: http://localhost:8008
  loginSharedSecretMap:
    example.org: %s
logging:
  console: info
database:
  filename: database.db
provisioning:
  whitelist:
    - "@.*:example\\\\.org"
"""

# matrix-corporal's own example is tab-indented JSON.
CORPORAL = """{
\t"Matrix": {
\t\t"HomeserverDomainName": "example.org",
\t\t"HomeserverApiEndpoint": "http://127.0.0.1:8008",
\t\t"AuthSharedSecret": %s,
\t\t"RegistrationSharedSecret": "registration-secret",
\t\t"TimeoutMilliseconds": 45000
\t},
\t"Reconciliation": {"UserId": "@matrix-corporal:example.org", "RetryIntervalMilliseconds": 30000},
\t"HttpGateway": {"ListenAddress": "127.0.0.1:41080"},
\t"PolicyProvider": {"Type": "static_file", "Path": "policy.json"}
}
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def plan_for(
    tmp_path: Path, template: str, value: str, user: str = USER, name: str = "config.yaml"
) -> DoublePuppetPlan:
    path = write(tmp_path, template % value, name)
    return plan_double_puppet(load_bridge_config(path), path, user)


def assert_secret_nowhere(secret: str, *texts: str) -> None:
    for text in texts:
        for start in range(0, len(secret) - 7):
            assert secret[start : start + 8] not in text, text


# -- identification -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        (BRIDGEV2, BridgeKind.BRIDGEV2),
        (LEGACY_GO, BridgeKind.LEGACY_MAUTRIX_GO),
        (MAUTRIX_PY, BridgeKind.MAUTRIX_PYTHON),
        (MX_PUPPET, BridgeKind.MX_PUPPET_BRIDGE),
        (CORPORAL, BridgeKind.MATRIX_CORPORAL),
    ],
)
def test_identifies_each_kind(tmp_path: Path, template: str, kind: BridgeKind) -> None:
    value = json.dumps(SECRET) if template is CORPORAL else SECRET
    path = write(tmp_path, template % value)
    assert identify(load_bridge_config(path), path) is kind


def test_unknown_kind_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server_name: example.org\nlisteners: []\n", "homeserver.yaml")
    with pytest.raises(
        BridgeConfigError, match=r"homeserver\.yaml is not a config file of a bridge"
    ):
        identify(load_bridge_config(path), path)


# -- bridgev2 -------------------------------------------------------------------------------------


def test_bridgev2_with_as_token(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRIDGEV2, f"as_token:{AS_TOKEN}")
    assert plan.kind is BridgeKind.BRIDGEV2
    assert plan.method is Method.APPSERVICE_TOKEN
    assert plan.secret == AS_TOKEN
    assert plan.homeserver_url == "http://localhost:8008"
    assert plan.url_key == "homeserver.address"
    assert plan.secret_key == 'double_puppet.secrets["example.org"]'
    assert plan.works_without_change
    assert_secret_nowhere(AS_TOKEN, repr(plan), plan.explanation, *plan.notes)


@pytest.mark.parametrize(
    ("template", "versions"),
    [
        (
            LEGACY_GO,
            "Per mautrix's docs: whatsapp 0.10.1, discord 0.6.2, gmessages 0.2.0 and later",
        ),
        (MAUTRIX_PY, "Per mautrix's docs: telegram 0.14.2, facebook 0.5.1, instagram 0.3.1"),
    ],
)
def test_older_releases_take_as_token_for_an_hmac_key(
    tmp_path: Path, template: str, versions: str
) -> None:
    """Before the releases mautrix's docs name, these bridges used the whole value as the HMAC
    key of a login: the plan says which releases read `as_token:`."""
    plan = plan_for(tmp_path, template, f"as_token:{AS_TOKEN}")
    assert plan.method is Method.APPSERVICE_TOKEN
    [note] = [n for n in plan.notes if n.startswith("only recent releases")]
    assert versions in note
    assert "Older releases use the whole value, `as_token:` included, as the HMAC key" in note
    assert ("mautrix-python library 0.20.1" in note) is (template is MAUTRIX_PY)


def test_bridgev2_has_no_version_note(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, BRIDGEV2, f"as_token:{AS_TOKEN}")
    assert not [n for n in plan.notes if "releases" in n]


@pytest.mark.parametrize("value", [SECRET, "appservice", '"as_token"'])
def test_bridgev2_ignores_anything_but_as_token(tmp_path: Path, value: str) -> None:
    plan = plan_for(tmp_path, BRIDGEV2, value)
    assert plan.method is Method.IGNORED
    assert plan.secret is None
    assert not plan.works_without_change
    assert "ignores" in plan.explanation
    assert plan.remedy is not None
    assert 'double_puppet.secrets: {"example.org": "as_token:' in plan.remedy
    assert "synapse_dp_auth appservice" in plan.remedy
    assert_secret_nowhere(SECRET, repr(plan), plan.explanation, plan.remedy)


def test_bridgev2_notes_a_leftover_legacy_key(tmp_path: Path) -> None:
    text = BRIDGEV2.replace("network:\n", "network:\n    x: 1\n", 1) % f"as_token:{AS_TOKEN}"
    text = text.replace(
        "    command_prefix: '!wa'\n",
        f"    command_prefix: '!wa'\n    login_shared_secret_map:\n        example.org: {SECRET}\n",
    )
    path = write(tmp_path, text)
    plan = plan_double_puppet(load_bridge_config(path), path, USER)
    assert any(
        "bridge.login_shared_secret_map" in note and "ignores" in note for note in plan.notes
    )


def test_bridgev2_remote_user_from_the_servers_map(tmp_path: Path) -> None:
    text = BRIDGEV2.replace("        example.org: %s", "        anotherserver.example.net: %s")
    plan = plan_for(tmp_path, text, f"as_token:{AS_TOKEN}", user="@bob:anotherserver.example.net")
    assert plan.homeserver_url == "https://matrix.anotherserver.example.net"
    assert plan.url_key == 'double_puppet.servers["anotherserver.example.net"]'


def test_bridgev2_remote_user_with_discovery(tmp_path: Path) -> None:
    """The bridge would find the address with .well-known: HOMESERVER_URL may stand in."""
    text = BRIDGEV2.replace("        example.org: %s", "        elsewhere.example: %s").replace(
        "allow_discovery: false", "allow_discovery: true"
    )
    plan = plan_for(tmp_path, text, f"as_token:{AS_TOKEN}", user="@bob:elsewhere.example")
    assert plan.method is Method.APPSERVICE_TOKEN
    assert plan.homeserver_url is None
    assert plan.url_problem is not None
    assert plan.url_problem.startswith(f"{tmp_path / 'config.yaml'}: elsewhere.example is not")
    assert "not in double_puppet.servers" in plan.url_problem
    assert "Give HOMESERVER_URL" in plan.url_problem


@pytest.mark.parametrize(
    ("template", "value", "servers_key"),
    [
        (BRIDGEV2, f"as_token:{AS_TOKEN}", "double_puppet.servers"),
        (LEGACY_GO, SECRET, "bridge.double_puppet_server_map"),
        (MAUTRIX_PY, f"as_token:{AS_TOKEN}", "bridge.double_puppet_server_map"),
    ],
)
def test_remote_user_the_bridge_refuses(
    tmp_path: Path, template: str, value: str, servers_key: str
) -> None:
    """Not the bridge's server, not in its map, no discovery: doublepuppet.go's "double
    puppeting from ... is not allowed" (mautrix-python: can_auto_login is false)."""
    text = template.replace("        example.org: %s", "        elsewhere.example: %s")
    assert text != template
    plan = plan_for(tmp_path, text, value, user="@bob:elsewhere.example")
    assert plan.method is Method.NOT_ALLOWED
    assert not plan.works_without_change
    assert plan.secret is None
    assert "the bridge refuses to double-puppet elsewhere.example's users" in plan.explanation
    assert plan.remedy is not None
    assert plan.remedy.startswith(
        f"add elsewhere.example with its homeserver's URL to {servers_key}"
    )
    assert_secret_nowhere(
        value.removeprefix("as_token:"), plan.explanation, plan.remedy, repr(plan)
    )


@pytest.mark.parametrize("value", [f"as_token: {AS_TOKEN}", f"as_token:{AS_TOKEN} "])
@pytest.mark.parametrize("template", [BRIDGEV2, MAUTRIX_PY])
def test_whitespace_after_the_prefix_is_sent_as_it_is(
    tmp_path: Path, template: str, value: str
) -> None:
    """Bridges remove the prefix only, so the whitespace reaches the Authorization header."""
    plan = plan_for(tmp_path, template, json.dumps(value))
    assert plan.method is Method.UNUSABLE
    assert not plan.works_without_change
    assert plan.remedy is not None and plan.remedy.startswith("remove the space after `as_token:`")
    assert_secret_nowhere(AS_TOKEN, plan.explanation, plan.remedy, repr(plan))


def test_appservice_value_is_compared_exactly(tmp_path: Path) -> None:
    """With a space in front, `appservice` is no longer that word to the bridge but a shared
    secret."""
    assert plan_for(tmp_path, MAUTRIX_PY, '"appservice"').method is Method.APPSERVICE_LOGIN
    assert plan_for(tmp_path, MAUTRIX_PY, '" appservice"').method is Method.SHARED_SECRET


def test_bridgev2_no_secret_for_the_users_server(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError) as caught:
        plan_for(tmp_path, BRIDGEV2, f"as_token:{AS_TOKEN}", user="@bob:other.example")
    message = str(caught.value)
    assert "config.yaml: double_puppet.secrets has no entry for other.example" in message
    assert "entries: example.org" in message
    assert_secret_nowhere(AS_TOKEN, message)


def test_bridgev2_empty_as_token(tmp_path: Path) -> None:
    with pytest.raises(
        BridgeConfigError, match=r'secrets\["example.org"\] is `as_token:` with nothing'
    ):
        plan_for(tmp_path, BRIDGEV2, '"as_token:"')


def test_bridgev2_missing_secrets_section(tmp_path: Path) -> None:
    text = (BRIDGEV2 % "x").replace("    secrets:\n        example.org: x\n", "")
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError, match=r"config\.yaml: double_puppet\.secrets is missing"):
        plan_double_puppet(load_bridge_config(path), path, USER)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("12345", "a number"),
        ("1.5", "a number"),
        ("true", "true or false"),
        ("[a, b]", "a list"),
        ("{a: b}", "a mapping"),
        ("''", "an empty string"),
        ("' '", "an empty string"),
        ("", "empty"),
    ],
)
def test_non_string_secret(tmp_path: Path, value: str, kind: str) -> None:
    with pytest.raises(BridgeConfigError) as caught:
        plan_for(tmp_path, BRIDGEV2, value)
    assert f'secrets["example.org"] is {kind}: double puppeting is not set up' in str(caught.value)


@pytest.mark.parametrize(("value", "kind"), [("'x'", "a string"), ("5", "a number")])
def test_secrets_not_a_mapping(tmp_path: Path, value: str, kind: str) -> None:
    text = BRIDGEV2.replace("    secrets:\n        example.org: %s\n", f"    secrets: {value}\n")
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError) as caught:
        plan_double_puppet(load_bridge_config(path), path, USER)
    assert str(caught.value).endswith(
        f"double_puppet.secrets must be a mapping of server names, not {kind}"
    )


def test_secret_as_a_list_is_a_clear_error(tmp_path: Path) -> None:
    text = BRIDGEV2.replace("    secrets:\n        example.org: %s\n", "    secrets: [%s]\n")
    with pytest.raises(
        BridgeConfigError,
        match=r"double_puppet\.secrets must be a mapping of server names, not a list",
    ):
        plan_for(tmp_path, text, SECRET)


# -- legacy mautrix-go and mautrix-python ---------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "kind", "family", "url"),
    [
        (LEGACY_GO, BridgeKind.LEGACY_MAUTRIX_GO, LEGACY_MAUTRIX_GO, "http://127.0.0.1:8008"),
        (MAUTRIX_PY, BridgeKind.MAUTRIX_PYTHON, MAUTRIX_PYTHON, "http://localhost:8008"),
    ],
)
def test_legacy_shared_secret(
    tmp_path: Path, template: str, kind: BridgeKind, family: object, url: str
) -> None:
    plan = plan_for(tmp_path, template, SECRET)
    assert plan.kind is kind
    assert plan.method is Method.SHARED_SECRET
    assert plan.family is family
    assert plan.secret == SECRET
    assert plan.homeserver_url == url
    assert plan.secret_key == 'bridge.login_shared_secret_map["example.org"]'
    assert any("as_token:" in note for note in plan.notes)
    assert_secret_nowhere(SECRET, repr(plan), plan.explanation, *plan.notes)


@pytest.mark.parametrize("template", [LEGACY_GO, MAUTRIX_PY])
def test_legacy_as_token(tmp_path: Path, template: str) -> None:
    plan = plan_for(tmp_path, template, f"as_token:{AS_TOKEN}")
    assert plan.method is Method.APPSERVICE_TOKEN
    assert plan.secret == AS_TOKEN
    assert plan.family is None


@pytest.mark.parametrize("template", [LEGACY_GO, MAUTRIX_PY])
def test_legacy_appservice_login(tmp_path: Path, template: str) -> None:
    plan = plan_for(tmp_path, template, "appservice")
    assert plan.method is Method.APPSERVICE_LOGIN
    assert plan.secret == "the-bridges-own-as-token"
    assert "deprecated" in plan.explanation
    assert "the-bridges-own" not in plan.explanation


def test_mautrix_python_remote_server_without_url(tmp_path: Path) -> None:
    text = MAUTRIX_PY.replace("        example.org: %s", "        other.example: %s")
    plan = plan_for(tmp_path, text, SECRET, user="@bob:other.example")
    assert plan.homeserver_url is None
    assert plan.method is Method.NOT_ALLOWED
    assert plan.url_problem is not None and "bridge.double_puppet_server_map" in plan.url_problem


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("    address: http://localhost:8008\n", ""),
            r"config\.yaml: homeserver\.address is missing",
        ),
        (("    domain: example.org\n", ""), r"config\.yaml: homeserver\.domain is missing"),
        (
            ("    domain: example.org\n", "    domain: example.org:8448\n"),
            r"homeserver\.domain is 'example\.org:8448', a server name with a port",
        ),
    ],
)
def test_mautrix_python_missing_or_wrong_keys(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = (MAUTRIX_PY % SECRET).replace(*edit)
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError, match=message):
        plan_double_puppet(load_bridge_config(path), path, USER)


def test_server_name_with_a_port_that_user_ids_really_carry(tmp_path: Path) -> None:
    text = (MAUTRIX_PY % SECRET).replace("example.org", "example.org:8448")
    path = write(tmp_path, text)
    plan = plan_double_puppet(load_bridge_config(path), path, "@alice:example.org:8448")
    assert plan.server_name == "example.org:8448"
    assert plan.method is Method.SHARED_SECRET


def test_server_name_with_a_port_and_a_user_of_another_server(tmp_path: Path) -> None:
    """The bridge's own server may well be example.org:8448: nothing says otherwise when the
    user checked is on another server (listed in double_puppet_server_map)."""
    text = (
        (MAUTRIX_PY % SECRET)
        .replace("    domain: example.org\n", "    domain: example.org:8448\n")
        .replace(
            "double_puppet_server_map: {}",
            "double_puppet_server_map: {other.example: 'https://matrix.other.example'}",
        )
        .replace("        example.org: ", "        other.example: ")
    )
    path = write(tmp_path, text)
    plan = plan_double_puppet(load_bridge_config(path), path, "@bob:other.example")
    assert plan.server_name == "example.org:8448"
    assert plan.method is Method.SHARED_SECRET
    assert plan.homeserver_url == "https://matrix.other.example"


def test_secret_key_with_a_port_is_pointed_out(tmp_path: Path) -> None:
    text = LEGACY_GO.replace("        example.org: %s", "        example.org:8448: %s")
    with pytest.raises(BridgeConfigError, match=r"'example\.org:8448' has a port"):
        plan_for(tmp_path, text, SECRET)


# -- mx-puppet-bridge and matrix-corporal ---------------------------------------------------------


def test_mx_puppet_bridge(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, MX_PUPPET, SECRET)
    assert plan.kind is BridgeKind.MX_PUPPET_BRIDGE
    assert plan.method is Method.SHARED_SECRET
    assert plan.family is MX_PUPPET_BRIDGE
    assert plan.homeserver_url == "http://localhost:8008"
    assert any(".well-known" in note for note in plan.notes)


def test_mx_puppet_bridge_url_map(tmp_path: Path) -> None:
    text = MX_PUPPET + "homeserverUrlMap:\n  example.org: http://127.0.0.1:1234\n"
    plan = plan_for(tmp_path, text, SECRET)
    assert plan.homeserver_url == "http://127.0.0.1:1234"
    assert plan.url_key == 'homeserverUrlMap["example.org"]'
    assert plan.notes == ()


def test_mx_puppet_bridge_cannot_use_as_token(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, MX_PUPPET, f"as_token:{AS_TOKEN}")
    assert plan.method is Method.IGNORED
    assert "cannot use the appservice method" in plan.explanation
    assert_secret_nowhere(AS_TOKEN, repr(plan), plan.explanation)


def test_matrix_corporal(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CORPORAL, json.dumps(SECRET), name="corporal.json")
    assert plan.kind is BridgeKind.MATRIX_CORPORAL
    assert plan.method is Method.SHARED_SECRET
    assert plan.family is MATRIX_CORPORAL
    assert plan.homeserver_url == "http://127.0.0.1:8008"
    assert_secret_nowhere(SECRET, repr(plan), plan.explanation)


def test_matrix_corporal_other_server(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match=r"only users of its own server"):
        plan_for(tmp_path, CORPORAL, json.dumps(SECRET), user="@bob:other.example", name="c.json")


def test_matrix_corporal_missing_secret(tmp_path: Path) -> None:
    with pytest.raises(
        BridgeConfigError,
        match=r"corporal\.json: Matrix\.AuthSharedSecret is empty, so .* synapse_dp_auth",
    ):
        plan_for(tmp_path, CORPORAL, "null", name="corporal.json")


# -- unreadable files -----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match=r"cannot read .*nope\.yaml: No such file"):
        load_bridge_config(str(tmp_path / "nope.yaml"))


def test_malformed_yaml_does_not_quote_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, f"bridge:\n  login_shared_secret_map:\n    example.org: [{SECRET}\n")
    with pytest.raises(
        BridgeConfigError, match=r"config\.yaml is not valid YAML: .*line"
    ) as caught:
        load_bridge_config(path)
    assert_secret_nowhere(SECRET, str(caught.value))


def test_malformed_json_does_not_quote_the_text(tmp_path: Path) -> None:
    path = write(tmp_path, '{"Matrix": {"AuthSharedSecret": "' + SECRET + '",}}', "c.json")
    with pytest.raises(BridgeConfigError, match=r"c\.json is not valid JSON: .*line 1") as caught:
        load_bridge_config(path)
    assert_secret_nowhere(SECRET, str(caught.value))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"bridge:\n  x: \xff\xfe\n")
    with pytest.raises(BridgeConfigError, match=r"config\.yaml: not valid UTF-8"):
        load_bridge_config(str(path))


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- list\n"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError, match=r"does not hold a mapping of settings"):
        load_bridge_config(path)


@pytest.mark.parametrize(
    "entry",
    [
        "example.org:as_token:LEAKEDTOKEN123: x",  # flow or block style without the space
        "example.org as_token:LEAKEDTOKEN123:",  # a space where the colon belongs
        "? example.org:as_token:LEAKEDTOKEN123",
    ],
)
def test_no_secret_never_lists_a_key_that_holds_a_secret(tmp_path: Path, entry: str) -> None:
    text = (BRIDGEV2 % "x").replace("        example.org: x\n", f"        {entry}\n")
    text = text.replace("    secrets:\n", "    secrets:\n        other.example: as_token:y\n")
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError) as caught:
        plan_double_puppet(load_bridge_config(path), path, USER)
    message = str(caught.value)
    assert "double_puppet.secrets has no entry for example.org" in message
    assert (
        "entries: other.example (and 1 other entry, not shown: a key may hold a secret when the"
        " space after its colon is missing, or key and value are swapped)"
    ) in message
    assert "LEAKED" not in message


def test_no_secret_never_lists_a_secret_written_as_the_key(tmp_path: Path) -> None:
    """Key and value swapped (`SECRET: example.org`): a random secret is a valid host name, so
    only keys with a dot, or the user's own server with a port, are shown."""
    swapped = "Hunter2RandomSecretValue0123456789"
    text = (BRIDGEV2 % "x").replace("        example.org: x\n", f"        {swapped}: example.org\n")
    text = text.replace(
        "    secrets:\n",
        "    secrets:\n        other.example: as_token:y\n        example.org:8448: z\n"
        "        localhost: z\n",
    )
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError) as caught:
        plan_double_puppet(load_bridge_config(path), path, USER)
    message = str(caught.value)
    assert swapped not in message
    assert "localhost" not in message
    assert "entries: example.org:8448, other.example (and 2 other entries, not shown" in message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000,
        '{"a": ' + "[" * 3000,  # JSON (matrix-corporal's format)
        "bridge:\n  x: " + "[" * 3000 + "]" * 3000 + "\n",
        "".join(" " * depth + "a:\n" for depth in range(3000)),
    ],
)
def test_nested_too_deeply_is_a_clean_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BridgeConfigError, match="is nested too deeply to be read"):
        load_bridge_config(path)
