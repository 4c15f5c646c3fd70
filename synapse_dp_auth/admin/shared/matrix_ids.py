"""Matrix server names and user IDs, as every command reads them.

The grammar is the Matrix spec's (appendices, "Server Name"); the server name is what user IDs end
with (``@alice:example.org``), not the host name of the client API (``matrix.example.org``).
"""

from __future__ import annotations

import ipaddress
import re

# The Matrix spec's server name grammar (appendices, "Server Name"):
#   server_name = hostname [ ":" port ];  port = 1*5DIGIT
#   hostname = IPv4address / "[" IPv6address "]" / dns-name
#   IPv6address = 2*45IPv6char (DIGIT, A-F, a-f, ":", ".")
#   dns-name = 1*255dns-char (DIGIT, ALPHA, "-", ".")
# An IPv4 address is also a dns-name in this grammar, so it needs no branch of its own.
_SERVER_NAME = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]{2,45})\]|[0-9A-Za-z.-]{1,255})"  # hostname
    r"(?::(?P<port>[0-9]{1,5}))?"  # [ ":" port ]
)


class ServerNameError(ValueError):
    """Not a Matrix server name; the message says what is wrong and shows a valid form."""


def validate_server_name(server_name: str) -> str:
    """``server_name`` if it is one by the Matrix spec's grammar (a port and an IPv6 literal in
    brackets included), else :class:`ServerNameError` saying why.

    The server name is what user IDs end with (``@alice:example.org``), not the host name of the
    client API (``matrix.example.org``): homeserver.yaml's ``server_name``.
    """
    if not server_name:
        raise ServerNameError("the server name is empty")
    if server_name != server_name.strip():
        raise ServerNameError(f"{server_name!r} has surrounding whitespace")
    match = _SERVER_NAME.fullmatch(server_name)
    if match is None:
        if server_name.count(":") > 1 and not server_name.startswith("["):
            raise ServerNameError(
                f"{server_name!r}: an IPv6 literal goes in brackets, e.g. [2001:db8::1] or"
                " [2001:db8::1]:8448 with a port"
            )
        raise ServerNameError(
            f"{server_name!r} is not a Matrix server name: a DNS name or IPv4 address (letters,"
            " digits, '-' and '.'), or an IPv6 literal in brackets, optionally followed by"
            " :port (e.g. example.org, example.org:8448, [2001:db8::1]:8448)"
        )
    ipv6, port = match.group("ipv6"), match.group("port")
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            raise ServerNameError(f"{server_name!r}: [{ipv6}] is not an IPv6 address") from None
    if port is not None and not 0 < int(port) <= 65535:
        raise ServerNameError(f"{server_name!r}: port {port} is not between 1 and 65535")
    return server_name


def server_of(user_id: str) -> str:
    """The server name of a full user ID: everything after the first colon (it may hold a port,
    and an IPv6 literal's colons)."""
    return user_id.partition(":")[2]


def user_regex(server_name: str) -> str:
    """The namespace regex for every user of ``server_name`` and no one else: ``@.*:``, the name
    escaped, ``$``.

    Escaped, because an unescaped ``.`` also matches other servers' names and ``[`` of an IPv6
    literal would open a character class. Anchored with ``$``, because Synapse matches only at
    the start of the user ID (``re.match``): without it, ``@.*:example\\.org`` also matches
    ``@a:example.org.evil.example`` and ``@a:example.org:8448``.
    """
    return "@.*:" + re.escape(validate_server_name(server_name)) + "$"


def is_full_user_id(user_id: str) -> bool:
    """``@localpart:server``: a token signs exactly this string, so a bare name would not do."""
    localpart, colon, server = user_id[1:].partition(":")
    return (
        user_id.startswith("@") and bool(colon and localpart and server) and user_id.isprintable()
    )
