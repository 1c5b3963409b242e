"""Durations as people write them: ``90``, ``1.5s``, ``10m``, ``2h``, ``1d``, ``1h30m``.

The one parser of a duration the command line (and the config, where it
takes one) uses: a number of seconds, or numbers each followed by a unit
``s``, ``m``, ``h`` or ``d`` (as coreutils ``timeout`` and systemd accept).
Rules: a pure function; the result is finite seconds, 0 or more; anything
else is a :class:`ValueError` that names what was given and what is accepted.
"""

import math
import re

__all__ = ()  # private: kstalerts.cli and run parse with it

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])")
_ACCEPTED = "seconds (90, 1.5) or numbers with s, m, h, d (10m, 1h30m)"


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` when it is not a duration.

    >>> parse_duration("10m"), parse_duration("1h30m"), parse_duration("2.5")
    (600.0, 5400.0, 2.5)
    """
    given = text.strip().lower()
    try:
        seconds = float(given)
    except ValueError:
        parts = _PART.findall(given)
        if not given or "".join(a + u for a, u in parts) != given:
            raise ValueError(f"not a duration: {text!r} (use {_ACCEPTED})") from None
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in parts)
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"not a duration: {text!r} (must be 0 or more, finite)")
    return seconds
