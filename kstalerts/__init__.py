"""kstalerts: send one alert to Slack, email and other channels at once.

Stdlib-only. Channels are filtered by level, throttled by a token bucket and
retried per policy; hard limits bound every setting. Channel classes live in
:mod:`kstalerts.channels` and load on first use, so importing this package
stays cheap.

>>> from kstalerts import AlertManager, AlertMessage, AlertLevel
>>> AlertMessage("Backup failed", level=AlertLevel.CRITICAL).level > AlertLevel.WARNING
True
"""

from __future__ import annotations

from .exceptions import (
    AlertConfigurationError,
    AlertDeliveryError,
    AlertError,
    AlertThrottledError,
)
from .guard import alert_on_failure
from .logging import AlertHandler
from .manager import AlertManager, AlertStats
from .models import AlertLevel, AlertMessage, AlertResult
from .retry import RetryPolicy
from .throttle import AlertThrottle

__version__ = "0.1.0"

__all__ = (
    "__version__",
    "AlertManager",
    "AlertStats",
    "AlertLevel",
    "AlertMessage",
    "AlertResult",
    "AlertThrottle",
    "RetryPolicy",
    "AlertError",
    "AlertConfigurationError",
    "AlertDeliveryError",
    "AlertThrottledError",
    "AlertHandler",
    "alert_on_failure",
)
