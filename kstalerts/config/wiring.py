"""Wiring: build a manager's channels and throttles from a loaded config.

This step takes settings that are already parsed, checked, merged and
limited (:func:`.loader.load_config`) and turns them into objects: one
channel per ``alerts.channels`` entry, built by its class's ``from_config``
with the channel defaults filled in, registered under its key with its
``min_level``, its ``name`` as alias and a throttle of its own (its
``throttle`` over the global ``alerts.throttle``; ``throttle: false`` for
none). An error a channel raises about a field is re-raised naming the
file, the line and the full ``alerts.channels.<key>.<field>`` key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

from ..exceptions import AlertConfigurationError
from .defaults import BUILTIN_DEFAULTS

if TYPE_CHECKING:
    import os

    from ..channels.base import AlertChannel
    from ..manager import AlertManager
    from ..throttle import AlertThrottle
    from .loader import LoadedConfig

__all__ = ("build_manager",)


def build_manager(
    manager: AlertManager,
    source: Union[str, os.PathLike[str], Mapping[str, Any], LoadedConfig, None],
    *,
    preset: Optional[str] = None,
    credential_resolver: Any = None,
) -> None:
    """Add to ``manager`` every channel the ``alerts.channels`` section names."""
    from .credentials import CredentialResolver
    from .loader import LoadedConfig, load_config

    config = source if isinstance(source, LoadedConfig) else load_config(source, preset=preset)
    resolver = credential_resolver
    if resolver is None:
        resolver = CredentialResolver(config.credentials, path=config.path, lines=config.lines)
    channels: Mapping[str, Any] = config.alerts.get("channels") or {}
    defaults = {
        name: channels.get(name, BUILTIN_DEFAULTS["channels"][name]) for name in ("timeout", "max_retries")
    }
    for key, entry in channels.items():
        if key in defaults:
            continue
        channel = _build_channel(config, key, {**defaults, **entry}, resolver)
        manager.add_channel(
            channel,
            key=key,
            min_level=entry.get("min_level", "info"),
            throttle=_throttle(config, entry.get("throttle")),
            alias=entry.get("name"),
        )


def _build_channel(config: LoadedConfig, key: str, options: Dict[str, Any], resolver: Any) -> AlertChannel:
    from ..channels import channel_class

    where = f"alerts.channels.{key}"
    kind = options["type"]
    try:
        cls = channel_class(kind)
    except (ImportError, AttributeError):
        raise AlertConfigurationError(
            f"channel type {kind!r} is not available in this installation",
            path=config.path,
            line=config.line_of(f"{where}.type"),
            key=f"{where}.type",
        ) from None
    try:
        return cls.from_config(options, resolver)
    except AlertConfigurationError as exc:
        if exc.path is not None or exc.line is not None:
            raise  # already located (a credential's own definition)
        field = exc.key or ""
        full = field if field.startswith(("alerts.", "credentials.")) else f"{where}.{field}".rstrip(".")
        line = config.line_of(full) or config.line_of(where)
        raise AlertConfigurationError(exc.reason, path=config.path, line=line, key=full) from exc


def _throttle(config: LoadedConfig, own: Any) -> Optional[AlertThrottle]:
    """A new bucket for one channel: its settings over the global ones."""
    from ..throttle import AlertThrottle

    base = config.alerts.get("throttle")
    if own is False or (own is None and base is None):
        return None
    settings: Dict[str, Any] = {**BUILTIN_DEFAULTS["throttle"], **(base or {}), **(own or {})}
    rate = settings["rate"]
    burst = settings["burst"]
    return AlertThrottle(rate, settings["per"], burst=int(float(rate)) if burst is None else burst)
