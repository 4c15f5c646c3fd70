"""The unified diff ``plan`` prints for each file, with every secret and token hidden.

The diff is made from copies of the two texts in which the secrets are already replaced, so no
line of it, changed or context, can carry one: the values being written (each a
:class:`~synapse_dp_auth.admin.plan.values.Secret`), and whatever the file itself holds under a
key that names a secret (``as_token``, ``shared_secret``, ``login_shared_secret_map``'s entries,
``password``, ``pickle_key``...), a value starting with ``as_token:``, and the password of a
``scheme://user:password@host`` address. A new secret shows as ``<hidden, new>`` and an old one
as ``<hidden>``, so a changed secret still shows as a changed line; ``as_token:`` stays visible
in front of a hidden token, since a missing prefix is the mistake admins make most. Masking
keeps the line count, so the hunk headers give the real line numbers.

Hiding by key name is a heuristic for what the file already holds; it is why the values being
written are never left to it, and why, last of all, any occurrence of one of them is replaced.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from synapse_dp_auth.admin.plan.json_edit import json_scalars
from synapse_dp_auth.admin.plan.values import EditError
from synapse_dp_auth.admin.plan.yaml_edit import KEY, yaml_scalars

HIDDEN = "<hidden>"
HIDDEN_NEW = "<hidden, new>"

#: Keys whose values (and everything under them) are secrets.
_SECRET_KEY = re.compile(
    r"secret|token|passw|pass$|psk|private_?key|credential|hash|(^|_|-)key$|apikey", re.IGNORECASE
)
#: ... unless the key names where the secret is rather than the secret.
_LOCATION_KEY = re.compile(r"(_|-)(path|file|files|dir|url|uri|endpoint)$", re.IGNORECASE)
_AS_TOKEN = "as_token:"
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)[^/@\s]+(?=@)")
#: Secrets shorter than this are not searched for in the finished diff (they would hide
#: unrelated text); every secret the tool generates is far longer.
_MIN_SEARCHED = 8


def redacted_diff(
    label: str,
    before: str | None,
    after: str | None,
    *,
    kind: str,
    secrets: Iterable[str] = (),
) -> str:
    """A unified diff from ``before`` to ``after`` of the file ``label``, secrets hidden.

    ``kind`` is ``"yaml"``, ``"json"`` or ``"secret"`` (a file that is a secret and nothing
    else: only its line count is shown). ``before`` is None for a new file, ``after`` for a
    removed one. ``secrets`` are the values being written. Empty when nothing changes.
    """
    new_secrets = frozenset(secret for secret in secrets if secret)
    old_lines = _masked(before, kind, new_secrets)
    new_lines = _masked(after, kind, new_secrets)
    lines = list(
        difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if before is None else label,
            tofile="/dev/null" if after is None else label,
        )
    )
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    for secret in sorted(new_secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SEARCHED:
            text = text.replace(secret, HIDDEN_NEW)
    return text


def _masked(text: str | None, kind: str, new_secrets: frozenset[str]) -> list[str]:
    if text is None:
        return []
    if kind == "secret":
        count = len(text.splitlines()) or 1
        return [f"{HIDDEN_NEW if text.strip() in new_secrets else HIDDEN} ({count} line(s))\n"]
    if kind == "yaml":
        spans = [(path, start, end, style) for path, start, end, style in yaml_scalars(text)]
    elif kind == "json":
        spans = [(path, start, end, '"') for path, start, end in json_scalars(text)]
    else:
        raise EditError(f"no diff for files of kind {kind!r}")
    masked = text
    for path, start, end, style in sorted(spans, key=lambda span: span[1], reverse=True):
        token = text[start:end]
        replacement = _replacement(path, token, style, new_secrets)
        if replacement is not None:
            masked = masked[:start] + replacement + masked[end:]
    return masked.splitlines(keepends=True)


def _replacement(
    path: tuple[str, ...], token: str, style: str | None, new_secrets: frozenset[str]
) -> str | None:
    """What shows instead of the scalar ``token`` at ``path``, or None to show it as it is.

    A hidden value keeps the line breaks it spans, so that the line numbers stay true.
    """
    breaks = "\n" * token.count("\n")
    quote = style if style in ("'", '"') else ""
    value = token[1:-1] if quote else token
    if path[-1:] == (KEY,):
        # A key of a map of secrets is a server name, unless key and value were swapped: then
        # it is the secret. Shown only with a dot, as server names have (doctor's rule too).
        if _secret_path(path[:-1]) and "." not in value:
            return f"{quote}{HIDDEN}{quote}{breaks}"
        return None
    is_new = value in new_secrets or any(secret and secret in token for secret in new_secrets)
    placeholder = HIDDEN_NEW if is_new else HIDDEN
    if value.startswith(_AS_TOKEN):
        return f"{quote}{_AS_TOKEN}{placeholder}{quote}{breaks}"
    if is_new or _secret_path(path):
        return f"{quote}{placeholder}{quote}{breaks}"
    if _USERINFO.search(token):
        return _USERINFO.sub(lambda match: match.group("head") + HIDDEN, token)
    return None


def _secret_path(path: tuple[str, ...]) -> bool:
    return any(_SECRET_KEY.search(key) and not _LOCATION_KEY.search(key) for key in path)
