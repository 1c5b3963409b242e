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
``add_channel``, and so is ``digest`` (the channel's, else the
``alerts.channels`` default, else true). A relative ``path``/``state_file`` is taken from the config
file's folder (from the working directory for a mapping), ``~`` expanded.
"""

from .._lazy import TYPE_CHECKING
from .._settings import BUILTIN_DEFAULTS, CHANNEL_DEFAULT_KEYS, set_config_builder
from .._typing import Any, Dict, List, Mapping, Optional, Type, Union
from ..exceptions import AlertConfigurationError, NoChannelsWarning, UnresolvedCredentialError
from ..manager import AlertManager
from .defaults import connect as _connect_defaults

if TYPE_CHECKING:
    import os

    from ..channels.base import AlertChannel
    from ..throttle import AlertThrottle
    from .loader import LoadedConfig

__all__ = ()


def connect() -> None:
    """Plug the config layer into the layers below it, which do not import it.

    Registers :func:`manager_from_config` as ``AlertManager.from_config``'s
    work and the discovery of ``kstlib.conf.yml`` as the first-use hook of
    the constructors' defaults (:mod:`kstalerts._settings`). The package's
    ``__init__`` calls it once.
    """
    set_config_builder(manager_from_config)
    _connect_defaults()


def manager_from_config(
    cls: Type[AlertManager],
    source: Union[str, "os.PathLike[str]", Mapping[str, Any], "LoadedConfig", None] = None,
    *,
    preset: Optional[str] = None,
    credential_resolver: Any = None,
) -> AlertManager:
    """A new ``cls`` manager with what ``source`` configures (``AlertManager.from_config``)."""
    manager = cls()
    try:
        build_manager(manager, source, preset=preset, credential_resolver=credential_resolver)
    except BaseException:
        manager.close()
        raise
    return manager


def build_manager(
    manager: "AlertManager",
    source: Union[str, "os.PathLike[str]", Mapping[str, Any], "LoadedConfig", None],
    *,
    preset: Optional[str] = None,
    credential_resolver: Any = None,
    unresolved: Optional[List[UnresolvedCredentialError]] = None,
) -> None:
    """Add to ``manager`` every channel the ``alerts.channels`` section names.

    With ``unresolved`` (a list), a channel whose credential is not there is
    skipped and its error appended (``check-config``, ``--dry-run``); without
    it that is an error. A config that gives no channel warns once
    (:class:`~kstalerts.exceptions.NoChannelsWarning`).
    """
    from .loader import LoadedConfig, load_config

    config = source if isinstance(source, LoadedConfig) else load_config(source, preset=preset)
    resolver = credential_resolver
    if resolver is None:
        resolver = _config_resolver(config)
    _spool_and_dedup(manager, config)
    if config.alerts.get("lifecycle") is not None:
        from ..lifecycle.settings import from_loaded

        manager.use_lifecycle(from_loaded(config))
    channels: Mapping[str, Any] = config.alerts.get("channels") or {}
    defaults = {
        name: channels.get(name, BUILTIN_DEFAULTS["channels"][name]) for name in ("timeout", "max_retries")
    }
    for key, entry in channels.items():
        if key in CHANNEL_DEFAULT_KEYS:
            continue
        try:
            channel = _build_channel(config, key, {**defaults, **entry}, resolver)
        except UnresolvedCredentialError as exc:
            if unresolved is None:
                raise
            unresolved.append(exc)
            continue
        manager.add_channel(
            channel,
            key=key,
            min_level=entry.get("min_level", "info"),
            throttle=_throttle(config, entry.get("throttle"), key),
            alias=entry.get("name"),
            spool_throttled=bool(entry.get("spool_throttled", False)),
            digest=bool(entry.get("digest", channels.get("digest", True))),
            send_resolved=bool(entry.get("send_resolved", True)),
        )
    if unresolved is None and not manager.channels:
        import warnings

        from .._stack import outside
        from .loader import no_channels_reason

        warnings.warn(NoChannelsWarning(no_channels_reason(config)), stacklevel=outside())


def _config_resolver(config: "LoadedConfig") -> Any:
    """The resolver of the config's ``credentials`` section: built (and the
    section checked) now when there is one, else on the first credential a
    channel asks for, so a config that names none never loads the module."""
    if config.credentials:
        from .credentials import CredentialResolver

        return CredentialResolver(config.credentials, path=config.path, lines=config.lines)
    return _NoCredentials(config)


class _NoCredentials:
    """An empty ``credentials`` section's resolver, loaded on first use (its errors name the file)."""

    def __init__(self, config: "LoadedConfig") -> None:
        self._config = config
        self._resolver: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._resolver is None:
            from .credentials import CredentialResolver

            config = self._config
            self._resolver = CredentialResolver({}, path=config.path, lines=config.lines)
        return getattr(self._resolver, name)


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
        return cls.from_config(options, _NamingResolver(resolver, key))
    except AlertConfigurationError as exc:
        if exc.path is not None or exc.line is not None:
            raise  # already located (a credential's own definition)
        field = exc.key or ""
        full = field if field.startswith(("alerts.", "credentials.")) else f"{where}.{field}".rstrip(".")
        line = config.line_of(full) or config.line_of(where)
        raise AlertConfigurationError(exc.reason, path=config.path, line=line, key=full) from exc
    except Exception as exc:  # a channel class's own bug or a plain ValueError: still a config error
        from .._secret import scrub_text

        raise AlertConfigurationError(
            f"channel {key!r} (type {kind}) could not be built: {type(exc).__name__}: {scrub_text(str(exc))}",
            path=config.path,
            line=config.line_of(where),
            key=where,
        ) from None  # the cause's raw text is not shown


