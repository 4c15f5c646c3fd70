"""``plan``'s decision for one bridge: the method its config makes it use now, whether that can
work (offline, from the configs), and the method it should use, and why.

The rule (issue 20): the appservice method for every bridge whose releases all read
``as_token:`` (no login, so no ``rc_login`` and no device in the user's list, and it survives the
bridgev2 upgrade); shared-secret login through the module for the bridges that cannot use it;
where it depends on a release the config does not show, say so and keep what works today (with
``--recent-bridges`` the admin says the releases are recent enough, and they move). Nothing
works today: the appservice method, which the current releases read. Under the Matrix
Authentication Service no module can run: the bridges that need one cannot double-puppet.

Pure: the files are read by the caller. No message built here contains a secret or a token.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.bridge_config_file import value_at
from synapse_dp_auth.admin.plan.bridge_reading import BridgeFamily
from synapse_dp_auth.admin.plan.recipes import Recipe, Slot, Support, key_label
from synapse_dp_auth.admin.plan.server_facts import ServerFacts
from synapse_dp_auth.admin.shared.families import AS_TOKEN_PREFIX
from synapse_dp_auth.admin.shared.placeholders import is_placeholder
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET

#: The mautrix value that logs in with the bridge's own as_token (m.login.application_service).
APPSERVICE_LOGIN_VALUE = "appservice"


@enum.unique
class Method(enum.Enum):
    APPSERVICE = "the appservice method (as_token:, no login)"
    SHARED_SECRET = "shared-secret login through the module"
    APPSERVICE_LOGIN = (
        "m.login.application_service with the bridge's own as_token (the deprecated catch-all"
        " registration)"
    )
    NONE = "none"


@enum.unique
class Write(enum.Enum):
    """What to write into the bridge's config."""

    AS_TOKEN = "as_token:<the double-puppet registration's as_token>"
    SECRET = "the module's shared secret"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Current:
    """The method the config makes the bridge use now."""

    method: Method
    slot: Slot
    #: ``None``: cannot be told from the configs.
    works: bool | None
    why: str


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Decision:
    """What ``plan`` decided for one bridge."""

    recipe: Recipe
    current: Current | None = None
    #: ``None``: the bridge cannot double-puppet here (or a problem stops the plan).
    target: Method | None = None
    why: str = ""
    write: Write | None = None
    notes: tuple[str, ...] = ()
    #: Why nothing can be planned for this bridge (wrong server, ...).
    problem: str | None = None

    @property
    def leaves_shared_secret(self) -> bool:
        """Moves from shared-secret login (now, or before a bridgev2 migration) to the
        appservice method: the devices of its old logins stay."""
        if self.target is not Method.APPSERVICE or self.write is None or self.current is None:
            return False
        plain = self.current.slot.value
        if not isinstance(plain, str) or is_placeholder(plain) or plain == APPSERVICE_LOGIN_VALUE:
            return False  # a placeholder never logged anyone in; `appservice` is no secret
        if self.current.method is Method.SHARED_SECRET:
            return True
        return (
            self.recipe.family is BridgeFamily.BRIDGEV2
            and bool(plain.strip())
            and not plain.startswith(AS_TOKEN_PREFIX)
        )


def accepted_login_types(facts: ServerFacts) -> frozenset[str]:
    """The login types on which the configured module takes tokens."""
    module = facts.module
    if module is None or facts.delegated:
        return frozenset()
    types = set()
    if module.password_tokens and facts.password_login:
        types.add(LOGIN_TYPE_PASSWORD)
    if module.devture_tokens:
        types.add(LOGIN_TYPE_SHARED_SECRET)
    return frozenset(types)


