"""The channels kstalerts can deliver to, one module each.

Names are loaded on first use (PEP 562), so ``import kstalerts.channels``
does not pull in ``ssl``, ``http.client`` or ``smtplib``: a script pays
only for the channels it uses. :data:`CHANNEL_TYPES` maps the ``type`` of a
config entry to the class that builds it.

>>> from kstalerts.channels import CallbackChannel
>>> CallbackChannel(print).name
'callback'
"""

import importlib
import sys
from typing import TYPE_CHECKING, Any, Dict, Tuple, Type

if TYPE_CHECKING:
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
    "CHANNEL_TYPES",
    "channel_class",
)

# public name -> (module, class)
_LAZY: Dict[str, Tuple[str, str]] = {
    "AlertChannel": ("base", "AlertChannel"),
    "CallbackChannel": ("callback", "CallbackChannel"),
    "ConsoleChannel": ("callback", "ConsoleChannel"),
    "SlackChannel": ("slack", "SlackChannel"),
    "WebhookChannel": ("webhook", "WebhookChannel"),
    "EmailChannel": ("email", "EmailChannel"),
    "AlertmanagerChannel": ("alertmanager", "AlertmanagerChannel"),
    "PagerDutyChannel": ("pagerduty", "PagerDutyChannel"),
    "TeamsChannel": ("teams", "TeamsChannel"),
    "DiscordChannel": ("discord", "DiscordChannel"),
    "SyslogChannel": ("syslog", "SyslogChannel"),
    "JournaldChannel": ("journald", "JournaldChannel"),
    "CommandChannel": ("command", "CommandChannel"),
    "NtfyChannel": ("ntfy", "NtfyChannel"),
    "MatrixChannel": ("matrix", "MatrixChannel"),
}

#: config ``type:`` -> public class name
CHANNEL_TYPES: Dict[str, str] = {
    "console": "ConsoleChannel",
    "slack": "SlackChannel",
    "webhook": "WebhookChannel",
    "email": "EmailChannel",
    "alertmanager": "AlertmanagerChannel",
    "pagerduty": "PagerDutyChannel",
    "teams": "TeamsChannel",
    "discord": "DiscordChannel",
    "syslog": "SyslogChannel",
    "journald": "JournaldChannel",
    "exec": "CommandChannel",
    "ntfy": "NtfyChannel",
    "matrix": "MatrixChannel",
}


def channel_class(type_name: str) -> Type["AlertChannel"]:
    """The class for a config ``type:``; ``KeyError`` when unknown."""
    cls: Type[AlertChannel] = __getattr__(CHANNEL_TYPES[type_name])
    return cls


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = importlib.import_module(f".{module_name}", __name__)
    value = getattr(module, attr)
    globals()[name] = value
    return value


if sys.version_info < (3, 7):  # module __getattr__ (PEP 562) is 3.7+
    from .._compat36 import module_getattr

    module_getattr(__name__, __getattr__)
