"""``doctor --bridge-config`` on the bridge configs admins really have
(tests/fixtures/bridge_configs/, whose README is the specification), against real Synapse servers.

Each of the README's three servers runs once: ``server_name: example.com``, this module with the
fixtures' shared secret in one of the module configs of :data:`testbed.compat.MODULE_CONFIGS`
(S1 ``defaults``, S2 ``custom-type-only``, S3 ``password-only``), MDAD's double-puppet
registration loaded, and ``@alice:example.com`` registered. Every fixture is checked against each
with ``doctor --bridge-config FILE --user @alice:example.com HOMESERVER_URL``, run in-process as
an admin would run the command. The expected verdicts are the README's, written out below, not
taken from the code under test.

A placeholder (the upstream example's value) must be found from the config alone: those rows
run with HOMESERVER_URL pointing at a closed port on loopback, where any request would end in a
connection error instead of the placeholder message.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cli_support import clean_environment, run_cli
from constants import MODULE, REPO_ROOT

from testbed.compat import MODULE_CONFIGS
from testbed.homeserver import Homeserver, free_port

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bridge_configs"
REGISTRATION = FIXTURES / "homeserver" / "mdad-double-puppet-registration.yaml"

#: The README's common values.
SERVER_NAME = "example.com"
USER = "@alice:example.com"
FIXTURE_SECRET = "fixture-shared-secret-3f8a1c9e7b52"
FIXTURE_AS_TOKEN = "6f1c2a9e-4b7d-5e3a-8c21-9d0e4f7a3b15"

#: The README's servers, by the names of testbed.compat.MODULE_CONFIGS.
SERVERS = {"S1": "defaults", "S2": "custom-type-only", "S3": "password-only"}


class Verdict(enum.Enum):
    #: exit 0
    OK = "ok"
    #: exit 1: a one-line error on stderr, or a report with a ``FAIL  `` line (no ``VERSION  ``)
    ERROR = "error"
    #: exit 1, a ``VERSION  `` line, and the change that works on every release: ``as_token:``
    VERSION = "version"
    #: exit 1 as ERROR or as VERSION (the README says "non-zero" only)
    NONZERO = "non-zero"


OK, ERROR, VERSION, NONZERO = Verdict.OK, Verdict.ERROR, Verdict.VERSION, Verdict.NONZERO


@dataclass(frozen=True)
class Row:
    """One fixture: its verdict on S1, S2, S3, and what the output must and must not say.

    ``mentions`` and ``never_mentions`` are regular expressions, searched case-insensitively in
    stdout and stderr together; ``fix_never_mentions`` in the fix given only (which must then be
    there).
    """

    path: str
    s1: Verdict
    s2: Verdict
    s3: Verdict
    mentions: tuple[str, ...] = ()
    never_mentions: tuple[str, ...] = ()
    fix_never_mentions: tuple[str, ...] = ()

    def on(self, server: str) -> Verdict:
        return {"S1": self.s1, "S2": self.s2, "S3": self.s3}[server]


def everywhere(
    path: str,
    verdict: Verdict,
    *,
    mentions: tuple[str, ...] = (),
    never_mentions: tuple[str, ...] = (),
    fix_never_mentions: tuple[str, ...] = (),
) -> Row:
    return Row(
        path,
        verdict,
        verdict,
        verdict,
        mentions=mentions,
        never_mentions=never_mentions,
        fix_never_mentions=fix_never_mentions,
    )


def not_on_s2(path: str, s2: Verdict = ERROR) -> Row:
    """ok where the password type takes tokens (S1, S3); refused on S2 (custom type only)."""
    return Row(path, OK, s2, OK)


#: The key mautrix-imessage and the googlechat MDAD rendering read (and nothing longer).
SINGLE_KEY = r"bridge\.login_shared_secret(?!_map)"
AS_TOKEN_PREFIX = r"as_token:"

#: Every fixture that is checked against the three servers, with HOMESERVER_URL the server's.
SERVER_ROWS: tuple[Row, ...] = (
    # mautrix-go-bridgev2/
    everywhere("mautrix-go-bridgev2/shared-secret.yaml", ERROR),
    everywhere("mautrix-go-bridgev2/as-token.yaml", OK),
    everywhere("mautrix-go-bridgev2/mdad-rendered.yaml", OK),
    everywhere("mautrix-go-bridgev2/mdad-rendered-disabled.yaml", ERROR),
    everywhere(
        "mautrix-go-bridgev2/as-token-is-shared-secret.yaml",
        ERROR,
        mentions=(AS_TOKEN_PREFIX, "registration", "shared secret"),
    ),
    # mautrix-go-legacy/
    everywhere("mautrix-go-legacy/whatsapp-shared-secret.yaml", VERSION),
    everywhere("mautrix-go-legacy/whatsapp-single-login-shared-secret.yaml", VERSION),
    everywhere("mautrix-go-legacy/discord-shared-secret.yaml", OK),
    everywhere("mautrix-go-legacy/discord-as-token.yaml", OK),
    everywhere("mautrix-go-legacy/discord-mdad-rendered.yaml", OK),
    # mautrix-imessage/
    everywhere(
        "mautrix-imessage/example.yaml",
        ERROR,
        mentions=(SINGLE_KEY,),
        never_mentions=("login_shared_secret_map",),
    ),
    not_on_s2("mautrix-imessage/shared-secret.yaml"),
    everywhere("mautrix-imessage/as-token.yaml", ERROR),
    # mautrix-slack-legacy/: on S2 the README says "non-zero" (the released builds send only
    # m.login.password; an unreleased rewrite would send the devture type).
    not_on_s2("mautrix-slack-legacy/shared-secret.yaml", NONZERO),
    everywhere("mautrix-slack-legacy/as-token.yaml", VERSION),
    not_on_s2("mautrix-slack-legacy/mdad-rendered.yaml", NONZERO),
    # mautrix-python/
    everywhere("mautrix-python/telegram-shared-secret.yaml", VERSION),
    everywhere("mautrix-python/telegram-as-token.yaml", OK),
    everywhere("mautrix-python/telegram-single-login-shared-secret.yaml", VERSION),
    everywhere("mautrix-python/telegram-mdad-rendered.yaml", OK),
    everywhere("mautrix-python/googlechat-mdad-rendered.yaml", OK),
    not_on_s2("mautrix-python/googlechat-mdad-rendered-shared-secret.yaml"),
    everywhere(
        "mautrix-python/googlechat-mdad-rendered-disabled.yaml",
        ERROR,
        mentions=(SINGLE_KEY,),
        never_mentions=("login_shared_secret_map",),
    ),
    not_on_s2("mautrix-python/googlechat-both-keys.yaml"),
    # mautrix-signal-python/
    not_on_s2("mautrix-signal-python/shared-secret.yaml"),
    everywhere("mautrix-signal-python/as-token.yaml", ERROR),
    not_on_s2("mautrix-signal-python/mdad-rendered.yaml"),
    everywhere(
        "mautrix-signal-python/mdad-rendered-disabled.yaml",
        ERROR,
        fix_never_mentions=(AS_TOKEN_PREFIX,),
    ),
    # mx-puppet-bridge/
    everywhere("mx-puppet-bridge/sample.yaml", ERROR),
    not_on_s2("mx-puppet-bridge/shared-secret.yaml"),
    everywhere("mx-puppet-bridge/as-token.yaml", ERROR),
    not_on_s2("mx-puppet-bridge/mdad-rendered.yaml"),
    # matrix-corporal/
    not_on_s2("matrix-corporal/mdad-rendered.json"),
    everywhere(
        "matrix-corporal/auth-shared-secret-empty.json", ERROR, mentions=("synapse_dp_auth",)
    ),
)

#: Errors found from the config alone: checked once, with HOMESERVER_URL a closed port, and the
#: word each message must hold.
CONFIG_ONLY_ROWS: tuple[tuple[str, str], ...] = (
    ("mautrix-go-bridgev2/example.yaml", "placeholder"),
    ("mautrix-go-legacy/whatsapp-example.yaml", "placeholder"),
    ("mautrix-go-legacy/discord-example.yaml", "placeholder"),
    ("mautrix-slack-legacy/example.yaml", "placeholder"),
    ("mautrix-python/telegram-example.yaml", "placeholder"),
    ("mautrix-python/googlechat-example.yaml", "placeholder"),
    ("mautrix-signal-python/example.yaml", "placeholder"),
    ("matrix-corporal/config-dist.json", "placeholder"),
    ("mautrix-go-bridgev2/as-token-inner-quotes.yaml", "quote"),
)

#: Every bridge fixture is in exactly one of the tables above.
_ALL_ROWS = [row.path for row in SERVER_ROWS] + [path for path, _ in CONFIG_ONLY_ROWS]

#: What a request to the closed port would have printed (shared/client.py's network errors).
CONNECTION_WORDS = ("refused", "nothing listens", "cannot talk to", "connect")

#: MDAD's rendering, whose address (http://matrix-traefik:8008) is a container's name.
MDAD_RENDERED = "mautrix-go-bridgev2/mdad-rendered.yaml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


@pytest.fixture(scope="module", params=list(SERVERS), ids=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Homeserver]]:
    """One of S1, S2, S3 (pytest runs every test of one before starting the next)."""
    name: str = request.param
    (setting,) = [s for s in MODULE_CONFIGS if s.key == SERVERS[name]]
    module = {"module": MODULE, "config": {"shared_secret": FIXTURE_SECRET, **setting.options}}
    with Homeserver(
        [module], server_name=SERVER_NAME, app_service_config_files=[REGISTRATION]
    ) as homeserver:
        assert homeserver.register_user("alice") == USER
        yield name, homeserver


def doctor(capsys: pytest.CaptureFixture[str], path: str, *url: str) -> tuple[int, str, str]:
    code, out, err = run_cli(
        capsys, "doctor", "--bridge-config", str(FIXTURES / path), "--user", USER, *url
    )
    for shown in (FIXTURE_SECRET, FIXTURE_AS_TOKEN):
        assert shown not in out + err, f"{path}: the output shows a secret or token"
    return code, out, err


#: cli.main's prefix of a one-line error.
CLI_ERROR_PREFIX = "synapse_dp_auth doctor: error: "


def said(path: str, out: str, err: str) -> str:
    """stdout and stderr as the words they say: without cli.main's prefix (it names the
    package) and without the fixture's path (its file name holds words such as `quotes`)."""
    text = out + err.replace(CLI_ERROR_PREFIX, "")
    return text.replace(str(FIXTURES / path), "FILE")


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def is_cli_error(err: str) -> bool:
    """cli.main's one line: ``synapse_dp_auth doctor: error: MESSAGE``."""
    return bool(lines_starting(err, CLI_ERROR_PREFIX))


