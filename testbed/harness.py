"""What tests need from Synapse's own test harness that differs between Synapse releases."""

from __future__ import annotations

import inspect
from typing import Any

import tests.server
from synapse.handlers.auth import load_legacy_password_auth_providers

#: Whether this release's harness starts the ``modules:`` of the config as Synapse's start-up
#: does. Older releases' harnesses (1.53 among them) leave it to each test.
HARNESS_STARTS_MODULES = "loaded_modules" in inspect.getsource(tests.server)


def start_modules_like_synapse(hs: Any) -> None:
    """What Synapse's start-up (``synapse.app._base.start``) does with ``modules:`` and
    ``password_providers:``; for a harness that does not do it itself."""
    module_api = hs.get_module_api()
    for module, module_config in hs.config.modules.loaded_modules:
        module(config=module_config, api=module_api)
    load_legacy_password_auth_providers(hs)
