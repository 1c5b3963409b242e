"""The defaults constructors use for arguments left unset: a plain lookup.

This module is the bottom of the import graph's config story: it imports
nothing of the package. :func:`lookup` answers ``"throttle.rate"`` from the
active values (``alerts.throttle``/``alerts.channels`` of the config in use)
or, when they do not set it, from :data:`BUILTIN_DEFAULTS`.

The values are filled by the config layer (:mod:`kstalerts.config.defaults`),
never read here: :func:`fill` installs them when a config is used, and the
first-use hook that layer registers with :func:`set_first_use` discovers
``kstlib.conf.yml`` the first time a default is needed. Until then, and with
no hook, the built-in defaults apply. A lookup never raises for a config
file: reporting a broken one is the hook's job (a warning), and
``check-config``/``from_config`` report it as an error.

It also holds the other hook the config layer plugs in from above:
:func:`set_config_builder` (``AlertManager.from_config``'s work). The
package's ``__init__`` registers both hooks and imports only this module
for it, so the module imports nothing at all at import (not even ``os``,
which an interpreter started with ``-S`` has not loaded: its functions
import it when they run).

And it holds where discovery looks (:data:`CONFIG_NAMES` in
:func:`config_dirs`), so that :func:`nothing_to_discover` can tell, before
any config module loads, that there is no file to read: what most cron
jobs find on their first default (:mod:`kstalerts.config.discovery` then
never loads; it searches the same places when it does).
"""

TYPE_CHECKING = False  # typing's flag without importing typing (mypy reads this name the same way)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping, Optional, Tuple

__all__ = ()

#: Values used when neither an argument nor a config file sets one.
BUILTIN_DEFAULTS: "Dict[str, Dict[str, Any]]" = {
    "throttle": {"rate": 10, "per": 60.0, "burst": None},  # burst None: equal to rate
    "channels": {"timeout": 30.0, "max_retries": 2},
}

#: The keys of the sections kstalerts reads, written once: the schema checks
#: them, :class:`~kstalerts.spool.Spool`/:class:`~kstalerts.dedup.Deduplicator`
#: ``from_config`` accept them.
SPOOL_KEYS = frozenset({"path", "max_age", "max_entries", "max_bytes"})
DEDUP_KEYS = frozenset({"window", "state_file"})
THROTTLE_KEYS = frozenset({"rate", "per", "burst", "state_file"})
#: Keys of ``alerts.channels`` that are defaults, not channel names.
CHANNEL_DEFAULT_KEYS = frozenset({"digest"} | set(BUILTIN_DEFAULTS["channels"]))

#: File names discovery looks for in each of its folders, in order.
CONFIG_NAMES = ("kstlib.conf.yml", "kstlib.conf.yaml", "kstlib.conf.toml", "kstlib.conf.json")
SYSTEM_DIR = "/etc/kstalerts"

# One rebinding of a module global is atomic: no lock (and no ``threading``
# import for a package whose import must stay cheap).
_values: "Optional[Dict[str, Dict[str, Any]]]" = None
_first_use: "Optional[Callable[[], None]]" = None
_config_builder: "Optional[Callable[..., Any]]" = None
_found_none = False  # nothing_to_discover() searched and found no file (until the next fill)


def no_discovery() -> "bool":
    """Whether ``KSTALERTS_NO_DISCOVERY`` turns discovery off."""
    import os

    return os.environ.get("KSTALERTS_NO_DISCOVERY", "").strip() not in ("", "0")


def named_config() -> "str":
    """The file ``KSTALERTS_CONFIG`` names (``""``: unset)."""
    import os

    return os.environ.get("KSTALERTS_CONFIG", "").strip()


def config_dirs() -> "Tuple[str, ...]":
    """The folders discovery searches, in order."""
    import os

    return (os.getcwd(), os.path.join(os.path.expanduser("~"), ".config", "kstalerts"), SYSTEM_DIR)


def file_in_dirs() -> "Optional[str]":
    """The first of :data:`CONFIG_NAMES` found in :func:`config_dirs`, or ``None``."""
    import os

    for directory in config_dirs():
        for name in CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def nothing_to_discover() -> "bool":
    """Whether discovery has no file to read: it is off, or ``KSTALERTS_CONFIG``
    is unset and no folder holds a config file. Then the built-in defaults
    are filled here, and a search that found nothing is remembered
    (:func:`found_none`) until the next :func:`fill`, so the config layer,
    if it loads later, does not search again."""
    global _values, _found_none
    if not no_discovery():
        try:
            if named_config() or file_in_dirs() is not None:
                return False
        except OSError:  # a deleted working folder: the config layer reports it (a warning)
            return False
        _found_none = True
    _values = {}
    return True


def found_none() -> "bool":
    """Whether :func:`nothing_to_discover` searched and found no file (since the last :func:`fill`)."""
    return _found_none


def fill(alerts: "Optional[Mapping[str, Any]]") -> "None":
    """Make ``alerts`` (an ``alerts`` section) the source of defaults; ``None`` forgets it."""
    global _values, _found_none
    _found_none = False
    import collections.abc  # here, not at import: it loads collections, which import kstalerts must not

    values: Optional[Dict[str, Dict[str, Any]]] = None
    if alerts is not None:
        values = {}
        for section, keys in BUILTIN_DEFAULTS.items():
            given = alerts.get(section)
            if isinstance(given, collections.abc.Mapping):
                values[section] = {k: given[k] for k in keys if given.get(k) is not None}
    _values = values


def set_first_use(hook: "Optional[Callable[[], None]]") -> "None":
    """Register what runs the first time a default is needed and none is filled."""
    global _first_use
    _first_use = hook


def set_config_builder(builder: "Optional[Callable[..., Any]]") -> "None":
    """Register the work of ``AlertManager.from_config`` (the config layer's)."""
    global _config_builder
    _config_builder = builder


def config_builder() -> "Optional[Callable[..., Any]]":
    """What :func:`set_config_builder` registered (``None``: nothing yet)."""
    return _config_builder


def lookup(dotted: "str") -> "Any":
    """The default for ``section.key`` (``"channels.timeout"``)."""
    section, _, key = dotted.partition(".")
    fallback = BUILTIN_DEFAULTS[section][key]
    values = _values
    if values is None and _first_use is not None:
        _first_use()
        values = _values
    if values is None:
        return fallback
    return values.get(section, {}).get(key, fallback)
