"""The argparse classes the command line subclasses, loaded only to build a parser.

A plain ``kstalerts send`` (a cron job's alert) reads its arguments without
argparse (:func:`kstalerts.cli.main`): argparse, its ``gettext`` and the
parser it builds are about a twentieth of such a process. Everything else
(``--help``, an error, every other subcommand) builds its parser with these.

Rules: imports argparse and nothing of the package.
"""

import argparse
import os
import sys

from ._typing import Any, NoReturn, Optional

__all__ = ()


def _columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` tells it (``COLUMNS``, the terminal, 80)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, given the width it would ask :mod:`shutil` for.

    argparse builds a formatter for every argument it adds, and without a
    width each one imports ``shutil`` (with ``bz2``, ``lzma``...): a cold
    ``kstalerts send`` would pay for archive modules it never uses.
    """

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: "Optional[int]" = None
    ) -> None:
        super().__init__(
            prog, indent_increment, max_help_position, _columns() - 2 if width is None else width
        )


class RunParser(argparse.ArgumentParser):
    """``run``'s own usage errors exit 125, as coreutils ``timeout`` does: 1-124 are the job's."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(125, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:  # an unknown option before --; the top parser would exit 2
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras
