"""Finding, reading and merging a config file into a :class:`LoadedConfig`.

Which file is used is :mod:`.discovery`'s answer (re-exported here:
``discover``, ``searched_places``, ``CONFIG_NAMES``).

Loading runs three steps in one direction: parse (``yaml``/``tomllib``/
``json``), check the structure (:mod:`.schema`), then merge the preset
(``preset=`` or ``KSTALERTS_PRESET``) and pass every limited number through
:func:`kstalerts.limits.validate` with its file, line and key, so a clamp
warning or an error says where the value came from.
"""

import os
import re

from .._settings import BUILTIN_DEFAULTS, CHANNEL_DEFAULT_KEYS
from .._settings import no_discovery as _no_discovery
from .._text import compiled
from .._typing import Any, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError
from ..limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, Where, validate
from .discovery import CONFIG_NAMES, config_dirs, discover, searched_places
from .scalars import _MAX_NUMBER_CHARS as MAX_NUMBER_CHARS

__all__ = ()

_SECRET_FIELDS = frozenset(
    {
        "webhook_url",
        "url",
        "password",
        "api_key",
        "routing_key",
        "token",
        "bearer_token",
        "access_token",
        "basic_auth",
        "secret",
    }
)

Source = Union[str, "os.PathLike[str]", Mapping[str, Any], None]


class LoadedConfig(NamedTuple):
    """A config after parsing, checking, preset merging and limits.

    ``alerts`` is the ``alerts`` section with the preset merged in and the
    limited numbers validated; ``credentials`` the ``credentials`` section;
    ``data`` the whole document as read. ``line_of("alerts.throttle.rate")``
    answers with the line the effective value came from (a preset's line
    when the preset set it), ``None`` for mappings, JSON and TOML.
    ``data``, ``lines`` and ``origins`` are left out of the repr.
    """

    path: Optional[str]
    alerts: Dict[str, Any]
    credentials: Dict[str, Any]
    preset: Optional[str]
    data: Dict[str, Any]
    lines: Dict[str, int]
    origins: Dict[str, str]

    def __repr__(self) -> str:
        return (
            f"LoadedConfig(path={self.path!r}, alerts={self.masked().get('alerts')!r},"
            f" credentials={sorted(self.credentials)!r}, preset={self.preset!r})"
        )

    def origin_of(self, dotted: str) -> str:
        """The key in the file an effective key came from (preset or base)."""
        for prefix, source in self.origins.items():
            if dotted == prefix or dotted.startswith(prefix + "."):
                return source + dotted[len(prefix) :]
        return dotted

    def line_of(self, dotted: str) -> Optional[int]:
        """The line of ``dotted`` (``"alerts.channels.ops.timeout"``), if known."""
        return self.lines.get(self.origin_of(dotted))

    def where(self, dotted: str) -> Where:
        """Where ``dotted`` was written: this file, the line and the key it came from."""
        key = self.origin_of(dotted)
        return Where(self.path, self.lines.get(key), key)

    def masked(self) -> Dict[str, Any]:
        """The document, merged, with every secret masked: safe to print.

        One rule: a secret field (password, token, key, ``basic_auth``, ...)
        shows ``***`` whatever its type; every header value shows ``***``;
        every URL anywhere (webhook, proxy, Alertmanager members) shows only
        ``scheme://host:port`` (then ``/***`` if it had more).
        """
        from .._secret import mask_url

        def mask(value: Any, name: str) -> Any:
            if name in _SECRET_FIELDS and value is not None:
                return mask_url(value) if isinstance(value, str) and "://" in value else "***"
            if name == "headers" and isinstance(value, Mapping):
                return {k: "***" for k in value}
            if isinstance(value, Mapping):
                return {k: mask(v, str(k)) for k, v in value.items()}
            if isinstance(value, list):
                return [mask(v, name) for v in value]
            if isinstance(value, str) and "://" in value:
                return mask_url(value)
            return value

        out: Dict[str, Any] = mask(self.data, "")
        out["alerts"] = mask(self.alerts, "alerts")
        return out


def toml_missing_message() -> str:
    """What to install to read TOML on this Python."""
    return "reading a .toml config needs Python 3.11+ or the 'tomli' package (pip install 'kstalerts[toml]')"


