"""``alerts.lifecycle`` and ``alerts.inhibit`` of a config: their shape, and the lifecycle they build.

``alerts.lifecycle`` turns the lifecycle on (``lifecycle: {}`` or ``true``
for the defaults): ``repeat_interval`` (default 4h), ``state_dir`` (default
``lifecycle`` in the default state folder; relative to the config file's
folder), ``flapping_high``/``flapping_low`` (percent, default 20/5).
``alerts.inhibit`` is a list of ``{source, target, equal}`` rules and needs
the lifecycle on.

Rules: :func:`check` judges structure for the schema (unknown keys with a
suggestion, durations that do not parse, malformed matchers); numbers are
judged by the hard-limits validator when :func:`from_loaded` builds the
:class:`~kstalerts.lifecycle.Lifecycle`, once.
"""

import os

from .._suggest import suggest
from .._typing import Any, Mapping, Optional
from ..exceptions import AlertConfigurationError
from .durations import duration, parse_seconds
from .engine import Lifecycle
from .inhibit import parse_rules

__all__ = ()

LIFECYCLE_KEYS = frozenset({"repeat_interval", "state_dir", "flapping_high", "flapping_low"})


def check(alerts: Mapping[Any, Any], prefix: str = "alerts") -> None:
    """Raise :class:`AlertConfigurationError` (with its dotted key) for a malformed lifecycle section."""
    section = alerts.get("lifecycle")
    inhibit = alerts.get("inhibit")
    where = f"{prefix}.lifecycle"
    if section is not None and not isinstance(section, (Mapping, bool)):
        raise AlertConfigurationError(
            f"must be a mapping such as {{repeat_interval: 4h}} (or true), got {type(section).__name__}",
            key=where,
        )
    if isinstance(section, Mapping):
        for name in section:
            if name not in LIFECYCLE_KEYS:
                raise AlertConfigurationError(
                    f"unknown key{suggest(str(name), LIFECYCLE_KEYS)}", key=f"{where}.{name}"
                )
        if section.get("repeat_interval") is not None:
            parse_seconds(section["repeat_interval"], name=f"{where}.repeat_interval")
        state_dir = section.get("state_dir")
        if state_dir is not None and (not isinstance(state_dir, str) or not state_dir.strip()):
            raise AlertConfigurationError(
                f"must be a folder path, got {state_dir!r}", key=f"{where}.state_dir"
            )
    if inhibit is not None:
        parse_rules(inhibit, where=f"{prefix}.inhibit")
        if not section and prefix == "alerts":
            raise AlertConfigurationError(
                "inhibition rules need the lifecycle: add 'lifecycle: {}' under 'alerts:'",
                key=f"{prefix}.inhibit",
            )


def from_loaded(loaded: Any, *, state_dir: Optional[str] = None) -> Optional[Lifecycle]:
    """The lifecycle a loaded config asks for (``None`` when off); ``state_dir`` overrides the folder."""
    alerts = loaded.alerts
    section = alerts.get("lifecycle")
    if not section and section != {}:
        return Lifecycle(state_dir) if state_dir else None
    settings: Mapping[str, Any] = section if isinstance(section, Mapping) else {}
    folder = state_dir or settings.get("state_dir")
    if folder is not None:
        folder = os.path.expanduser(folder)
        if not os.path.isabs(folder) and loaded.path is not None:
            folder = os.path.join(os.path.dirname(os.path.abspath(loaded.path)), folder)

    def located(name: str, value: Any) -> float:
        return duration(name_of[name], value, where=loaded.where(f"alerts.lifecycle.{name}"))

    name_of = {"repeat_interval": "lifecycle.repeat_interval"}
    repeat = located("repeat_interval", settings.get("repeat_interval", "4h"))
    return Lifecycle(
        folder,
        repeat_interval=repeat,
        inhibit=alerts.get("inhibit"),
        flapping_high=settings.get("flapping_high", 20.0),
        flapping_low=settings.get("flapping_low", 5.0),
    )
