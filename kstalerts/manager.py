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

With a :class:`~kstalerts.dedup.Deduplicator` (``dedup=``), a delivery first
claims its (channel, dedup key); a duplicate gives a result with
``suppressed=True`` and ``success=False`` (nothing was sent), counted under
``suppressed`` and never spooled. With a :class:`~kstalerts.spool.Spool`
(``spool=``), a delivery whose final failure is retryable, or that the
channel's throttle refused when the channel was added with
``spool_throttled=True``, is written to the spool and its result says
``spooled=True``; :meth:`AlertManager.flush_spool` sends the spool again.

What a channel's throttle or dedup held back is summarised in the channel's
digest (:mod:`kstalerts.digest`), which its next delivery carries;
:meth:`AlertManager.flush_digests` (first thing in :meth:`~AlertManager.close`)
sends what is left. CRITICAL alerts draw from their own throttle bucket.

With an alert lifecycle (``lifecycle=``, :mod:`kstalerts.lifecycle`,
docs/lifecycle.md), a firing identity already notified is held until its
repeat interval passes, silenced or inhibited alerts are held too (their
own outcomes), and :meth:`AlertManager.resolve` tells the channels that
heard an alert fire that it is resolved. Off, none of it is imported.

Lifecycle of the manager itself (see docs/guarantees.md):

- Closed: :meth:`AlertManager.send` on a closed manager still returns, one
  failed result per channel saying so, spooled when a spool is configured.
  A send that began before :meth:`AlertManager.close` completes; one whose
  jobs the closing pool refuses delivers them inline.
- Exit: during interpreter shutdown (``atexit`` handlers,
  ``logging.shutdown``, finalizers) a thread pool takes no new work, so
  deliveries run inline, one channel after the other, each under its own
  deadline and retry budget.
- Fork: a forked child gets new locks and no pool (the parent's worker
  threads do not exist in it); its first fan-out starts new threads.
