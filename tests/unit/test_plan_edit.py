"""The editing engine of ``plan --apply``: splices into YAML and JSON, the redacted diff, and the
atomic replacement of files.

Runs without Synapse (stdlib, ruamel.yaml, pytest, hypothesis). The configs below are written
for these tests in the key layouts of the real files: mautrix bridgev2's ``double_puppet``
section (mautrix/go bridgev2/matrix/mxmain/example-config.yaml, commit 1057da6), legacy
mautrix-go and mautrix-python's ``bridge.login_shared_secret_map``, mx-puppet-bridge's
``bridge.loginSharedSecretMap``, Synapse's ``app_service_config_files`` and ``modules``, and
matrix-corporal's JSON (devture/matrix-corporal docs/configuration.md, commit 7ab732f: tabs).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import stat
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from synapse_dp_auth.admin.plan import (
    EditError,
    Outcome,
    Secret,
    Value,
    append_item,
    create_private_file,
    read_snapshot,
    redacted_diff,
    replace_file,
    set_json_value,
    set_value,
)

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
AS_TOKEN = Secret("as_token:Qm9ndXMgdG9rZW4gZm9yIHRlc3RzIG9ubHk-_0123456789abcdef")
MODULE = "synapse_dp_auth.SharedSecretAuthProvider"


def load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def lines(text: str) -> list[str]:
    """Lines with their breaks, split on "\\n" only (str.splitlines also splits on U+2028...)."""
    return re.split(r"(?<=\n)", text) if text else []


def untouched_outside_one_place(before: str, after: str) -> bool:
    """``after`` is ``before`` with at most one line replaced and lines inserted at that one
    place: every other line is byte for byte the same, in the same order."""
    old, new = lines(before), lines(after)
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new)) - prefix
        and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    return len(old) - prefix - suffix <= 1


# -- realistic configs ----------------------------------------------------------------------------

BRIDGEV2_FLOW = """\
# mautrix bridgev2 config, as a config manager renders it
homeserver:
    address: http://synapse:8008
    domain: example.org
appservice:
    id: whatsapp
    as_token: "generated-bridge-as-token-AAAAAAAAAAAAAAAA"
    hs_token: "generated-bridge-hs-token-BBBBBBBBBBBBBBBB"
double_puppet:
    servers: {}
    allow_discovery: false
    secrets: {}
encryption:
    pickle_key: 'pickle-key-CCCCCCCCCCCCCCCCCCCC'
"""

BRIDGEV2_PLAIN_SECRET = """\
double_puppet:
    # Servers to always allow double puppeting from.
    servers:
        example.org: https://matrix.example.org
    allow_discovery: false
    # Shared secrets for automatic double puppeting.
    # The value is either "as_token:<token>" or a login shared secret.
    secrets:
        # other.example: as_token:foobar
        'example.org': 'hand-written-shared-secret-DDDDDDDDDDDD'   # set by hand in 2023
logging:
    min_level: debug
"""

LEGACY_GO_NULL_MAP = """\
bridge:
    username_template: whatsapp_{{.}}
    # Shared secrets for https://github.com/devture/matrix-synapse-shared-secret-auth
    login_shared_secret_map:
        # example.com: foobar
    permissions:
        "*": relay
        "example.org": user
        "@admin:example.org": admin
"""

MAUTRIX_PYTHON_SINGLE_KEY = """\
homeserver:
    address: https://matrix.example.org
    domain: example.org
bridge:
    username_template: "telegram_{userid}"
    login_shared_secret: null
    sync_with_custom_puppets: true
"""

MX_PUPPET = """\
bridge:
  # Port to host the bridge on
  port: 6000
  domain: example.org
  homeserverUrl: http://localhost:8008
  # A map for shared secrets of the homeserver URL to the shared secret
  #loginSharedSecretMap:
  #  example.org: secret
presence:
  enabled: true
"""

HOMESERVER = """\
server_name: "example.org"
listeners:
  - port: 8008
    type: http
    resources:
      - names: [client, federation]
