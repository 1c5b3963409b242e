"""The package's version, at the bottom of the import graph so that any
module (the HTTP client's User-Agent, the CLI) can read it without importing
the package's ``__init__``."""

__all__ = ()

__version__ = "0.1.0"
