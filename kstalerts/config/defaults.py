"""Built-in defaults, and the lookup every constructor uses for unset values.

``get_default("throttle.rate")`` answers with the discovered config file's
value when there is one, else the built-in default below. Constructors call
it for each argument left as ``None``, then pass the value through
:func:`kstalerts.limits.validate`.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ("BUILTIN_DEFAULTS", "get_default")

#: Values used when neither an argument nor a config file sets one.
BUILTIN_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "throttle": {"rate": 10, "per": 60.0, "burst": None},  # burst None: equal to rate
    "channels": {"timeout": 30.0, "max_retries": 2},
}


def get_default(dotted: str) -> Any:
    """The default for ``section.key`` (``"channels.timeout"``)."""
    section, _, key = dotted.partition(".")
    return BUILTIN_DEFAULTS[section][key]
