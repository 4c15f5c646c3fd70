"""Shared-secret login for Matrix bridges (double puppeting), as a Synapse module."""

from synapse_dp_auth.config import DpAuthConfig
from synapse_dp_auth.provider import SharedSecretAuthProvider
from synapse_dp_auth.token import (
    LOGIN_TYPE_PASSWORD,
    LOGIN_TYPE_SHARED_SECRET,
    make_token,
    verify_token,
)

__version__ = "0.1.0"

__all__ = [
    "LOGIN_TYPE_PASSWORD",
    "LOGIN_TYPE_SHARED_SECRET",
    "DpAuthConfig",
    "SharedSecretAuthProvider",
    "__version__",
    "make_token",
    "verify_token",
]
