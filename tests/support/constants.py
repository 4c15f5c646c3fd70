"""Values many test files share, defined once.

A test that needs a value of its own (a secret with quotes and non-ASCII characters for the log
filter, the old and the new secret of a rotation) defines it where it is used.
"""

from __future__ import annotations

from pathlib import Path

#: The repository's root (this file is tests/support/constants.py).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: The ``module:`` an admin writes in homeserver.yaml.
MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
SECRET = "correct horse battery staple, but 64 characters long for real!!"
OTHER_SECRET = "a completely different secret, also long enough to pass muster"

#: The login types as they go over the wire (the module's own constants are checked against
#: these, not used for them).
DEVTURE = "com.devture.shared_secret_auth"
PASSWORD = "m.login.password"

USER = "@alice:example.org"
