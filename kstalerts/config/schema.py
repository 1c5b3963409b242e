"""The shape of the ``alerts`` section: which keys exist and what they hold.

This module only checks structure: that every key is known (an unknown one
is an error suggesting the closest valid key), that sections are mappings,
that a channel has a known ``type``, that ``min_level`` names a level.
Numbers are judged later, by :func:`kstalerts.limits.validate`, never here.
Every error names the file, the line and the dotted key.
"""

import types

from .._settings import CHANNEL_DEFAULT_KEYS, DEDUP_KEYS, SPOOL_KEYS, THROTTLE_KEYS
from .._typing import Any, Callable, FrozenSet, Iterable, Mapping, Optional
from ..channels._options import COMMON, COMMON_KEYS
from ..exceptions import AlertConfigurationError

__all__ = ()

#: Keys of ``alerts`` (``presets`` only at the top, not inside a preset).
ALERTS_KEYS = frozenset({"throttle", "channels", "presets", "spool", "dedup", "lifecycle", "inhibit"})
#: Top-level keys kstalerts reads in a whole document.
DOCUMENT_KEYS = frozenset({"alerts", "credentials"})
#: Keys every channel entry accepts, whatever its type (the channel descriptions' common options).
CHANNEL_COMMON_KEYS = COMMON_KEYS


def _hint(word: str, valid: "Iterable[str]") -> str:
    """:func:`kstalerts._suggest.suggest`, its module loaded with the first wrong word."""
    from .._suggest import suggest

    return suggest(word, valid)


Lines = Mapping[str, int]
#: An empty, read-only line map (the default where none is known).
NO_LINES: Lines = types.MappingProxyType({})


def _error(message: str, key: str, path: Optional[str], lines: Lines) -> AlertConfigurationError:
    line = lines.get(key)
    if line is None:  # point at the nearest enclosing key that has a line
        parent = key
        while line is None and "." in parent:
            parent = parent.rsplit(".", 1)[0]
            line = lines.get(parent)
    return AlertConfigurationError(message, path=path, line=line, key=key)


def check_keys(
    section: Mapping[Any, Any], valid: FrozenSet[str], prefix: str, path: Optional[str], lines: Lines
) -> None:
    """Raise for the first key of ``section`` that is not in ``valid``."""
    for name in section:
        if name not in valid:
            raise _error(f"unknown key{_hint(str(name), valid)}", f"{prefix}.{name}", path, lines)


def as_document(
    source: Mapping[Any, Any], *, path: Optional[str] = None, lines: Lines = NO_LINES
) -> Mapping[Any, Any]:
    """The whole document ``source`` is, or wraps an ``alerts`` section in one.

    A mapping given in code (``path`` is None) may be the whole document
    (``alerts:`` at the top, other tools' sections ignored) or, as kstlib's
    ``AlertManager.from_config(config["alerts"])`` takes it, the ``alerts``
    section itself, recognised by its keys (``channels``, ``throttle``,
    ``presets``, ``spool``, ``dedup``). A mapping that is neither is an
    error naming its first unknown key, with the closest valid one. A file
    keeps ignoring other tools' sections, but one with ``channels`` at the
    top and no ``alerts`` section is an error: it would build no channel.

    >>> as_document({"channels": {}})
    {'alerts': {'channels': {}}}
    >>> as_document({"chanels": {}})
    Traceback (most recent call last):
    ...
    kstalerts.exceptions.AlertConfigurationError: chanels: unknown key; did you mean 'channels'? \
(a config mapping is a whole document with an 'alerts' section, or the 'alerts' section itself)
    """
    if "alerts" in source:
        return source
    if path is not None:
        if "channels" in source:
            raise _error(
                "the alerts keys go under an 'alerts:' section (this file has none,"
                " so no channel would be built)",
                "channels",
                path,
                lines,
            )
        return source
    if any(key in ALERTS_KEYS for key in source):
        for key in source:
            if key not in ALERTS_KEYS:
                hint = (
                    " ('credentials' is a top-level section: pass the whole document, or a"
                    " credential_resolver)"
                    if key == "credentials"
                    else _hint(str(key), ALERTS_KEYS)
                )
                raise _error(f"unknown key in the alerts section{hint}", f"alerts.{key}", path, lines)
        return {"alerts": source}
    for key in source:
        if key not in DOCUMENT_KEYS:
            raise _error(
                f"unknown key{_hint(str(key), ALERTS_KEYS | DOCUMENT_KEYS)}"
                " (a config mapping is a whole document with an 'alerts' section,"
                " or the 'alerts' section itself)",
                str(key),
                path,
                lines,
            )
    return source


def _mapping(
    value: Any, key: str, path: Optional[str], lines: Lines, what: str = "a mapping"
) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(f"must be {what}, got {type(value).__name__}", key, path, lines)
    return value