class _NamingResolver:
    """A resolver whose every failure is a config error naming the channel and the credential."""

    def __init__(self, inner: Any, channel: str) -> None:
        self._inner = inner
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def resolve(self, name: str) -> str:
        from .._secret import resolve_credential

        try:
            value = resolve_credential(self._inner, name)  # a kstlib-style record gives its value
        except AlertConfigurationError as exc:
            if exc.path is None and exc.line is None:
                raise  # located by the wiring, under alerts.channels.<key>
            reason = f"channel {self._channel!r}: {exc.reason}"
            where: Dict[str, Any] = {"path": exc.path, "line": exc.line, "column": exc.column, "key": exc.key}
            if isinstance(exc, UnresolvedCredentialError):
                raise UnresolvedCredentialError(reason, credential=exc.credential, **where) from None
            raise AlertConfigurationError(reason, **where) from None
        except Exception as exc:
            from .._secret import scrub_text

            raise AlertConfigurationError(
                f"channel {self._channel!r}: credential {name!r} could not be resolved:"
                f" {type(exc).__name__}: {scrub_text(str(exc))}",
                key=f"credentials.{name}",
            ) from None  # the cause's raw text is not shown
        if not isinstance(value, str):
            raise AlertConfigurationError(
                f"channel {self._channel!r}: credential {name!r}: the resolver returned"
                f" {type(value).__name__}, not a string",
                key=f"credentials.{name}",
            )
        return value


def _throttle(config: "LoadedConfig", own: Any, key: str) -> Optional["AlertThrottle"]:
    """A new bucket for one channel: its settings over the global ones (none, and no
    module loaded, when neither asks for one)."""
    base = config.alerts.get("throttle")
    if own is False or (own is None and base is None):
        return None
    from ..throttle import AlertThrottle

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
    # Each module only when its section is there: a one-channel config pays for neither.
    spool = config.alerts.get("spool") or {}
    if spool:
        from ..spool import Spool

        if spool.get("path") is None:
            raise _located(config, "alerts.spool.path", "a spool needs a path", line_key="alerts.spool")
        # The one spool builder, given the path resolved against the file's folder;
        # the numbers were judged by the loader in its one pass, and are not judged again.
        path = _path_setting(config, "alerts.spool.path", spool["path"])
        manager.use_spool(Spool.from_config({**spool, "path": path}))
    dedup = config.alerts.get("dedup") or {}
    if dedup:
        from ..dedup import Deduplicator

        if dedup.get("window") is None:
            raise _located(
                config, "alerts.dedup.window", "duplicate suppression needs a window", line_key="alerts.dedup"
            )
        state_file = dedup.get("state_file")
        if state_file is not None:
            dedup = {**dedup, "state_file": _path_setting(config, "alerts.dedup.state_file", state_file)}
        manager.use_dedup(Deduplicator.from_config(dedup))


def _located(
    config: "LoadedConfig", dotted: str, message: str, *, line_key: Optional[str] = None
) -> AlertConfigurationError:
    line = config.line_of(dotted) or (config.line_of(line_key) if line_key else None)
    return AlertConfigurationError(message, path=config.path, line=line, key=config.origin_of(dotted))


def _path_setting(config: "LoadedConfig", dotted: str, value: Any) -> str:
    """A file or folder setting: ``~`` expanded, relative to the config file's folder."""
    import os

    if not isinstance(value, str) or not value.strip():
        raise _located(config, dotted, f"must be a path, got {value!r}")
    path = os.path.expanduser(value)
    if not os.path.isabs(path) and config.path is not None:
        path = os.path.join(os.path.dirname(os.path.abspath(config.path)), path)
    return path
