"""AlertChannel: the base every channel shares.

A channel turns a :class:`~kstalerts.Notification` (an alert, what was
held back, its state) into its service's payload and delivers it. The base
class owns the retry loop, the deadline of a whole send and the shape of
the result. A subclass renders the payload in one overridable method,
:meth:`AlertChannel.render`, and implements one delivery attempt in
:meth:`AlertChannel._transmit` (or, written before notifications,
:meth:`AlertChannel._deliver` for the alert alone), returning a
:class:`Delivery` (or a plain message id) or raising
:class:`AlertDeliveryError` (with ``retryable`` and ``retry_after``) when it
fails; the loop turns the last attempt's
:class:`Delivery` into the :class:`AlertResult` through the outcome table. :meth:`AlertChannel.send`
never raises for a delivery failure: it returns a failed
:class:`AlertResult` whose ``error`` a person can act on.

Rules: payloads are built by pure, overridable methods; bytes move in
:mod:`kstalerts.net.http` or :mod:`kstalerts.transports`; a channel's ``repr``
and errors never show a secret.
"""

import time

from .._lazy import TYPE_CHECKING
from .._log import logger
from .._settings import lookup
from .._typing import Any, Callable, ClassVar, Dict, FrozenSet, Mapping, Optional, Tuple, Type, TypeVar, Union
from ..exceptions import AlertDeliveryError
from ..limits import validate
from ..models import AlertMessage, AlertResult
from ..outcome import Delivery, Outcome
from ..pipeline.notification import Notification

if TYPE_CHECKING:
    from ..digest import DigestSummary
from ..retry import RetryPolicy
from ._options import Option, build

__all__ = ()

_log = logger("kstalerts.channels")

_C = TypeVar("_C", bound="AlertChannel")