app_service_config_files:
  - "/data/whatsapp-registration.yaml"
modules:
  - module: other_module.Thing
    config: {}
registration_shared_secret: "registration-secret-EEEEEEEEEEEEEEEE"
"""

CORPORAL = (
    "{\n"
    '\t"Matrix": {\n'
    '\t\t"HomeserverDomainName": "example.org",\n'
    '\t\t"HomeserverApiEndpoint": "http://synapse:8008",\n'
    '\t\t"AuthSharedSecret": "corporal-old-secret-FFFFFFFFFFFFFFFF",\n'
    '\t\t"TimeoutMilliseconds": 45000\n'
    "\t},\n"
    "\n"
    '\t"Corporal": {\n'
    '\t\t"UserId": "@matrix-corporal:example.org"\n'
    "\t}\n"
    "}\n"
)


def test_bridgev2_flow_secrets_get_the_token_in_flow_style() -> None:
    after = set_value(BRIDGEV2_FLOW, ("double_puppet", "secrets", "example.org"), AS_TOKEN)
    assert after == BRIDGEV2_FLOW.replace(
        "secrets: {}", f'secrets: {{example.org: "{AS_TOKEN.value}"}}'
    )


def test_bridgev2_plain_secret_replaced_in_its_quoting() -> None:
    path = ("double_puppet", "secrets", "example.org")
    after = set_value(BRIDGEV2_PLAIN_SECRET, path, AS_TOKEN)
    assert after == BRIDGEV2_PLAIN_SECRET.replace(
        "'hand-written-shared-secret-DDDDDDDDDDDD'", f"'{AS_TOKEN.value}'"
    )


def test_legacy_map_written_as_nothing_gets_its_first_entry() -> None:
    path = ("bridge", "login_shared_secret_map", "example.org")
    after = set_value(LEGACY_GO_NULL_MAP, path, AS_TOKEN)
    assert after == LEGACY_GO_NULL_MAP.replace(
        "    login_shared_secret_map:\n",
        f"    login_shared_secret_map:\n        example.org: {AS_TOKEN.value}\n",
    )


def test_missing_map_created_with_the_file_indentation() -> None:
    path = ("bridge", "login_shared_secret_map", "example.org")
    after = set_value(MAUTRIX_PYTHON_SINGLE_KEY, path, AS_TOKEN)
    assert after == MAUTRIX_PYTHON_SINGLE_KEY + (
        f"    login_shared_secret_map:\n        example.org: {AS_TOKEN.value}\n"
    )


def test_commented_out_key_left_as_comment_and_two_space_indentation_followed() -> None:
    secret = Secret("a-module-shared-secret-0123456789abcdef")
    after = set_value(MX_PUPPET, ("bridge", "loginSharedSecretMap", "example.org"), secret)
    assert after == MX_PUPPET.replace(
        "  homeserverUrl: http://localhost:8008\n",
        "  homeserverUrl: http://localhost:8008\n"
        f"  loginSharedSecretMap:\n    example.org: {secret.value}\n",
    )


def test_homeserver_registration_appended_in_the_quoting_of_the_list() -> None:
    after = append_item(HOMESERVER, ("app_service_config_files",), "/data/doublepuppet.yaml")
    assert after == HOMESERVER.replace(
        '  - "/data/whatsapp-registration.yaml"\n',
        '  - "/data/whatsapp-registration.yaml"\n  - "/data/doublepuppet.yaml"\n',
    )


def test_homeserver_without_the_list_gets_it() -> None:
    text = 'server_name: "example.org"\n# no appservices yet\n'
    after = append_item(text, ("app_service_config_files",), "/data/doublepuppet.yaml")
    assert after == text.replace(
        '"example.org"\n',
        '"example.org"\napp_service_config_files:\n  - /data/doublepuppet.yaml\n',
    )


def test_module_entry_added_once() -> None:
    entry: Value = {"module": MODULE, "config": {"shared_secret_path": "/data/dp-auth.secret"}}
    after = append_item(HOMESERVER, ("modules",), entry, identity_key="module")
    assert after == HOMESERVER.replace(
        "    config: {}\n",
        "    config: {}\n"
        f"  - module: {MODULE}\n    config:\n      shared_secret_path: /data/dp-auth.secret\n",
    )
    # An entry for the module is there already (whatever its config): nothing to add.
    other_config: Value = {"module": MODULE, "config": {"shared_secret": "x"}}
    assert append_item(after, ("modules",), other_config, identity_key="module") == after


def test_crlf_file_without_final_line_break_stays_so() -> None:
    text = BRIDGEV2_PLAIN_SECRET.replace("\n", "\r\n").removesuffix("\r\n")
    after = set_value(text, ("double_puppet", "new_key"), "value")
    after = set_value(after, ("logging", "writers", "type"), "stdout")
    assert not after.endswith("\n")
    assert "\n" not in after.replace("\r\n", "")
    assert (
        after
        == text.replace("\r\nlogging:", "\r\n    new_key: value\r\nlogging:")
        + "\r\n    writers:\r\n        type: stdout"
    )


def test_quoted_keys_and_flow_mapping_over_lines_with_comments() -> None:
    text = (
        '"bridge" :\n  permissions: {\n    "*": relay,   # everyone\n    example.org: user\n  }\n'
    )
    after = set_value(text, ("bridge", "permissions", "@admin:example.org"), "admin")
    assert after == text.replace(
        "example.org: user\n", 'example.org: user, "@admin:example.org": admin\n'
    )


def test_anchors_elsewhere_are_fine_an_alias_on_the_path_is_refused() -> None:
    text = "base: &base {timeout: 10}\nbridge: *base\nother:\n  <<: *base\n  x: 1\n"
    assert set_value(text, ("top",), 1) == text + "top: 1\n"
    assert set_value(text, ("other", "x"), 2) == text.replace("x: 1", "x: 2")
    with pytest.raises(EditError, match="alias"):
        set_value(text, ("bridge", "timeout"), 20)
    with pytest.raises(EditError, match="merge key"):
        set_value(text, ("other", "timeout"), 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "new:\n  k: v\n"),
        ("# only a comment", "# only a comment\nnew:\n  k: v"),
        ("---\n", "---\nnew:\n  k: v\n"),
        ("%YAML 1.1\n---\na: 1\n...\n", "%YAML 1.1\n---\na: 1\nnew:\n  k: v\n...\n"),
        ("a: |+\n  kept\n\n", "a: |+\n  kept\n\nnew:\n  k: v\n"),
        ("a:\n  - &x {k: 1}\n  - *x\n", "a:\n  - &x {k: 1}\n  - *x\nnew:\n  k: v\n"),
        ("a: &x 1\nb: *x\n", "a: &x 1\nb: *x\nnew:\n  k: v\n"),
    ],
)
def test_unusual_documents(text: str, expected: str) -> None:
    assert set_value(text, ("new", "k"), "v") == expected


def test_a_change_a_block_scalar_would_feel_is_refused() -> None:
    """Clip chomping: a folded scalar on the last line without a line break gains one when a
    line is added after it. The re-parse catches what the splice cannot see."""
    with pytest.raises(EditError, match="would change more than that key"):
        set_value("a: >\n  folded\n  text", ("b",), 1)


SECRET_IN_FILE = "in-file-secret-GGGGGGGGGGGGGGGG"


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        (f"a: {SECRET_IN_FILE}\n---\nb: 2\n", ("c",), "not valid YAML"),
        (f"a: {SECRET_IN_FILE}\na: {SECRET_IN_FILE}\n", ("c",), "not valid YAML"),
        (f"a:\n\tb: {SECRET_IN_FILE}\n", ("c",), "not valid YAML"),
        (f"- {SECRET_IN_FILE}\n", ("c",), "not a mapping"),
        (f"a: |\n  {SECRET_IN_FILE}\n", ("a",), "block scalar"),
        (f"a: {SECRET_IN_FILE}\n", ("a", "b"), "not a mapping"),
        (f"a: [{SECRET_IN_FILE}]\n", ("a",), "mapping or list"),
    ],
)
def test_refusals_name_the_problem_and_never_the_content(
    text: str, path: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(EditError, match=reason) as caught:
        set_value(text, path, "new")
    assert SECRET_IN_FILE not in str(caught.value)


def test_append_refused_where_the_key_is_not_a_list() -> None:
    with pytest.raises(EditError, match="not a list"):
        append_item("app_service_config_files: /data/x.yaml\n", ("app_service_config_files",), "y")


ALL_EDITS = [
    (BRIDGEV2_FLOW, set_value, ("double_puppet", "secrets", "example.org"), AS_TOKEN),
    (BRIDGEV2_PLAIN_SECRET, set_value, ("double_puppet", "secrets", "example.org"), AS_TOKEN),
    (LEGACY_GO_NULL_MAP, set_value, ("bridge", "login_shared_secret_map", "example.org"), AS_TOKEN),
    (
        MAUTRIX_PYTHON_SINGLE_KEY,
        set_value,
        ("bridge", "login_shared_secret_map", "x.org"),
        AS_TOKEN,
    ),
    (MX_PUPPET, set_value, ("bridge", "loginSharedSecretMap", "example.org"), Secret("s" * 40)),
    (HOMESERVER, append_item, ("app_service_config_files",), "/data/doublepuppet.yaml"),
    (HOMESERVER, append_item, ("modules",), {"module": MODULE, "config": {"a": 1}}),
    ("a: 1", append_item, ("b",), "x"),
]


@pytest.mark.parametrize(("text", "edit", "path", "value"), ALL_EDITS)
def test_second_application_changes_nothing(text: str, edit: Any, path: Any, value: Any) -> None:
    once = edit(text, path, value)
    assert once != text
    assert edit(once, path, value) == once
    assert untouched_outside_one_place(text, once)


# -- JSON -----------------------------------------------------------------------------------------


def test_corporal_secret_replaced_where_it_stands() -> None:
    secret = Secret("corporal-new-secret-0123456789abcdef")
    after = set_json_value(CORPORAL, ("Matrix", "AuthSharedSecret"), secret)
    assert after == CORPORAL.replace("corporal-old-secret-FFFFFFFFFFFFFFFF", secret.value)
    assert set_json_value(after, ("Matrix", "AuthSharedSecret"), secret) == after


def test_corporal_new_member_indented_with_tabs_crlf_kept() -> None:
    text = CORPORAL.replace("\n", "\r\n")
    after = set_json_value(text, ("Corporal", "Extra", "Enabled"), True)
    assert after == text.replace(
        '"@matrix-corporal:example.org"\r\n',
        '"@matrix-corporal:example.org",\r\n\t\t"Extra": {\r\n\t\t\t"Enabled": true\r\n\t\t}\r\n',
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', "same key twice"),
        ('{"a": 1,}', "not valid JSON"),
        ("[1]", "not a JSON object"),
        ('{"Matrix": [1]}', "not an object"),
    ],
)
def test_json_refusals(text: str, reason: str) -> None:
    with pytest.raises(EditError, match=reason):
        set_json_value(text, ("Matrix", "AuthSharedSecret"), "x")


# -- property tests -------------------------------------------------------------------------------

_YAML_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
#: Keys as configs have them; none that YAML reads as something else than a string.
KEYS = st.text(alphabet=string.ascii_lowercase + "_.", min_size=1, max_size=6).filter(
    lambda key: key[0] != "." and key not in _YAML_WORDS
)
SCALAR_TOKENS = st.sampled_from(
    ["plain", "'single quoted'", '"double \\" quoted"', "12", "true", "~", "", "https://x.org/a"]
)
COMMENTS = st.sampled_from(["", "  # a comment", "   #: another"])


def yaml_tree(depth: int = 3) -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        SCALAR_TOKENS,
        st.builds(
            lambda items: "{" + ", ".join(items) + "}",
            st.lists(KEYS.map(lambda k: f"{k}: 1"), max_size=2, unique=True),
        ),
        st.lists(SCALAR_TOKENS.filter(bool), min_size=1, max_size=3),
    )
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.dictionaries(KEYS, yaml_tree(depth - 1), min_size=1, max_size=4))


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """A block-style config as people write them: comments, blank lines, mixed quoting."""
    tree = draw(st.dictionaries(KEYS, yaml_tree(), min_size=1, max_size=5))
    step = draw(st.sampled_from([2, 4]))
    dash = draw(st.sampled_from([0, step]))
    out: list[str] = []

    def render(mapping: dict[str, Any], column: int) -> None:
        for key, value in mapping.items():
            if draw(st.booleans()):
                out.append(" " * column + "# about " + key)
            if draw(st.integers(0, 4)) == 0:
                out.append("")
            if isinstance(value, dict):
                out.append(" " * column + f"{key}:" + draw(COMMENTS))
                render(value, column + step)
            elif isinstance(value, list):
                out.append(" " * column + f"{key}:")
                out.extend(" " * (column + dash) + f"- {item}" for item in value)
            else:
                out.append((" " * column + f"{key}: {value}").rstrip() + draw(COMMENTS))

    render(tree, 0)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(out) + (newline if draw(st.booleans()) else "")


VALUES = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.text(string.ascii_letters + string.digits + "-_:/.@", min_size=1, max_size=30),
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.builds(lambda s: Secret("as_token:" + s), st.text(string.ascii_letters, max_size=30)),
)


def _walkable(data: Any, path: tuple[str, ...]) -> bool:
    """Whether ``path`` only goes through mappings (or nothing) and ends at a scalar or nothing."""
    for key in path:
        if data is None:
            return True
        if not isinstance(data, dict):
            return False
        data = data.get(key)
    return not isinstance(data, (dict, list))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=yaml_documents(), data=st.data(), value=VALUES)
def test_yaml_set_changes_one_place_and_only_the_value(
    document: str, data: st.DataObject, value: Any
) -> None:
    before = load(document)
    # An existing path half of the time, else new keys somewhere.
    path: list[str] = []
    node = before
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    path += data.draw(st.lists(KEYS, min_size=0 if path else 1, max_size=2))
    path_t = tuple(path)
    if not _walkable(before, path_t):
        with pytest.raises(EditError):
            set_value(document, path_t, value)
        return
    after = set_value(document, path_t, value)
    assert untouched_outside_one_place(document, after)
    newline = "\r\n" if "\r\n" in document else "\n"
    if newline == "\r\n":
        assert "\n" not in after.replace("\r\n", "")
    assert after.endswith("\n") == document.endswith("\n") or not document
    parsed = load(after)
    target = parsed
    for key in path_t:
        target = target[key]
    expected = value.value if isinstance(value, Secret) else value
    assert target == expected and type(target) is type(expected)
    assert set_value(after, path_t, value) == after


@settings(max_examples=150, deadline=None)
@given(document=yaml_documents(), item=VALUES, key=KEYS)
def test_yaml_append_changes_one_place(document: str, item: Any, key: str) -> None:
    before = load(document)
    current = before.get(key)
    if current is not None and not isinstance(current, list):
        with pytest.raises(EditError):
            append_item(document, (key,), item)
        return
    after = append_item(document, (key,), item)
    assert untouched_outside_one_place(document, after)
    expected = item.value if isinstance(item, Secret) else item
    assert load(after)[key][-1] == expected
    assert append_item(after, (key,), item) == after


JSON_TREES = st.recursive(
    st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()),
    lambda children: st.dictionaries(
        st.text(string.ascii_letters, min_size=1, max_size=6), children, max_size=4
    ),
    max_leaves=12,
).filter(lambda tree: isinstance(tree, dict))


@settings(max_examples=200, deadline=None)
@given(
    tree=JSON_TREES,
    indent=st.sampled_from([2, 4, "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    path=st.lists(st.text(string.ascii_letters, min_size=1, max_size=6), min_size=1, max_size=3),
    value=VALUES,
)
def test_json_set_changes_one_place_and_only_the_value(
    tree: dict[str, Any], indent: int | str, newline: str, path: list[str], value: Any
) -> None:
    document = json.dumps(tree, indent=indent).replace("\n", newline) + newline
    if not _walkable(tree, tuple(path)):
        with pytest.raises(EditError):
            set_json_value(document, path, value)
        return
    after = set_json_value(document, path, value)
    assert untouched_outside_one_place(document, after)
    if newline == "\r\n":
        assert "\n" not in after.replace("\r\n", "")
    target = json.loads(after)
    for key in path:
        target = target[key]
    assert target == (value.value if isinstance(value, Secret) else value)
    assert set_json_value(after, path, value) == after


# -- the diff -------------------------------------------------------------------------------------

SECRET_CHARS = string.ascii_letters + string.digits + "-_"


@settings(max_examples=100, deadline=None)
@given(token=st.text(SECRET_CHARS, min_size=16, max_size=64))
def test_diff_never_shows_a_secret_new_or_old(token: str) -> None:
    new = Secret("as_token:" + token)
    old_secrets = [
        "hand-written-shared-secret-DDDDDDDDDDDD",
        "generated-bridge-as-token-AAAAAAAAAAAAAAAA",
        "generated-bridge-hs-token-BBBBBBBBBBBBBBBB",
        "pickle-key-CCCCCCCCCCCCCCCCCCCC",
    ]
    text = BRIDGEV2_FLOW + BRIDGEV2_PLAIN_SECRET.replace("double_puppet:", "more:")
    after = set_value(text, ("more", "secrets", "example.org"), new)
    after = set_value(after, ("double_puppet", "secrets", "example.org"), new)
    diff = redacted_diff("config.yaml", text, after, kind="yaml", secrets=[new.value])
    assert token not in diff
    for old in old_secrets:
        assert old not in diff
    assert "-        'example.org': '<hidden>'   # set by hand in 2023\n" in diff
    assert "+        'example.org': 'as_token:<hidden, new>'   # set by hand in 2023\n" in diff
    assert '+    secrets: {example.org: "as_token:<hidden, new>"}\n' in diff


def test_diff_hides_a_secret_written_as_a_key_of_a_map_of_secrets() -> None:
    """Key and value swapped (``<secret>: example.org``) puts the secret where a server name
    goes; a key without a dot under a map of secrets is hidden, a server name is shown."""
    secret = "swapped-shared-secret-EEEEEEEEEEEE"
    text = (
        "bridge:\n"
        "    login_shared_secret_map:\n"
        f"        {secret}: example.org\n"
        "    permissions:\n"
        "        localbridge: admin\n"
    )
    new = Secret("as_token:" + "F" * 32)
    after = set_value(text, ("bridge", "login_shared_secret_map", "example.org"), new)
    diff = redacted_diff("config.yaml", text, after, kind="yaml", secrets=[new.value])
    assert secret not in diff
    assert "<hidden>: <hidden>" in diff
    assert "+        example.org: as_token:<hidden, new>\n" in diff
    assert "localbridge: admin" in diff  # keys of other maps are shown


def test_diff_of_json_new_file_and_database_address() -> None:
    secret = Secret("corporal-new-secret-0123456789abcdef")
    after = set_json_value(CORPORAL, ("Matrix", "AuthSharedSecret"), secret)
    diff = redacted_diff("corporal.json", CORPORAL, after, kind="json", secrets=[secret.value])
    assert diff.splitlines()[:3] == ["--- corporal.json", "+++ corporal.json", "@@ -2,7 +2,7 @@"]
    assert '-\t\t"AuthSharedSecret": "<hidden>",' in diff.splitlines()
    assert '+\t\t"AuthSharedSecret": "<hidden, new>",' in diff.splitlines()
    assert "corporal-old-secret" not in diff and secret.value not in diff

    created = redacted_diff(
        "dp.secret", None, secret.value + "\n", kind="secret", secrets=[secret.value]
    )
    assert created == "--- /dev/null\n+++ dp.secret\n@@ -0,0 +1 @@\n+<hidden, new> (1 line(s))\n"

    text = "database:\n    uri: postgres://bridge:db-password-HHHH@db/bridge\n"
    after_db = set_value(text, ("database", "max_open_conns"), 5)
    diff = redacted_diff("config.yaml", text, after_db, kind="yaml")
    assert "postgres://bridge:<hidden>@db/bridge" in diff and "db-password" not in diff


def test_diff_keeps_line_numbers_past_a_hidden_multiline_secret() -> None:
    text = "signing:\n  private_key: |\n    line one\n    line two\nport: 1\n"
    diff = redacted_diff("x.yaml", text, set_value(text, ("port",), 2), kind="yaml")
    assert "@@ -2,4 +2,4 @@" in diff and "line one" not in diff


# -- writing files --------------------------------------------------------------------------------


def leftovers(directory: Path, name: str) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name != name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + LEGACY_GO_NULL_MAP.encode())
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 4321, 4322)
    return path


def test_replace_keeps_mode_owner_bom_and_a_backup(config: Path) -> None:
    before = config.read_bytes()
    owner = config.stat().st_uid, config.stat().st_gid
    snapshot = read_snapshot(config)
    assert not snapshot.text.startswith("\ufeff")
    new_text = set_value(
        snapshot.text, ("bridge", "login_shared_secret_map", "example.org"), AS_TOKEN
    )

    result = replace_file(snapshot, new_text, now=NOW)

    assert result.outcome is Outcome.WRITTEN
    assert config.read_bytes() == b"\xef\xbb\xbf" + new_text.encode()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert (config.stat().st_uid, config.stat().st_gid) == owner
    assert result.backup == config.with_name("config.yaml.bak-20260102T030405Z")
    assert result.backup.read_bytes() == before
    assert stat.S_IMODE(result.backup.stat().st_mode) == 0o640
    assert (result.backup.stat().st_uid, result.backup.stat().st_gid) == owner
    assert leftovers(config.parent, "config.yaml") == ["config.yaml.bak-20260102T030405Z"]
    assert AS_TOKEN.value not in repr(result) + repr(snapshot)

    # The same change again: nothing to do, no second backup.
    again = read_snapshot(config)
    assert replace_file(again, new_text, now=NOW).outcome is Outcome.UNCHANGED
    # Another change in the same second: a second backup with its own name.
    third = replace_file(again, new_text + "# more\n", now=NOW)
    assert third.backup == config.with_name("config.yaml.bak-20260102T030405Z-2")


def test_file_changed_since_read_is_left_alone(config: Path) -> None:
    snapshot = read_snapshot(config)
    config.write_bytes(config.read_bytes() + b"# an admin was here\n")
    edited = config.read_bytes()
    result = replace_file(snapshot, snapshot.text + "new: 1\n", now=NOW)
    assert result.outcome is Outcome.CHANGED_SINCE_READ
    assert config.read_bytes() == edited
    assert leftovers(config.parent, "config.yaml") == []


def test_symlink_followed_and_kept(tmp_path: Path, config: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(config)
    snapshot = read_snapshot(link)
    result = replace_file(snapshot, snapshot.text + "new: 1\n", now=NOW)
    assert result.outcome is Outcome.WRITTEN and result.path == config
    assert link.is_symlink() and link.read_text(encoding="utf-8-sig").endswith("new: 1\n")


def test_hard_linked_file_left_alone(tmp_path: Path, config: Path) -> None:
    os.link(config, tmp_path / "other-name.yaml")
    snapshot = read_snapshot(config)
    result = replace_file(snapshot, snapshot.text + "new: 1\n", now=NOW)
    assert result.outcome is Outcome.FAILED and "hard links" in result.reason


def test_failed_rename_leaves_the_file_and_no_litter(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a bind-mounted file in a container does (EBUSY): os.replace fails, nothing else."""
    before = config.read_bytes()
    snapshot = read_snapshot(config)

    def busy(source: str, target: str) -> None:
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr(os, "replace", busy)
    result = replace_file(snapshot, snapshot.text + "new: 1\n", now=NOW)
    assert result.outcome is Outcome.FAILED
    assert result.reason == "cannot write it: Device or resource busy"
    assert config.read_bytes() == before
    assert leftovers(config.parent, "config.yaml") == []


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="plan-edit-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        for path in (directory, *directory.iterdir()):
            path.chmod(0o755) if path.is_dir() else None
        shutil.rmtree(directory)


