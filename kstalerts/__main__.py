"""``python -m kstalerts``: the command line (see :mod:`kstalerts.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
