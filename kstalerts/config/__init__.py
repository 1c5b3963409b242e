"""Configuration: reading files, discovery, presets and credentials.

This package turns a config file or mapping into plain settings. It parses
and merges; it never judges a value against the hard limits (that is
:mod:`kstalerts.limits`) and never builds channels by itself beyond wiring
what the settings name.
"""

from __future__ import annotations

from .defaults import BUILTIN_DEFAULTS, get_default

__all__ = ("BUILTIN_DEFAULTS", "get_default")
