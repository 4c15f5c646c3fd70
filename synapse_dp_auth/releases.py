"""What this module knows about Synapse releases: the ones it was tested on, and one known trap.

Pure functions and constants, no Synapse import: ``provider`` uses them at start-up, the version
matrix (``scripts/versions.py``, the ``synapse-<release>`` tox envs) and ``setup.cfg`` follow
them, and ``tests/unit/test_versions.py`` checks that they all agree.
"""

from __future__ import annotations

import re

#: The Synapse releases of the version matrix, oldest first. The first is the floor
#: (``install_requires`` in setup.cfg): ``ModuleApi.server_name`` exists since 1.53.0. The last is
#: the release pinned in tests/requirements.txt.
TESTED_SYNAPSE_RELEASES = ("1.53.0", "1.80.0", "1.100.0", "1.130.0", "1.163.2")

#: The first Synapse release that truncates passwords to bcrypt's 72 bytes itself. Older ones hand
#: bcrypt the whole password, and bcrypt 5 raises on anything longer: HTTP 500.
BCRYPT_5_SAFE_SINCE = "1.141.0"


def tested_range() -> str:
    """The tested releases in words, for error messages and the README."""
    return f"Synapse {TESTED_SYNAPSE_RELEASES[0]} to {TESTED_SYNAPSE_RELEASES[-1]}"


def release_key(version: str) -> tuple[int, ...]:
    """``"1.80.0"`` -> ``(1, 80, 0)``; anything after the numbers (``rc1``) is ignored."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in numbers.group().split(".")) if numbers else ()


def bcrypt_5_problem(synapse_version: str, bcrypt_version: str | None) -> str | None:
    """Why this Synapse with this bcrypt answers 500 to long passwords, or ``None`` if it does not.

    Every token is 128 characters: each one the module refuses (a wrong secret) and each one
    offered to user-interactive auth goes on to Synapse's own password check, and meets this.
    """
    if bcrypt_version is None or release_key(bcrypt_version)[:1] < (5,):
        return None
    if release_key(synapse_version) >= release_key(BCRYPT_5_SAFE_SINCE):
        return None
    return (
        f"Synapse {synapse_version} with bcrypt {bcrypt_version}: Synapse before"
        f" {BCRYPT_5_SAFE_SINCE} passes passwords longer than 72 bytes to bcrypt whole, and bcrypt"
        " 5 refuses them with an error, so such logins (every shared-secret token this module"
        " refuses, e.g. from a bridge with a wrong secret) get HTTP 500 instead of 403."
        " Install bcrypt<5 into Synapse's environment, or upgrade Synapse to"
        f" {BCRYPT_5_SAFE_SINCE} or later"
    )
