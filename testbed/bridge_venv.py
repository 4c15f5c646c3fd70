"""The virtualenvs that real bridge processes run from: one per bridge, apart from the suite's.

A bridge pins its own libraries, and they conflict with the suite's (mautrix-telegram 0.15.3 needs
mautrix-python 0.20.x; the suite pins 0.21.1 for the bridge client code it imports). So each list
``tests/bridges/<name>.txt`` is installed into ``.venv-bridges/<name>/`` at the repository root,
by ``scripts/install_bridges.py``, which tox runs before the tests and the demo.

Idempotent and cheap when nothing changed: a virtualenv carries a stamp (the SHA-256 of the list
it was built from), written last, so a stale or half-built one is rebuilt from scratch and a
current one is left alone. pip runs as the machine configures it (index, certificates, proxy,
its cache under ``HOME``). Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS_DIR = REPO_ROOT / "tests" / "bridges"
VENV_ROOT = REPO_ROOT / ".venv-bridges"
INSTALL_HINT = "run `python scripts/install_bridges.py` (tox does it for you)"
_STAMP = ".requirements-sha256"


@dataclass(frozen=True)
class BridgeVenv:
    """The virtualenv of the bridge whose pinned list is ``tests/bridges/<name>.txt``."""

    name: str

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS_DIR / f"{self.name}.txt"

    @property
    def path(self) -> Path:
        return VENV_ROOT / self.name

    @property
    def python(self) -> Path:
        """The virtualenv's interpreter: run the bridge with it (``python -m <module>``)."""
        return self.path / "bin" / "python"

    def pinned(self, project: str) -> str:
        """The version the list pins for ``project`` (``name[extra]==version`` lines)."""
        for line in self.requirements.read_text(encoding="utf-8").splitlines():
            name, _, version = line.partition("==")
            if name.split("[")[0].strip().lower() == project.lower() and version:
                return version.strip()
        raise KeyError(f"{self.requirements.name} pins no {project}")

    def wanted_stamp(self) -> str:
        return hashlib.sha256(self.requirements.read_bytes()).hexdigest()

    def problem(self) -> str | None:
        """Why the bridge cannot run from this virtualenv now, or ``None`` when it can."""
        if not self.python.is_file():
            return f"{self.path} is missing: {INSTALL_HINT}"
        try:
            stamp = (self.path / _STAMP).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            stamp = ""
        if stamp != self.wanted_stamp():
            return f"{self.path} does not match {self.requirements.name}: {INSTALL_HINT}"
        return None

    def install(self) -> bool:
        """Build the virtualenv unless it is current; return whether anything was installed."""
        if self.problem() is None:
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        venv.EnvBuilder(with_pip=True).create(self.path)
        subprocess.run(  # noqa: S603 - the virtualenv's own pip, our pinned list
            [
                str(self.python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(self.requirements),
            ],
            check=True,
        )
        (self.path / _STAMP).write_text(self.wanted_stamp() + "\n", encoding="ascii")
        return True


def every_bridge() -> list[BridgeVenv]:
    """One per pinned list in ``tests/bridges/``."""
    return [BridgeVenv(path.stem) for path in sorted(REQUIREMENTS_DIR.glob("*.txt"))]


def main(names: list[str] | None = None) -> int:
    """Install the named bridges (``tests/bridges/<name>.txt``), or every one."""
    bridges = every_bridge()
    if names:
        unknown = sorted(set(names) - {bridge.name for bridge in bridges})
        if unknown:
            print(f"no list tests/bridges/<name>.txt for: {', '.join(unknown)}", file=sys.stderr)
            return 2
        bridges = [bridge for bridge in bridges if bridge.name in names]
    for bridge in bridges:
        try:
            installed = bridge.install()
        except (OSError, subprocess.CalledProcessError) as error:
            print(
                f"{bridge.name}: installing {bridge.requirements} failed: {error}", file=sys.stderr
            )
            return 1
        state = "installed" if installed else "up to date"
        print(f"{bridge.name}: {state} in {bridge.path.relative_to(REPO_ROOT)}")
    return 0
