"""kstalerts: send one alert to Slack, email and other channels at once.

Stdlib-only. Channels are filtered by level, throttled by a token bucket and
retried per policy; hard limits bound every setting. Channel classes live in
:mod:`kstalerts.channels` and load on first use, so importing this package
stays cheap.

>>> from kstalerts import AlertManager, AlertMessage, AlertLevel
>>> AlertMessage("Backup failed", level=AlertLevel.CRITICAL).level > AlertLevel.WARNING
True
"""

from . import _settings
from ._lazy import lazy as _lazy
from ._version import __version__

TYPE_CHECKING = False  # typing's flag without importing typing (mypy reads this name the same way)

if TYPE_CHECKING:
    from typing import Any, List

    from .dedup import Deduplicator
    from .exceptions import (
        AlertConfigurationError,
        AlertDeliveryError,
        AlertError,
        AlertManagerClosedError,
        AlertThrottledError,
        NoChannelsWarning,
    )
    from .guard import alert_on_failure
    from .jobs.run import JobResult, run_job
    from .logging import AlertHandler
    from .manager import AlertManager, AlertStats
    from .models import AlertLevel, AlertMessage, AlertResult
    from .outcome import Delivery, Outcome
    from .pipeline.notification import Notification
    from .retry import RetryPolicy
    from .spool import Spool
    from .throttle import AlertThrottle

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
# Two small hooks, kept by kstalerts._settings (which imports nothing), stand
# in for it until one of them runs, so that importing the package imports no
# config module (and no parser, no discovery). The first default needs the
# discovery alone, and no config module at all when there is no file to
# read (most cron jobs); from_config needs the whole layer.
def _first_default() -> "None":
    if _settings.nothing_to_discover():  # the built-in defaults are filled
        return
    from .config.defaults import connect, discover_defaults

    connect()  # discover_defaults replaces this hook
    discover_defaults()


def _from_config(cls: "Any", *args: "Any", **kwargs: "Any") -> "Any":
    from .config import wiring

    wiring.connect()  # manager_from_config replaces this hook
    return wiring.manager_from_config(cls, *args, **kwargs)


_settings.set_first_use(_first_default)
_settings.set_config_builder(_from_config)

# Every public name loads on first use (PEP 562): ``import kstalerts`` runs
# this module, _version, _settings and _lazy, nothing else; ``from kstalerts
# import AlertManager`` imports the manager and what it needs, and a script
# that only sends alerts never pays for logging, file locks or the config.
__getattr__ = _lazy(
    __name__,
    {
        "AlertManager": ".manager",
        "AlertStats": ".manager",
        "AlertLevel": ".models",
        "AlertMessage": ".models",
        "AlertResult": ".models",
        "Notification": ".pipeline.notification",
        "Outcome": ".outcome",
        "Delivery": ".outcome",
        "AlertThrottle": ".throttle",
        "RetryPolicy": ".retry",
        "Spool": ".spool",
        "Deduplicator": ".dedup",
        "AlertError": ".exceptions",
        "AlertConfigurationError": ".exceptions",
        "AlertManagerClosedError": ".exceptions",
        "AlertDeliveryError": ".exceptions",
        "AlertThrottledError": ".exceptions",
        "AlertHandler": ".logging",
        "alert_on_failure": ".guard",
        "run_job": ".jobs.run",
        "JobResult": ".jobs.run",
        "NoChannelsWarning": ".exceptions",
    },
)


def __dir__() -> "List[str]":
    return sorted(set(globals()) | set(__all__))
