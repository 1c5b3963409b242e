"""kstalerts: send one alert to Slack, email and other channels at once.

Stdlib-only. Channels are filtered by level, throttled by a token bucket and
retried per policy; hard limits bound every setting. Channel classes live in
:mod:`kstalerts.channels` and load on first use, so importing this package
stays cheap.

>>> from kstalerts import AlertManager, AlertMessage, AlertLevel
>>> AlertMessage("Backup failed", level=AlertLevel.CRITICAL).level > AlertLevel.WARNING
True
"""

import sys
from typing import TYPE_CHECKING, Any

from . import _settings
from . import manager as _manager
from ._version import __version__
from .exceptions import (
    AlertConfigurationError,
    AlertDeliveryError,
    AlertError,
    AlertManagerClosedError,
    AlertThrottledError,
    NoChannelsWarning,
)
from .manager import AlertManager, AlertStats
from .models import AlertLevel, AlertMessage, AlertResult
from .outcome import Delivery, Outcome
from .pipeline.notification import Notification
from .retry import RetryPolicy
from .throttle import AlertThrottle

if TYPE_CHECKING:
    from .guard import alert_on_failure
    from .jobs import JobResult, run_job
    from .logging import AlertHandler

__all__ = (
    "__version__",
    "AlertManager",
    "AlertStats",
    "AlertLevel",
    "AlertMessage",
    "AlertResult",
    "Notification",
    "Outcome",
    "Delivery",
    "AlertThrottle",
    "RetryPolicy",
    "AlertError",
    "AlertConfigurationError",
    "AlertManagerClosedError",
    "AlertDeliveryError",
    "AlertThrottledError",
    "AlertHandler",
    "alert_on_failure",
    "run_job",
    "JobResult",
    "NoChannelsWarning",
)



# The config layer plugs in from above: AlertManager.from_config, and the
# discovery of kstlib.conf.yml the first time a constructor needs a default.
# Two small hooks stand in for it until one of them runs, so that importing
# the package imports no config module (and no parser, no discovery).
def _config_layer() -> Any:
    """Import the config layer and plug it in (its own hooks replace these)."""
    from .config import wiring

    wiring.connect()
    return wiring


def _first_default() -> None:
    _config_layer()
    from .config.defaults import discover_defaults

    discover_defaults()


def _from_config(cls: Any, *args: Any, **kwargs: Any) -> Any:
    return _config_layer().manager_from_config(cls, *args, **kwargs)


_settings.set_first_use(_first_default)
_manager._connect_config(_from_config)

# Loaded on first use (PEP 562): both need the stdlib logging machinery,
# which a script that only sends alerts should not pay for at import.
_LAZY = {"AlertHandler": "logging", "alert_on_failure": "guard", "run_job": "jobs", "JobResult": "jobs"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


if sys.version_info < (3, 7):  # module __getattr__ (PEP 562) is 3.7+
    from ._compat36 import module_getattr

    module_getattr(__name__, __getattr__)