#: Where the fix starts: a report's ``fix:`` line, or a one-line error's "To set it up:".
FIX_MARKERS = ("fix:", "to set it up:")


def fix_text(text: str) -> str:
    """What the output says to change: from the first fix marker to the next blank line."""
    lowered = text.lower()
    starts = [lowered.find(marker) for marker in FIX_MARKERS if marker in lowered]
    assert starts, f"no fix given:\n{text}"
    return text[min(starts) :].split("\n\n", 1)[0]


def assert_verdict(verdict: Verdict, code: int, out: str, err: str) -> None:
    shown = f"exit {code}\n--- stdout ---\n{out}--- stderr ---\n{err}"
    if verdict is OK:
        assert code == 0, shown
        return
    assert code == 1, shown
    version = lines_starting(out, "VERSION  ")
    error = is_cli_error(err) or bool(lines_starting(out, "FAIL  "))
    if verdict is VERSION:
        assert version, shown
        assert AS_TOKEN_PREFIX in out, shown
    elif verdict is ERROR:
        assert error and not version, shown
    else:
        assert error or version, shown


def assert_mentions(row: Row, out: str, err: str) -> None:
    text = said(row.path, out, err)
    for pattern in row.mentions:
        assert re.search(pattern, text, re.IGNORECASE), f"no {pattern!r} in:\n{text}"
    for pattern in row.never_mentions:
        assert not re.search(pattern, text, re.IGNORECASE), f"{pattern!r} in:\n{text}"
    for pattern in row.fix_never_mentions:
        fix = fix_text(text)
        assert not re.search(pattern, fix, re.IGNORECASE), f"{pattern!r} in the fix:\n{text}"


