"""AlertManager: fan one alert out to many channels, filtered and throttled.

The manager decides *which* channels get an alert (each channel's
``min_level``, an optional target), *whether* it may go now (each channel's
throttle), and delivers to all of them at once on a bounded, reusable thread
pool, so that N slow channels cost about one channel's latency. It counts
what happened in exact, lock-protected stats.

Rules: :meth:`AlertManager.send` never raises for a delivery problem. A
channel that fails returns a failed result; a channel with a bug (any
exception at all) becomes a failed result too, logged with its traceback,
and the other channels are still delivered. Heavy modules
(``concurrent.futures``, ``asyncio``, ``logging``) are imported on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from .exceptions import AlertConfigurationError
from .limits import MAX_ALERTS_PER_SEND, MAX_WORKERS
from .models import AlertLevel, AlertMessage, AlertResult
from .throttle import AlertThrottle

if TYPE_CHECKING:
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from .channels.base import AlertChannel

__all__ = ("AlertManager", "AlertStats", "ChannelEntry")


Alerts = Union[AlertMessage, Sequence[AlertMessage]]


@dataclass(frozen=True)
class ChannelEntry:
    """A channel as registered: its key, alias, level floor and throttle."""

    key: str
    channel: AlertChannel
    min_level: AlertLevel = AlertLevel.INFO
    throttle: Optional[AlertThrottle] = None
    alias: Optional[str] = None


@dataclass(frozen=True)
class AlertStats:
    """A snapshot of the manager's counters.

    ``by_channel`` maps a channel key to
    ``{"sent": n, "failed": n, "throttled": n, "suppressed": n}``.
    """

    total_sent: int = 0
    total_failed: int = 0
    total_throttled: int = 0
    total_suppressed: int = 0
    by_channel: Dict[str, Dict[str, int]] = field(default_factory=dict)


class AlertManager:
    """Deliver alerts to every registered channel whose level they reach.

    >>> from kstalerts.channels import CallbackChannel
    >>> seen = []
    >>> with AlertManager() as m:
    ...     _ = m.add_channel(CallbackChannel(seen.append, name="ops"), min_level=AlertLevel.WARNING)
    ...     [r.success for r in m.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))]
    [True]
    """

    def __init__(self, *, max_workers: int = 8) -> None:
        self._entries: Dict[str, ChannelEntry] = {}
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counts: Dict[str, Dict[str, int]] = {}
        self._max_workers = min(max(1, int(max_workers)), MAX_WORKERS)
        self._executor: Optional[ThreadPoolExecutor] = None
        self._closed = False

    # -- registration -----------------------------------------------------
    def add_channel(
        self,
        channel: AlertChannel,
        *,
        min_level: Union[AlertLevel, str] = AlertLevel.INFO,
        throttle: Optional[AlertThrottle] = None,
        key: Optional[str] = None,
        alias: Optional[str] = None,
    ) -> AlertManager:
        """Register ``channel``; returns the manager so calls can chain.

        ``key`` (default: the channel's name) must be unique; ``alias`` is a
        second name ``send(channel=...)`` accepts.
        """
        entry_key = key or channel.name
        entry = ChannelEntry(entry_key, channel, AlertLevel.parse(min_level), throttle, alias)
        with self._lock:
            for name in (entry_key, alias):
                if name is not None and self._find(name) is not None:
                    raise AlertConfigurationError(
                        f"a channel named {name!r} is already registered; pass key= to tell them apart"
                    )
            self._entries[entry_key] = entry
        with self._stats_lock:
            self._counts.setdefault(entry_key, _zero())
        return self

    @property
    def channels(self) -> Tuple[ChannelEntry, ...]:
        """The registered channels, in the order they were added."""
        with self._lock:
            return tuple(self._entries.values())

    def _find(self, target: str) -> Optional[ChannelEntry]:
        if target in self._entries:
            return self._entries[target]
        for entry in self._entries.values():
            if target == entry.alias:
                return entry
        for entry in self._entries.values():
            if target == entry.channel.name:
                return entry
        return None

    def _targets(self, channel: Optional[str]) -> List[ChannelEntry]:
        with self._lock:
            if channel is None:
                return list(self._entries.values())
            entry = self._find(channel)
            if entry is None:
                known = ", ".join(sorted(self._entries)) or "(none)"
                raise AlertConfigurationError(f"unknown channel {channel!r}; known channels: {known}")
            return [entry]

    # -- sending ---------------------------------------------------------
    def send(self, alerts: Alerts, *, channel: Optional[str] = None) -> List[AlertResult]:
        """Deliver one alert or a list of them; one result per (alert, channel).

        Channels whose ``min_level`` an alert does not reach are skipped and
        give no result. Deliveries run concurrently; results come back in
        alert order, then channel registration order.
        """
        batch = _as_batch(alerts)
        jobs = [
            (alert, entry)
            for alert in batch
            for entry in self._targets(channel)
            if alert.level >= entry.min_level
        ]
        if not jobs:
            return []
        if len(jobs) == 1:
            return [self._deliver(*jobs[0])]
        executor = self._pool()
        futures = [executor.submit(self._deliver, alert, entry) for alert, entry in jobs]
        return [future.result() for future in futures]

    async def asend(self, alerts: Alerts, *, channel: Optional[str] = None) -> List[AlertResult]:
        """:meth:`send`, awaitable; the event loop keeps running meanwhile."""
        import asyncio
        import functools

        loop = asyncio.get_running_loop()
        # The default executor, not ours: send() itself waits on our pool,
        # and a pool that waits on itself can deadlock when full.
        return await loop.run_in_executor(None, functools.partial(self.send, alerts, channel=channel))

    def _deliver(self, alert: AlertMessage, entry: ChannelEntry) -> AlertResult:
        if entry.throttle is not None and not entry.throttle.try_acquire():
            wait = entry.throttle.time_until_available
            result = AlertResult(
                entry.key,
                False,
                error=f"channel limit reached, next slot in {wait:.1f}s",
                throttled=True,
                retryable=True,
                alert=alert,
            )
        else:
            try:
                result = entry.channel.send(alert)
            except Exception as exc:  # a bug in a channel must not stop the others
                _log().error(
                    "channel %r raised %s while sending; reported as failed",
                    entry.key,
                    type(exc).__name__,
                    exc_info=True,
                )
                result = AlertResult(
                    entry.key,
                    False,
                    error=f"internal error in channel: {type(exc).__name__}",
                    attempts=1,
                    alert=alert,
                )
            if result.channel != entry.key or result.alert is not alert:
                import dataclasses

                result = dataclasses.replace(result, channel=entry.key, alert=alert)
        self._count(entry.key, result)
        return result

    def _count(self, key: str, result: AlertResult) -> None:
        if result.success:
            bucket = "sent"
        elif result.suppressed:
            bucket = "suppressed"
        elif result.throttled:
            bucket = "throttled"
        else:
            bucket = "failed"
        with self._stats_lock:
            self._counts.setdefault(key, _zero())[bucket] += 1

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise AlertConfigurationError("this AlertManager is closed")
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="kstalerts"
                )
            return self._executor

    # -- stats -------------------------------------------------------------
    @property
    def stats(self) -> AlertStats:
        """An exact snapshot of the counters, consistent across channels."""
        with self._stats_lock:
            by_channel = {key: dict(counts) for key, counts in self._counts.items()}
        return AlertStats(
            total_sent=sum(c["sent"] for c in by_channel.values()),
            total_failed=sum(c["failed"] for c in by_channel.values()),
            total_throttled=sum(c["throttled"] for c in by_channel.values()),
            total_suppressed=sum(c["suppressed"] for c in by_channel.values()),
            by_channel=by_channel,
        )

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._stats_lock:
            for key in self._counts:
                self._counts[key] = _zero()

    # -- configuration -----------------------------------------------------
    @classmethod
    def from_config(
        cls,
        path_or_mapping: Union[str, Mapping[str, Any], None] = None,
        *,
        preset: Optional[str] = None,
        credential_resolver: Any = None,
    ) -> AlertManager:
        """Build a manager, its channels and throttles from a config file or
        mapping; ``None`` discovers the file (see the configuration reference).

        Precedence: ``preset`` (else ``KSTALERTS_PRESET``) over the file over
        the built-in defaults, then the hard limits.
        """
        from .config.wiring import build_manager

        manager = cls()
        try:
            build_manager(manager, path_or_mapping, preset=preset, credential_resolver=credential_resolver)
        except BaseException:
            manager.close()
            raise
        return manager

    # -- lifetime ----------------------------------------------------------
    def close(self) -> None:
        """Stop the worker threads and close every channel's connections."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            entries = list(self._entries.values())
        if executor is not None:
            executor.shutdown(wait=True)
        for entry in entries:
            try:
                entry.channel.close()
            except Exception:  # closing must release the rest regardless
                _log().warning("channel %r failed to close", entry.key, exc_info=True)

    def __enter__(self) -> AlertManager:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlertManager(channels={list(self._entries)!r})"


def _log() -> logging.Logger:
    # logging (with traceback, string, ...) costs milliseconds to import;
    # it is loaded when there is first something to log.
    import logging

    return logging.getLogger("kstalerts.manager")


def _zero() -> Dict[str, int]:
    return {"sent": 0, "failed": 0, "throttled": 0, "suppressed": 0}


def _as_batch(alerts: Alerts) -> List[AlertMessage]:
    if isinstance(alerts, AlertMessage):
        return [alerts]
    if isinstance(alerts, (str, bytes)) or not isinstance(alerts, Iterable):
        raise AlertConfigurationError(
            f"send() takes an AlertMessage or a list of them, not {type(alerts).__name__}"
        )
    batch = list(alerts)
    if len(batch) > MAX_ALERTS_PER_SEND:
        raise AlertConfigurationError(
            f"{len(batch)} alerts in one send(); the limit is {MAX_ALERTS_PER_SEND}"
        )
    for item in batch:
        if not isinstance(item, AlertMessage):
            raise AlertConfigurationError(f"send() takes AlertMessage values, not {type(item).__name__}")
    return batch
