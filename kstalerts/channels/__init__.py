"""The channels kstalerts can deliver to, one module each, and the registry of types.

Names are loaded on first use (PEP 562), so ``import kstalerts.channels``
does not pull in ``ssl``, ``http.client`` or ``smtplib``: a script pays
only for the channels it uses. :data:`CHANNEL_TYPES` maps the ``type`` of a
config entry to the name of the class that builds it;
:func:`register_channel` adds a type (a user's own channel class) and
:func:`channel_class` gives the class of a type.

>>> from kstalerts.channels import CallbackChannel
>>> CallbackChannel(print).name
'callback'
"""

from .._lazy import TYPE_CHECKING, lazy
from .._text import compiled
from .._typing import Any, Dict, Type, Union

if TYPE_CHECKING:
    from .._secret import Secret
    from ._jsonhttp import HTTPChannel
    from ._options import Option
    from .alertmanager import AlertmanagerChannel
    from .base import AlertChannel
    from .callback import CallbackChannel, ConsoleChannel
    from .command import CommandChannel
    from .discord import DiscordChannel
    from .email import EmailChannel
    from .journald import JournaldChannel
    from .matrix import MatrixChannel
    from .ntfy import NtfyChannel
    from .pagerduty import PagerDutyChannel
    from .slack import SlackChannel
    from .syslog import SyslogChannel
    from .teams import TeamsChannel
    from .webhook import WebhookChannel

__all__ = (
    "AlertChannel",
    "AlertmanagerChannel",
    "CallbackChannel",
    "CommandChannel",
    "ConsoleChannel",
    "DiscordChannel",
    "EmailChannel",
    "JournaldChannel",
    "MatrixChannel",
    "NtfyChannel",
    "PagerDutyChannel",
    "SlackChannel",
    "SyslogChannel",
    "TeamsChannel",
    "WebhookChannel",
    "HTTPChannel",
    "Option",
    "Secret",
    "CHANNEL_TYPES",
    "channel_class",
    "register_channel",
)

#: The built-in types: config ``type:`` -> ``"module:Class"`` (as register_channel
#: takes it; the module relative to this package), loaded on first use.
#: A new built-in channel is a module and one line here.
_BUILTIN: Dict[str, str] = {
    "console": ".callback:ConsoleChannel",
    "slack": ".slack:SlackChannel",
    "webhook": ".webhook:WebhookChannel",
    "email": ".email:EmailChannel",
    "alertmanager": ".alertmanager:AlertmanagerChannel",
    "pagerduty": ".pagerduty:PagerDutyChannel",
    "teams": ".teams:TeamsChannel",
    "discord": ".discord:DiscordChannel",
    "syslog": ".syslog:SyslogChannel",
    "journald": ".journald:JournaldChannel",
    "exec": ".command:CommandChannel",
    "ntfy": ".ntfy:NtfyChannel",
    "matrix": ".matrix:MatrixChannel",
}

__getattr__ = lazy(
    __name__,
    {
        "AlertChannel": ".base",
        "CallbackChannel": ".callback",
        "HTTPChannel": "._jsonhttp",
        "Option": "._options",
        "Secret": ".._secret",
        **{cls: (module, cls) for module, _, cls in (spot.partition(":") for spot in _BUILTIN.values())},
    },
)

#: config ``type:`` -> the name of its channel class (built-in and registered).
CHANNEL_TYPES: Dict[str, str] = {kind: spot.partition(":")[2] for kind, spot in _BUILTIN.items()}

# type -> the class, or "module:Class" where to load it from (built-in, or registered so)
_types: Dict[str, Union[Type["AlertChannel"], str]] = dict(_BUILTIN)
_TYPE_NAME = r"[a-z][a-z0-9_-]{0,39}\Z"  # compiled on first use


def channel_class(type_name: str) -> Type["AlertChannel"]:
    """The class for a config ``type:``; ``KeyError`` when unknown, ``ImportError`` when not loadable."""
    where = _types[type_name]
    if not isinstance(where, str):
        return where
    module_name, _, attr = where.partition(":")
    if module_name.startswith("."):  # a built-in: one of this package's lazy names
        cls: Type[AlertChannel] = globals()[attr] if attr in globals() else __getattr__(attr)
        return cls
    import importlib  # a registered "package.module:Class" (not loaded for a built-in type)

    cls = getattr(importlib.import_module(module_name), attr)
    _check_class(cls)
    _types[type_name] = cls
    return cls


def register_channel(type_name: str, cls: Union[Type["AlertChannel"], str]) -> None:
    """Make ``cls`` buildable from config as ``type: type_name``.

    ``cls`` is an :class:`AlertChannel` subclass that describes its config
    ``options`` (or has its own ``from_config``), or ``"package.module:Class"``
    to import on first use. A type name is lower case (``[a-z][a-z0-9_-]*``,
    at most 40 characters); registering a taken name again with another
    class is an :class:`~kstalerts.AlertConfigurationError`, and registering
    the same class again does nothing.
    """
    from ..exceptions import AlertConfigurationError

    if not isinstance(type_name, str) or not compiled(_TYPE_NAME).match(type_name):
        raise AlertConfigurationError(
            f"a channel type name is lower case letters, digits, '_' and '-' (at most 40), got {type_name!r}"
        )
    where: Union[Type[AlertChannel], str]
    if isinstance(cls, str):
        module_name, _, attr = cls.partition(":")
        if not module_name or not attr.isidentifier() or module_name.startswith("."):
            raise AlertConfigurationError(f"register_channel: expected 'package.module:Class', got {cls!r}")
        where, name = cls, attr
    else:
        _check_class(cls)
        where, name = cls, cls.__name__
    known = _types.get(type_name)
    if known is not None and known != where:
        raise AlertConfigurationError(
            f"channel type {type_name!r} is already registered ({CHANNEL_TYPES[type_name]});"
            " choose another name"
        )
    _types[type_name] = where
    CHANNEL_TYPES[type_name] = name


def _check_class(cls: Any) -> None:
    from ..exceptions import AlertConfigurationError
    from .base import AlertChannel

    if not isinstance(cls, type) or not issubclass(cls, AlertChannel):
        raise AlertConfigurationError(f"register_channel: {cls!r} is not an AlertChannel subclass")
    if cls.options is None and cls.from_config.__func__ is AlertChannel.from_config.__func__:  # type: ignore[attr-defined]
        raise AlertConfigurationError(
            f"register_channel: {cls.__name__} cannot be built from config: describe its `options`"
            " (a tuple of kstalerts.channels.Option) or give it its own from_config"
        )
