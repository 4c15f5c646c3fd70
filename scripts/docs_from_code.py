"""The parts of the documentation that state what the code says: written from the code, so that
a fact has one home.

- README.md, ``synapse-support``: the Synapse releases claimed and tested
  (``synapse_dp_auth/releases.py``) and the Python floor (``python_requires`` in setup.cfg);
- README.md, ``bridge-methods``: the method each kind of bridge needs, and its setting;
- docs/compatibility.md, ``bridge-releases``: per bridge config layout, where the secret goes,
  how it logs in and which releases read the appservice method's ``as_token:`` (``plan``'s recipes,
  ``synapse_dp_auth/admin/plan/recipes.py``);
- CONTRIBUTING.md, ``tox-envs``: every tox environment with its description (tox.ini).

    ./tox.sh -e docs                    # rewrite those sections
    python scripts/docs_from_code.py --check

``tests/unit/test_docs.py`` fails when a section differs from what this writes. Imports nothing
of Synapse: the unit tier runs it.
"""

from __future__ import annotations

import argparse
import configparser
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from synapse_dp_auth.admin.plan.bridge_reading import BridgeFamily, Recognised  # noqa: E402
from synapse_dp_auth.admin.plan.recipes import (  # noqa: E402
    Recipe,
    Support,
    key_label,
    named_bridges,
    recipe_for,
)
from synapse_dp_auth.releases import TESTED_SYNAPSE_RELEASES  # noqa: E402
from testbed import generated_sections  # noqa: E402

CONTRIBUTING = "CONTRIBUTING.md"


def _read(path: str) -> str:
    return (REPO_ROOT / path).read_text(encoding="utf-8")


def python_floor() -> str:
    """``3.10`` from setup.cfg's ``python_requires = >=3.10``."""
    setup = configparser.ConfigParser()
    setup.read_string(_read("setup.cfg"))
    requires = setup["options"]["python_requires"].strip()
    if not requires.startswith(">="):
        raise ValueError(f"python_requires is not a lower bound: {requires}")
    return requires[2:]


def synapse_support() -> str:
    floor, pinned = TESTED_SYNAPSE_RELEASES[0], TESTED_SYNAPSE_RELEASES[-1]
    return (
        "<!-- written by `./tox.sh -e docs` from synapse_dp_auth/releases.py and setup.cfg -->\n"
        f"**Compatibility:** Synapse {floor} and later, tested on {floor} to {pinned}"
        f" ([which releases, which bridges](docs/compatibility.md)); Python {python_floor()}"
        " and later.\n"
    )


# -- the bridge config layouts -------------------------------------------------------------------


def _appservice_text(recipe: Recipe) -> str:
    if recipe.appservice is Support.ALWAYS:
        return "every release"
    if recipe.appservice is Support.VERSION:
        return recipe.appservice_releases
    return f"cannot use the appservice method: {recipe.appservice_never}"


def _keys(recipe: Recipe) -> str:
    keys = [key for key in (recipe.map_key, recipe.single_key) if key is not None]
    return " or ".join(f"`{key_label(key)}`" for key in keys)


def _login(recipe: Recipe) -> str:
    if not recipe.shared_secret:
        return "no shared-secret login"
    types = " or ".join(f"`{login_type}`" for login_type in sorted(recipe.login_types))
    return f"shared-secret login with {types}"


def bridge_releases() -> str:
    """Per config layout: where the secret goes, how it logs in, which releases read
    ``as_token:`` (one line per bridge known by name, then the rest of the layout)."""
    out = ["<!-- written by `./tox.sh -e docs` from synapse_dp_auth/admin/plan/recipes.py -->"]
    for family in BridgeFamily:
        general = recipe_for(Recognised(family, None))
        recipes: list[Recipe] = []
        for recipe in [recipe_for(Recognised(family, n)) for n in named_bridges(family)]:
            if all(recipe.releases != seen.releases for seen in recipes):
                recipes.append(recipe)
        recipes.append(general)
        head = f"- **{family.value}**: secret in {_keys(general)}; {_login(general)}"
        if all(recipe.appservice is Support.ALWAYS for recipe in recipes):
            releases = "; ".join(recipe.releases for recipe in recipes)
            out.append(f"{head}; reads `as_token:` in every release ({releases}).")
        elif general.appservice is Support.NEVER:
            out.append(f"{head}; {_appservice_text(general)}. Releases: {general.releases}.")
        else:
            out.append(f"{head}. Reads `as_token:`:")
            out += [f"  - {r.releases}: {_appservice_text(r)}" for r in recipes]
    return "\n".join(out) + "\n"


def bridge_methods() -> str:
    """The README's table: per config layout, the method to use and where the secret goes."""
    rows = ["| bridge | method | its setting, per server name |", "|---|---|---|"]
    for family in BridgeFamily:
        general = recipe_for(Recognised(family, None))
        names = sorted({name for name in named_bridges(family) if name})
        bridge = f"**{family.value}**" + (f": {', '.join(names)}" if names else "")
        if general.appservice is Support.NEVER:
            method = "the module"
        elif not general.shared_secret:
            method = "the appservice method, its only way"
        else:
            method = (
                "the appservice method on the releases that read it"
                " ([which](docs/compatibility.md#bridge-config-layouts)), else the module"
            )
        rows.append(f"| {bridge} | {method} | {_keys(general)} |")
    return (
        "<!-- written by `./tox.sh -e docs` from synapse_dp_auth/admin/plan/recipes.py -->\n"
        + "\n".join(rows)
        + "\n"
    )


# -- the tox environments ------------------------------------------------------------------------


def tox_envs() -> str:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read_string(_read("tox.ini"))
    lines = [
        "<!-- written by `./tox.sh -e docs` from tox.ini -->",
        f"- `py` (the default): {tox['testenv']['description'].strip()}",
    ]
    for section in tox.sections():
        if not section.startswith("testenv:"):
            continue
        name = section.removeprefix("testenv:")
        if "{" in name:
            name = name.split("{", 1)[0] + "<release>"
        lines.append(f"- `{name}`: {tox[section]['description'].strip()}")
    return "\n".join(lines) + "\n"


#: Every written section: (page, section name, what it should say).
SECTIONS: tuple[tuple[str, str, Callable[[], str]], ...] = (
    (generated_sections.README, "synapse-support", synapse_support),
    (generated_sections.README, "bridge-methods", bridge_methods),
    (generated_sections.COMPATIBILITY_PAGE, "bridge-releases", bridge_releases),
    (CONTRIBUTING, "tox-envs", tox_envs),
)


def stale() -> list[str]:
    """``page#section`` for every section that differs from what the code says."""
    found = []
    for page, name, render in SECTIONS:
        if generated_sections.section(_read(page), name) != render():
            found.append(f"{page}#{name}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which sections are stale")
    args = parser.parse_args()
    if args.check:
        found = stale()
        for where in found:
            print(f"stale: {where} (rewrite with ./tox.sh -e docs)")
        return 1 if found else 0
    for page, name, render in SECTIONS:
        path = REPO_ROOT / page
        text = path.read_text(encoding="utf-8")
        new = generated_sections.replace_section(text, name, render())
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{page}: {name} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
