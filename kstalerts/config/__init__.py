"""Configuration: reading files, discovery, presets and credentials.

This package turns a config file or mapping into plain settings. It parses
and merges; it never judges a value against the hard limits (that is
:mod:`kstalerts.limits`) and never builds channels by itself beyond wiring
what the settings name. Only :mod:`.defaults` is imported with the package;
the parser, loader and resolver load on first use (PEP 562), so
``import kstalerts`` stays cheap and reads no file.
"""

from .._lazy import TYPE_CHECKING, lazy
from .defaults import BUILTIN_DEFAULTS, active_config, get_default, reload_config, use_config

if TYPE_CHECKING:
    from .credentials import CredentialResolver
    from .discovery import discover
    from .loader import LoadedConfig, load_config
    from .yaml import parse_yaml

__all__ = (
    "BUILTIN_DEFAULTS",
    "CredentialResolver",
    "LoadedConfig",
    "active_config",
    "discover",
    "get_default",
    "load_config",
    "parse_yaml",
    "reload_config",
    "use_config",
)

__getattr__ = lazy(
    __name__,
    {
        "CredentialResolver": ".credentials",
        "LoadedConfig": ".loader",
        "discover": ".discovery",
        "load_config": ".loader",
        "parse_yaml": ".yaml",
    },
)
