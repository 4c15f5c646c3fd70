"""``python -m synapse_dp_auth``: the admin command line (see :mod:`synapse_dp_auth.cli`)."""

import sys

from synapse_dp_auth.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
