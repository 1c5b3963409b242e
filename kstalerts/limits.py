"""The hard limits, and the one validator every limited value goes through.

No source can exceed a hard limit: not a config file, not a preset, not a
keyword argument. :func:`validate` is the single place that judges a value:
a number outside its range is clamped to the bound with a warning naming the
parameter, the value asked for and the value applied; something that is not
a number (a bool, NaN, a string that does not parse, ``None``) raises
:class:`AlertConfigurationError`. Callers never re-implement these checks.

The module also holds the library's own caps on everything else that could
grow without bound (payload sizes, recipients, Retry-After waits, response
bytes, spool size). They are constants, not settings.

>>> validate("channels.max_retries", 3)
3
>>> validate("throttle.burst", 50, upper=10)
10
"""

import _thread  # threading's thread-local, without threading's import
import math

from ._log import logger
from ._typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union
from .exceptions import AlertConfigurationError

__all__ = ()

_log = logger("kstalerts.limits")

Number = Union[int, float]


class Limit(NamedTuple):
    """The allowed range of one setting; ``integer`` ones take whole numbers."""

    name: str
    minimum: Number
    maximum: Number
    integer: bool
    doc: str


class Clamp(NamedTuple):
    """A record of one value the limits changed."""

    name: str
    asked: Number
    applied: Number
    bound: str  # "minimum" or "maximum"

    def __str__(self) -> str:
        return f"{self.name}: asked {self.asked!r}, applied {self.applied!r} ({self.bound})"


# The settings a user may choose and the range each must stay in, one a row:
# name, minimum, maximum, whole (whole numbers) or number, what it is.
_TABLE = """
throttle.rate                  1      1000  number  alerts admitted per period
throttle.per                   1     86400  number  length of the period, in seconds
throttle.burst                 1      1000  whole   alerts admitted at once; at most rate
channels.timeout               1       120  number  deadline of one attempt, in seconds
channels.max_retries           0         5  whole   retries after the first attempt
spool.max_age                 60   2592000  number  seconds a spooled alert is kept before dead-letter
spool.max_entries              1     10000  whole   alerts the spool holds at once
spool.max_bytes            65536  67108864  whole   bytes the spool holds at once
dedup.window                   1    604800  number  seconds a delivered alert suppresses its duplicates
retry.base_delay               0        60  number  first back-off ceiling in seconds, doubled per retry
retry.max_delay                0        60  number  ceiling of one back-off wait, in seconds
retry.max_retry_after          0       300  number  longest Retry-After honoured, in seconds
retry.budget                   0       900  number  seconds one send may take, attempts and waits included
lifecycle.repeat_interval      1    604800  number  seconds before a firing alert is resent
silence.duration               1   2592000  number  seconds a silence lasts
heartbeat.every                1   2592000  number  seconds expected between two pings
heartbeat.grace                1    604800  number  seconds of lateness forgiven after every
flapping.high                  1       100  number  weighted % of state changes that starts flapping
flapping.low                   0       100  number  weighted % of state changes that stops it; at most high
"""


def _limit(row: str) -> Limit:
    name, low, high, kind, doc = row.split(None, 4)
    number = int if kind == "whole" else float
    return Limit(name, number(low), number(high), kind == "whole", doc)


#: The settings a user may choose, by name (from the table above).
LIMITS: Dict[str, Limit] = {limit.name: limit for limit in map(_limit, _TABLE.strip().splitlines())}

# Library caps: constants that bound what a peer, a file or a caller could
# otherwise grow without limit. Documented in docs/limits.md.
MAX_TITLE_CHARS = 1024
MAX_BODY_CHARS = 65536
MAX_LABELS = 64
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped to this
MAX_BACKOFF = 60.0  # seconds; the ceiling of one back-off wait
MAX_SEND_BUDGET = 900.0  # seconds; one send, all attempts and waits included
MAX_RESPONSE_BYTES = 65536  # bytes of a response body ever read
MAX_RESPONSE_DEPTH = 64  # nesting of a JSON answer parsed; a deeper one is "not JSON"
MAX_REQUEST_BYTES = 1048576  # bytes of a request body ever sent
MAX_IDLE_CONNECTIONS = 4  # keep-alive connections one HTTP client (or SMTP transport) keeps open while idle
MAX_SMTP_SESSION_MESSAGES = 100  # messages sent over one SMTP session before it is closed with QUIT
SMTP_IDLE_SECONDS = 30.0  # seconds an idle SMTP session is kept; servers time idle sessions out
MAX_RECIPIENTS = 50  # addresses of one email
MAX_ALERTMANAGER_URLS = 16  # members of one Alertmanager cluster a channel posts to
MAX_WORKERS = 32  # threads of one manager's fan-out pool
MAX_ALERTS_PER_SEND = 10000  # alerts in one send() call
MAX_CONFIG_BYTES = 1048576  # size of a config file
MAX_CONFIG_DEPTH = 32  # nesting of a config file
MAX_SPOOL_ENTRIES = 10000  # alerts waiting in a spool (the ceiling of spool.max_entries)
MAX_SPOOL_BYTES = 64 * 1048576  # bytes of a spool (the ceiling of spool.max_bytes)
MAX_SPOOL_ENTRY_BYTES = 1048576  # bytes of one spool entry; a larger alert is not spooled
MAX_DEDUP_KEYS = 10000  # dedup keys remembered; the oldest are forgotten first
MAX_STATE_BYTES = 1048576  # size of a shared throttle/dedup state file; a larger one is reset
MAX_CREDENTIAL_BYTES = 65536  # size of a `type: file` credential
STATE_LOCK_WAIT = 2.0  # seconds a shared state file's lock is waited for; then the process's own state
STATE_LOCK_TRY = 0.5  # the same wait for calls that never wait (try_acquire, available)
SOPS_TIMEOUT = 30.0  # seconds one `sops --decrypt` may take
MAX_NFLOG_ENTRIES = 2000  # identities in the notification log; firing ones are never evicted
MAX_SILENCES = 500  # silences kept (active, pending and expired); expired ones go first
MAX_HEARTBEATS = 500  # heartbeats one state folder tracks
MAX_LIFECYCLE_BYTES = 4 * 1048576  # size of one lifecycle state file; a larger one is moved aside
MAX_MATCHER_PATTERN = 256  # characters of one matcher's value or regex
MAX_MATCH_INPUT = 1024  # characters of a field a regex is tried on; a longer one never matches

