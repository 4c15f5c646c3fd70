"""Shared-secret login for Matrix bridges (double puppeting), as a Synapse module.

The package root is the module Synapse loads (``module: synapse_dp_auth.SharedSecretAuthProvider``);
the admin command line lives in :mod:`synapse_dp_auth.admin`. :class:`SharedSecretAuthProvider`
imports Synapse, so it is imported on first use (PEP 562): the command line never loads Synapse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse_dp_auth.config import DpAuthConfig
from synapse_dp_auth.token import (
    LOGIN_TYPE_PASSWORD,
    LOGIN_TYPE_SHARED_SECRET,
    make_token,
    verify_token,
)

if TYPE_CHECKING:
    from synapse_dp_auth.provider import SharedSecretAuthProvider

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


def __getattr__(name: str) -> object:
    """``SharedSecretAuthProvider``, imported (with Synapse) when first asked for."""
    if name == "SharedSecretAuthProvider":
        from synapse_dp_auth.provider import SharedSecretAuthProvider

        return SharedSecretAuthProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
