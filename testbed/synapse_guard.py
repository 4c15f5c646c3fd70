"""A pytest plugin that loads this module into every homeserver Synapse's own tests build.

``python -m pytest -p testbed.synapse_guard <Synapse's test files>`` runs Synapse's own tests
unchanged, except that ``HomeserverTestCase.default_config`` also lists this module under
``modules:`` (with its default options). They must still pass: the module may add its login types
to ``GET /login`` and change nothing else. ``tests/harness/test_synapse_guard_harness.py`` runs
this for the installed Synapse release and names the tests that only fail because of that
difference.

A test whose own ``default_config`` replaces ``modules:`` runs without the module; the closing
summary says how many homeservers had it, so a run where the module never loaded cannot pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from synapse_dp_auth.releases import release_key

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
SECRET = "the guard's shared secret: long enough, random enough, never used"
LOGIN_TYPES = ("m.login.password", "com.devture.shared_secret_auth")

#: The closing line that ``tests/harness/test_synapse_guard_harness.py`` reads.
SUMMARY_PREFIX = "synapse_dp_auth guard: module loaded into"

_loaded = 0


def pytest_configure(config: pytest.Config) -> None:
    from testbed.harness import HARNESS_STARTS_MODULES, start_modules_like_synapse
    from tests import unittest

    original_default_config = unittest.HomeserverTestCase.default_config
    original_setup = unittest.HomeserverTestCase.setup_test_homeserver

    def default_config(self: Any) -> Any:
        hs_config = original_default_config(self)
        modules = list(hs_config.get("modules") or [])
        modules.append({"module": MODULE, "config": {"shared_secret": SECRET}})
        hs_config["modules"] = modules
        return hs_config

    def setup_test_homeserver(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _loaded
        hs = original_setup(self, *args, **kwargs)
        if not HARNESS_STARTS_MODULES:
            start_modules_like_synapse(hs)
        checkers = getattr(hs.get_password_auth_provider(), "auth_checker_callbacks", {})
        if any(
            getattr(callback, "__module__", "").startswith("synapse_dp_auth")
            for login_type in LOGIN_TYPES
            for callback in checkers.get(login_type, [])
        ):
            _loaded += 1
        return hs

    unittest.HomeserverTestCase.default_config = default_config  # type: ignore[method-assign]
    unittest.HomeserverTestCase.setup_test_homeserver = setup_test_homeserver  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"{SUMMARY_PREFIX} {_loaded} homeservers")


#: Synapse's own test files the guard runs (those of them that the release has).
GUARDED_FILES = (
    "tests/rest/client/test_login.py",
    "tests/rest/client/test_auth.py",
    "tests/rest/client/test_devices.py",
    "tests/rest/client/test_account.py",
)

# assertCountEqual of the GET /login flows with SAML, CAS and OIDC configured.
_MULTI_SSO_FLOWS = "tests/rest/client/test_login.py::MultiSSOTestCase::test_get_login_flows"
# assertCountEqual of the GET /login flows with login_via_existing_session enabled.
_LOGIN_VIA_EXISTING_FLOWS = (
    "tests/rest/client/test_login.py::LoginRestServletTestCase::"
    "test_get_login_flows_with_login_via_existing_enabled"
)

#: Per Synapse release: Synapse's own tests that assert the exact list of ``GET /login`` flows.
#: With the module, that list also holds ``com.devture.shared_secret_auth``: the one difference
#: the module may make. ``tests/harness/test_synapse_guard_harness.py`` proves that each of them
#: fails with the module, only over that login type, and passes without it; every other test
#: must have the same outcome with and without the module.
#: A release gets the list of the newest release listed here that is not newer than it.
GET_LOGIN_FLOW_TESTS: dict[str, tuple[str, ...]] = {
    "1.53.0": (_MULTI_SSO_FLOWS,),
    # login_via_existing_session (and its test) came after 1.80.0; the guard found it on 1.100.0.
    "1.100.0": (_LOGIN_VIA_EXISTING_FLOWS, _MULTI_SSO_FLOWS),
}


def get_login_flow_tests(release: str) -> tuple[str, ...]:
    """The list of the newest listed release not newer than ``release``."""
    listed = [known for known in GET_LOGIN_FLOW_TESTS if release_key(known) <= release_key(release)]
    return GET_LOGIN_FLOW_TESTS[max(listed, key=release_key)] if listed else ()