_local = _thread._local()  # what threading.local is
_HUGE = 10**300  # an integer beyond this is refused: float() cannot hold it


def collect_clamps(*, quiet: bool = False) -> "_Collecting":
    """Record every clamp made in this thread while the block runs.

    ``quiet``: the clamps are not logged meanwhile (the caller says them
    itself, with the file and line they came from).

    >>> with collect_clamps() as clamps:
    ...     _ = validate("throttle.rate", 5000)
    >>> [str(c) for c in clamps]
    ['throttle.rate: asked 5000, applied 1000.0 (maximum)']
    """
    return _Collecting(quiet)


class _Collecting:
    """What :func:`collect_clamps` returns: the block's list of clamps, kept
    on this thread's stack while the block runs."""

    __slots__ = ("_quiet", "_stack")

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet

    def __enter__(self) -> List[Clamp]:
        stack: List[Tuple[List[Clamp], bool]] = getattr(_local, "stack", None) or []
        _local.stack = stack
        record: List[Clamp] = []
        stack.append((record, self._quiet))
        self._stack = stack
        return record

    def __exit__(self, *exc_info: object) -> None:
        self._stack.pop()


class Where(NamedTuple):
    """Where a value was written, for the error that refuses it: the file, the line, the key.

    :meth:`~kstalerts.config.loader.LoadedConfig.where` gives it for a
    config's key; a value passed by hand has none (the error names the setting).
    """

    path: Optional[str] = None
    line: Optional[int] = None
    key: Optional[str] = None

    def error(self, message: str, name: str) -> AlertConfigurationError:
        """The error saying ``message`` about the value of setting ``name`` written here."""
        return AlertConfigurationError(message, path=self.path, line=self.line, key=self.key or name)


BY_HAND = Where()  # a value passed by hand: the error names the setting


def _to_number(name: str, value: object, where: Where) -> float:
    def fail(expected: str) -> AlertConfigurationError:
        return where.error(f"{expected}, got {value!r}", name)

    if isinstance(value, bool) or value is None:
        raise fail("must be a number")
    if isinstance(value, int) and not isinstance(value, bool) and not -_HUGE < value < _HUGE:
        # float() would overflow, and repr() of 4,300+ digits raises: say it in words
        raise where.error(
            f"must be a number from {LIMITS[name].minimum:g} to {LIMITS[name].maximum:g},"
            f" got an integer of about {int(value.bit_length() * 0.30103) + 1} digits",
            name,
        )
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise fail("must be a number") from None
    else:
        raise fail("must be a number")
    if math.isnan(number):
        raise fail("must be a number, not NaN")
    return number


def validate(name: str, value: object, *, upper: Optional[Number] = None, where: Where = BY_HAND) -> Number:
    """Return ``value`` as a number inside the hard limits of ``name``.

    ``upper`` lowers the maximum further (the burst may not exceed the
    rate). ``where`` locates the value in a config file for the error
    message and the clamp (its ``key`` names it instead of ``name``).
    Integer settings return an ``int``; the others a ``float``.

    A value is judged once: what this returns remembers the limit it was
    judged against, and is given back as it is when it meets the same limit
    again (the config loader judges a file's values; the constructors it
    hands them to call this too, for values a user passes by hand).
    """
    if isinstance(value, _JUDGED) and value.limit == name and (upper is None or value <= upper):
        return value
    limit = LIMITS[name]
    number = _to_number(name, value, where)
    maximum: float = float(limit.maximum)
    if upper is not None:
        maximum = min(maximum, float(upper))
    minimum = float(limit.minimum)
    if limit.integer and math.isfinite(number) and number != int(number):
        raise where.error(f"must be a whole number, got {value!r}", name)
    applied = min(max(number, minimum), maximum)
    result = _JudgedInt(applied) if limit.integer else _JudgedFloat(applied)
    result.limit = name
    if applied != number:
        bound = "maximum" if number > maximum else "minimum"
        asked: Number = value if isinstance(value, (int, float)) else number
        clamp = Clamp(where.key or name, asked, result, bound)
        collectors = getattr(_local, "stack", None) or []
        if not any(quiet for _, quiet in collectors):
            _log.warning("%s: asked %r, applied %r (the %s)", clamp.name, asked, result, bound)
        for record, _ in collectors:
            record.append(clamp)
    return result


class _JudgedInt(int):
    """An integer :func:`validate` returned: it names its limit (``.limit``)."""

    limit = ""


class _JudgedFloat(float):
    """A float :func:`validate` returned: it names its limit (``.limit``)."""

    limit = ""


_JUDGED = (_JudgedInt, _JudgedFloat)


def finite_number(value: Any) -> Optional[float]:
    """A number read from a file (state, spool) as a finite float, else ``None``.

    ``None`` for a bool, a non-number, NaN, infinity and an integer too large
    for a float (400 digits: ``float()`` raises ``OverflowError``), so what a
    file holds is judged once, before any arithmetic.

    >>> finite_number(3), finite_number(True), finite_number(10**400), finite_number(float("nan"))
    (3.0, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
