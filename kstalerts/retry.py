"""When to try a delivery again, and how long to wait first.

A :class:`RetryPolicy` is an immutable value. The maths is pure:
:func:`backoff` gives the full-jitter wait before a retry, and
:func:`parse_retry_after` reads a ``Retry-After`` header. A hostile or broken
server cannot make kstalerts wait longer than ``max_retry_after``, nor make a
send outlast ``budget``. Sleeping is left to the caller (the channel), which
injects its clock, so tests run on a fake one.

>>> p = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=8.0)
>>> backoff(p, 3, rand=lambda: 1.0)
4.0
>>> p.delay(1, retry_after=1e9)  # a hostile Retry-After is cut
60.0
"""

import time

from ._text import compiled
from ._typing import Any, Callable, Optional
from .exceptions import AlertConfigurationError
from .limits import validate
from .models import Frozen

__all__ = ()

_MAX_HEADER_CHARS = 64
_ASCII_DIGITS = r"[0-9]+\Z"  # compiled on first use


def _random() -> float:
    """``random.random()``, with :mod:`random` imported on first use."""
    import random

    return random.random()


class RetryPolicy(Frozen):
    """How many times to retry and how to wait between attempts.

    - ``max_retries``: retries after the first attempt (hard limit 0..5).
    - ``base_delay``: the first back-off ceiling, doubled each retry.
    - ``max_delay``: the ceiling of one back-off wait (at most ``MAX_BACKOFF``).
    - ``jitter``: full jitter (a uniform wait in ``[0, ceiling]``), which
      spreads clients that failed together; off, the wait is the ceiling.
    - ``max_retry_after``: the longest ``Retry-After`` honoured; a longer one
      is cut to this (at most ``MAX_RETRY_AFTER``).
    - ``budget``: seconds one send may take, attempts and waits included; a
      wait that would overrun it ends the send instead.
    - ``rand``: the source of jitter (left out of equality and repr).

    The value is immutable; :meth:`replace` makes a changed copy.
    """

    __slots__ = ("max_retries", "base_delay", "max_delay", "jitter", "max_retry_after", "budget", "rand")

    max_retries: int
    base_delay: float
    max_delay: float
    jitter: bool
    max_retry_after: float
    budget: float
    rand: Callable[[], float]

    def __init__(
        self,
        max_retries: int = 2,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        jitter: bool = True,
        max_retry_after: float = 60.0,
        budget: float = 300.0,
        rand: Callable[[], float] = _random,
    ) -> None:
        # Every number through the hard limits (clamped with a warning; not
        # a number, NaN included, is an error); the flag must be a bool.
        _set = object.__setattr__
        _set(self, "max_retries", validate("channels.max_retries", max_retries))
        _set(self, "base_delay", validate("retry.base_delay", base_delay))
        _set(self, "max_delay", validate("retry.max_delay", max_delay))
        if not isinstance(jitter, bool):
            raise AlertConfigurationError(f"must be true or false, got {jitter!r}", key="retry.jitter")
        _set(self, "jitter", jitter)
        _set(self, "max_retry_after", validate("retry.max_retry_after", max_retry_after))
        _set(self, "budget", validate("retry.budget", budget))
        if not callable(rand):
            raise AlertConfigurationError(f"must be callable, got {rand!r}", key="retry.rand")
        _set(self, "rand", rand)

    _COMPARED = 6  # every field but rand

    def replace(self, **changes: Any) -> "RetryPolicy":
        """A copy with ``changes`` applied (and checked)."""
        copy: RetryPolicy = super().replace(**changes)
        return copy

    def delay(self, retry: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first).

        A server's ``retry_after`` wins over the back-off, cut to
        ``max_retry_after``.
        """
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return backoff(self, retry, rand=self.rand)


def backoff(policy: RetryPolicy, retry: int, *, rand: Callable[[], float] = _random) -> float:
    """The wait before retry number ``retry``: full jitter, capped.

    The ceiling is ``base_delay * 2 ** (retry - 1)``, at most ``max_delay``.
    """
    exponent = min(max(retry - 1, 0), 30)
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**exponent))
    if not policy.jitter:
        return ceiling
    return ceiling * min(max(rand(), 0.0), 1.0)


def parse_retry_after(value: Optional[str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for, or ``None`` if unusable.

    Accepts whole seconds (``"30"``) or an HTTP date. A malformed, negative
    or absurdly long value gives ``None``, so the caller falls back to its
    back-off; capping a large but valid value is the policy's job.

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("-3") is None, parse_retry_after("soon") is None, parse_retry_after("²") is None
    (True, True, True)
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _MAX_HEADER_CHARS:
        return None
    if compiled(_ASCII_DIGITS).match(text):  # str.isdigit() also takes "²" and "٣"
        return float(text)
    try:
        import datetime  # only for the rare HTTP-date form
        import email.utils

        when: Optional[datetime.datetime] = email.utils.parsedate_to_datetime(text)
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return max(0.0, seconds)
