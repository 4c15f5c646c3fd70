"""Make sure ``tests`` is Synapse's test harness, and keep its droppings out of the work tree.

Our own test files live in ``tests/`` without an ``__init__.py``, so the name ``tests`` belongs to
Synapse's harness, which ``scripts/fetch_synapse_harness.py`` puts on ``sys.path``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

try:
    import tests.unittest as synapse_unittest
except ImportError as error:  # pragma: no cover - only on a broken set-up
    raise SystemExit(
        f"Synapse's test harness is not importable ({error}): run"
        " `python scripts/fetch_synapse_harness.py` in this environment (tox does it for you)."
    ) from None

if not hasattr(synapse_unittest, "HomeserverTestCase"):  # pragma: no cover
    raise SystemExit(
        f"`tests.unittest` is {synapse_unittest.__file__}, not Synapse's harness: our tests/ must"
        " have no __init__.py and the harness must be on sys.path."
    )


@pytest.fixture(autouse=True, scope="session")
def _run_in_scratch_directory() -> Iterator[None]:
    """Synapse's harness writes _trial_temp/ and media/ into the current directory."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="synapse_dp_auth-tests-") as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(previous)
