"""Fetch Synapse's own test harness (its ``tests`` package) for the installed Synapse version.

The matrix-synapse wheel does not ship ``tests``; only the sdist does, and pip cannot download the
sdist here without building it (which needs Rust crates). So this script asks the package index
pip is configured with for the sdist (PEP 691 JSON), through pip's own HTTP session so that the
machine's pip settings (index, certificates, proxy) apply exactly as they do to pip, checks its
sha256, extracts ``tests/`` into a cache outside the source tree (it is Synapse's code and is never
committed here) and puts that folder on the current environment's ``sys.path`` with a ``.pth``
file. Run it with the Python of
the environment the tests run in; it is idempotent and quick once cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import sysconfig
import tarfile
import tempfile
import urllib.parse
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

PTH_NAME = "synapse_harness.pth"


def main() -> None:
    synapse_version = version("matrix-synapse")
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache_root / "synapse_dp_auth" / f"synapse-harness-{synapse_version}"
    if not (target / "tests" / "unittest.py").is_file():
        fetch(synapse_version, target)
    pth = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    pth.write_text(f"{target}\n", encoding="utf-8")
    print(f"Synapse {synapse_version} test harness: {target}/tests (on sys.path via {pth.name})")


def fetch(synapse_version: str, target: Path) -> None:
    with pip_session() as (session, index):
        response = session.get(
            urllib.parse.urljoin(index.rstrip("/") + "/", "matrix-synapse/"),
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        response.raise_for_status()
        page = response.json()
        # Before 1.69 the sdist was matrix-synapse-<version>.tar.gz (PEP 625 came later).
        filenames = [
            f"{name}-{synapse_version}.tar.gz" for name in ("matrix_synapse", "matrix-synapse")
        ]
        files = [entry for entry in page["files"] if entry["filename"] in filenames]
        if not files:
            sys.exit(f"{filenames[0]} is not on the package index {index}")
        entry = files[0]
        filename = entry["filename"]
        download = session.get(urllib.parse.urljoin(response.url, entry["url"]))
        download.raise_for_status()
        data = download.content
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["hashes"]["sha256"]:
        sys.exit(f"{filename}: sha256 {digest} does not match the index's {entry['hashes']}")

    prefix = filename.removesuffix(".tar.gz") + "/"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = []
        for member in archive.getmembers():
            if member.name.startswith(prefix + "tests/") and (member.isfile() or member.isdir()):
                member.name = member.name[len(prefix) :]
                members.append(member)
        archive.extractall(staging, members=members, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


@contextlib.contextmanager
def pip_session() -> Iterator[tuple[Any, str]]:
    """pip's own HTTP session and index URL, with every setting pip would apply.

    pip resolves its configuration (``PIP_*`` variables, the global, user and site config files,
    their ``[global]`` and ``[download]`` sections) and builds a session that honours ``cert``,
    ``client-cert``, ``proxy``, ``trusted-host``, retries, timeouts, netrc and the ``*_proxy``
    variables. Borrowing it is the one way to reach the index exactly as ``pip download`` would,
    behind a TLS-inspecting proxy or a private mirror included. These are pip internals
    (``pip._internal``), checked with pip 23.2 and 26.3; when they move, this fails loudly here.
    """
    from pip._internal.commands import create_command

    # Any: get_default_session lives on a mixin whose module moved between pip releases.
    command: Any = create_command("download")
    options, _ = command.parse_args([])
    with command.main_context():
        yield command.get_default_session(options), options.index_url


if __name__ == "__main__":
    main()
