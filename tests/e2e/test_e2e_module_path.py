"""The module Synapse loads is still ``synapse_dp_auth.SharedSecretAuthProvider``, and it imports
Synapse: proof that tests/unit/test_layout.py's way of looking would see Synapse being imported
by an admin command."""

from __future__ import annotations

from cli_support import errors, imported_modules, run_python, synapse_modules


def test_module_name_still_loads_the_provider() -> None:
    """What Synapse's module loader does; and proof that test_layout.py would see Synapse."""
    completed = run_python(
        [
            "-c",
            "import importlib; print(getattr(importlib.import_module('synapse_dp_auth'),"
            " 'SharedSecretAuthProvider').__module__)",
        ]
    )
    assert completed.returncode == 0, errors(completed)
    assert completed.stdout == "synapse_dp_auth.provider\n"
    modules = imported_modules(completed.stderr)
    assert "synapse.module_api" in synapse_modules(modules)
    assert "synapse_dp_auth.provider" in synapse_modules(modules)
