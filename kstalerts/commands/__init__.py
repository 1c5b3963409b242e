"""Subcommands of ``kstalerts`` that live outside :mod:`kstalerts.cli`.

Each module here has ``setup(subparsers)`` (its arguments, with
``set_defaults(run=...)``) and the function that runs it, returning an exit
code. :mod:`kstalerts.cli` lists their ``setup`` functions; they never import
:mod:`kstalerts.cli` back, and load heavy modules only when they run.
"""

__all__ = ()
