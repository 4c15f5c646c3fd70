"""Install the real bridges the tests and the demo run as processes, each in its own virtualenv.

See ``testbed/bridge_venv.py``: ``tests/bridges/<name>.txt`` goes into ``.venv-bridges/<name>/``,
rebuilt only when the list changed. Run it with any Python 3.11+ (tox runs it before the tests).
Usage: python scripts/install_bridges.py [NAME...]   (default: every list)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testbed.bridge_venv import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
