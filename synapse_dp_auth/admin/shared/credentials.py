"""The one reader of every secret and token a command takes: the shared secret (``token``,
``doctor --user``), an appservice's ``as_token`` (``doctor --appservice``) and a server admin's
access token (``sessions``).

Each comes from its ``--...-file`` option (``-``: stdin), else its environment variable, else a
prompt on a terminal; never from an argument, where ``ps`` and shell history would show it.
Whatever the kind and the source, the same checks run, so that they cannot drift apart:

- surrounding whitespace is not part of it, and what is left must not be empty (a variable that
  is set but empty is a mistake, not a reason to look elsewhere);
- it must be valid UTF-8: text from the environment or a non-UTF-8 stdin carries undecodable
  bytes as lone surrogates (PEP 383), which have no UTF-8 bytes to be an HMAC key or a header;
- it must hold no line break or other control character (a token goes into an HTTP header, where
  ``http.client`` refuses one with an exception that quotes the header; a secret with one is
  most likely two lines pasted as one); a token holds no space either.

Every error names where the value came from and never quotes any of it.
"""

from __future__ import annotations

import getpass
import os
import sys
import unicodedata

import attr

from synapse_dp_auth.admin.shared import files
from synapse_dp_auth.admin.shared.exits import EXIT_USAGE, CliError
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX

SECRET_ENV = "SYNAPSE_DP_AUTH_SECRET"
AS_TOKEN_ENV = "SYNAPSE_DP_AUTH_AS_TOKEN"
ADMIN_TOKEN_ENV = "SYNAPSE_DP_AUTH_ADMIN_TOKEN"

_NEVER_AN_ARGUMENT = "never as an argument: ps and shell history would show it"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Credential:
    """One kind of secret or token: what it is called, and where it may come from."""

    #: What the admin calls it, e.g. "shared secret".
    name: str
    #: The short name in messages about a source, e.g. "secret" in "stdin holds no secret".
    noun: str
    option: str
    env: str
    prompt: str
    #: What ``option`` may name, for the message when nothing was given.
    option_hint: str = "(or - for stdin)"
    #: A token is sent in an ``Authorization`` header: no space may be part of it.
    is_token: bool = False


SHARED_SECRET = Credential(
    name="shared secret",
    noun="secret",
    option="--secret-file",
    env=SECRET_ENV,
    prompt="Shared secret (not shown): ",
)
AS_TOKEN = Credential(
    name="as_token",
    noun="as_token",
    option="--as-token-file",
    env=AS_TOKEN_ENV,
    prompt="as_token (not shown): ",
    option_hint="(the registration file, or a file holding the token; - for stdin)",
    is_token=True,
)
ADMIN_TOKEN = Credential(
    name="admin access token",
    noun="access token",
    option="--admin-token-file",
    env=ADMIN_TOKEN_ENV,
    prompt="A server admin's access token (not shown): ",
    is_token=True,
)


def read_secret(secret_file: str | None) -> str:
    """The shared secret (the module's ``shared_secret_path`` format: a file's first non-blank
    line)."""
    return read_credential(SHARED_SECRET, secret_file)


def read_as_token(as_token_file: str | None) -> str:
    """An appservice's ``as_token``. The file may be the registration itself (its ``as_token:``
    key is read) or hold the token on its first non-blank line; a bridge's value with the
    ``as_token:`` prefix is accepted as well."""
    return read_credential(AS_TOKEN, as_token_file)


def read_admin_token(token_file: str | None) -> str:
    """A server admin's access token."""
    return read_credential(ADMIN_TOKEN, token_file)


def read_credential(kind: Credential, path: str | None) -> str:
    """``kind`` from the file at ``path`` (``-``: stdin), else its environment variable, else a
    prompt when stdin is a terminal; :class:`CliError` (a usage error) when there is none, or when
    it fails a check."""
    if path is not None:
        source, value = _from_file(kind, path)
        subject = f"the {kind.noun} from {source}"
    elif (from_env := os.environ.get(kind.env)) is not None:
        source, value = kind.env, from_env.strip()
        subject = f"the {kind.noun} from {source}"
        if not value:
            raise CliError(f"{kind.env} is set but empty", EXIT_USAGE)
    elif sys.stdin is not None and sys.stdin.isatty():
        source = subject = f"the {kind.noun} entered"
        try:
            value = getpass.getpass(kind.prompt).strip()
        except EOFError:
            value = ""
        if not value:
            raise CliError(f"no {kind.name} entered", EXIT_USAGE)
    else:
        raise CliError(
            f"no {kind.name}: give {kind.option} PATH {kind.option_hint}, set {kind.env}, or run"
            f" on a terminal to be asked ({_NEVER_AN_ARGUMENT})",
            EXIT_USAGE,
        )
    return _checked(kind, value, source=source, subject=subject)


def _from_file(kind: Credential, path: str) -> tuple[str, str]:
    """``(label, value)``: the file's first non-blank line, stripped (for an ``as_token``, the
    ``as_token`` of a registration file). A UTF-8 byte order mark is not part of it, as the
    module itself reads ``shared_secret_path``. Errors name the file, never its content."""
    try:
        source, text = files.read_text(path, dash_is_stdin=True)
    except files.SourceError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    if kind is AS_TOKEN:
        registration_token = _registration_as_token(source, text)
        if registration_token is not None:
            return source, registration_token
    for line in text.splitlines():
        if line.strip():
            return source, line.strip()
    raise CliError(f"{source} holds no {kind.noun}", EXIT_USAGE)


def _registration_as_token(source: str, text: str) -> str | None:
    """The ``as_token`` when ``text`` is a registration (a YAML mapping of several keys), else
    ``None``."""
    import yaml

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # not YAML: a token file
    except RecursionError:
        raise CliError(f"{source} {files.NESTED_TOO_DEEPLY}", EXIT_USAGE) from None
    if not isinstance(loaded, dict) or len(loaded) <= 1:
        return None
    token = loaded.get("as_token")
    if not isinstance(token, str) or not token.strip():
        raise CliError(
            f"{source} is a YAML mapping without an as_token: give the registration file, or a"
            " file holding only the token",
            EXIT_USAGE,
        )
    return token.strip()


def _checked(kind: Credential, value: str, *, source: str, subject: str) -> str:
    """``value`` once it passes every check; the errors name where it came from (``source``; it
    is ``subject``, e.g. "the secret from stdin") and nothing of it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CliError(f"{source} is not valid UTF-8", EXIT_USAGE) from None
    if kind is AS_TOKEN:
        value = value.removeprefix(AS_TOKEN_PREFIX).strip()
        if not value:
            raise CliError(f"the as_token is empty ({source})", EXIT_USAGE)
    if kind.is_token:
        if not value.isprintable() or " " in value:
            raise CliError(f"{subject} holds spaces or control characters", EXIT_USAGE)
    elif any(_is_control(char) for char in value):
        raise CliError(
            f"{subject} holds a line break or another control character",
            EXIT_USAGE,
        )
    return value


def _is_control(char: str) -> bool:
    """A control character (tab, line feed, escape, ...) or a Unicode line or paragraph break."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")
