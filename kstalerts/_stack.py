"""Where a warning should point: the first frame outside this package.

``warnings.warn(..., stacklevel=outside())`` names the user's line however
many of the package's own functions stand between it and the warning (3.12's
``skip_file_prefixes``, on every Python). Rules: imports nothing at module
level but :mod:`os` and :mod:`sys`; never raises.
"""

import os
import sys

__all__ = ()

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def outside() -> int:
    """The ``stacklevel`` of the first caller outside the package, for the function that calls this."""
    level = 1
    frame = sys._getframe(1)  # the function that will call warnings.warn: stacklevel 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