def check_alerts(
    section: Any,
    *,
    prefix: str = "alerts",
    path: Optional[str] = None,
    lines: Lines = NO_LINES,
    base_channels: Optional[Mapping[str, Any]] = None,
    config_keys: Callable[[str], Optional[FrozenSet[str]]] = lambda kind: None,
) -> None:
    """Check an ``alerts`` section, or a preset when ``base_channels`` is given.

    ``config_keys(type)`` returns the extra keys a channel type accepts, or
    ``None`` when the type's class is not available (then only the common
    keys are checked).
    """
    in_preset = base_channels is not None
    alerts = _mapping(section, prefix, path, lines)
    check_keys(alerts, ALERTS_KEYS - {"presets"} if in_preset else ALERTS_KEYS, prefix, path, lines)
    _check_throttle(alerts.get("throttle"), f"{prefix}.throttle", path, lines, allow_off=False)
    for name, keys in (("spool", SPOOL_KEYS), ("dedup", DEDUP_KEYS)):
        check_keys(
            _mapping(alerts.get(name), f"{prefix}.{name}", path, lines), keys, f"{prefix}.{name}", path, lines
        )
    if "lifecycle" in alerts or "inhibit" in alerts:
        _check_lifecycle(alerts, prefix, path, lines)
    channels = _mapping(alerts.get("channels"), f"{prefix}.channels", path, lines)
    if "digest" in channels and not isinstance(channels["digest"], bool):
        raise _error("must be true or false", f"{prefix}.channels.digest", path, lines)
    for key, entry in channels.items():
        if key in CHANNEL_DEFAULT_KEYS:
            continue
        where = f"{prefix}.channels.{key}"
        if not isinstance(key, str):
            raise _error("a channel name must be text", where, path, lines)
        base = (base_channels or {}).get(key)
        _check_channel(entry, where, path, lines, base, in_preset, config_keys)
    if not in_preset:
        presets = _mapping(alerts.get("presets"), f"{prefix}.presets", path, lines)
        for name, preset in presets.items():
            check_alerts(
                preset,
                prefix=f"{prefix}.presets.{name}",
                path=path,
                lines=lines,
                base_channels=channels,
                config_keys=config_keys,
            )


def _check_lifecycle(alerts: Mapping[Any, Any], prefix: str, path: Optional[str], lines: Lines) -> None:
    from ..lifecycle.settings import check

    try:
        check(alerts, prefix)
    except AlertConfigurationError as exc:
        raise _error(exc.reason, exc.key or prefix, path, lines) from None


def _check_throttle(value: Any, key: str, path: Optional[str], lines: Lines, *, allow_off: bool) -> None:
    if allow_off and value is False:
        return
    what = "a mapping (or false for no throttle)" if allow_off else "a mapping"
    check_keys(_mapping(value, key, path, lines, what), THROTTLE_KEYS, key, path, lines)


def _check_channel(
    entry: Any,
    where: str,
    path: Optional[str],
    lines: Lines,
    base: Any,
    in_preset: bool,
    config_keys: Callable[[str], Optional[FrozenSet[str]]],
) -> None:
    from ..channels import CHANNEL_TYPES
    from ..models import AlertLevel

    if not isinstance(entry, Mapping):
        raise _error(
            f"must be a mapping with a 'type' (a channel), got {type(entry).__name__}"
            f"{_hint(where.rsplit('.', 1)[1], CHANNEL_DEFAULT_KEYS)}",
            where,
            path,
            lines,
        )
    kind = entry.get("type")
    if kind is None and isinstance(base, Mapping):
        kind = base.get("type")
    if kind is None:
        hint = " (a preset may only change channels the base section defines)" if in_preset else ""
        raise _error(f"a channel needs a 'type'{hint}", where, path, lines)
    if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
        raise _error(
            f"unknown channel type {kind!r}{_hint(str(kind), CHANNEL_TYPES)}", f"{where}.type", path, lines
        )
    extra = config_keys(kind)
    if extra is not None:
        check_keys(entry, CHANNEL_COMMON_KEYS | extra, where, path, lines)
    if "min_level" in entry:
        try:
            AlertLevel.parse(entry["min_level"])
        except AlertConfigurationError as exc:
            raise _error(exc.reason, f"{where}.min_level", path, lines) from None
    for option in COMMON:  # the common options' kinds, as the channel descriptions give them
        value = entry.get(option.name)
        if option.kind == "text" and option.name in entry and not isinstance(value, str):
            raise _error(f"must be text, got {type(value).__name__}", f"{where}.{option.name}", path, lines)
        if option.kind == "bool" and option.name in entry and not isinstance(value, bool):
            quoted = str(value).lower() in ("true", "false", "yes", "no", "on", "off")
            hint = f", got {value!r} (quoted, so it is text: write it without quotes)" if quoted else ""
            raise _error(f"must be true or false{hint}", f"{where}.{option.name}", path, lines)
    if "throttle" in entry:
        _check_throttle(entry["throttle"], f"{where}.throttle", path, lines, allow_off=True)
