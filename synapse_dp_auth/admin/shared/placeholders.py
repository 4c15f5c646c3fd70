"""The values that upstream examples and docs ship where a double-puppet secret goes: never a
working secret, so ``doctor`` and ``plan`` refuse them from the config alone, before any request
(a login with a published value is a request nobody should send on an admin's behalf).

Each value is cited with the file, commit and line it comes from.
"""

from __future__ import annotations

#: Values the upstream examples ship as double-puppet secrets (and as a bridge's own
#: ``appservice.as_token``), and the module secret of matrix-docker-ansible-deploy's docs.
PLACEHOLDERS = frozenset(
    {
        # mautrix-go bridgev2 example-config.yaml @ bdb58f2e6c0a L411
        "as_token:foobar",
        # legacy mautrix-go and mautrix-python examples (whatsapp, discord, telegram, ...)
        "foobar",
        # legacy Python mautrix-signal example @ 64bfed8f05e1 L162
        "foo",
        # mx-puppet-bridge sample.config.yaml @ 08dc468980f8 L17 (commented out there)
        "supersecretsharedsecret",
        # matrix-corporal config.json.dist @ 8539a07aaa61 L5
        "7DXvheK1400ydCHjAymDU50FkeUedQJ2AYpitr3inLpSBIdRJN4kfS5IkGYvUptF",
        # matrix-docker-ansible-deploy docs/configuring-playbook-shared-secret-auth.md L23
        "YOUR_SHARED_SECRET_GOES_HERE",
        # mautrix docs' registration (bridges/general/double-puppeting.md @ b44236a6f947 L57)
        "random string",
        "as_token:random string",
        # every mautrix example's appservice.as_token before the registration is generated
        # (mautrix-go bridgev2 example-config.yaml @ bdb58f2e6c0a, mautrix-telegram
        # example-config.yaml @ 53bf278f1e81): what the value `appservice` would send
        "This value is generated when generating the registration",
    }
)


def is_placeholder(value: str) -> bool:
    return value.strip() in PLACEHOLDERS
