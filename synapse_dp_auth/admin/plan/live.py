"""``plan --homeserver-url URL --user USER_ID``: each bridge's config, as it is now, checked live
against the homeserver, exactly as ``doctor --bridge-config`` checks it (the same code, run once
per bridge), after the offline plan.

Only without ``--apply``: the configs ``--apply`` writes work only after the restarts the plan
lists, so the check to run then is this one again. One bridge's failure (a file it cannot read,
a server that refuses) is reported under that bridge and the next one is still checked.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import TextIO

from synapse_dp_auth.admin.doctor.bridge_config import NoHomeserverURLError, run_bridge_plan
from synapse_dp_auth.admin.doctor.bridge_config_file import BridgeConfigError, load_bridge_config
from synapse_dp_auth.admin.doctor.bridge_config_method import plan_double_puppet
from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError


def check_live(
    paths: Sequence[str],
    out: TextIO,
    *,
    user_id: str,
    homeserver_url: str,
    make_client: Callable[[str], HomeserverClient],
) -> bool:
    """Print the live check of every bridge config; whether every one passed."""
    out.write(
        f"\nLive check at {homeserver_url} for {user_id}, each bridge's config as it is now"
        " (what `doctor --bridge-config` says):\n"
    )
    passed = 0
    for path in paths:
        out.write(f"\n== {path}\n")
        report = io.StringIO()
        try:
            plan = plan_double_puppet(load_bridge_config(path), path, user_id)
            code = run_bridge_plan(
                plan,
                report,
                user_id=user_id,
                homeserver_url=homeserver_url,
                make_client=make_client,
            )
        except (BridgeConfigError, NoHomeserverURLError, HomeserverError) as error:
            out.write(report.getvalue())
            out.write(f"FAIL  {error}\n")
            continue
        out.write(report.getvalue())
        passed += code == 0
    out.write(
        f"\nLive check: {passed} of {len(paths)} bridge configs double-puppet {user_id} as they"
        " are now.\n"
    )
    return passed == len(paths)
