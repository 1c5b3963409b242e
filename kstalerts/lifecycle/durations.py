"""Durations as people write them: ``30s``, ``5m``, ``4h``, ``2d``, ``1h30m``, or seconds.

One function, :func:`duration`, turns what a config file, a keyword argument
or the command line gives into seconds and hands them to the hard-limits
validator under the setting's name (``lifecycle.repeat_interval``,
``silence.duration``, ...): the limits are judged there, never here.
:func:`strict_duration` is the command line's form: a value the limits
would clamp is an error naming the range instead (the CLI exits 2).

Rules: units are ``s``, ``m``, ``h``, ``d``, ``w`` (no months: they have no
fixed length); parts may be joined (``1h30m``) and written with decimals
(``1.5h``); a bare number is seconds. Anything else raises
:class:`~kstalerts.exceptions.AlertConfigurationError` saying what is accepted.
"""

import re

from .._typing import Optional
from ..exceptions import AlertConfigurationError
from ..limits import BY_HAND, LIMITS, Where, collect_clamps, validate

__all__ = ()

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_seconds(value: object, *, name: str = "duration") -> float:
    """``value`` in seconds, before any limit: a number, or ``30s``/``5m``/``1h30m``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        if len(text) <= 64 and _WHOLE.fullmatch(text):
            return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    raise AlertConfigurationError(
        f"{value!r} is not a duration; write seconds or a number with a unit: 30s, 5m, 4h, 2d, 1h30m",
        key=name,
    )


def duration(name: str, value: object, *, where: Where = BY_HAND) -> float:
    """``value`` as seconds inside the hard limits of the setting ``name`` (clamped with a warning);
    ``where``: where it was written (see :func:`~kstalerts.limits.validate`)."""
    seconds = parse_seconds(value, name=where.key or name)
    return float(validate(name, seconds, where=where))


def strict_duration(name: str, value: object, *, what: Optional[str] = None) -> float:
    """:func:`duration`, but a value outside the limits raises instead of being clamped."""
    label = what or name
    seconds = parse_seconds(value, name=label)
    with collect_clamps() as clamps:
        import logging

        limits_log = logging.getLogger("kstalerts.limits")
        previous = limits_log.disabled
        limits_log.disabled = True  # the error below says it; no warning as well
        try:
            applied = float(validate(name, seconds, where=Where(key=label)))
        finally:
            limits_log.disabled = previous
    if clamps:
        limit = LIMITS[name]
        raise AlertConfigurationError(
            f"{value!r} is out of range; use from {human(float(limit.minimum))}"
            f" to {human(float(limit.maximum))}",
            key=label,
        )
    return applied


def human(seconds: float) -> str:
    """``seconds`` in the largest units that keep it short: ``90`` → ``1m30s``."""
    if seconds < 0:
        return "-" + human(-seconds)
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
