"""Which config supplies the defaults constructors use for unset values.

``get_default("throttle.rate")`` answers with the active config's value
(``alerts.throttle.rate``, preset merged and limits applied) when there is
one, else the built-in default. Constructors do not call this module: they
ask :func:`kstalerts._settings.lookup`, a plain mapping this module fills.

Rules: importing this module reads no file and imports no parser. The
config layer reads the file for defaults in two explicit places only:
:func:`use_config`, and :func:`discover_defaults`, the first-use hook :func:`connect` registers (the
package's ``__init__`` calls it). The hook discovers ``kstlib.conf.yml`` once
and caches it; a broken or unreadable file logs one warning naming the file
and line, and the built-in defaults apply: a plain constructor never raises
for it. :func:`reload_config` forgets the config, :func:`active_config`
shows which one is used. With ``KSTALERTS_NO_DISCOVERY=1`` only an
explicitly installed config is used.
"""

import _thread

from .._lazy import TYPE_CHECKING
from .._log import logger
from .._settings import BUILTIN_DEFAULTS as BUILTIN_DEFAULTS  # re-exported by kstalerts.config
from .._settings import fill, found_none, lookup, no_discovery, set_first_use
from .._typing import Any, Mapping, Optional, Union
from .discovery import discover

if TYPE_CHECKING:
    import os

    from .loader import LoadedConfig

__all__ = ()

_log = logger("kstalerts.config")
_lock = _thread.RLock()
_active = None  # type: Optional[LoadedConfig]
# When the first default of the process searched before this module loaded
# (kstalerts._settings.nothing_to_discover) and found no file, that search stands.
_discovered = found_none()
_found_none = _discovered  # discovery found no file (active_config then builds the empty config)


def _install(config: Optional["LoadedConfig"]) -> None:
    # Called with the lock held.
    global _active
    _active = config
    fill(config.alerts if config is not None else {})


def discover_defaults() -> None:
    """Discover the config file once and make it the source of defaults.

    A file that cannot be read or is invalid is reported by one warning
    (file:line: reason) and the built-in defaults apply.
    """
    global _discovered, _found_none
    with _lock:
        if _discovered or _active is not None:
            return
        _discovered = True
        if no_discovery():
            _install(None)
            return
        config: Optional[LoadedConfig] = None
        try:
            path = discover()
            if path is not None:  # most processes find none: no loader, parser or schema then
                from .loader import load_config

                config = load_config(path)
        except Exception as exc:  # a broken file must not break a constructor
            _log.warning("%s (the built-in defaults apply; check-config reports this file)", exc)
        else:
            _found_none = path is None
        _install(config)


def connect() -> None:
    """Register :func:`discover_defaults` as the defaults' first-use hook."""
    set_first_use(discover_defaults)


def active_config() -> Optional["LoadedConfig"]:
    """The config defaults come from: the one :func:`use_config` installed,
    else the discovered one (``None``: built-in defaults, also when the
    discovered file was broken).

    ``active_config().path`` is the file used (``None``: built-in defaults).
    """
    discover_defaults()
    with _lock:
        if _active is None and _found_none:  # as load_config() answers with no file
            from .loader import load_config

            _install(load_config({}))
        return _active


def use_config(
    source: Union[str, "os.PathLike[str]", Mapping[str, Any], "LoadedConfig", None],
    *,
    preset: Optional[str] = None,
) -> "LoadedConfig":
    """Load ``source`` (a path, mapping or loaded config) and make it the active config."""
    from .loader import LoadedConfig, load_config

    config = source if isinstance(source, LoadedConfig) else load_config(source, preset=preset)
    with _lock:
        _install(config)
    return config


def reload_config() -> None:
    """Forget the active config; the next lookup discovers again."""
    global _discovered, _active, _found_none
    with _lock:
        _discovered = False
        _found_none = False
        _active = None
        fill(None)


def get_default(dotted: str) -> Any:
    """The default for ``section.key`` (``"channels.timeout"``)."""
    return lookup(dotted)
