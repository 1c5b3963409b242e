"""Which config file is used: the search, and nothing more.

Discovery order: an explicit path; the ``KSTALERTS_CONFIG`` variable; the
current directory; ``~/.config/kstalerts/``; ``/etc/kstalerts/``; else the
built-in defaults. In each directory the names of :data:`CONFIG_NAMES` are
tried in order. ``KSTALERTS_NO_DISCOVERY=1`` skips every step but an
explicit path.

Rules: this module imports ``os`` and the exceptions only, so finding that
there is no file imports no parser, schema or loader; :mod:`.loader` reads
the file when one is found. The places and names are
:mod:`kstalerts._settings`' (:data:`CONFIG_NAMES`, :func:`config_dirs`),
where the first default of a process looks before any config module loads.
"""

import os

from .._settings import CONFIG_NAMES as CONFIG_NAMES
from .._settings import config_dirs as config_dirs
from .._settings import file_in_dirs, named_config
from .._settings import no_discovery as _no_discovery
from .._typing import List, Optional, Union
from ..exceptions import AlertConfigurationError

__all__ = ()


def discover(path: Union[str, "os.PathLike[str]", None] = None) -> Optional[str]:
    """The config file to use, or ``None`` for the built-in defaults."""
    if path is not None:
        return os.fspath(path)
    if _no_discovery():
        return None
    named = named_config()
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
    return file_in_dirs()


def searched_places() -> List[str]:
    """Where :func:`discover` looks, in order (each folder for :data:`CONFIG_NAMES`)."""
    if _no_discovery():
        return ["nowhere: KSTALERTS_NO_DISCOVERY is set (only an explicit path is read)"]
    named = named_config()
    places = [f"$KSTALERTS_CONFIG ({named})" if named else "$KSTALERTS_CONFIG (not set)"]
    places.extend(config_dirs())
    return places