class AlertChannel:
    """Base class of every channel.

    ``timeout`` bounds one attempt (hard limit 1..120 s) and ``max_retries``
    the retries after it (0..5); both default to the config's
    ``alerts.channels`` values. ``retry`` replaces the whole policy.
    ``clock`` and ``sleep`` are injectable for tests.
    """

    #: The service's name, used when no ``name`` is given.
    kind = "channel"
    #: The type's config options, described once (see :mod:`._options`);
    #: ``None``: the class cannot be built from config.
    options: ClassVar[Optional[Tuple[Option, ...]]] = None
    #: Config keys ``from_config`` accepts beyond the common ones (type, name,
    #: min_level, throttle, credentials, timeout, max_retries...): derived
    #: from ``options`` when the class declares them.
    config_keys: ClassVar[FrozenSet[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("options") is not None:
            cls.config_keys = frozenset(o.name for o in cls.__dict__["options"])

    def __init__(
        self,
        *,
        name: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        retry: Optional[RetryPolicy] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        own = getattr(type(self), "name", None)
        if isinstance(own, property) and own.fset is None:
            pass  # the subclass names itself with a read-only property (kstlib's channels do)
        else:
            self.name = name or self.kind
        self.timeout = float(
            validate("channels.timeout", lookup("channels.timeout") if timeout is None else timeout)
        )
        if retry is None:  # the policy judges max_retries, once
            retries = lookup("channels.max_retries") if max_retries is None else max_retries
            retry = RetryPolicy(max_retries=retries)
        elif max_retries is not None:
            retry = retry.replace(max_retries=max_retries)
        self.retry = retry
        self._clock = clock
        self._sleep = sleep

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self.retry.max_retries

    # -- what subclasses implement -------------------------------------
    def render(self, notification: Notification) -> Any:
        """What this channel sends for ``notification``: the one render hook.

        The default is ``self.build_payload(notification.alert)`` (the
        alert's part, overridable as before), with what was held back added
        by :meth:`_show_digest`. It is also the adapter for a channel
        written before notifications: with only ``build_payload(alert)``,
        such a channel renders the alert alone.
        """
        build: Callable[[AlertMessage], Any] = getattr(self, "build_payload")  # noqa: B009 (a subclass's)
        if notification.state == "resolved":  # the alert lifecycle's resolved message
            payload = self._build_resolved(notification.alert)
        else:
            payload = build(notification.alert)
        summary = notification.held_back
        return payload if summary is None else self._show_digest(payload, summary)

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """The payload saying ``alert`` is resolved; by default the alert titled ``RESOLVED: ...``.

        The built-in channels say it their service's way (a green Slack
        attachment, PagerDuty's ``resolve`` event, Alertmanager's ``endsAt``).
        """
        build: Callable[[AlertMessage], Any] = getattr(self, "build_payload")  # noqa: B009 (a subclass's)
        return build(alert.replace(title=f"RESOLVED: {alert.title}"))

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """``payload`` carrying the digest of what was held back; by default unchanged."""
        return payload

    def _transmit(self, notification: Notification, *, timeout: float) -> Union[Delivery, Optional[str]]:
        """Make one delivery attempt of ``notification`` within ``timeout`` seconds.

        The built-in channels override it (calling :meth:`render`); the
        default calls :meth:`_deliver` with the alert alone, for channels
        written before notifications. Returns and raises as :meth:`_deliver`.
        """
        return self._deliver(notification.alert, timeout=timeout)

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Union[Delivery, Optional[str]]:
        """Make one delivery attempt within ``timeout`` seconds (a channel written for alerts alone).

        Return a :class:`Delivery` (or, as before, just the service's
        message id, or ``None``: a delivered alert). Raise
        :class:`AlertDeliveryError` on failure, with ``retryable`` set when
        trying again may help; returning a failed :class:`Delivery` is the
        same.
        """
        raise NotImplementedError

    def preview(self, alert: AlertMessage) -> str:
        """What this channel would send for ``alert``, for ``--dry-run``."""
        return f"[{alert.level.name}] {alert.formatted_title}\n{alert.body}"

    def close(self) -> None:
        """Release connections; the channel may still be used afterwards."""

    @classmethod
    def from_config(cls: Type[_C], config: Mapping[str, Any], credential_resolver: Any = None) -> _C:
        """Build the channel from a config mapping (one ``channels`` entry), as ``options`` describe."""
        if cls.options is None:
            raise NotImplementedError(f"{cls.__name__} cannot be built from config")
        channel: _C = build(cls, config, credential_resolver)
        return channel

    @classmethod
    def _prepare_config(cls, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """Hook: reshape an entry before its options are read (email's nested ``transport:``)."""
        return config

    @classmethod
    def _from_values(cls, values: Dict[str, Any], config: Mapping[str, Any], resolver: Any) -> "AlertChannel":
        """Hook: the channel from the options read (the constructor's keywords)."""
        return cls(**values)

    # -- the retry loop ---------------------------------------------------
    def send(self, alert: AlertMessage) -> AlertResult:
        """Deliver ``alert``, retrying per the policy; never raises for a failure."""
        return self.notify(Notification(alert))

    def notify(self, notification: Notification) -> AlertResult:
        """Deliver ``notification``, retrying per the policy; never raises for a failure.

        The manager's pipeline calls this (unless the channel overrides
        :meth:`send`, which then gets the alert alone).
        """
        alert = notification.alert
        policy = self.retry
        deadline = self._clock() + policy.budget
        attempts = 0
        while True:
            attempts += 1
            remaining = deadline - self._clock()
            delivery = self._attempt(notification, max(0.001, min(self.timeout, remaining)))
            if delivery.outcome not in _FAILURES:
                return self._result(alert, delivery, attempts)
            last = delivery.outcome is Outcome.REFUSED or attempts > policy.max_retries
            _log_attempt(self.name, attempts, policy.max_retries, delivery, last)
            if last:
                gave_up = attempts > 1 and delivery.outcome is not Outcome.REFUSED
                return self._result(alert, _gave_up(delivery, attempts) if gave_up else delivery, attempts)
            wait = policy.delay(attempts, delivery.retry_after)
            remaining = deadline - self._clock()
            if wait > remaining:
                if delivery.retry_after is not None:
                    note = (
                        f"rate limited: the service asked to wait {delivery.retry_after:g}s,"
                        f" more than the {max(0.0, remaining):.1f}s left of this send's budget"
                    )
                    limited = delivery._replace(outcome=Outcome.RATE_LIMITED, note=note)
                    return self._result(alert, limited, attempts)
                return self._result(alert, _gave_up(delivery, attempts), attempts)
            self._sleep(wait)

    async def asend(self, alert: AlertMessage) -> AlertResult:
        """:meth:`send`, awaitable (``await channel.asend(alert)``); the event loop keeps running.

        :meth:`send` blocks and returns the result: ``await channel.send(alert)``
        fails with "AlertResult can't be used in 'await' expression" after the
        delivery. Runs on the loop's default executor, as ``AlertManager.asend``.
        """
        import asyncio
        import functools

        loop = asyncio.get_event_loop()  # the running one (get_running_loop is 3.7+)
        return await loop.run_in_executor(None, functools.partial(self.send, alert))

    def _attempt(self, notification: Notification, timeout: float) -> Delivery:
        """One attempt as a :class:`Delivery`, whatever ``_transmit`` returned or raised."""
        try:
            got = self._transmit(notification, timeout=timeout)
        except AlertDeliveryError as exc:
            outcome = Outcome.FAILED if exc.retryable else Outcome.REFUSED
            return Delivery(outcome, status=exc.status, retry_after=exc.retry_after, note=str(exc))
        if isinstance(got, Delivery):
            return got
        if got is None:  # delivered, no message id (most webhooks): one shared, immutable record
            return _DELIVERED
        # a plain message id, as before; positional: a keyword takes the record's slower binding path
        return Delivery(Outcome.DELIVERED, got)

    def _result(self, alert: AlertMessage, delivery: Delivery, attempts: int) -> AlertResult:
        return AlertResult.from_delivery(self.name, delivery, attempts=attempts, alert=alert)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def is_coroutine_function(func: Any) -> bool:
    """Whether ``func`` is an ``async def`` (without importing inspect or asyncio)."""
    code = getattr(func, "__code__", None)
    return code is not None and bool(code.co_flags & 0x180)  # CO_COROUTINE | CO_ITERABLE_COROUTINE


#: What an attempt whose ``_transmit`` returned ``None`` came to.
_DELIVERED = Delivery(Outcome.DELIVERED)

#: The outcomes of an attempt the loop may try again (a refusal is logged, never retried).
_FAILURES = frozenset((Outcome.FAILED, Outcome.RATE_LIMITED, Outcome.REFUSED))


def _gave_up(delivery: Delivery, attempts: int) -> Delivery:
    return delivery._replace(note=f"{delivery.note} (gave up after {attempts} attempts)")


def _log_attempt(name: str, attempt: int, max_retries: int, failure: Delivery, last: bool) -> None:
    """One line per failed attempt, at INFO (``kstalerts -v`` shows it)."""
    then = "not retried" if failure.outcome is Outcome.REFUSED else "giving up" if last else "retrying"
    _log.info(
        "%s: attempt %d of %d failed: %s (%s)", name, attempt, max_retries + 1, failure.note, then
    )
