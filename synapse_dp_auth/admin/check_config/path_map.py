"""``check-config --path-map CONTAINER_PREFIX=HOST_PREFIX``: where a path Synapse reads inside its
container is found on the host running check-config.

A homeserver.yaml written for Synapse in a container lists paths inside that container: the
matrix-docker-ansible-deploy playbook (MDAD) lists each registration at ``/`` + a name of its
own and bind-mounts the host's file there (see :data:`MDAD_DOUBLE_PUPPET_MOUNT`). Checked on the
host, those paths do not exist; mapping them lets check-config read the same files Synapse does.
"""

from __future__ import annotations

import argparse
import posixpath
from collections.abc import Sequence

import attr

#: MDAD @ c0681e4bc2d55df19056f3d3a7b997f9e7335890 (spantaleev/matrix-docker-ansible-deploy):
#: ``group_vars/matrix_servers`` line 128 bind-mounts
#: ``matrix_appservice_double_puppet_config_path + '/registration.yaml'`` at
#: ``/matrix-appservice-double-puppet-registration.yaml`` in Synapse's container, and line 193
#: lists that container path in app_service_config_files. The host path: ``/matrix``
#: (``roles/custom/matrix-base/defaults/main.yml`` line 227) +
#: ``/appservice-double-puppet/config``
#: (``roles/custom/matrix-appservice-double-puppet/defaults/main.yml`` lines 9-10). The
#: container is ``matrix-synapse``, its config directory mounted at ``/data``
#: (``roles/custom/matrix-synapse/templates/synapse/systemd/matrix-synapse.service.j2`` lines
#: 29 and 52).
MDAD_DOUBLE_PUPPET_MOUNT = (
    "/matrix-appservice-double-puppet-registration.yaml",
    "/matrix/appservice-double-puppet/config/registration.yaml",
)


@attr.s(frozen=True, auto_attribs=True)
class PathMapping:
    """``container`` (a path or a directory inside the container) is ``host`` on this host."""

    container: str
    host: str

    def apply(self, path: str) -> str | None:
        """``path`` on the host, or ``None`` when this mapping does not cover it. A prefix covers
        itself and what lies under it as a directory: ``/data`` covers ``/data/x.yaml``, not
        ``/database.yaml``."""
        if path == self.container:
            return self.host
        directory = self.container.rstrip("/") + "/"
        if path.startswith(directory):
            return posixpath.join(self.host, path[len(directory) :])
        return None


def parse_path_mapping(text: str) -> PathMapping:
    """One ``--path-map`` argument; ``argparse.ArgumentTypeError`` says what is wrong with it."""
    container, equals, host = text.partition("=")
    if not equals or not container or not host:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not CONTAINER_PREFIX=HOST_PREFIX (e.g."
            f" {MDAD_DOUBLE_PUPPET_MOUNT[0]}={MDAD_DOUBLE_PUPPET_MOUNT[1]})"
        )
    if not container.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"{container!r}: the container side must be an absolute path, as listed in"
            " homeserver.yaml"
        )
    return PathMapping(container, host)


def map_path(path: str, mappings: Sequence[PathMapping]) -> str:
    """``path`` rewritten by the longest container prefix that covers it (so that a mapping of
    one file wins over one of its directory), or unchanged."""
    best: tuple[int, str] | None = None
    for mapping in mappings:
        mapped = mapping.apply(path)
        if mapped is not None and (best is None or len(mapping.container) > best[0]):
            best = (len(mapping.container), mapped)
    return path if best is None else best[1]
