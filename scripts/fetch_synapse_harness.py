"""Fetch Synapse's own test harness (its ``tests`` package) for the installed Synapse version.

The matrix-synapse wheel does not ship ``tests``; only the sdist does, and pip cannot download the
sdist here without building it (which needs Rust crates). So this script asks the package index
pip is configured with for the sdist (PEP 691 JSON), checks its sha256, extracts ``tests/`` into a
cache outside the source tree (it is Synapse's code and is never committed here) and puts that
folder on the current environment's ``sys.path`` with a ``.pth`` file. Run it with the Python of
the environment the tests run in; it is idempotent and quick once cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import urllib.parse
import urllib.request
from importlib.metadata import version
from pathlib import Path

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
    index = index_url()
    context = ssl_context()
    request = urllib.request.Request(
        urllib.parse.urljoin(index.rstrip("/") + "/", "matrix-synapse/"),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60, context=context) as response:
        page = json.load(response)
        page_url = response.geturl()
    # Releases before 1.69 named their sdist matrix-synapse-<version>.tar.gz (PEP 625 came later).
    filenames = [
        f"{name}-{synapse_version}.tar.gz" for name in ("matrix_synapse", "matrix-synapse")
    ]
    files = [entry for entry in page["files"] if entry["filename"] in filenames]
    if not files:
        sys.exit(f"{filenames[0]} is not on the package index {index}")
    entry = files[0]
    filename = entry["filename"]
    url = urllib.parse.urljoin(page_url, entry["url"])
    with urllib.request.urlopen(url, timeout=120, context=context) as response:
        data = response.read()
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


def index_url() -> str:
    """The index pip uses: PIP_INDEX_URL, pip's configuration, else pip's default."""
    configured = os.environ.get("PIP_INDEX_URL")
    if not configured:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            check=False,
        )
        configured = result.stdout.strip() if result.returncode == 0 else ""
    if configured:
        return configured
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def ssl_context() -> ssl.SSLContext:
    """Trust the CA bundle pip is told to trust, if any, as pip would."""
    cafile = os.environ.get("PIP_CERT")
    if not cafile:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.cert"],
            capture_output=True,
            text=True,
            check=False,
        )
        cafile = result.stdout.strip() if result.returncode == 0 else None
    return ssl.create_default_context(cafile=cafile or None)


if __name__ == "__main__":
    main()
