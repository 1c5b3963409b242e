"""Which config file is used: the search, and nothing more.

Discovery order: an explicit path; the ``KSTALERTS_CONFIG`` variable; the
current directory; ``~/.config/kstalerts/``; ``/etc/kstalerts/``; else the
built-in defaults. In each directory the names of :data:`CONFIG_NAMES` are
tried in order. ``KSTALERTS_NO_DISCOVERY=1`` skips every step but an
explicit path.

Rules: this module imports ``os`` and the exceptions only, so finding that
there is no file (what most cron jobs do on their first default) imports
no parser, schema or loader; :mod:`.loader` reads the file when one is found.
"""

import os

from .._typing import List, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError

__all__ = ()

#: File names looked for in each discovery directory, in order.
CONFIG_NAMES = ("kstlib.conf.yml", "kstlib.conf.yaml", "kstlib.conf.toml", "kstlib.conf.json")
_SYSTEM_DIR = "/etc/kstalerts"


def _no_discovery() -> bool:
    return os.environ.get("KSTALERTS_NO_DISCOVERY", "").strip() not in ("", "0")


def config_dirs() -> Tuple[str, ...]:
    """The directories discovery searches, in order."""
    return (os.getcwd(), os.path.join(os.path.expanduser("~"), ".config", "kstalerts"), _SYSTEM_DIR)


def discover(path: Union[str, "os.PathLike[str]", None] = None) -> Optional[str]:
    """The config file to use, or ``None`` for the built-in defaults."""
    if path is not None:
        return os.fspath(path)
    if _no_discovery():
        return None
    named = os.environ.get("KSTALERTS_CONFIG", "").strip()
    if named:
        if os.path.isdir(named):
            raise AlertConfigurationError(
                "KSTALERTS_CONFIG names a directory; name the file in it"
                f" (e.g. {os.path.join(named, CONFIG_NAMES[0])})",
                path=named,
            )
        if not os.path.isfile(named):
            raise AlertConfigurationError("KSTALERTS_CONFIG names a file that does not exist", path=named)
        return named
    for directory in config_dirs():
        for name in CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def searched_places() -> List[str]:
    """Where :func:`discover` looks, in order (each folder for :data:`CONFIG_NAMES`)."""
    if _no_discovery():
        return ["nowhere: KSTALERTS_NO_DISCOVERY is set (only an explicit path is read)"]
    named = os.environ.get("KSTALERTS_CONFIG", "").strip()
    places = [f"$KSTALERTS_CONFIG ({named})" if named else "$KSTALERTS_CONFIG (not set)"]
    places.extend(config_dirs())
    return places