_AS_NOBODY = """
import datetime, json, os, sys
from synapse_dp_auth.admin.plan import read_snapshot, replace_file
snapshot = read_snapshot(sys.argv[1])
os.setgid(65534)
os.setuid(65534)
result = replace_file(snapshot, snapshot.text + "new: 1\\n",
                      now=datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc))
print(json.dumps([result.outcome.name, result.reason]))
"""


def replace_as_another_user(path: Path) -> list[str]:
    """replace_file as uid 65534 (root ignores permissions), or as ourselves when not root."""
    if os.geteuid() != 0:
        result = replace_file(read_snapshot(path), path.read_text() + "new: 1\n", now=NOW)
        return [result.outcome.name, result.reason]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", _AS_NOBODY, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    outcome: list[str] = json.loads(completed.stdout)
    return outcome


def test_read_only_directory_leaves_the_file_alone(shared_dir: Path) -> None:
    path = shared_dir / "config.yaml"
    path.write_text("a: 1\n")
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        os.chown(shared_dir, 65534, 65534)
    shared_dir.chmod(0o555)
    assert replace_as_another_user(path) == ["FAILED", "cannot write it: Permission denied"]
    assert path.read_text() == "a: 1\n"
    assert leftovers(shared_dir, "config.yaml") == []