def judge_current(recipe: Recipe, slot: Slot, facts: ServerFacts) -> Current:
    """The method in effect now and whether it can work, from the configs alone."""
    value = slot.value
    label = slot.label

    def current(method: Method, works: bool | None, why: str) -> Current:
        return Current(method=method, slot=slot, works=works, why=why)

    if value is None or (isinstance(value, str) and not value.strip()):
        state = "missing" if value is None else "empty"
        return current(Method.NONE, False, f"not set up: {label} is {state}")
    if not isinstance(value, str):
        return current(Method.NONE, False, f"{label} is not a string")
    if value.startswith(AS_TOKEN_PREFIX):
        if recipe.appservice is Support.NEVER:
            return current(
                Method.SHARED_SECRET,
                False,
                f"{label} starts with as_token:, which this bridge does not read: it would make"
                f" an HMAC key of the whole value ({recipe.appservice_never})",
            )
        return current(Method.APPSERVICE, *_judge_token(value, label, recipe, facts))
    if value == APPSERVICE_LOGIN_VALUE and recipe.family not in (
        BridgeFamily.BRIDGEV2,
        BridgeFamily.MX_PUPPET_BRIDGE,
        BridgeFamily.MATRIX_CORPORAL,
    ):
        return current(
            Method.APPSERVICE_LOGIN,
            None,
            f"{label} is `appservice`: it works only while the bridge's own registration claims"
            " every local user (Synapse then sends the bridge every event of every such user)",
        )
    if recipe.family is BridgeFamily.BRIDGEV2:
        return current(
            Method.NONE,
            False,
            f"{label} holds a value without as_token:, which bridgev2 ignores (mautrix-go"
            " bridgev2/matrix/doublepuppet.go): a legacy shared secret, copied here by the"
            " bridgev2 migration or by old instructions",
        )
    return current(Method.SHARED_SECRET, *_judge_secret(value, label, recipe, facts))


def _judge_token(
    value: str, label: str, recipe: Recipe, facts: ServerFacts
) -> tuple[bool | None, str]:
    token = value[len(AS_TOKEN_PREFIX) :]
    if is_placeholder(value):
        return False, f"{label} is the shipped example's placeholder"
    if token != token.strip() or token[:1] in "\"'" or token[-1:] in "\"'":
        return False, (
            f"{label} has whitespace or quotes after as_token:, and the bridge sends them as part"
            " of the token"
        )
    known = {r.as_token: r for r in facts.registrations}
    found = known.get(token)
    caveat = (
        f" (if its release reads as_token:: {recipe.appservice_releases})"
        if recipe.appservice is Support.VERSION
        else ""
    )
    if found is not None and found.double_puppet:
        return (
            True,
            f"{label} holds the as_token of {found.path}, a double-puppet registration{caveat}",
        )
    if found is not None:
        return False, (
            f"{label} holds the as_token of {found.path}, which is not a usable double-puppet"
            " registration"
        )
    module = facts.module
    if module is not None and module.secrets is not None and token in module.secrets:
        return False, (
            f"{label} holds the module's shared secret behind as_token:; as_token: takes the"
            " as_token of a double-puppet registration"
        )
    if facts.unreadable:
        return None, (
            f"{label} holds an as_token of no registration that could be read here (some listed"
            " ones could not)"
        )
    return False, (
        f"{label} holds an as_token of no registration listed in app_service_config_files"
    )


def _judge_secret(
    value: str, label: str, recipe: Recipe, facts: ServerFacts
) -> tuple[bool | None, str]:
    if is_placeholder(value):
        return False, f"{label} is the shipped example's placeholder"
    if facts.delegated:
        return False, (
            "auth is delegated to the Matrix Authentication Service, where no shared-secret"
            " module can run"
        )
    module = facts.module
    if module is None:
        return False, "homeserver.yaml loads no shared-secret module"
    if module.secrets is None:
        return None, f"the module's secret cannot be read here ({module.secret_problem})"
    if value not in module.secrets:
        return False, f"{label} is not the secret of the module ({module.where})"
    accepted = accepted_login_types(facts)
    if not recipe.login_types & accepted:
        return False, (
            f"the bridge logs in with {' or '.join(sorted(recipe.login_types))}, where the module"
            f" takes no tokens ({_login_fix(facts)})"
        )
    return True, f"{label} holds the module's secret ({module.name}, {module.where})"


