"""Wiring: build a manager's channels and throttles from settings.

This step takes settings that are already parsed and merged and turns them
into objects. Judging values is left to the constructors, which call
:func:`kstalerts.limits.validate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from ..exceptions import AlertConfigurationError

if TYPE_CHECKING:
    from ..manager import AlertManager

__all__ = ("build_manager",)


def build_manager(
    manager: AlertManager,
    source: Union[str, Mapping[str, Any], None],
    *,
    preset: Optional[str] = None,
    credential_resolver: Any = None,
) -> None:
    """Add to ``manager`` every channel the ``alerts.channels`` section names."""
    from ..channels import CHANNEL_TYPES, channel_class
    from ..throttle import AlertThrottle

    if not isinstance(source, Mapping):
        raise AlertConfigurationError("config files are not supported yet; pass a mapping")
    alerts = source.get("alerts", {})
    channels = alerts.get("channels", {})
    defaults = {k: channels[k] for k in ("timeout", "max_retries") if k in channels}
    throttle_cfg = alerts.get("throttle")
    for key, entry in channels.items():
        if key in defaults:
            continue
        kind = entry.get("type")
        if kind not in CHANNEL_TYPES:
            raise AlertConfigurationError(f"unknown channel type {kind!r}", key=f"alerts.channels.{key}.type")
        options = {**defaults, **entry}
        channel = channel_class(kind).from_config(options, credential_resolver)
        settings = entry.get("throttle", throttle_cfg)
        throttle = AlertThrottle(**settings) if settings else None
        manager.add_channel(
            channel,
            key=key,
            min_level=entry.get("min_level", "info"),
            throttle=throttle,
            alias=entry.get("name"),
        )
