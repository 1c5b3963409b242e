"""The ``kstalerts`` command line."""

from __future__ import annotations

import argparse
from typing import List, Optional

from . import __version__

__all__ = ("main",)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="kstalerts", description="Send alerts to many channels.")
    parser.add_argument("--version", action="version", version=f"kstalerts {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