def _login_fix(facts: ServerFacts) -> str:
    if not facts.password_login:
        return "password_config.enabled is off in homeserver.yaml"
    module = facts.module
    where = module.where if module is not None else "the module's entry"
    return f"set m_login_password_support_enabled: true in {where}"


def login_problem(recipe: Recipe, facts: ServerFacts) -> str | None:
    """Why the module, as configured, refuses this bridge's logins (a change by hand)."""
    if facts.module is None or recipe.login_types & accepted_login_types(facts):
        return None
    return (
        f"{recipe.family.value} bridges log in with {' or '.join(sorted(recipe.login_types))},"
        f" where the module takes no tokens: {_login_fix(facts)}"
    )


def decide(
    recipe: Recipe,
    config: Mapping[str, Any],
    facts: ServerFacts,
    *,
    recent: bool = False,
) -> Decision:
    """The method the bridge should use, and what to write for it."""
    domain = value_at(config, recipe.domain_key)
    if not isinstance(domain, str) or not domain.strip():
        return Decision(
            recipe=recipe,
            problem=f"{key_label(recipe.domain_key)} is missing: cannot tell which server this"
            " bridge is for",
        )
    if domain.strip() != facts.server_name:
        return Decision(
            recipe=recipe,
            problem=f"{key_label(recipe.domain_key)} is {domain.strip()}, and homeserver.yaml's"
            f" server_name is {facts.server_name}: this bridge is not for this homeserver",
        )
    current = judge_current(recipe, recipe.reads(config, facts.server_name), facts)
    notes: list[str] = []
    if recipe.family is BridgeFamily.IMESSAGE:
        notes.append("mautrix-imessage double-puppets only its one user, bridge.user")

    def decided(target: Method | None, why: str) -> Decision:
        write = None
        if target is not None and not (current.method is target and current.works is not False):
            write = Write.AS_TOKEN if target is Method.APPSERVICE else Write.SECRET
        return Decision(
            recipe=recipe,
            current=current,
            target=target,
            why=why,
            write=write,
            notes=tuple(notes),
        )

    if recipe.appservice is Support.ALWAYS:
        if recipe.family is BridgeFamily.BRIDGEV2:
            why = "bridgev2 double-puppets with the appservice method only"
        else:
            why = (
                "every release with this layout reads as_token:, and the value keeps working"
                " after the migration to bridgev2 (a shared secret stops)"
            )
        return decided(Method.APPSERVICE, why)
    if recipe.appservice is Support.NEVER:
        if facts.delegated:
            return decided(
                None,
                f"it cannot use the appservice method ({recipe.appservice_never}), and under the"
                " Matrix Authentication Service no shared-secret module can run: this bridge"
                " cannot double-puppet here",
            )
        return decided(
            Method.SHARED_SECRET,
            f"it cannot use the appservice method: {recipe.appservice_never}",
        )
    # Support.VERSION: which releases read as_token: the config does not show.
    releases = recipe.appservice_releases
    if recent:
        return decided(
            Method.APPSERVICE,
            f"--recent-bridges: its release reads as_token: ({releases}); no login, no device"
            " in the user's list, and it keeps working after the bridge's next migration",
        )
    keep = current.works is not False and current.method in (
        Method.APPSERVICE,
        Method.SHARED_SECRET,
        Method.APPSERVICE_LOGIN,
    )
    if keep and current.method is not Method.APPSERVICE:
        notes.append(
            f"the appservice method needs a release that reads as_token: ({releases}), which the"
            " config does not show: kept what works today. If yours is one, run plan again with"
            " --recent-bridges to move it"
            + (f"; {recipe.upgrade_note}" if recipe.upgrade_note else "")
        )
        return decided(current.method, "what the config has works today (kept)")
    if keep:
        return decided(Method.APPSERVICE, "what the config has works today (kept)")
    return decided(
        Method.APPSERVICE,
        f"nothing works today; the appservice method is what its current releases read"
        f" ({releases}; older releases log in with the module's shared secret instead)",
    )
