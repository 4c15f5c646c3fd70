"""Prometheus counters, served on Synapse's own metrics listener.

Defined once at import, like Synapse's own metrics: each Synapse process (main or worker) has its
own registry, so nothing here is shared between processes.
"""

from __future__ import annotations

from prometheus_client import Counter

from synapse_dp_auth.policy import Outcome

LOGIN_ATTEMPTS = Counter(
    "synapse_dp_auth_login_attempts",
    "Shared-secret login attempts that reached this module, by login type and outcome",
    labelnames=["login_type", "outcome"],
)

LOGIN_RECORDS_LOST = Counter(
    "synapse_dp_auth_login_records_lost",
    "Records of shared-secret logins given up after failed writes to the database: those"
    " sessions are missing from `synapse_dp_auth sessions` (the 'accepted' log lines name them)",
)


def count_attempt(login_type: str, outcome: Outcome) -> None:
    LOGIN_ATTEMPTS.labels(login_type=login_type, outcome=outcome.value).inc()