def test_read_only_file_is_respected(shared_dir: Path) -> None:
    path = shared_dir / "config.yaml"
    path.write_text("a: 1\n")
    path.chmod(0o444)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        os.chown(shared_dir, 65534, 65534)
    assert replace_as_another_user(path) == ["FAILED", "it is read-only for this user"]
    assert path.read_text() == "a: 1\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_file_of_another_user_is_not_taken_over(shared_dir: Path) -> None:
    path = shared_dir / "config.yaml"
    path.write_text("a: 1\n")
    shared_dir.chmod(0o777)
    path.chmod(0o666)
    assert replace_as_another_user(path) == [
        "FAILED",
        "it belongs to uid 0: run as that user or root, to keep its owner",
    ]


def test_new_private_file(tmp_path: Path) -> None:
    path = tmp_path / "dp-auth.secret"
    previous = os.umask(0)
    try:
        result = create_private_file(path, "a-secret\n")
    finally:
        os.umask(previous)
    assert result.outcome is Outcome.CREATED
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "a-secret\n"
    # Never replaced, not even through a symbolic link.
    assert create_private_file(path, "other\n").outcome is Outcome.EXISTS
    assert path.read_text() == "a-secret\n"
    target = tmp_path / "elsewhere"
    (tmp_path / "link").symlink_to(target)
    assert create_private_file(tmp_path / "link", "other\n").outcome is Outcome.EXISTS
    assert not target.exists()
    missing = create_private_file(tmp_path / "no-such-dir" / "x", "s\n")
    assert missing.outcome is Outcome.FAILED and "No such file" in missing.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_new_private_file_given_to_the_service_user(tmp_path: Path) -> None:
    path = tmp_path / "dp-auth.secret"
    assert create_private_file(path, "s\n", owner=(4321, 4322)).outcome is Outcome.CREATED
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)


# -- the two halves -------------------------------------------------------------------------------


def test_module_half_never_imports_ruamel() -> None:
    package = Path(__file__).parents[2] / "synapse_dp_auth"
    outside_admin = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "ruamel" in path.read_text() and "admin" not in path.relative_to(package).parts
    ]
    assert outside_admin == []
    code = (
        "import sys, synapse_dp_auth, synapse_dp_auth.config, synapse_dp_auth.token;"
        "print([m for m in sys.modules if m.startswith('ruamel')])"
    )
    completed = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout == "[]\n"