def test_every_fixture_has_a_row() -> None:
    on_disk = sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.glob("*/*")
        if path.parent.name != "homeserver" and path.suffix in (".yaml", ".json")
    )
    assert sorted(_ALL_ROWS) == on_disk


@pytest.mark.parametrize("row", SERVER_ROWS, ids=[row.path for row in SERVER_ROWS])
def test_bridge_config_on_a_real_server(
    server: tuple[str, Homeserver], row: Row, capsys: pytest.CaptureFixture[str]
) -> None:
    name, homeserver = server
    code, out, err = doctor(capsys, row.path, homeserver.url)
    assert_verdict(row.on(name), code, out, err)
    if row.on(name) is not OK:
        assert_mentions(row, out, err)


@pytest.mark.parametrize(
    ("path", "word"), CONFIG_ONLY_ROWS, ids=[path for path, _ in CONFIG_ONLY_ROWS]
)
def test_found_from_the_config_alone(
    path: str, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No request: HOMESERVER_URL is a closed port, which a request would have reported."""
    code, out, err = doctor(capsys, path, f"http://127.0.0.1:{free_port()}")
    assert_verdict(ERROR, code, out, err)
    text = said(path, out, err).lower()
    assert word in text, text
    for connection_word in CONNECTION_WORDS:
        assert connection_word not in text, text


def test_container_name_address_without_homeserver_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MDAD's address http://matrix-traefik:8008 resolves only inside its container network."""
    code, out, err = doctor(capsys, MDAD_RENDERED)
    # The README says "non-zero" here: a connection error (1) or the refusal of plain http://
    # to another machine (2) both stop the check; either must say why.
    assert code in (1, 2), f"exit {code}\n{out}{err}"
    assert "container" in said(MDAD_RENDERED, out, err).lower(), out + err
    # The error line itself says so, not only the note before it.
    assert is_cli_error(err), err
    assert "looks like a container name: give HOMESERVER_URL" in err, err