def _load_toml(text: str, path: str) -> Any:
    try:
        import tomllib as toml  # type: ignore[import-not-found,unused-ignore]  # novermin (3.11+, guarded)
    except ImportError:
        try:
            import tomli as toml  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise AlertConfigurationError(toml_missing_message(), path=path) from None
    decode_error: Any = None
    try:
        document = toml.loads(text)
        if _has_long_int(document):  # a Python without int()'s digit limit read it
            raise _toml_number_too_long(text, path, "number too long")
        return document
    except ValueError as exc:  # TOMLDecodeError too; int() past Python's digit limit is a plain one
        if not isinstance(exc, toml.TOMLDecodeError):
            raise _toml_number_too_long(text, path, str(exc)) from None
        decode_error = exc
    except RecursionError:  # the parser recurses per level of nesting
        raise AlertConfigurationError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path=path) from None
    if decode_error is not None:
        message = str(decode_error)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML"
        raise AlertConfigurationError(message, path=path, line=line, column=column) from None


def _load_json(text: str, path: str) -> Any:
    import json

    def pairs(items: List[Tuple[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise AlertConfigurationError(f"duplicate key {key!r}", path=path, key=key)
            out[key] = value
        return out

    too_long: List[str] = []

    def integer(literal: str) -> Any:
        # Python refuses int() past its digit limit with a bare ValueError:
        # the number is marked here and reported, located, once parsed.
        if len(literal) > MAX_NUMBER_CHARS:
            too_long.append(literal)
            return _TOO_LONG
        return int(literal)

    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_int=integer)
    except json.JSONDecodeError as exc:
        raise AlertConfigurationError(exc.msg, path=path, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise AlertConfigurationError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path=path) from None
    if too_long:
        literal = too_long[0]
        line = text.count("\n", 0, max(0, text.find(literal))) + 1
        where = _key_of(document, _TOO_LONG)
        too_many = f"number too long ({len(literal)} characters)"
        raise AlertConfigurationError(too_many, path=path, line=line, key=where)
    return document


#: Marks an over-long integer in a parsed JSON document (see _load_json).
_TOO_LONG = object()
# Pattern sources, compiled on first use (a YAML config never needs them;
# the first alone takes milliseconds to compile).
_TOML_LONG_INT = r"[-+]?[0-9][0-9_]{" + str(MAX_NUMBER_CHARS) + ",}"
_TOML_TABLE = r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$"
_TOML_KEY = r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*="


def _key_of(value: Any, target: object, prefix: str = "") -> Optional[str]:
    """The dotted key under which ``target`` sits in ``value`` (iteratively: no recursion limit)."""
    stack: List[Tuple[Any, str]] = [(value, prefix)]
    while stack:
        item, where = stack.pop()
        if item is target:
            return where or None
        if isinstance(item, dict):
            stack.extend((child, f"{where}.{key}" if where else str(key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return None


def _toml_number_too_long(text: str, path: str, message: str) -> AlertConfigurationError:
    """The located error for an integer Python refuses to read (more digits than its limit);
    ``message`` (the parser's) when there is no such integer."""
    found = compiled(_TOML_LONG_INT).search(text)
    if found is None:
        return AlertConfigurationError(f"invalid TOML: {message}", path=path)
    line = text.count("\n", 0, found.start()) + 1
    lines = text.splitlines()
    key = compiled(_TOML_KEY).match(lines[line - 1]) if line <= len(lines) else None
    table = next((m.group(1) for m in map(compiled(_TOML_TABLE).match, reversed(lines[: line - 1])) if m), "")
    name = key.group(1).strip().replace('"', "").replace("'", "") if key else None
    dotted = f"{table}.{name}" if table and name else (name or table or None)
    return AlertConfigurationError(
        f"number too long ({len(found.group(0))} characters)", path=path, line=line, key=dotted
    )


def _has_long_int(value: Any) -> bool:
    """Whether ``value`` holds an integer of more than ``MAX_NUMBER_CHARS`` digits
    (the one rule for every format: YAML and JSON refuse it while parsing)."""
    stack: List[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int) and item.bit_length() > 3 * MAX_NUMBER_CHARS:  # 10**n has > 3.3n bits
            if abs(item) >= 10**MAX_NUMBER_CHARS:
                return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_depth(value: Any, path: str) -> None:
    stack: List[Tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_CONFIG_DEPTH:
                raise AlertConfigurationError(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", path=path)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def read_config_file(path: str) -> Tuple[Any, Dict[str, int]]:
    """Read and parse one file by its suffix; return (document, key lines)."""
    from ..state.files import UnsafeFileError, read_regular

    try:
        raw = read_regular(path, MAX_CONFIG_BYTES + 1)  # a FIFO or a folder is refused, never waited on
    except FileNotFoundError:
        raise AlertConfigurationError("config file not found", path=path) from None
    except UnsafeFileError as exc:
        raise AlertConfigurationError(f"the config file {exc.why}", path=path) from None
    except OSError as exc:
        raise AlertConfigurationError(f"cannot read the config file: {exc.strerror}", path=path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise AlertConfigurationError(f"the file is larger than {MAX_CONFIG_BYTES} bytes", path=path)
    if raw.startswith(b"\xef\xbb\xbf"):  # what "utf-8-sig" drops, without importing its codec
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise AlertConfigurationError("the file is not valid UTF-8", path=path, line=line) from None
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".yml", ".yaml"):
        from .yaml import parse_yaml

        return parse_yaml(text, path)
    if suffix == ".toml":
        document = _load_toml(text, path)
    elif suffix == ".json":
        document = _load_json(text, path)
    else:
        raise AlertConfigurationError(
            f"unknown config file type {suffix or '(no suffix)'!r}; expected .yml, .yaml, .toml or .json",
            path=path,
        )
    _check_depth(document, path)
    return document, {}


_NEAR_NAME = (
    r"(?i)^(kstlib|kstalerts?)[._-]?(conf(ig)?)?\.(ya?ml|toml|json|conf|ini|cfg)$"  # compiled on first use
)
_BY_SUFFIX = {".yaml": "kstlib.conf.yaml", ".toml": "kstlib.conf.toml", ".json": "kstlib.conf.json"}


def near_miss_files() -> List[Tuple[str, str]]:
    """Files discovery ignores that look meant for it: ``(path, the name to use)``.

    ``kstalerts.conf.yml`` in a searched directory answers
    ``(".../kstalerts.conf.yml", "kstlib.conf.yml")``.
    """
    import difflib

    found: List[Tuple[str, str]] = []
    if _no_discovery():
        return found
    for directory in config_dirs():
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry in CONFIG_NAMES:
                continue
            close = difflib.get_close_matches(entry.lower(), CONFIG_NAMES, n=1, cutoff=0.8)
            if not close and compiled(_NEAR_NAME).match(entry) is None:
                continue
            suffix = os.path.splitext(entry)[1].lower()
            want = close[0] if close else _BY_SUFFIX.get(suffix, "kstlib.conf.yml")
            path = os.path.join(directory, entry)
            if os.path.isfile(path):
                found.append((path, want))
    return found


_TOP_LEVEL = ("alerts", "credentials")


def near_miss_keys(document: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Top-level keys that look like a misspelt ``alerts``/``credentials``: ``(key, meant)``."""
    import difflib

    out: List[Tuple[str, str]] = []
    for key in document:
        if not isinstance(key, str) or key in _TOP_LEVEL:
            continue
        close = difflib.get_close_matches(key.lower(), _TOP_LEVEL, n=1, cutoff=0.75)
        if close and close[0] not in document:
            out.append((key, close[0]))
    return out


def no_channels_reason(config: LoadedConfig) -> str:
    """Why a loaded config gives no channel, and what to do, in one sentence."""
    if config.path is None and not config.data and _no_discovery():
        return (
            "no config file given (KSTALERTS_NO_DISCOVERY is set: none is searched for); pass --config PATH"
        )
    if config.path is None and not config.data:
        where = ", ".join(searched_places())
        hint = "".join(f"; {path} is not read: did you mean {want}?" for path, want in near_miss_files())
        return (
            f"no config file found (searched {where} for kstlib.conf.yml/.yaml/.toml/.json){hint};"
            " pass --config PATH or set KSTALERTS_CONFIG"
        )
    source = config.path or "the config mapping"
    keys = near_miss_keys(config.data)
    if keys:
        meant = ", ".join(f"top-level {key!r}: did you mean {want!r}?" for key, want in keys)
        return f"{source} defines no channels ({meant})"
    return f"{source} defines no channels: add entries under alerts.channels (see kstlib.conf.yml)"


def _merge(
    base: Dict[str, Any], over: Mapping[str, Any], prefix: str, source: str, origins: Dict[str, str]
) -> None:
    """Deep-merge ``over`` into ``base``; record where each key came from."""
    for key, value in over.items():
        here, there = f"{prefix}.{key}", f"{source}.{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, here, there, origins)
        else:
            base[key] = _copied(value) if isinstance(value, (dict, list)) else value
            origins[here] = there


def _section(
    document: Mapping[str, Any], name: str, path: Optional[str], lines: Mapping[str, int]
) -> Dict[str, Any]:
    value = document.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AlertConfigurationError(
            f"must be a mapping, got {type(value).__name__}", path=path, line=lines.get(name), key=name
        )
    copied: Dict[str, Any] = _copied(dict(value))
    return copied


def _copied(value: Any, depth: int = 0) -> Any:
    """A deep copy of config data: the dicts and lists a parsed file is made of
    are copied level by level, anything else (or deeper than a file may nest:
    a mapping given in code can hold a cycle) by :func:`copy.deepcopy`, which
    loads only then."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if depth <= MAX_CONFIG_DEPTH:
        if kind is dict:
            return {key: _copied(item, depth + 1) for key, item in value.items()}
        if kind is list:
            return [_copied(item, depth + 1) for item in value]
    import copy

    return copy.deepcopy(value)


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _config_keys(kind: str) -> Optional[FrozenSet[str]]:
    from ..channels import channel_class

    try:
        cls = channel_class(kind)
    except (ImportError, AttributeError, KeyError):
        return None
    keys = getattr(cls, "config_keys", None)
    return frozenset(keys) if keys is not None else None


def load_config(source: Source = None, *, preset: Optional[str] = None) -> LoadedConfig:
    """Find (when ``source`` is None), read, check and merge a config.

    ``source`` is a path or an already-parsed mapping. ``preset`` selects
    ``alerts.presets.<name>``; without it ``KSTALERTS_PRESET`` does, when the
    config defines presets.
    """
    from .schema import as_document, check_alerts

    path: Optional[str] = None
    lines: Dict[str, int] = {}
    if isinstance(source, Mapping):
        document: Any = source
    else:
        path = discover(source)
        document, lines = read_config_file(path) if path is not None else ({}, {})
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise AlertConfigurationError(
            f"the top level must be a mapping with an 'alerts' section, got {type(document).__name__}",
            path=path,
        )
    document = as_document(document, path=path, lines=lines)
    alerts = _section(document, "alerts", path, lines)
    credentials = _section(document, "credentials", path, lines)
    check_alerts(alerts, path=path, lines=lines, config_keys=_config_keys)
    if credentials:  # an empty section has nothing to check, and its module stays unloaded
        from .credentials import check_credentials

        check_credentials(credentials, path=path, lines=lines)
    presets = alerts.pop("presets", None) or {}
    origins: Dict[str, str] = {}
    if preset is None and presets:
        preset = os.environ.get("KSTALERTS_PRESET", "").strip() or None
    if preset is not None:
        if preset not in presets:
            known = ", ".join(sorted(map(str, presets))) or "(none defined)"
            raise AlertConfigurationError(
                f"unknown preset {preset!r}; known presets: {known}",
                path=path,
                line=lines.get("alerts.presets"),
                key="alerts.presets",
            )
        _merge(alerts, presets[preset] or {}, "alerts", f"alerts.presets.{preset}", origins)
    config = LoadedConfig(path, alerts, credentials, preset, dict(document), lines, origins)
    _apply_limits(config)
    return config


def _apply_limits(config: LoadedConfig) -> None:
    """Pass every limited number through limits.validate, in place."""

    def check(
        section: Dict[str, Any], field: str, name: str, where: str, upper: Optional[float] = None
    ) -> None:
        if field in section:
            at = config.where(f"{where}.{field}")
            section[field] = validate(name, section[field], upper=upper, where=at)

    alerts = config.alerts
    default_rate = float(BUILTIN_DEFAULTS["throttle"]["rate"])

    def throttle(section: Any, where: str, inherited_rate: float) -> float:
        if not isinstance(section, dict):
            return inherited_rate
        check(section, "rate", "throttle.rate", where)
        check(section, "per", "throttle.per", where)
        rate = float(section.get("rate", inherited_rate))
        check(section, "burst", "throttle.burst", where, upper=rate)
        return rate

    global_rate = throttle(alerts.get("throttle"), "alerts.throttle", default_rate)
    for name, fields in (("spool", ("max_age", "max_entries", "max_bytes")), ("dedup", ("window",))):
        section = alerts.get(name)
        if isinstance(section, dict):
            for field in fields:
                if section.get(field) is not None:
                    check(section, field, f"{name}.{field}", f"alerts.{name}")
    channels = alerts.get("channels") or {}
    for key, entry in channels.items():
        where = f"alerts.channels.{key}"
        if key in CHANNEL_DEFAULT_KEYS:  # a default, not a channel
            if key != "digest":  # true or false (see schema)
                check(channels, key, f"channels.{key}", "alerts.channels")
            continue
        check(entry, "timeout", "channels.timeout", where)
        check(entry, "max_retries", "channels.max_retries", where)
        throttle(entry.get("throttle"), f"{where}.throttle", global_rate)
