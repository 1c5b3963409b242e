"""Subcommands of ``kstalerts`` that live outside :mod:`kstalerts.cli`.

Each module here has ``setup(add)``, which adds its subcommand with
``add(name, run, summary, description, epilog)`` (the command line's one
way to add a subcommand) and then its arguments, and the function that runs
it, returning an exit code. :mod:`kstalerts.cli` lists their ``setup`` functions; they never import
:mod:`kstalerts.cli` back, and load heavy modules only when they run.
"""

__all__ = ()
