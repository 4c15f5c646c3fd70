"""Which releases of each bridge, by its name (``appservice.id``), have which double-puppet
layout and read ``as_token:``: the one home of these facts for ``doctor --bridge-config`` and
``plan`` (and the documentation's table, generated from ``plan``'s recipes).

Sources: the bridges' changelogs and code at the tags named (mautrix/whatsapp v0.10.1 and
v0.11.0, mautrix/gmessages v0.2.0 and v0.5.0, mautrix/meta v0.4.0, mautrix/signal v0.7.0,
mautrix/slack v0.1.0, mautrix/telegram v0.14.2 and its Go rewrite), and mautrix's docs
(``bridges/general/double-puppeting.md`` @ b44236a6f947), which list the releases that read
``as_token:``.
"""

from __future__ import annotations

#: The first bridgev2 release of each bridge: from there on only an ``as_token:`` value in
#: ``double_puppet.secrets`` double-puppets (mautrix/go ``bridgev2/matrix/doublepuppet.go``).
BRIDGEV2_RELEASES: dict[str, str] = {
    "whatsapp": "mautrix-whatsapp v0.11.0 and later",
    "signal": "mautrix-signal v0.7.0 and later",
    "gmessages": "mautrix-gmessages v0.5.0 and later",
    "meta": "mautrix-meta v0.4.0 and later",
    "facebook": "mautrix-meta v0.4.0 and later",
    "instagram": "mautrix-meta v0.4.0 and later",
    "slack": "mautrix-slack v0.1.0 and later",
    "telegram": "mautrix-telegram v0.2604.0 and later (the Go rewrite)",
}

#: Legacy mautrix-go: (the releases with this layout, those reading ``as_token:``, or "" for all).
LEGACY_GO_RELEASES: dict[str, tuple[str, str]] = {
    "whatsapp": (
        "mautrix-whatsapp v0.10.9 and older, or a bridgev2 release (v0.11.0 and later) that"
        " migrates this layout at every start",
        "v0.10.1 and later, bridgev2 releases included",
    ),
    "discord": ("mautrix-discord, every release to date (v0.7.7)", "v0.6.2 and later"),
    "gmessages": (
        "mautrix-gmessages v0.4.3 and older, or a bridgev2 release (v0.5.0 and later) that"
        " migrates this layout",
        "v0.2.0 and later, bridgev2 releases included",
    ),
    "facebook": ("mautrix-meta v0.3.2 and older, or a bridgev2 release migrating it", ""),
    "instagram": ("mautrix-meta v0.3.2 and older, or a bridgev2 release migrating it", ""),
    "meta": ("mautrix-meta v0.3.2 and older, or a bridgev2 release migrating it", ""),
    "signal": (
        "mautrix-signal (Go) v0.5.0 to v0.6.3, or a bridgev2 release (v0.7.0 and later) that"
        " migrates this layout",
        "",
    ),
}

#: mautrix-python: (the releases with this layout, those reading ``as_token:``).
PYTHON_RELEASES: dict[str, tuple[str, str]] = {
    "telegram": (
        "mautrix-telegram v0.15.3 and older (Python), or the Go rewrite (v0.2604.0 and later)"
        " that migrates this layout",
        "v0.14.2 and later, the Go rewrite included",
    ),
    "googlechat": ("mautrix-googlechat, every release (v0.5.2 is the last)", "v0.5.1 and later"),
    "facebook": ("mautrix-facebook", "v0.5.1 and later"),
    "instagram": ("mautrix-instagram", "v0.3.1 and later"),
    "twitter": ("mautrix-twitter (Python)", "v0.1.7 and later"),
}


def has_bridgev2_successor(name: str | None, *, python: bool = False) -> bool:
    """Whether a legacy config of this bridge may be run by a bridgev2 release, which migrates
    it and ignores a shared secret: the legacy mautrix-go bridges that have one (discord has no
    bridgev2 release to date), and of the mautrix-python bridges telegram only, whose Go rewrite
    migrates the Python config (mautrix-meta does not read mautrix-facebook's or -instagram's)."""
    if python:
        return name == "telegram"
    return name in BRIDGEV2_RELEASES and name in LEGACY_GO_RELEASES
