"""kstalerts: send one alert to Slack, email and other channels at once.

Stdlib-only. Channels are filtered by level, throttled by a token bucket and
retried per policy; hard limits bound every setting. Channel classes live in
:mod:`kstalerts.channels` and load on first use, so importing this package
stays cheap.

>>> from kstalerts import AlertManager, AlertMessage, AlertLevel
>>> AlertMessage("Backup failed", level=AlertLevel.CRITICAL).level > AlertLevel.WARNING
True
"""

from typing import TYPE_CHECKING, Any

from . import _settings
from . import manager as _manager
from ._lazy import lazy as _lazy
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
    from .dedup import Deduplicator
    from .guard import alert_on_failure
    from .jobs import JobResult, run_job
    from .logging import AlertHandler
    from .spool import Spool

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
    "Spool",
    "Deduplicator",
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

# Loaded on first use (PEP 562): they need the stdlib logging machinery or
# file locking, which a script that only sends alerts should not pay for.
__getattr__ = _lazy(
    __name__,
    {
        "AlertHandler": ".logging",
        "alert_on_failure": ".guard",
        "run_job": ".jobs",
        "JobResult": ".jobs",
        "Spool": ".spool",
        "Deduplicator": ".dedup",
    },
)
