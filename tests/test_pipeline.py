"""The delivery pipeline: each channel's stages are what its registration asks
for, in order; an unconfigured stage's module is not even imported; a stage
can hold an alert with an outcome of its own or act after the delivery."""

import subprocess
import sys
from typing import TYPE_CHECKING, Any, List

from kstalerts import (
    AlertLevel,
    AlertManager,
    AlertMessage,
    AlertResult,
    AlertThrottle,
    Notification,
    Outcome,
)
from kstalerts.channels import CallbackChannel
from kstalerts.pipeline.build import routes
from kstalerts.pipeline.stage import Pipeline, Stage, held

if TYPE_CHECKING:  # a type alias: kstalerts defines it for type checkers only
    from kstalerts.pipeline.stage import Proceed


def names(pipeline: Pipeline) -> List[str]:
    return [type(stage).__name__ for stage in pipeline.stages]


def test_a_bare_channel_has_stats_digest_and_delivery_only() -> None:
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(lambda a: None, name="ops"))
        route = manager._routes["ops"]
        assert names(route.send) == ["Count", "HoldBack", "Carry", "Deliver"]
        assert names(route.flush) == ["Count", "Carry", "Deliver"]
        assert names(route.closed) == ["Count", "HoldBack", "Refuse"]


def test_every_configured_stage_is_in_the_list_in_order(tmp_path: Any) -> None:
    with AlertManager(spool=tmp_path / "spool", dedup=60) as manager:
        manager.add_channel(
            CallbackChannel(lambda a: None, name="ops"),
            min_level="warning",
            throttle=AlertThrottle(rate=5, per=60.0),
            digest=False,
        )
        route = manager._routes["ops"]
        assert names(route.send) == ["Count", "LevelFilter", "SpoolStage", "DedupStage", "ThrottleStage", "Deliver"]
        assert names(route.flush) == ["Count", "DedupStage", "ThrottleStage", "Deliver"]
        manager.use_dedup(None)  # the pipelines are built again
        assert "DedupStage" not in names(manager._routes["ops"].send)


def test_a_stage_not_configured_is_not_imported() -> None:
    code = (
        "import sys\n"
        "from kstalerts import AlertManager, AlertMessage\n"
        "from kstalerts.channels import CallbackChannel\n"
        "m = AlertManager()\n"
        "m.add_channel(CallbackChannel(lambda a: None), digest=False)\n"
        "m.send(AlertMessage('x'))\n"
        "print(sorted(n for n in sys.modules if n.startswith('kstalerts.pipeline.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, universal_newlines=True)
    loaded = eval(out.stdout)  # a printed list of module names
    assert loaded == [
        "kstalerts.pipeline.build",
        "kstalerts.pipeline.delivery",
        "kstalerts.pipeline.notification",
        "kstalerts.pipeline.stage",
        "kstalerts.pipeline.stats",
    ]


def test_the_level_filter_gives_no_result_below_the_floor() -> None:
    seen: List[AlertMessage] = []
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(seen.append, name="ops"), min_level=AlertLevel.WARNING)
        assert manager.send(AlertMessage("info")) == []
        assert [r.success for r in manager.send(AlertMessage("warn", level=AlertLevel.WARNING))] == [True]
    assert [a.title for a in seen] == ["warn"]


class _Hold(Stage):
    """A stage that holds every alert with an outcome of its own."""

    def run(self, notification: Notification, proceed: "Proceed") -> AlertResult:
        return held("ops", Outcome.SUPPRESSED, "held by a test stage", notification.alert)


class _AfterDelivery(Stage):
    """A stage that records only what was delivered (a notification log's rule)."""

    def __init__(self) -> None:
        self.recorded: List[str] = []

    def run(self, notification: Notification, proceed: "Proceed") -> AlertResult:
        result = proceed(notification)
        if result.success:
            self.recorded.append(notification.alert.title)
        return result


def _pipeline(extra: Stage, deliver: Any) -> Pipeline:
    from kstalerts.manager import ChannelEntry

    entry = ChannelEntry("ops", CallbackChannel(deliver, name="ops"), digest=False)
    base = routes(entry, count=lambda key, result: None, digests=None, spool=None, dedup=None)  # type: ignore[arg-type]
    return Pipeline([base.send.stages[0], extra, *base.send.stages[1:]])


def test_a_stage_that_holds_stops_the_later_ones() -> None:
    delivered: List[AlertMessage] = []
    result = _pipeline(_Hold(), delivered.append).run(Notification(AlertMessage("x")))
    assert (result.outcome, result.error, result.attempts, delivered) == (
        Outcome.SUPPRESSED,
        "held by a test stage",
        0,
        [],
    )


def test_an_after_delivery_hook_sees_only_successes() -> None:
    from kstalerts import AlertDeliveryError

    hook = _AfterDelivery()

    def flaky(alert: AlertMessage) -> None:
        if alert.title == "down":
            raise AlertDeliveryError("service down")

    pipeline = _pipeline(hook, flaky)
    assert pipeline.run(Notification(AlertMessage("up"))).success
    assert not pipeline.run(Notification(AlertMessage("down"))).success
    assert hook.recorded == ["up"]


def test_the_notification_is_immutable_and_states_its_state() -> None:
    n = Notification(AlertMessage("x"))
    assert (n.held_back, n.state, n.plain) == (None, "firing", True)
    resolved = n.replace(state="resolved")
    assert (n.state, resolved.state, resolved.plain) == ("firing", "resolved", False)


def test_an_in_process_throttle_makes_no_digest_book_until_something_is_held_back() -> None:
    """Only a throttle's state file can hold a digest before this process held something back."""
    now = [0.0]
    throttle = AlertThrottle(rate=1, per=3600, burst=1, clock=lambda: now[0])
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(lambda a: None, name="ops"), throttle=throttle)
        assert manager.send(AlertMessage("one"))[0].success and manager._digest_book is None
        assert manager.send(AlertMessage("two"))[0].throttled and manager._digest_book is not None
        now[0] = 3600.0
        assert manager.send(AlertMessage("three"))[0].success  # carries the digest of "two"
        assert manager.stats.by_channel["ops"]["digests"] == 1
