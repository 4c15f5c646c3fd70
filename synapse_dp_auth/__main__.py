"""``python -m synapse_dp_auth``: the admin command line (see :mod:`synapse_dp_auth.admin.cli`)."""

import sys

from synapse_dp_auth.admin.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
