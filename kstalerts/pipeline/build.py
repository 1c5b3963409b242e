"""The one place a channel's pipelines are built: read this to know what can happen to an alert.

For one registered channel, :func:`routes` lists the stages its
registration asks for, in order, and nothing else (a stage not configured
is not in the list, and its module is not imported):

    send:    stats -> level filter -> digest note -> spool -> lifecycle -> dedup -> throttle
             -> digest carry -> delivery
    flush:   stats -> dedup -> throttle -> digest carry -> delivery        (a spooled alert sent again)
    closed:  stats -> level filter -> digest note -> spool -> refusal      (a send on a closed manager)
    resolve: stats -> digest carry -> delivery                (a resolved message: no level filter)

The level filter only admits or not, so where it stands changes nothing.
The fan-out, fork, exit and re-entry rules are the manager's, not stages.
"""

from .._lazy import TYPE_CHECKING
from .._typing import Any, Callable, List, NamedTuple, Optional
from ..models import AlertLevel, AlertResult
from .delivery import Deliver, Refuse
from .stage import Pipeline, Stage
from .stats import Count

if TYPE_CHECKING:
    from ..dedup import Deduplicator
    from ..digest import DigestBook
    from ..spool import Spool

__all__ = ()


class Routes(NamedTuple):
    """A channel's pipelines: a send, a spool flush, a send on a closed manager, a resolved message."""

    send: Pipeline
    flush: Pipeline
    closed: Pipeline
    resolve: Pipeline


def routes(
    entry: Any,  # the manager's ChannelEntry (the manager stands above and imports this module)
    *,
    count: Callable[[str, AlertResult], None],
    digests: "Callable[[bool], Optional[DigestBook]]",
    spool: Optional["Spool"],
    dedup: Optional["Deduplicator"],
    lifecycle: Any = None,  # a Lifecycle: repeat, silences, inhibition (kstalerts.lifecycle)
) -> Routes:
    """The pipelines of the channel registered as ``entry``.

    ``digests(create)`` is the manager's book of pending digests, asked for
    by the digest stages only when they have something to note or may have
    something to carry (``create=False``: ``None`` when there is no book yet).
    """
    key = entry.key
    counted: List[Stage] = [Count(key, count)]
    if entry.min_level > min(AlertLevel):
        from .level import LevelFilter

        counted.append(LevelFilter(entry.min_level))
    settle: List[Stage] = []  # what happens to the result of a send
    carry: List[Stage] = []
    if entry.digest:
        from .digest import Carry, HoldBack

        settle.append(HoldBack(digests, entry))
        carry.append(Carry(digests, entry))
    if spool is not None:
        from .spool import SpoolStage

        settle.append(SpoolStage(key, spool, spool_throttled=entry.spool_throttled))
    life: List[Stage] = []  # not in a flush: a spooled firing alert must not reopen a resolved one
    if lifecycle is not None:
        from .lifecycle import LifecycleStage

        life.append(LifecycleStage(key, lifecycle))
    attempt: List[Stage] = []  # what decides whether it goes now
    again: List[Stage] = []  # the same, for a spooled alert sent again
    if dedup is not None:
        from .dedup import DedupStage

        attempt.append(DedupStage(key, dedup))
        again.append(DedupStage(key, dedup, flushing=True))
    if entry.throttle is not None:
        from .throttling import ThrottleStage

        attempt.append(ThrottleStage(key, entry.throttle))
        again.append(attempt[-1])
    deliver = Deliver(key, entry.channel)
    return Routes(
        send=Pipeline([*counted, *settle, *life, *attempt, *carry, deliver]),
        flush=Pipeline([counted[0], *again, *carry, deliver]),
        closed=Pipeline([*counted, *settle, Refuse(key)]),
        resolve=Pipeline([counted[0], *carry, deliver]),
    )
