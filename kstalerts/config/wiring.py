"""Wiring: build a manager's channels and throttles from a loaded config.

This step takes settings that are already parsed, checked, merged and
limited (:func:`.loader.load_config`) and turns them into objects: one
channel per ``alerts.channels`` entry, built by its class's ``from_config``
with the channel defaults filled in, registered under its key with its
``min_level``, its ``name`` as alias and a throttle of its own (its
``throttle`` over the global ``alerts.throttle``; ``throttle: false`` for
none). An error a channel raises about a field is re-raised naming the
file, the line and the full ``alerts.channels.<key>.<field>`` key.

``alerts.spool`` and ``alerts.dedup`` become the manager's spool and
duplicate suppression; a throttle's ``state_file`` shares its bucket across
processes, one bucket per channel key; ``spool_throttled`` is passed to
``add_channel``. A relative ``path``/``state_file`` is taken from the config
file's folder (from the working directory for a mapping), ``~`` expanded.
"""

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
    manager: "AlertManager",
    source: Union[str, "os.PathLike[str]", Mapping[str, Any], "LoadedConfig", None],
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
    _spool_and_dedup(manager, config)
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
            throttle=_throttle(config, entry.get("throttle"), key),
            alias=entry.get("name"),
            spool_throttled=bool(entry.get("spool_throttled", False)),
        )


def _build_channel(
    config: "LoadedConfig", key: str, options: Dict[str, Any], resolver: Any
) -> "AlertChannel":
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


def _throttle(config: "LoadedConfig", own: Any, key: str) -> Optional["AlertThrottle"]:
    """A new bucket for one channel: its settings over the global ones."""
    from ..throttle import AlertThrottle

    base = config.alerts.get("throttle")
    if own is False or (own is None and base is None):
        return None
    settings: Dict[str, Any] = {**BUILTIN_DEFAULTS["throttle"], **(base or {}), **(own or {})}
    rate = settings["rate"]
    burst = settings["burst"]
    state_file = settings.get("state_file")
    if state_file is not None:
        own_file = isinstance(own, Mapping) and "state_file" in own
        dotted = f"alerts.channels.{key}.throttle.state_file" if own_file else "alerts.throttle.state_file"
        state_file = _path_setting(config, dotted, state_file)
    return AlertThrottle(
        rate,
        settings["per"],
        burst=int(float(rate)) if burst is None else burst,
        state_file=state_file,
        state_key=key,
    )


def _spool_and_dedup(manager: "AlertManager", config: "LoadedConfig") -> None:
    from ..dedup import Deduplicator
    from ..spool import Spool

    spool = config.alerts.get("spool") or {}
    if spool:
        if spool.get("path") is None:
            raise _located(config, "alerts.spool.path", "a spool needs a path", line_key="alerts.spool")

        def limited(field: str) -> Any:
            value = spool.get(field)
            return (
                None if value is None else _limited(config, f"alerts.spool.{field}", f"spool.{field}", value)
            )

        manager.use_spool(
            Spool(
                _path_setting(config, "alerts.spool.path", spool["path"]),
                max_age=limited("max_age"),
                max_entries=limited("max_entries"),
                max_bytes=limited("max_bytes"),
            )
        )
    dedup = config.alerts.get("dedup") or {}
    if dedup:
        if dedup.get("window") is None:
            raise _located(
                config, "alerts.dedup.window", "duplicate suppression needs a window", line_key="alerts.dedup"
            )
        state_file = dedup.get("state_file")
        manager.use_dedup(
            Deduplicator(
                _limited(config, "alerts.dedup.window", "dedup.window", dedup["window"]),
                state_file=None
                if state_file is None
                else _path_setting(config, "alerts.dedup.state_file", state_file),
            )
        )


def _located(
    config: "LoadedConfig", dotted: str, message: str, *, line_key: Optional[str] = None
) -> AlertConfigurationError:
    line = config.line_of(dotted) or (config.line_of(line_key) if line_key else None)
    return AlertConfigurationError(message, path=config.path, line=line, key=config.origin_of(dotted))


def _limited(config: "LoadedConfig", dotted: str, name: str, value: Any) -> Union[int, float]:
    from ..limits import validate

    return validate(name, value, path=config.path, line=config.line_of(dotted), key=config.origin_of(dotted))


def _path_setting(config: "LoadedConfig", dotted: str, value: Any) -> str:
    """A file or folder setting: ``~`` expanded, relative to the config file's folder."""
    import os

    if not isinstance(value, str) or not value.strip():
        raise _located(config, dotted, f"must be a path, got {value!r}")
    path = os.path.expanduser(value)
    if not os.path.isabs(path) and config.path is not None:
        path = os.path.join(os.path.dirname(os.path.abspath(config.path)), path)
    return path
