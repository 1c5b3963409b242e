"""Configuration: reading files, discovery, presets and credentials.

This package turns a config file or mapping into plain settings. It parses
and merges; it never judges a value against the hard limits (that is
:mod:`kstalerts.limits`) and never builds channels by itself beyond wiring
what the settings name. Only :mod:`.defaults` is imported with the package;
the parser, loader and resolver load on first use (PEP 562), so
``import kstalerts`` stays cheap and reads no file.
"""

import importlib
import sys
from typing import TYPE_CHECKING, Any, Dict

from .defaults import BUILTIN_DEFAULTS, active_config, get_default, reload_config, use_config

if TYPE_CHECKING:
    from .credentials import CredentialResolver
    from .loader import LoadedConfig, discover, load_config
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

_LAZY: Dict[str, str] = {
    "CredentialResolver": "credentials",
    "LoadedConfig": "loader",
    "discover": "loader",
    "load_config": "loader",
    "parse_yaml": "yaml",
}


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


if sys.version_info < (3, 7):  # module __getattr__ (PEP 562) is 3.7+
    from .._compat36 import module_getattr

    module_getattr(__name__, __getattr__)
