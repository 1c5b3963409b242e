"""Built-in defaults, and the lookup every constructor uses for unset values.

``get_default("throttle.rate")`` answers with the active config's value
(``alerts.throttle.rate``, preset merged and limits applied) when there is
one, else the built-in default below. Constructors call it for each argument
left as ``None``, then pass the value through :func:`kstalerts.limits.validate`.

Rules: importing this module reads no file and imports no parser. The config
is discovered on the first :func:`get_default` call and cached;
:func:`reload_config` forgets it, :func:`active_config` shows which file was
used, :func:`use_config` installs one explicitly. With
``KSTALERTS_NO_DISCOVERY=1`` only an explicitly installed config is used.
"""

import threading
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

if TYPE_CHECKING:
    import os

    from .loader import LoadedConfig

__all__ = ("BUILTIN_DEFAULTS", "active_config", "get_default", "reload_config", "use_config")

#: Values used when neither an argument nor a config file sets one.
BUILTIN_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "throttle": {"rate": 10, "per": 60.0, "burst": None},  # burst None: equal to rate
    "channels": {"timeout": 30.0, "max_retries": 2},
}

_lock = threading.RLock()
_explicit: Optional["LoadedConfig"] = None
_discovered: Optional["LoadedConfig"] = None


def _discovery_disabled() -> bool:
    import os

    return os.environ.get("KSTALERTS_NO_DISCOVERY", "").strip() not in ("", "0")


def active_config() -> Optional["LoadedConfig"]:
    """The config defaults come from: the one :func:`use_config` installed,
    else the discovered one (``None`` when discovery is disabled).

    ``active_config().path`` is the file used (``None``: built-in defaults).
    """
    global _discovered
    with _lock:
        if _explicit is not None:
            return _explicit
        if _discovery_disabled():
            return None
        if _discovered is None:
            from .loader import load_config

            _discovered = load_config()
        return _discovered


def use_config(
    source: Union[str, "os.PathLike[str]", Mapping[str, Any], None], *, preset: Optional[str] = None
) -> "LoadedConfig":
    """Load ``source`` (a path or mapping) and make it the active config."""
    global _explicit
    from .loader import load_config

    config = load_config(source, preset=preset)
    with _lock:
        _explicit = config
    return config


def reload_config() -> None:
    """Forget the active config; the next :func:`get_default` discovers again."""
    global _explicit, _discovered
    with _lock:
        _explicit = None
        _discovered = None


def get_default(dotted: str) -> Any:
    """The default for ``section.key`` (``"channels.timeout"``)."""
    section, _, key = dotted.partition(".")
    fallback = BUILTIN_DEFAULTS[section][key]
    config = active_config()
    if config is not None:
        values = config.alerts.get(section)
        if isinstance(values, Mapping) and values.get(key) is not None:
            return values[key]
    return fallback
