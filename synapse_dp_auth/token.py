"""The shared-secret token: lowercase hex HMAC-SHA512 of the full user ID, keyed by the secret.

This is the wire format the bridges compute (mautrix-python, mautrix-go, mx-puppet-bridge), so it
must stay byte-for-byte what they send. Everything here is pure: no Synapse, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import TypeGuard

#: Length of a token: 64 bytes of HMAC-SHA512, hex encoded.
TOKEN_LENGTH = 128

#: The login types that carry a token: in the ``token`` field, or as the ``password``.
LOGIN_TYPE_SHARED_SECRET = "com.devture.shared_secret_auth"
LOGIN_TYPE_PASSWORD = "m.login.password"

#: A token's characters, lowercase hex digits (in log lines, any form of them counts:
#: :mod:`synapse_dp_auth.tokenscan`). A compiled pattern checks all 128 in C: three times faster
#: than a set test per character, which made the shape check cost half as much as the HMAC.
_LOWER_HEX = re.compile("[0-9a-f]+")


def make_token(secret: str, user_id: str) -> str:
    """Return the token a bridge holding ``secret`` sends to log in as ``user_id``."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha512).hexdigest()


def is_token_shaped(value: object) -> TypeGuard[str]:
    """Whether ``value`` could be a token at all: a ``str`` of exactly 128 lowercase hex digits.

    Cheap by design: it is what lets an ordinary password fall through to Synapse's own check
    without an HMAC being computed. The length test comes first so that a huge value costs
    nothing more than ``len``.
    """
    return (
        isinstance(value, str)
        and len(value) == TOKEN_LENGTH
        and _LOWER_HEX.fullmatch(value) is not None
    )


def verify_token(secrets: Iterable[bytes], user_id: str, token: object) -> bool:
    """Whether ``token`` is the token for ``user_id`` under any of ``secrets`` (UTF-8 encoded)."""
    return matching_secret(secrets, user_id, token) is not None


def matching_secret(secrets: Iterable[bytes], user_id: str, token: object) -> int | None:
    """The index in ``secrets`` of the secret ``token`` was made with for ``user_id``, or ``None``.

    Never raises on client input: anything that is not token-shaped is simply wrong. Each
    comparison is constant-time (``hmac.compare_digest``), and every secret is tried even after
    a match, so the time taken does not reveal which secret matched.
    """
    if not is_token_shaped(token):
        return None
    try:
        message = user_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON: no bridge can have signed it
        return None
    expected = token.encode("ascii")
    matched: int | None = None
    for index, secret in enumerate(secrets):
        digest = hmac.new(secret, message, hashlib.sha512).hexdigest().encode("ascii")
        if hmac.compare_digest(digest, expected):
            matched = index
    return matched


#: What a secret's fingerprint is an HMAC of. Not a user ID (no ``@``), so a fingerprint is never
#: part of a token, and SHA-256 rather than the tokens' SHA-512.
_FINGERPRINT_LABEL = b"synapse_dp_auth secret fingerprint v1"


def secret_fingerprint(secret: bytes) -> str:
    """Eight hex digits that tell configured secrets apart, in records and on the command line.

    An HMAC of a fixed label keyed by the secret: it says which secret was used without helping to
    recover it (32 bits of a keyed hash; a token, which any bridge holds, says far more).
    """
    return hmac.new(secret, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:8]
