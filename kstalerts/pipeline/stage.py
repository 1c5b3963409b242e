"""Stage: one step between "an alert was sent" and "a channel was told".

After Alertmanager's ``notify`` pipeline: every concern that acts on an
alert on its way to one channel (level filter, dedup, throttle, digest,
delivery, spool, stats) is one small :class:`Stage` with one job, and a
:class:`Pipeline` runs them in order. The manager builds one pipeline per
channel (:func:`kstalerts.pipeline.build.routes`), from what the channel's
config asks for: a stage that is not configured is not in the list.

A stage has two methods, both optional:

- ``admits(notification) -> bool``: a pure, cheap check the manager runs
  while fanning out; ``False`` means the channel gives no result at all
  (the level filter).
- ``run(notification, proceed) -> AlertResult``: the stage's work. It may
  call ``proceed(notification)`` -- the rest of the pipeline -- once, with
  the same or a changed notification, and act on the result it returns
  (spool it, count it, record it after a successful delivery); or it may
  *hold* the alert and return a result of its own without calling
  ``proceed`` (a throttled or suppressed outcome), so nothing later runs.

Rules: a stage changes only what its docstring says it may; it never
raises for a delivery problem (the delivery stage turns a channel's bug
into a result); stages hold no per-send state on themselves (several
threads run one pipeline at once).
"""

from .._lazy import TYPE_CHECKING
from .._log import logger
from .._typing import Any, Callable, Sequence
from ..models import AlertMessage, AlertResult
from ..outcome import Delivery, Outcome

if TYPE_CHECKING:
    from .notification import Notification

__all__ = ()

Proceed = Callable[["Notification"], "AlertResult"]


class Stage:
    """One step of a channel's pipeline (see the module docstring)."""

    __slots__ = ()

    def admits(self, notification: "Notification") -> bool:
        """Whether this channel takes ``notification`` at all; default: yes."""
        return True

    def run(self, notification: "Notification", proceed: Proceed) -> "AlertResult":
        """Do this stage's job; default: pass the notification on unchanged."""
        return proceed(notification)

    def __repr__(self) -> str:
        return type(self).__name__


class Last(Stage):
    """The stage that ends a pipeline: its ``run`` answers without calling ``proceed``."""

    __slots__ = ()

    def run(self, notification: "Notification", proceed: Proceed) -> "AlertResult":
        raise NotImplementedError


def _unreachable(notification: "Notification") -> "AlertResult":
    raise RuntimeError("a pipeline must end with a Last stage")


class Pipeline:
    """Stages run in order, the last one a :class:`Last`; immutable once built."""

    __slots__ = ("admits", "run", "stages")

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        filters = tuple(s.admits for s in self.stages if type(s).admits is not Stage.admits)
        #: ``admits(notification)``: whether every stage admits it (no call per stage that has no filter).
        self.admits: Callable[[Notification], bool] = (
            _everything if not filters else filters[0] if len(filters) == 1 else _all(filters)
        )
        proceed: Proceed = _unreachable
        for stage in reversed(self.stages):
            proceed = _link(stage, proceed)
        #: ``run(notification)``: run it through every stage; the result of the first that answers.
        #: (The first stage's linked ``run`` itself: no frame of the pipeline's own.)
        self.run = proceed

    def __repr__(self) -> str:
        return "Pipeline(" + " -> ".join(map(repr, self.stages)) + ")"


def _everything(notification: "Notification") -> bool:
    return True


def _all(filters: Sequence[Callable[["Notification"], bool]]) -> Callable[["Notification"], bool]:
    return lambda notification: all(admits(notification) for admits in filters)


def _link(stage: Stage, proceed: Proceed) -> Proceed:
    # A closure, one small frame per link. A functools.partial with proceed= as a keyword
    # has no frame, but copies its keyword dict on every call: 2.0 k instructions a link
    # against 0.9 k, on each of the four or five links of every send.
    run = stage.run

    def linked(notification: "Notification") -> "AlertResult":
        return run(notification, proceed)

    return linked


def held(key: str, outcome: Outcome, note: str, alert: AlertMessage, *, attempts: int = 0) -> AlertResult:
    """The result of a stage that answers itself (nothing delivered), read from the outcome table."""
    return AlertResult.from_delivery(key, Delivery(outcome, note=note), attempts=attempts, alert=alert)


def log(name: str) -> Any:
    """The logger ``name``, which imports ``logging`` only when something is logged
    (see :mod:`kstalerts._log`)."""
    return logger(name)