- Re-entry: a send made by a thread that is already inside a send (a
  signal handler interrupting it, a channel or log handler calling back)
  delivers inline and never touches the pool, whose ``submit`` holds plain
  locks. The locks the send path takes are all ``RLock``s held around a
  few dict/list operations (the manager's registry and stats, each
  channel's connection pool, throttle and dedup buckets), so a signal
  handler that interrupts the holder runs its own critical section to the
  end first. State files and the spool's writer lock are ``flock``s, which
  a thread cannot take twice: a re-entrant use falls back to memory
  (state files) or writes under the lock its thread already holds (spool).
"""

import _thread
import os
import types

from . import _lifecycle, _reentry, _settings
from ._lazy import TYPE_CHECKING
from ._log import logger
from ._typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union
from .exceptions import AlertConfigurationError, AlertManagerClosedError
from .limits import MAX_ALERTS_PER_SEND, MAX_WORKERS
from .models import AlertLevel, AlertMessage, AlertResult
from .outcome import Outcome
from .pipeline.build import Routes, routes
from .pipeline.delivery import CLOSED_ERROR  # noqa: F401 (kstalerts.manager.CLOSED_ERROR, as before)
from .pipeline.notification import Notification
from .pipeline.stage import held

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from .channels.base import AlertChannel
    from .dedup import Deduplicator
    from .digest import DigestBook
    from .lifecycle import Lifecycle, Silence
    from .spool import FlushReport, Spool, SpoolEntry
    from .throttle import AlertThrottle  # a channel's throttle is built by its caller

__all__ = ()

_log = logger("kstalerts.manager")


Alerts = Union[AlertMessage, Sequence[AlertMessage]]
Job = Tuple[Notification, Routes]


class ChannelEntry(NamedTuple):
    """A channel as registered: its key, alias, level floor and throttle.

    ``spool_throttled`` asks for alerts its throttle refuses to be spooled
    (when the manager has a spool) rather than only reported.
    """

    key: str
    channel: "AlertChannel"
    min_level: AlertLevel = AlertLevel.INFO
    throttle: "Optional[AlertThrottle]" = None
    alias: Optional[str] = None
    spool_throttled: bool = False
    digest: bool = True
    send_resolved: bool = True


class AlertStats(NamedTuple):
    """A snapshot of the manager's counters.

    ``by_channel`` maps a channel key to
    ``{"sent": n, "failed": n, "throttled": n, "suppressed": n, "digests": n,
    "held": n, "silenced": n, "inhibited": n}``;
    ``digests`` counts the digests of held-back alerts delivered (carried by
    an alert or flushed on their own), which are not counted in ``sent``;
    ``held``, ``silenced`` and ``inhibited`` are the alert lifecycle's.
    """

    total_sent: int = 0
    total_failed: int = 0
    total_throttled: int = 0
    total_suppressed: int = 0
    total_digests: int = 0
    by_channel: Mapping[str, Dict[str, int]] = types.MappingProxyType({})
    total_held: int = 0
    total_silenced: int = 0
    total_inhibited: int = 0


class AlertManager:
    """Deliver alerts to every registered channel whose level they reach.

    ``max_workers`` bounds the fan-out threads (at most ``MAX_WORKERS``, 32);
    they are started only as concurrent deliveries need them, so the default
    lets up to 32 slow channels wait in parallel at no cost until used.

    >>> from kstalerts.channels import CallbackChannel
    >>> seen = []
    >>> with AlertManager() as m:
    ...     _ = m.add_channel(CallbackChannel(seen.append, name="ops"), min_level=AlertLevel.WARNING)
    ...     [r.success for r in m.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))]
    [True]
    """

    def __init__(
        self,
        *,
        max_workers: int = MAX_WORKERS,
        spool: Union["Spool", str, "os.PathLike[str]", Mapping[str, Any], None] = None,
        dedup: Union["Deduplicator", float, Mapping[str, Any], None] = None,
        lifecycle: Union["Lifecycle", Mapping[str, Any], None] = None,
    ) -> None:
        self._life = _as_lifecycle(lifecycle)
        self._entries: Dict[str, ChannelEntry] = {}
        self._routes: Dict[str, Routes] = {}  # by key: each channel's pipelines
        self._former_names: Dict[str, str] = {}  # a channel's own name before add_channel renamed it
        self._lock = _thread.RLock()
        self._stats_lock = _thread.RLock()
        self._pid = os.getpid()
        self._counts: Dict[str, Dict[str, int]] = {}
        self._max_workers = min(max(1, int(max_workers)), MAX_WORKERS)
        self._executor: Optional[ThreadPoolExecutor] = None
        self._closed = False
        self._spool = _as_spool(spool)
        self._dedup = _as_dedup(dedup)
        self._digest_book: Optional[DigestBook] = None  # made when a digest is first needed
        _lifecycle.on_fork(self, AlertManager._after_fork)

    def _after_fork(self) -> None:
        """In a forked child: new locks, and no pool (its threads stayed in the parent)."""
        self._lock = _thread.RLock()
        self._stats_lock = _thread.RLock()
        self._executor = None  # forgotten, not shut down: it is the parent's
        self._pid = os.getpid()

    # -- registration -----------------------------------------------------
    def add_channel(
        self,
        channel: "AlertChannel",
        *,
        min_level: Union[AlertLevel, str] = AlertLevel.INFO,
        throttle: "Optional[AlertThrottle]" = None,
        key: Optional[str] = None,
        alias: Optional[str] = None,
        spool_throttled: bool = False,
        digest: bool = True,
        send_resolved: bool = True,
    ) -> "AlertManager":
        """Register ``channel``; returns the manager so calls can chain.

        ``key`` (default: the channel's name) must be unique; ``alias`` is a
        second name ``send(channel=...)`` accepts. ``spool_throttled=True``
        spools the alerts this channel's throttle refuses (with a spool).
        The key is what spool entries and dedup state are filed under, so
        keep it stable across runs. ``digest=False`` turns off the digest of
        held-back alerts for this channel (see :meth:`flush_digests`).
        ``send_resolved=False`` keeps resolved messages from it (see :meth:`resolve`).
        """
        _refuse_async(channel)
        entry_key = key or channel.name
        former = channel.name
        if former != entry_key:
            _rename(channel, entry_key)  # one name: the key; send(channel=former) still finds it
        entry = ChannelEntry(
            entry_key,
            channel,
            AlertLevel.parse(min_level),
            throttle,
            alias,
            bool(spool_throttled),
            bool(digest),
            bool(send_resolved),
        )
        with self._lock:
            if self._closed:
                raise AlertManagerClosedError("this AlertManager is closed; channels cannot be added")
            for name in (entry_key, alias):
                if name is not None and self._find(name) is not None:
                    raise AlertConfigurationError(
                        f"a channel named {name!r} is already registered; pass key= to tell them apart"
                    )
            self._entries[entry_key] = entry
            self._routes[entry_key] = self._build(entry)
            self._former_names.setdefault(former, entry_key)
        with self._stats_lock:
            self._counts.setdefault(entry_key, _zero())
        return self

    @property
    def channel_count(self) -> int:
        """How many channels are registered (kstlib's name)."""
        with self._lock:
            return len(self._entries)

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
        return self._entries.get(self._former_names.get(target, ""))

    def _build(self, entry: ChannelEntry) -> Routes:
        return routes(
            entry,
            count=self._count,
            digests=self._book,
            spool=self._spool,
            dedup=self._dedup,
            lifecycle=self._life,
        )

    def _rebuild(self) -> None:
        """New pipelines for every channel, after the spool or dedup changed."""
        with self._lock:
            for key, entry in self._entries.items():
                self._routes[key] = self._build(entry)

    def _jobs(self, batch: List[AlertMessage], targets: List[ChannelEntry]) -> List[Job]:
        routes = self._routes  # read without the lock: a dict lookup is atomic, a rebuild replaces values
        chosen = [routes[entry.key] for entry in targets]
        jobs: List[Job] = []
        for alert in batch:
            notification = Notification(alert)
            for route in chosen:
                if route.send.admits(notification):
                    jobs.append((notification, route))
        return jobs

    def targets(self, channel: Optional[str] = None) -> List[ChannelEntry]:
        """The channels a send with ``channel=`` goes to, before level filters: the one it
        names (key, alias or former name), or all; :class:`AlertConfigurationError` when
        no channel has that name."""
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

        On a closed manager every (alert, channel) gets a failed result
        saying so (spooled, with a spool); delivery problems never raise.
        """
        if self._pid != os.getpid():  # a fork the at-fork hook did not see
            self._after_fork()
        batch = _as_batch(alerts)
        if channel is None and not self._entries:
            _warn_no_channels()
        jobs = self._jobs(batch, self.targets(channel))
        if not jobs:
            return []
        if self._closed:
            _warn_closed()
            return [route.closed.run(n) for n, route in jobs]
        # Deeper than 0: a signal handler or a callback re-entered; the pool must not be used,
        # and further signals wait for the outermost send to end (a send nests at most once).
        with _reentry.inside() as depth:
            if depth:
                _reentry.hold_signals()
            if len(jobs) == 1 or depth or _lifecycle.exiting():
                return [route.send.run(n) for n, route in jobs]  # inline: inside this send's mark
            return self._fan_out(jobs)

    def _fan_out(self, jobs: List[Job]) -> List[AlertResult]:
        """Deliver on the pool; what the pool refuses (closed or exiting
        meanwhile) is delivered inline."""
        futures: List["Future[AlertResult]"] = []  # noqa: UP037 (vermin evaluates annotations)
        executor = self._pool()
        if executor is not None:
            for n, route in jobs:
                try:
                    futures.append(executor.submit(self._deliver_pooled, n, route))
                except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
                    break
        rest = [route.send.run(n) for n, route in jobs[len(futures) :]]  # inline: inside send's mark
        return [future.result() for future in futures] + rest

    async def asend(self, alerts: Alerts, *, channel: Optional[str] = None) -> List[AlertResult]:
        """:meth:`send`, awaitable; the event loop keeps running meanwhile."""
        import asyncio
        import functools

        loop = asyncio.get_event_loop()  # the running one (get_running_loop is 3.7+)
        # The default executor, not ours: send() itself waits on our pool,
        # and a pool that waits on itself can deadlock when full.
        return await loop.run_in_executor(None, functools.partial(self.send, alerts, channel=channel))

    @staticmethod
    def _deliver_pooled(notification: Notification, route: Routes) -> AlertResult:
        # serving: what a worker logs is not an alert (see AlertHandler); inside: a send
        # from this delivery stays inline (an inline delivery is inside its send's mark)
        with _reentry.serving(), _reentry.inside():
            return route.send.run(notification)

    def _count(self, key: str, result: AlertResult) -> None:
        stat = result.outcome.meaning.stat
        with self._stats_lock:
            counts = self._counts.get(key)
            if counts is None:  # not setdefault(key, _zero()): that builds a dict on every send
                counts = self._counts[key] = _zero()
            try:
                counts[stat] += 1
            except KeyError:  # the lifecycle's counters start at their first use
                counts[stat] = 1

    def _pool(self) -> Optional["ThreadPoolExecutor"]:
        """The fan-out pool, started on first use; None once closed."""
        with self._lock:
            if self._closed:
                return None
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="kstalerts"
                )
            return self._executor

    # -- spool and dedup -----------------------------------------------------
    @property
    def spool(self) -> Optional["Spool"]:
        """The spool failed deliveries are kept in, if any."""
        return self._spool

    @property
    def dedup(self) -> Optional["Deduplicator"]:
        """The duplicate suppression in use, if any."""
        return self._dedup

    def use_spool(
        self, spool: Union["Spool", str, "os.PathLike[str]", Mapping[str, Any], None]
    ) -> "AlertManager":
        """Set (or with ``None`` remove) the spool, as ``spool=`` does; returns the manager."""
        self._spool = _as_spool(spool)
        self._rebuild()
        return self

    def use_dedup(self, dedup: Union["Deduplicator", float, Mapping[str, Any], None]) -> "AlertManager":
        """Set (or with ``None`` remove) duplicate suppression, as ``dedup=`` does; returns the manager."""
        self._dedup = _as_dedup(dedup)
        self._rebuild()
        return self

    def flush_spool(self) -> "FlushReport":
        """Send the spooled alerts again, oldest first, through their channels.

        Each goes through its channel's dedup claim and throttle like a new
        send (a throttled one stays for the next flush); results are counted
        in :attr:`stats`. Once a channel fails with a retryable error, its
        remaining entries are left for the next flush without being tried,
        so a channel that is still down costs one attempt, not one per
        entry. Entries for a channel key this manager does not have are kept
        (see :class:`~kstalerts.spool.FlushReport`). Raises
        :class:`AlertConfigurationError` when no spool is configured.
        """
        spool = self._spool
        if spool is None:
            raise AlertConfigurationError("no spool configured: pass spool= or set alerts.spool.path")
        if self._pid != os.getpid():
            self._after_fork()
        down: Set[str] = set()
        unknown: Set[str] = set()

        def deliver(item: "SpoolEntry") -> Optional[AlertResult]:
            with self._lock:
                entry = self._entries.get(item.channel)
                route = self._routes.get(item.channel)
            if entry is None or route is None:
                if item.channel not in unknown:
                    unknown.add(item.channel)
                    _log.warning(
                        "spool %s holds alerts for channel %r, which is not configured; kept",
                        spool.path,
                        item.channel,
                    )
                return None
            if entry.key in down:
                note = "not tried: this channel already failed in this flush"
                return held(entry.key, Outcome.FAILED, note, item.alert)  # not counted: not tried
            result = route.flush.run(Notification(item.alert))
            if result.outcome.meaning.pauses_flush:
                down.add(entry.key)
            return result

        return spool.flush(deliver)

    async def aflush_spool(self) -> "FlushReport":
        """:meth:`flush_spool`, awaitable; the event loop keeps running meanwhile."""
        import asyncio

        return await asyncio.get_event_loop().run_in_executor(None, self.flush_spool)

    # -- the alert lifecycle (kstalerts.lifecycle; docs/lifecycle.md) -------------
    @property
    def lifecycle(self) -> Optional["Lifecycle"]:
        """The alert lifecycle in use (repeat, resolve, silences, inhibition), if any."""
        return self._life

    def use_lifecycle(self, lifecycle: Union["Lifecycle", Mapping[str, Any], None]) -> "AlertManager":
        """Set (or with ``None`` remove) the lifecycle, as ``lifecycle=`` does; returns the manager."""
        self._life = _as_lifecycle(lifecycle)
        self._rebuild()
        return self

    def resolve(
        self,
        target: Union[AlertMessage, str],
        *,
        labels: Optional[Mapping[str, str]] = None,
        title: Optional[str] = None,
        body: Optional[str] = None,
    ) -> List[AlertResult]:
        """Tell each channel that was notified of ``target`` firing that it is resolved.

        ``target`` is an alert, its dedup key, or its title (with ``labels``).
        One resolved message per channel notified of the firing, whatever its
        ``min_level``; none to the others, nor to a channel added with
        ``send_resolved=False``. Resolving what is not firing returns ``[]``.
        ``title``, ``body``: what the resolved message says (default: the
        firing alert's title, and since when it fired); its identity, level
        and labels stay the firing alert's.
        """
        from .pipeline.lifecycle import resolved_notification

        life = self._require_lifecycle()
        owed = life.begin_resolve(target, dict(labels) if labels is not None else None)
        if owed.alert is not None and (title is not None or body is not None):
            told = owed.alert.replace(
                title=owed.alert.title if title is None else title,
                body=owed.alert.body if body is None else body,
            )
            owed = owed._replace(alert=told)
        results: List[AlertResult] = []
        for key in owed.channels:
            with self._lock:
                entry, route = self._entries.get(key), self._routes.get(key)
            level = owed.alert.level if owed.alert is not None else AlertLevel.INFO
            if entry is None or route is None or not entry.send_resolved:
                life.delivered(owed.fingerprint, key, owed.state, level)  # nothing owed any more
                continue
            result = AlertManager._run(resolved_notification(owed), route.resolve)
            if result.outcome.meaning.ok:
                life.delivered(owed.fingerprint, key, owed.state, level)
            else:
                life.failed(owed.fingerprint, key)
            results.append(result)
        return results

    def silence(
        self,
        matchers: Union[str, Sequence[str]],
        *,
        duration: Union[float, str] = "1h",
        comment: str,
        author: str = "",
    ) -> "Silence":
        """Hold the alerts ``matchers`` select for ``duration`` (``30m``, ``2h``; at most 30 days)."""
        chosen = [matchers] if isinstance(matchers, str) else list(matchers)
        return self._require_lifecycle().silence(chosen, duration, comment=comment, author=author)

    def silences(self, *, include_expired: bool = False) -> List["Silence"]:
        """The silences in force or to come (and the expired ones kept, with ``include_expired``)."""
        return self._require_lifecycle().silences(include_expired=include_expired)

    def expire_silence(self, silence_id: str) -> bool:
        """End a silence now; False when it had already ended. An unknown id raises."""
        return self._require_lifecycle().expire_silence(silence_id)

    def heartbeat(
        self,
        name: str,
        *,
        every: Union[float, str],
        grace: Union[float, str, None] = None,
        level: Union[AlertLevel, str] = AlertLevel.CRITICAL,
    ) -> List[AlertResult]:
        """Record heartbeat ``name`` alive now; if it had been missed, resolve its alert (the results).

        ``kstalerts tick`` fires its alert when ``every + grace`` passes
        without a ping (grace: 10 % of ``every``, at least a minute).
        """
        from .lifecycle.heartbeats import Cadence, key_of

        if self._require_lifecycle().heartbeat(name, Cadence.parse(every, grace, level)):
            return self.resolve(key_of(name))
        return []

    def tick(self) -> Tuple[List[AlertResult], Tuple[str, ...]]:
        """One pass of what time asks (``kstalerts tick``): the results of what it sent, and the
        titles of alerts found stale (see docs/heartbeats.md)."""
        due = self._require_lifecycle().due()
        results: List[AlertResult] = []
        for alert in due.alerts:
            results.extend(self.send(alert))
        return results, due.stale

    def _require_lifecycle(self) -> "Lifecycle":
        if self._life is None:
            raise AlertConfigurationError(
                "the alert lifecycle is off: pass lifecycle={'state_dir': ...} to AlertManager, or set"
                " alerts.lifecycle in the config"
            )
        return self._life

    @staticmethod
    def _run(notification: Notification, pipeline: Any) -> AlertResult:
        with _reentry.inside():
            result: AlertResult = pipeline.run(notification)
            return result

    # -- digests ------------------------------------------------------------
    def flush_digests(self) -> List[AlertResult]:
        """Send each channel's pending digest of held-back alerts as one alert.

        A digest goes out even when the channel's throttle is empty, but at
        most once per channel per throttle period (a later one stays
        pending, for the next delivery to carry). One that cannot be
        delivered is spooled when there is a spool, else kept pending.
        :meth:`close` calls this first; ``kstalerts send`` and ``run`` do
        before they exit. Returns the digests' results (not counted as
        ``sent``; delivered ones count under ``digests``).
        """
        if self._closed:
            raise AlertConfigurationError("this AlertManager is closed")
        entries = list(self.channels)
        book = self._book(any(entry.throttle is not None for entry in entries))
        return [] if book is None else book.flush(entries, self._spool)

    def _book(self, create: bool = True) -> "Optional[DigestBook]":
        """The channels' pending digests; made (and :mod:`kstalerts.digest` loaded) the first
        time ``create`` asks: until something is held back, or a throttle's state file
        may hold another process's digest, there is nothing in it."""
        book = self._digest_book
        if book is None and create:
            from .digest import DigestBook

            with self._lock:
                if self._digest_book is None:
                    self._digest_book = DigestBook()
                book = self._digest_book
        return book

    # -- stats -------------------------------------------------------------
    @property
    def stats(self) -> AlertStats:
        """An exact snapshot of the counters, consistent across channels."""
        with self._stats_lock:
            by_channel = {key: dict(counts) for key, counts in self._counts.items()}
            book = self._book(create=False)
            for key, sent in (book.sent() if book is not None else {}).items():
                by_channel.setdefault(key, _zero())["digests"] = sent
            if self._life is not None:
                for counts in by_channel.values():
                    for stat in _LIFECYCLE_STATS:
                        counts.setdefault(stat, 0)
        return AlertStats(
            total_sent=sum(c["sent"] for c in by_channel.values()),
            total_failed=sum(c["failed"] for c in by_channel.values()),
            total_throttled=sum(c["throttled"] for c in by_channel.values()),
            total_suppressed=sum(c["suppressed"] for c in by_channel.values()),
            total_digests=sum(c["digests"] for c in by_channel.values()),
            by_channel=by_channel,
            total_held=sum(c.get("held", 0) for c in by_channel.values()),
            total_silenced=sum(c.get("silenced", 0) for c in by_channel.values()),
            total_inhibited=sum(c.get("inhibited", 0) for c in by_channel.values()),
        )

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._stats_lock:
            for key in self._counts:
                self._counts[key] = _zero()
            book = self._book(create=False)
            if book is not None:
                book.reset_sent()

    # -- configuration -----------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Union[str, Mapping[str, Any], None] = None,
        credential_resolver: Any = None,
        *,
        preset: Optional[str] = None,
    ) -> "AlertManager":
        """Build a manager, its channels and throttles from a config file or
        mapping; ``None`` discovers the file (see the configuration reference).
        ``config`` as a mapping is the whole document or its ``alerts`` section
        (as kstlib's ``from_config(config["alerts"], resolver)`` takes it).

        Precedence: ``preset`` (else ``KSTALERTS_PRESET``) over the file over
        the built-in defaults, then the hard limits. The work is done by
        :func:`kstalerts.config.wiring.manager_from_config`, which the config
        layer registers (this module stands below it and does not import it).
        """
        builder = _settings.config_builder()
        if builder is None:
            raise AlertConfigurationError("the config layer is not connected (import kstalerts)")
        result: AlertManager = builder(cls, config, preset=preset, credential_resolver=credential_resolver)
        return result

    # -- lifetime ----------------------------------------------------------
    def close(self) -> None:
        """Send pending digests (:meth:`flush_digests`), then stop the worker
        threads and close every channel's connections.

        Sends already under way finish; later ones return failed results
        (see :meth:`send`). Closing twice is harmless.
        """
        if self._pid != os.getpid():
            self._after_fork()
        if not self._closed:
            self.flush_digests()
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            entries = list(self._entries.values())
        if executor is not None:
            _shut_down(executor)
        for entry in entries:
            try:
                entry.channel.close()
            except Exception:  # closing must release the rest regardless
                _log.warning("channel %r failed to close", entry.key, exc_info=True)

    def __enter__(self) -> "AlertManager":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        keys = list(self._entries)
        return f"AlertManager(channels={len(keys)}, keys={keys!r})"


def _shut_down(executor: "ThreadPoolExecutor") -> None:
    """Shut the pool down and wait for its threads, unless that cannot work.

    From inside a send on this thread (a signal handler interrupting one)
    the interrupted frame may hold the pool's own plain lock in ``submit``,
    and from one of the pool's threads a wait would join itself: then a
    helper thread does the waiting.
    """
    if not _reentry.depth():
        try:
            executor.shutdown(wait=True)
            return
        except RuntimeError:  # "cannot join current thread"
            pass
    import threading

    try:
        threading.Thread(target=executor.shutdown, name="kstalerts-close", daemon=True).start()
    except RuntimeError:  # no new threads at interpreter shutdown: its workers are told to stop already
        pass


def _as_spool(spool: Union["Spool", str, "os.PathLike[str]", Mapping[str, Any], None]) -> Optional["Spool"]:
    if spool is None:
        return None
    from .spool import Spool

    if isinstance(spool, Spool):
        return spool
    return Spool.from_config(spool)


def _as_dedup(dedup: Union["Deduplicator", float, Mapping[str, Any], None]) -> Optional["Deduplicator"]:
    if dedup is None:
        return None
    from .dedup import Deduplicator

    if isinstance(dedup, Deduplicator):
        return dedup
    return Deduplicator.from_config(dedup)


def _zero() -> Dict[str, int]:
    return {"sent": 0, "failed": 0, "throttled": 0, "suppressed": 0, "digests": 0}


#: The lifecycle's counters: in a channel's stats when the lifecycle is on (or was used).
_LIFECYCLE_STATS = ("held", "silenced", "inhibited")


def _as_lifecycle(lifecycle: Union["Lifecycle", Mapping[str, Any], None]) -> Optional["Lifecycle"]:
    """``lifecycle=``: a :class:`~kstalerts.lifecycle.Lifecycle`, or its settings as a mapping."""
    if lifecycle is None:
        return None
    from .lifecycle import Lifecycle

    if isinstance(lifecycle, Lifecycle):
        return lifecycle
    if not isinstance(lifecycle, Mapping):
        raise AlertConfigurationError(
            "lifecycle= takes a Lifecycle or its settings,"
            " such as {'state_dir': ..., 'repeat_interval': '4h'}"
        )
    return Lifecycle(**lifecycle)


def _rename(channel: Any, key: str) -> None:  # Any: AlertChannel is imported for type checking only
    """One name per channel: the key it is registered under, in its repr, logs and results."""
    own = getattr(type(channel), "name", None)
    if isinstance(own, property) and own.fset is None:
        return  # a read-only name of the subclass's own: the key still names its results
    channel.name = key


def _refuse_async(channel: Any) -> None:
    """A channel whose send is ``async def`` cannot be called from the manager's threads."""
    from .channels.base import is_coroutine_function

    for name in ("send", "_deliver"):
        if is_coroutine_function(getattr(type(channel), name, None)):
            raise AlertConfigurationError(
                f"{type(channel).__name__}.{name} is a coroutine function (async def): kstalerts calls"
                f" channels from threads and would never await it. Make {name} a plain def (run your"
                " coroutine inside with asyncio.run), and use 'await manager.asend(...)' from async code"
            )


def _warn_no_channels() -> None:
    import warnings

    from ._stack import outside
    from .exceptions import NoChannelsWarning

    warnings.warn(
        NoChannelsWarning(
            "this AlertManager has no channels, so send() delivers nothing: add_channel(), or check the"
            " config from_config() read with 'kstalerts check-config'"
        ),
        stacklevel=outside(),
    )


def _warn_closed() -> None:
    import warnings

    from ._stack import outside

    warnings.warn(
        "send() on a closed AlertManager delivers nothing (each result says so): send before close(),"
        " or inside 'with AlertManager() as manager:'",
        RuntimeWarning,
        stacklevel=outside(),
    )


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

