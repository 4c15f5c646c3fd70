"""``doctor --bridge-config``: what a bridge's own config makes it do for one user, then the check
that matches (the appservice check, or the shared-secret logins of the bridge's family).

The config is read by :mod:`~synapse_dp_auth.admin.doctor.bridge_config_file` and decided on by
:mod:`~synapse_dp_auth.admin.doctor.bridge_config_method`; this file prints the decision and runs
the check it calls for.

The report names every key it read and never shows a secret, not even in part.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import TextIO

from synapse_dp_auth.admin.doctor import shared_secret
from synapse_dp_auth.admin.doctor.appservice import run_appservice
from synapse_dp_auth.admin.doctor.bridge_config_model import (
    FAILING_METHODS,
    DoublePuppetPlan,
    Method,
)
from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError
from synapse_dp_auth.admin.shared.exits import CliError


class NoHomeserverURLError(Exception):
    """The config does not say where to send the user's requests; the message says why."""


def describe_plan(plan: DoublePuppetPlan) -> list[str]:
    """The report's first lines: what the config says, key by key (secrets: only their key)."""
    lines = [
        f"Bridge config {plan.path}:",
        f"  kind: {plan.kind.value}",
        f"  server name: {plan.server_name}",
        f"  homeserver: {plan.homeserver_url or '(not in the config)'} ({plan.url_key})",
        f"  secret for this user's server: {plan.secret_key} (not shown)",
        f"  double puppeting: {plan.method.value}",
    ]
    if plan.method not in FAILING_METHODS | {Method.VERSION_DEPENDENT}:  # the verdict says why
        lines.append(f"      {plan.explanation}")
    lines += [f"  note: {note}" for note in plan.notes]
    return lines


def run_bridge_plan(
    plan: DoublePuppetPlan,
    out: TextIO,
    *,
    user_id: str,
    homeserver_url: str | None,
    make_client: Callable[[str], HomeserverClient],
) -> int:
    """Print the plan and run its check; returns the exit code.

    ``homeserver_url`` overrides the config's address; ``make_client`` builds the HTTP client
    for the address used (the command line refuses plain http:// off loopback there). Raises
    :class:`NoHomeserverURLError` when neither gives an address.
    """

    def write(line: str = "") -> None:
        out.write(line + "\n")

    for line in describe_plan(plan):
        write(line)
    write("")
    if plan.method is Method.VERSION_DEPENDENT:
        write(f"VERSION  {plan.kind.value} double puppeting for {user_id} depends on the release")
        write(f"      {plan.explanation}")
        if plan.remedy:
            write(f"      fix: {plan.remedy}")
        write("")
        write(
            f"Check which release of the bridge runs: with this config, some releases will not"
            f" double-puppet {user_id}. Nothing was sent to the homeserver."
        )
        return 1
    if plan.method in FAILING_METHODS or plan.secret is None:
        write(f"FAIL  {plan.kind.value} double puppeting for {user_id}")
        write(f"      {plan.explanation}")
        if plan.remedy:
            write(f"      fix: {plan.remedy}")
        write("")
        write(f"This bridge will not double-puppet {user_id} with this config.")
        return 1
    url = homeserver_url or plan.homeserver_url
    if url is None:
        raise NoHomeserverURLError(plan.url_problem or f"{plan.path}: no homeserver address")
    if homeserver_url is not None:
        write(f"Using {homeserver_url} (HOMESERVER_URL) instead of {plan.url_key}.")
        write("")
    container = None if homeserver_url is not None else container_host(url)
    if container is not None:
        write(
            f"note: {container} in {plan.url_key} is a name without a dot, as Docker containers"
            " have (matrix-docker-ansible-deploy's matrix-traefik, matrix-synapse): it resolves"
            " only inside the bridge's container network. Run this there, or give the address"
            " this machine reaches Synapse at as HOMESERVER_URL."
        )
        write("")
    hint = f" ({container} looks like a container name: give HOMESERVER_URL)"
    try:
        client = make_client(url)  # may refuse plain http:// off loopback
    except CliError as error:
        if container is None:
            raise
        raise CliError(f"{error}{hint}", error.exit_code) from None
    try:
        return _check(plan, out, write, client, user_id)
    except HomeserverError as error:
        if container is None:
            raise
        raise HomeserverError(f"{error}{hint}") from None


def container_host(url: str) -> str | None:
    """The host of ``url`` when it is a single-label name other than ``localhost``: a container
    or service name (MDAD renders ``http://matrix-traefik:8008``), unreachable from the host."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:  # e.g. "http://[::1": the client refuses it with its own message
        return None
    if not host or "." in host or ":" in host or host == "localhost":
        return None
    return host


def _check(
    plan: DoublePuppetPlan,
    out: TextIO,
    write: Callable[..., None],
    client: HomeserverClient,
    user_id: str,
) -> int:
    """The live check the plan calls for."""
    assert plan.secret is not None  # run_bridge_plan returned before for plans without one
    if plan.method is Method.APPSERVICE_TOKEN:
        return run_appservice(
            client,
            out,
            user_id=user_id,
            as_token=plan.secret,
            label=f"the as_token from {plan.secret_key}",
        )
    if plan.method is Method.APPSERVICE_LOGIN:
        write(
            "The bridge logs in with m.login.application_service, which Synapse allows for the"
            " users that whoami?user_id= answers for (this check creates no device)."
        )
        return run_appservice(
            client,
            out,
            user_id=user_id,
            as_token=plan.secret,
            label="the bridge's own appservice.as_token",
        )
    family = plan.family
    if family is None:  # plan_double_puppet always sets it with SHARED_SECRET
        raise ValueError("a shared-secret plan without a family")
    write(f"Checking shared-secret login as {family.name} clients log in:")
    return shared_secret.run(client, out, user_id=user_id, secret=plan.secret, families=(family,))
