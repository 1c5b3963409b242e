"""``python -m kstalerts``: the command line (see :mod:`kstalerts.cli`)."""

from .cli import script

if __name__ == "__main__":
    script()
