"""Spool: durable entries, flush, dead-letter, limits, concurrent flushes, crashes."""

import json
import logging
import os
import pathlib
import random
import signal
import stat
import threading
import time
from typing import Dict, List, Optional

import pytest

from kstalerts import (
    AlertConfigurationError,
    AlertDeliveryError,
    AlertLevel,
    AlertManager,
    AlertMessage,
    AlertThrottle,
    RetryPolicy,
)
from kstalerts.channels import CallbackChannel
from kstalerts.limits import MAX_SPOOL_ENTRY_BYTES
from kstalerts.spool import DEFAULT_MAX_AGE, FlushReport, Spool
from tests import children, compat
from tests.servers.sink import StoppableHTTPSink


class Sink:
    """An in-process stand-in for a service: records titles, or is 'down'."""

    def __init__(self) -> None:
        self.titles: List[str] = []
        self.down = False
        self.refuse = False
        self.lock = threading.Lock()

    def __call__(self, alert: AlertMessage) -> None:
        if self.down:
            raise AlertDeliveryError("connection refused", retryable=True)
        if self.refuse:
            raise AlertDeliveryError("HTTP 404: no such webhook", retryable=False, status=404)
        with self.lock:
            self.titles.append(alert.title)


class Clock:
    def __init__(self, now: float = 1.7e9) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entries(spool_dir: pathlib.Path) -> List[str]:
    return sorted(n for n in os.listdir(spool_dir) if n.endswith(".json") and not n.startswith("."))


def dead(spool_dir: pathlib.Path) -> List[str]:
    folder = spool_dir / "dead"
    if not folder.exists():
        return []
    return sorted(n for n in os.listdir(folder) if not n.endswith(".reason"))


def reason(spool_dir: pathlib.Path, name: str) -> str:
    return (spool_dir / "dead" / (name + ".reason")).read_text().strip()


def manager_with(sink: Sink, spool: Spool, **options: object) -> AlertManager:
    manager = AlertManager(spool=spool)
    manager.add_channel(CallbackChannel(sink, name="ops", max_retries=0), **options)  # type: ignore[arg-type]
    return manager


# -- writing ----------------------------------------------------------------------


def test_an_entry_is_one_whole_private_json_file(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path / "spool", clock=Clock())
    alert = AlertMessage("disk full", "/var at 97%", AlertLevel.CRITICAL, labels={"host": "db1"})
    name = spool.put(alert, "ops", attempts=3, error="connection refused")
    assert name is not None and name.endswith(".json")
    assert entries(tmp_path / "spool") == [name]
    data = json.loads((tmp_path / "spool" / name).read_text())
    assert data == {
        "kstalerts_spool": 1,
        "channel": "ops",
        "alert": alert.to_dict(),
        "attempts": 3,
        "first_failed": 1.7e9,
        "last_error": "connection refused",
    }
    assert stat.S_IMODE(os.stat(tmp_path / "spool").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "spool" / name).st_mode) == 0o600
    assert len(spool) == 1


def test_names_sort_oldest_first(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, clock=clock)
    names = []
    for i in range(5):
        names.append(spool.put(AlertMessage(f"a{i}"), "ops"))
        clock.now -= 10  # written later, yet older: the name carries the time
    assert entries(tmp_path) == list(reversed(names))


def _old_format_entry(folder: pathlib.Path, stamp: int, legacy_level: int, title: str, level: object) -> str:
    """An entry as kstalerts wrote it while its levels were 1, 2 and 3."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{stamp:020d}-{legacy_level}-{'0123456789abcdef'}.json"
    record = {
        "kstalerts_spool": 1,
        "channel": "hook",
        "alert": {
            "title": title,
            "body": "written before SUCCESS existed",
            "level": level,
            "timestamp": False,
            "labels": {},
            "dedup_key": None,
            "created_at": stamp / 1e9,
        },
        "attempts": 2,
        "first_failed": stamp / 1e9,
        "last_error": "connection refused",
    }
    (folder / name).write_text(json.dumps(record))
    return name


def test_new_names_carry_kstlib_level_values(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, clock=Clock())
    for level in AlertLevel:
        spool.put(AlertMessage(level.name, level=level), "ops")
    assert sorted(n.split("-")[1] for n in entries(tmp_path)) == ["10", "11", "20", "30"]
    assert len(spool) == 4 and dead(tmp_path) == []


def test_an_old_format_entry_flushes_to_the_loopback_sink(
    tmp_path: pathlib.Path, http_sink: StoppableHTTPSink
) -> None:
    from kstalerts.channels import WebhookChannel

    now = time.time()
    name = _old_format_entry(tmp_path, int(now * 1e9), 3, "written by an old kstalerts", "CRITICAL")
    with AlertManager(spool=tmp_path) as manager:
        manager.add_channel(
            WebhookChannel(http_sink.url(), name="hook", max_retries=0, timeout=5), key="hook"
        )
        report = manager.flush_spool()
    assert (report.delivered, report.remaining, report.dead) == (1, 0, 0)
    (body,) = http_sink.json_bodies()
    assert (body["title"], body["level"]) == ("written by an old kstalerts", "CRITICAL")
    assert entries(tmp_path) == [] and dead(tmp_path) == []
    assert name not in os.listdir(tmp_path)


@pytest.mark.parametrize(
    "stored, expected", [(2, AlertLevel.WARNING), (20, AlertLevel.WARNING), ("info", AlertLevel.INFO)]
)
def test_an_entry_naming_its_level_by_number_still_loads(
    tmp_path: pathlib.Path, stored: object, expected: AlertLevel
) -> None:
    _old_format_entry(tmp_path, int(time.time() * 1e9), 2, "numbered", stored)
    seen: List[AlertMessage] = []
    with AlertManager(spool=tmp_path) as manager:
        manager.add_channel(CallbackChannel(seen.append, name="hook", max_retries=0), key="hook")
        assert manager.flush_spool().delivered == 1
    assert [(a.title, a.level) for a in seen] == [("numbered", expected)]


def test_a_full_spool_ranks_old_names_by_their_level_not_their_number(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    old_warning = _old_format_entry(tmp_path, int((clock.now - 100) * 1e9), 2, "old warning", "WARNING")
    spool = Spool(tmp_path, max_entries=2, clock=clock)
    new_info = spool.put(AlertMessage("new info", level=AlertLevel.INFO), "ops")
    clock.now += 1
    spool.put(AlertMessage("new critical", level=AlertLevel.CRITICAL), "ops")
    # the old WARNING (named "-2-") outranks the new INFO (named "-10-")
    assert dead(tmp_path) == [new_info]
    assert old_warning in entries(tmp_path)


def test_an_entry_too_large_is_not_spooled(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path)
    labels = {f"k{i}": "v" * 20000 for i in range(60)}
    with caplog.at_level(logging.ERROR, logger="kstalerts"):
        assert spool.put(AlertMessage("big", labels=labels), "ops") is None
    assert len(spool) == 0
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("alert 'big' for channel 'ops' not spooled: ")
    assert message.endswith(f"bytes, more than the {MAX_SPOOL_ENTRY_BYTES} an entry may take")


def test_a_disk_that_refuses_is_reported_not_raised(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    spool = Spool(tmp_path / "file" / "spool")
    with caplog.at_level(logging.ERROR, logger="kstalerts"):
        assert spool.put(AlertMessage("x"), "ops") is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("alert 'x' for channel 'ops' not spooled: [Errno 20] Not a directory")


def test_settings_go_through_the_hard_limits(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        spool = Spool("/tmp/x", max_age=1, max_entries=10**6, max_bytes=10)
    assert (spool.max_age, spool.max_entries, spool.max_bytes) == (60.0, 10000, 65536)
    assert len(caplog.records) == 3
    assert Spool("/tmp/x").max_age == DEFAULT_MAX_AGE
    with pytest.raises(
        AlertConfigurationError, match=r"^spool.max_entries: must be a whole number, got 2.5$"
    ):
        Spool("/tmp/x", max_entries=2.5)  # type: ignore[arg-type]


def test_from_config() -> None:
    spool = Spool.from_config({"path": "/tmp/s", "max_age": 3600, "max_entries": 5, "max_bytes": 100000})
    assert (spool.path, spool.max_age, spool.max_entries, spool.max_bytes) == ("/tmp/s", 3600.0, 5, 100000)
    assert repr(spool) == "Spool('/tmp/s', max_age=3600, max_entries=5)"
    assert Spool.from_config("/tmp/t").path == "/tmp/t"
    with pytest.raises(AlertConfigurationError, match=r"^spool: unknown key 'max_ag'$"):
        Spool.from_config({"path": "/tmp/s", "max_ag": 1})
    with pytest.raises(AlertConfigurationError, match=r"^spool.path: a spool needs a path$"):
        Spool.from_config({"max_age": 100})
    with pytest.raises(
        AlertConfigurationError, match=r"^spool.path: the spool path must be a non-empty path$"
    ):
        Spool("")


# -- the manager spools what may succeed later ---------------------------------------


def test_manager_spools_a_retryable_final_failure(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    sink.down = True
    with manager_with(sink, Spool(tmp_path)) as manager:
        (result,) = manager.send(AlertMessage("x"))
    assert (result.success, result.retryable, result.spooled, result.attempts) == (False, True, True, 1)
    (name,) = entries(tmp_path)
    data = json.loads((tmp_path / name).read_text())
    assert (data["channel"], data["attempts"], data["last_error"]) == ("ops", 1, "connection refused")
    assert manager.stats.total_failed == 1


def test_manager_does_not_spool_what_cannot_succeed(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    sink.refuse = True

    def buggy(alert: AlertMessage) -> None:
        raise ZeroDivisionError

    with manager_with(sink, Spool(tmp_path)) as manager:
        manager.add_channel(CallbackChannel(buggy, name="buggy"))
        results = manager.send(AlertMessage("x"))
    assert [(r.success, r.spooled) for r in results] == [(False, False), (False, False)]
    assert entries(tmp_path) == []


def test_throttled_alerts_are_spooled_only_when_the_channel_asks(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    spool = Spool(tmp_path)
    with AlertManager(spool=spool) as manager:
        manager.add_channel(
            CallbackChannel(sink, name="keep"),
            throttle=AlertThrottle(rate=1, per=3600.0, burst=1),
            spool_throttled=True,
        )
        manager.add_channel(
            CallbackChannel(sink, name="drop"), throttle=AlertThrottle(rate=1, per=3600.0, burst=1)
        )
        manager.send(AlertMessage("first"))
        results = manager.send(AlertMessage("second"))
    assert [(r.channel, r.throttled, r.spooled) for r in results] == [
        ("keep", True, True),
        ("drop", True, False),
    ]
    (name,) = entries(tmp_path)
    assert json.loads((tmp_path / name).read_text())["channel"] == "keep"
    assert manager.stats.total_throttled == 2


def test_a_service_rate_limit_beyond_the_budget_is_spooled(tmp_path: pathlib.Path) -> None:
    def limited(alert: AlertMessage) -> None:
        raise AlertDeliveryError("HTTP 429", retryable=True, retry_after=10**6, status=429)

    with AlertManager(spool=tmp_path) as manager:
        policy = RetryPolicy(max_retries=1, budget=1.0)  # the 429 asks for more than is left
        manager.add_channel(CallbackChannel(limited, name="ops", retry=policy))
        (result,) = manager.send(AlertMessage("x"))
    assert (result.throttled, result.attempts, result.spooled) == (True, 1, True)


def test_a_spool_that_breaks_never_breaks_send(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Spool):
        def put(self, *args: object, **kwargs: object) -> Optional[str]:
            raise RuntimeError("bug")

    sink = Sink()
    sink.down = True
    with manager_with(sink, Broken(tmp_path)) as manager:
        with caplog.at_level(logging.ERROR, logger="kstalerts"):
            (result,) = manager.send(AlertMessage("x"))
    assert (result.success, result.spooled) == (False, False)
    assert [r.getMessage() for r in caplog.records] == ["spooling for channel 'ops' failed"]


def test_without_fcntl_a_spool_or_state_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kstalerts.state.shared import StateFile

    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows
    with pytest.raises(
        AlertConfigurationError, match=r"^spool.path: the spool needs fcntl \(a POSIX system\)$"
    ):
        Spool("/tmp/x")
    with pytest.raises(AlertConfigurationError, match=r"^shared state files need fcntl \(a POSIX system\)"):
        StateFile("/tmp/x.json")


def test_flush_without_a_spool_is_a_configuration_error() -> None:
    expected = r"^no spool configured: pass spool= or set alerts.spool.path$"
    with AlertManager() as manager:
        with pytest.raises(AlertConfigurationError, match=expected):
            manager.flush_spool()
    assert manager.spool is None and manager.dedup is None


# -- flushing ---------------------------------------------------------------------------


def test_network_down_then_back_flush_delivers_each_alert_once(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    sink.down = True
    with manager_with(sink, Spool(tmp_path)) as manager:
        results = manager.send([AlertMessage(f"alert {i}") for i in range(50)])
        assert [r.spooled for r in results] == [True] * 50
        still_down = manager.flush_spool()
        sink.down = False
        report = manager.flush_spool()
        again = manager.flush_spool()
    # A channel still down costs one attempt per flush, not one per entry.
    assert (still_down.failed, still_down.remaining, manager.stats.total_failed) == (50, 50, 51)
    assert (report.delivered, report.remaining, report.ok) == (50, 0, True)
    assert str(report) == f"spool {tmp_path}: 50 delivered; 0 left"
    assert len(sink.titles) == 50 and set(sink.titles) == {f"alert {i}" for i in range(50)}
    assert again.delivered == 0
    assert manager.stats.total_sent == 50


def test_network_down_over_http_then_back(tmp_path: pathlib.Path, http_sink: StoppableHTTPSink) -> None:
    from kstalerts.channels import WebhookChannel

    http_sink.stop()  # connections refused, as when the network is down
    with AlertManager(spool=tmp_path) as manager:
        manager.add_channel(WebhookChannel(http_sink.url(), name="hook", max_retries=0, timeout=5))
        results = manager.send([AlertMessage(f"alert {i}") for i in range(20)])
        assert [(r.success, r.retryable, r.spooled) for r in results] == [(False, True, True)] * 20
        http_sink.start()
        report = manager.flush_spool()
    assert (report.delivered, report.remaining) == (20, 0)
    titles = [body["title"] for body in http_sink.json_bodies()]
    assert sorted(titles) == sorted(f"alert {i}" for i in range(20))


def test_aflush_spool_is_the_awaitable_twin(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    spool = Spool(tmp_path)
    spool.put(AlertMessage("x"), "ops")
    with manager_with(sink, spool) as manager:
        report = compat.run(manager.aflush_spool())
    assert (report.delivered, sink.titles) == (1, ["x"])


def test_flush_goes_oldest_first_and_keeps_what_still_fails(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, clock=clock)
    for i in range(3):
        spool.put(AlertMessage(f"a{i}"), "ops", attempts=2, error="old error")
        clock.now += 1
    order: List[str] = []

    def fails_on_a1(alert: AlertMessage) -> None:
        order.append(alert.title)
        if alert.title == "a1":
            raise AlertDeliveryError("HTTP 503", retryable=True, status=503)

    with AlertManager(spool=spool) as manager:
        manager.add_channel(CallbackChannel(fails_on_a1, name="ops", max_retries=0))
        report = manager.flush_spool()
    assert order == ["a0", "a1"]  # a2 waits: its channel just failed
    assert (report.delivered, report.failed, report.remaining, report.ok) == (1, 2, 2, False)
    assert str(report) == f"spool {tmp_path}: 1 delivered, 2 still failing; 2 left"
    first, second = (json.loads((tmp_path / n).read_text()) for n in entries(tmp_path))
    assert (first["alert"]["title"], first["attempts"], first["last_error"]) == ("a1", 3, "HTTP 503")
    assert (second["attempts"], second["last_error"]) == (2, "old error")  # not tried: unchanged
    assert first["first_failed"] == 1.7e9 + 1
    assert [r.alert.title for r in report.results if r.alert] == ["a0", "a1", "a2"]


def test_flush_respects_the_channel_throttle(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    spool = Spool(tmp_path)
    for i in range(5):
        spool.put(AlertMessage(f"a{i}"), "ops")
    with AlertManager(spool=spool) as manager:
        manager.add_channel(
            CallbackChannel(sink, name="ops"), throttle=AlertThrottle(rate=2, per=3600.0, burst=2)
        )
        report = manager.flush_spool()
    assert sink.titles == ["a0", "a1"]
    assert (report.delivered, report.throttled, report.remaining) == (2, 3, 3)
    assert str(report) == f"spool {tmp_path}: 2 delivered, 3 throttled; 3 left"
    assert report.ok


def test_a_refusal_for_good_on_flush_goes_to_dead_letter(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    sink.refuse = True
    spool = Spool(tmp_path)
    name = spool.put(AlertMessage("x"), "ops")
    assert name is not None
    with manager_with(sink, spool) as manager:
        report = manager.flush_spool()
    assert (report.dead, report.remaining) == (1, 0)
    assert dead(tmp_path) == [name]
    assert reason(tmp_path, name) == "refused for good by channel 'ops': HTTP 404: no such webhook"
    assert spool.dead_count() == 1


def test_entries_for_an_unknown_channel_are_kept(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.put(AlertMessage("x"), "gone")
    spool.put(AlertMessage("y"), "gone")
    with manager_with(Sink(), spool) as manager:
        with caplog.at_level(logging.WARNING, logger="kstalerts"):
            report = manager.flush_spool()
    assert (report.unknown_channel, report.remaining, report.ok) == (2, 2, False)
    assert str(report) == f"spool {tmp_path}: 0 delivered, 2 for unknown channels; 2 left"
    assert [r.getMessage() for r in caplog.records] == [
        f"spool {tmp_path} holds alerts for channel 'gone', which is not configured; kept"
    ]


def test_entries_older_than_max_age_go_to_dead_letter(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path, max_age=3600, clock=clock)
    old = spool.put(AlertMessage("old"), "ops", attempts=4, error="HTTP 503")
    clock.now += 3000
    spool.put(AlertMessage("young"), "ops")
    clock.now += 601
    sink = Sink()
    with manager_with(sink, spool) as manager:
        report = manager.flush_spool()
    assert sink.titles == ["young"]
    assert (report.delivered, report.dead) == (1, 1)
    assert old is not None and dead(tmp_path) == [old]
    assert (
        reason(tmp_path, old) == "older than max_age (3601s > 3600s) after 4 attempt(s); last error: HTTP 503"
    )


def test_flush_on_a_spool_never_written_is_empty(tmp_path: pathlib.Path) -> None:
    with manager_with(Sink(), Spool(tmp_path / "nothing")) as manager:
        report = manager.flush_spool()
    assert report == FlushReport(str(tmp_path / "nothing"))
    assert str(report) == f"spool {tmp_path / 'nothing'}: 0 delivered; 0 left"


def test_a_duplicate_delivered_meanwhile_is_dropped_on_flush(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    spool = Spool(tmp_path)
    spool.put(AlertMessage("disk full"), "ops")
    with AlertManager(spool=spool, dedup=300) as manager:
        manager.add_channel(CallbackChannel(sink, name="ops"))
        manager.send(AlertMessage("disk full"))
        report = manager.flush_spool()
    assert sink.titles == ["disk full"]
    assert (report.suppressed, report.remaining) == (1, 0)
    assert str(report) == f"spool {tmp_path}: 0 delivered, 1 suppressed as duplicates; 0 left"


# -- bad files never crash a flush ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"kstalerts_spool": 1, "chan', "unreadable: not a whole JSON document (partial or corrupt file)"),
        (b"", "unreadable: not a whole JSON document (partial or corrupt file)"),
        (b"\xff\xfe\x00", "unreadable: not a whole JSON document (partial or corrupt file)"),
        (b'{"kstalerts_spool": 7}', "not a kstalerts spool entry (format 1 expected)"),
        (b"[]", "not a kstalerts spool entry (format 1 expected)"),
        (
            b'{"kstalerts_spool": 1, "channel": "ops", "alert": {}, "attempts": "2", "first_failed": 1}',
            "unreadable: a field is missing or of the wrong type",
        ),
        (
            b'{"kstalerts_spool": 1, "channel": "ops", "alert": {"title": ""},'
            b' "attempts": 0, "first_failed": 1}',
            "unreadable alert: alert title must be a non-empty string",
        ),
        (
            b'{"kstalerts_spool": 1, "channel": "ops", "alert": {"body": "b"},'
            b' "attempts": 0, "first_failed": 1}',
            "unreadable alert: the field 'title' is missing",
        ),
        (b"{" + b" " * MAX_SPOOL_ENTRY_BYTES + b"}", f"larger than {MAX_SPOOL_ENTRY_BYTES} bytes"),
        (b"[" * 100000, "unreadable: not a whole JSON document (partial or corrupt file)"),
    ],
)
def test_an_unreadable_entry_goes_to_dead_letter_with_its_reason(
    tmp_path: pathlib.Path, content: bytes, expected: str
) -> None:
    spool = Spool(tmp_path)
    spool.put(AlertMessage("good"), "ops")
    bad = "00000000000000000001-1-0123456789abcdef.json"
    (tmp_path / bad).write_bytes(content)
    sink = Sink()
    with manager_with(sink, spool) as manager:
        report = manager.flush_spool()
    assert sink.titles == ["good"]
    assert (report.delivered, report.dead, report.remaining) == (1, 1, 0)
    assert dead(tmp_path) == [bad]
    assert reason(tmp_path, bad) == expected
    assert (tmp_path / "dead" / bad).read_bytes() == content  # kept as it was


def test_foreign_files_go_to_dead_letter_folders_and_links_stay(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path)
    spool.put(AlertMessage("good"), "ops")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "subdir").mkdir()
    (tmp_path / "elsewhere.txt").symlink_to(tmp_path / "notes.txt")
    (tmp_path / "00000000000000000001-1-0123456789abcdef.json").symlink_to("/etc/passwd")
    with manager_with(Sink(), spool) as manager:
        report = manager.flush_spool()
        again = manager.flush_spool()
    assert (report.delivered, report.dead) == (1, 2)
    assert dead(tmp_path) == ["00000000000000000001-1-0123456789abcdef.json", "notes.txt"]
    assert reason(tmp_path, "notes.txt") == "not a spool entry (a foreign file in the spool folder)"
    assert reason(tmp_path, "00000000000000000001-1-0123456789abcdef.json") == (
        "cannot be flushed: it is a symbolic link (refused: it could point anywhere)"
    )
    assert (tmp_path / "subdir").is_dir() and (tmp_path / "elsewhere.txt").is_symlink()
    assert (again.dead, again.delivered) == (0, 0)


def test_a_name_taken_in_dead_letter_gets_a_suffix(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path)
    for _ in range(2):
        (tmp_path / "junk").write_text("x")
        spool.flush(lambda entry: None)
    names = dead(tmp_path)
    assert len(names) == 2 and names[0] == "junk" and names[1].startswith("junk.")


def test_temporary_files_left_by_a_crash_are_finished_or_dead_lettered(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path)
    whole = spool.put(AlertMessage("whole"), "ops")
    assert whole is not None
    os.rename(tmp_path / whole, tmp_path / f".tmp-{whole}")  # crashed before the rename
    partial = spool.put(AlertMessage("partial"), "ops")
    assert partial is not None
    content = (tmp_path / partial).read_bytes()
    (tmp_path / f".tmp-{partial}").write_bytes(content[: len(content) // 2])
    os.unlink(tmp_path / partial)
    sink = Sink()
    with manager_with(sink, spool) as manager:
        report = manager.flush_spool()
    assert sink.titles == ["whole"]
    assert (report.delivered, report.dead, report.remaining) == (1, 1, 0)
    assert dead(tmp_path) == [f"tmp-{partial}"]
    assert reason(tmp_path, f"tmp-{partial}") == (
        "incomplete write (the writer stopped before finishing):"
        " unreadable: not a whole JSON document (partial or corrupt file)"
    )


# -- limits ----------------------------------------------------------------------------------


def test_a_full_spool_dead_letters_the_oldest_of_the_lowest_level(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    spool = Spool(tmp_path, max_entries=3, clock=clock)

    def put(title: str, level: AlertLevel) -> str:
        name = spool.put(AlertMessage(title, level=level), "ops")
        assert name is not None, title  # kept: the spool makes room for it
        return name

    names: Dict[str, str] = {}
    for title, level in (("w1", AlertLevel.WARNING), ("i1", AlertLevel.INFO), ("i2", AlertLevel.INFO)):
        names[title] = put(title, level)
        clock.now += 1
    total = sum(os.path.getsize(tmp_path / n) for n in entries(tmp_path))
    with caplog.at_level(logging.WARNING, logger="kstalerts.spool"):
        names["c1"] = put("c1", AlertLevel.CRITICAL)
    assert entries(tmp_path) == sorted([names["w1"], names["i2"], names["c1"]])
    assert dead(tmp_path) == [names["i1"]]
    assert reason(tmp_path, names["i1"]) == (
        "spool full (limits: 3 entries, 67108864 bytes);"
        " the oldest alert of the lowest level is dead-lettered first"
    )
    assert [r.getMessage() for r in caplog.records] == [
        f"spool {tmp_path}: moved {names['i1']} to dead/: {reason(tmp_path, names['i1'])}",
        f"spool {tmp_path} is full (3 entries, {total} bytes): dead-lettered its oldest alert of the"
        f" lowest level, {names['i1']}",
    ]


def test_a_new_alert_of_the_lowest_level_is_the_one_given_up(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, max_entries=2)
    spool.put(AlertMessage("c1", level=AlertLevel.CRITICAL), "ops")
    spool.put(AlertMessage("c2", level=AlertLevel.CRITICAL), "ops")
    with caplog.at_level(logging.WARNING, logger="kstalerts.spool"):
        assert spool.put(AlertMessage("i1"), "ops") is None
    assert len(spool) == 2
    (name,) = dead(tmp_path)
    assert json.loads((tmp_path / "dead" / name).read_text())["alert"]["title"] == "i1"
    assert f"spool {tmp_path} is full (2 entries, " in caplog.records[0].getMessage()
    assert caplog.records[0].getMessage().endswith(" bytes): the new alert goes to dead/")


def test_the_byte_limit_holds(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, max_bytes=65536)
    for i in range(10):
        spool.put(AlertMessage(f"a{i}", "x" * 20000), "ops")
    total = sum(os.path.getsize(tmp_path / n) for n in entries(tmp_path))
    assert total <= 65536
    assert len(spool) == 3 and spool.dead_count() == 7


def test_the_dead_letter_folder_is_bounded_too(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, max_entries=2)
    with caplog.at_level(logging.WARNING, logger="kstalerts.spool"):
        for i in range(6):
            spool.put(AlertMessage(f"a{i}"), "ops")
    assert len(spool) == 2 and spool.dead_count() == 2
    titles = [json.loads((tmp_path / "dead" / n).read_text())["alert"]["title"] for n in dead(tmp_path)]
    assert titles == ["a2", "a3"]
    assert f"spool {tmp_path}: dead/ holds more than 2 entries; deleted the 1 oldest" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_full_spool_skips_an_entry_being_flushed(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, max_entries=2)
    first = spool.put(AlertMessage("i0"), "ops")
    spool.put(AlertMessage("i1"), "ops")
    during: List[Optional[str]] = []

    def deliver(entry: object) -> None:
        if not during:  # while i0 is claimed by this flush, a put must make room elsewhere
            during.append(spool.put(AlertMessage("c", level=AlertLevel.CRITICAL), "ops"))
        return None

    spool.flush(deliver)
    assert first in entries(tmp_path)
    assert during[0] in entries(tmp_path)
    assert len(dead(tmp_path)) == 1


# -- concurrency and crashes --------------------------------------------------------------------


def test_two_threads_flushing_deliver_each_entry_once(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path)
    for i in range(40):
        spool.put(AlertMessage(f"a{i}"), "ops")
    sink = Sink()

    def slow_sink(alert: AlertMessage) -> None:
        time.sleep(0.001)
        sink(alert)

    reports: List[FlushReport] = []
    with AlertManager(spool=spool) as manager:
        manager.add_channel(CallbackChannel(slow_sink, name="ops"))
        threads = [threading.Thread(target=lambda: reports.append(manager.flush_spool())) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(sink.titles) == sorted(f"a{i}" for i in range(40))
    assert sum(r.delivered for r in reports) == 40
    assert len(spool) == 0


def test_a_flush_that_opened_an_entry_another_flush_then_delivered_skips_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.put(AlertMessage("once"), "ops")
    sink = Sink()
    raced: List[bool] = []
    inner: List[FlushReport] = []
    real_open = os.open

    with manager_with(sink, spool) as manager:

        def open_then_race(path: str, flags: int, *args: int) -> int:
            fd = real_open(path, flags, *args)
            if path.endswith(".json") and not raced:
                # Between this flush's open and its lock, another flush takes
                # the entry, delivers it and removes it.
                raced.append(True)
                inner.append(manager.flush_spool())
            return fd

        monkeypatch.setattr(os, "open", open_then_race)
        outer = manager.flush_spool()
        monkeypatch.undo()
    assert sink.titles == ["once"]
    assert (inner[0].delivered, outer.delivered, outer.skipped) == (1, 0, 1)
    assert str(outer) == f"spool {tmp_path}: 0 delivered, 1 held by another flush; 0 left"


def test_two_processes_flushing_deliver_each_entry_once(tmp_path: pathlib.Path) -> None:
    spool_dir, sink_file, go = tmp_path / "spool", tmp_path / "sink.txt", tmp_path / "go"
    spool = Spool(spool_dir)
    for i in range(60):
        spool.put(AlertMessage(f"a{i}"), "ops")
    procs = [children.start("flush", str(spool_dir), str(sink_file), str(go)) for _ in range(2)]
    try:
        for proc in procs:
            children.wait_ready(proc)
    finally:
        go.touch()
    reports = [json.loads(out) for out in children.finish(procs)]
    lines = sink_file.read_text().split()
    assert sorted(lines) == sorted(f"a{i}" for i in range(60))  # each once, none twice
    assert sum(r["delivered"] for r in reports) == 60
    assert len(spool) == 0


@pytest.mark.slow(seconds=5)
def test_sigkill_while_spooling_leaves_whole_entries_or_none(
    tmp_path: pathlib.Path, http_sink: StoppableHTTPSink
) -> None:
    """Children spooling in a loop are killed at random points; afterwards every
    entry is whole and one flush delivers each exactly once to the HTTP sink."""
    from kstalerts.channels import WebhookChannel

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    spool_dir = tmp_path / "spool"
    confirmed: List[str] = []
    runs = 20
    for run in range(runs):
        child = children.start("spool", str(spool_dir), f"r{run}")
        try:
            children.wait_ready(child)
            time.sleep(rng.uniform(0.0, 0.08))
        finally:
            child.send_signal(signal.SIGKILL)  # whatever happened, the child ends here
            out, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        confirmed.extend(out.split())
    names = entries(spool_dir)
    temporaries = [n for n in os.listdir(spool_dir) if n.startswith(".tmp-")]
    whole = []
    for name in names:  # every entry in place is whole
        data = json.loads((spool_dir / name).read_text())
        whole.append(data["alert"]["title"])
    with AlertManager(spool=spool_dir) as manager:
        manager.add_channel(WebhookChannel(http_sink.url(), timeout=5), key="ops")
        report = manager.flush_spool()
        again = manager.flush_spool()
    delivered = [body["title"] for body in http_sink.json_bodies()]
    assert len(delivered) == len(set(delivered)), f"seed {seed}: a duplicate delivery"
    assert report.delivered == len(delivered)
    assert set(confirmed) <= set(delivered), f"seed {seed}: a confirmed entry was lost"
    assert set(whole) <= set(delivered)
    # Beyond the whole entries, only whole temporary files (killed between
    # fsync and rename) may be delivered; partial ones are dead-lettered.
    assert len(delivered) - len(whole) + report.dead == len(temporaries)
    assert all(reason(spool_dir, n).startswith("incomplete write") for n in dead(spool_dir))
    assert (report.remaining, again.delivered, again.dead) == (0, 0, 0)
    print(
        f"\nSIGKILL test (seed {seed}): {runs} runs, {len(confirmed)} confirmed spooled,"
        f" {len(names)} whole entries + {len(temporaries)} temporary files on disk,"
        f" {len(delivered)} delivered once each, {report.dead} partial ones dead-lettered"
    )


# -- hostile files ------------------------------------------------------------------
def _flush_within(manager: AlertManager, seconds: float = 10.0) -> FlushReport:
    """Flush in a thread: a flush that hangs (on a FIFO) fails the test, not the run."""
    box: List[FlushReport] = []
    thread = threading.Thread(target=lambda: box.append(manager.flush_spool()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "flush hung"
    return box[0]


def _entry_name(ns: int, level: int = 1) -> str:
    return f"{ns:020d}-{level}-{ns % 2**64:016x}.json"


def test_malformed_entries_go_to_dead_with_a_reason_and_the_rest_flush(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, clock=Clock())
    first = spool.put(AlertMessage("first"), "ops")
    assert first is not None
    good = json.loads((tmp_path / first).read_text())
    huge = int("9" * 400)

    def variant(**changes: object) -> str:
        record = json.loads(json.dumps(good))
        for key, value in changes.items():
            if key.startswith("alert_"):
                record["alert"][key[6:]] = value
            else:
                record[key] = value
        return json.dumps(record)

    bad = {
        _entry_name(2): variant(alert_labels=["a", "b"]),
        _entry_name(3): variant(alert_created_at=huge),
        _entry_name(4): variant(first_failed=huge),
        _entry_name(5): variant(attempts=huge),
        _entry_name(6): variant(alert_level=[1]),
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
    os.mkfifo(str(tmp_path / _entry_name(7)))  # a FIFO named like an entry
    (tmp_path / _entry_name(8)).mkdir()  # a folder named like an entry
    (tmp_path / _entry_name(9)).write_text(variant(alert_title="last"))
    sink = Sink()
    with manager_with(sink, spool) as manager:
        report = _flush_within(manager)
    assert sink.titles == ["last", "first"] or sink.titles == ["first", "last"]
    assert (report.delivered, report.dead, report.remaining) == (2, 7, 0)
    assert reason(tmp_path, _entry_name(2)) == "unreadable alert: labels must be a mapping, not a list"
    assert reason(tmp_path, _entry_name(3)) == "unreadable: a time stamp is not a number of seconds in range"
    assert reason(tmp_path, _entry_name(4)) == "unreadable: a time stamp is not a number of seconds in range"
    assert reason(tmp_path, _entry_name(5)) == "unreadable: a field is missing or of the wrong type"
    assert reason(tmp_path, _entry_name(6)).startswith("unreadable")
    assert reason(tmp_path, _entry_name(7)) == "cannot be flushed: it is a FIFO, not a regular file"
    assert reason(tmp_path, _entry_name(8)) == "cannot be flushed: it is a folder, not a regular file"


def test_a_fifo_named_like_a_temporary_file_hangs_neither_flush_nor_put(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, clock=Clock())
    os.mkfifo(str(tmp_path / f".tmp-{_entry_name(1)}"))
    sink = Sink()
    with manager_with(sink, spool) as manager:
        report = _flush_within(manager)
        assert report.dead == 1
        assert reason(tmp_path, f"tmp-{_entry_name(1)}") == (
            "not a file a writer left: it is a FIFO, not a regular file"
        )
        started = time.monotonic()
        assert spool.put(AlertMessage("after"), "ops") is not None
        assert time.monotonic() - started < 5


def test_a_planted_reason_link_is_not_written_through(tmp_path: pathlib.Path) -> None:
    spool = Spool(tmp_path, clock=Clock())
    name = spool.put(AlertMessage("refused"), "ops")
    assert name is not None
    victim = tmp_path.parent / f"{tmp_path.name}-victim"
    victim.write_text("precious\n")
    (tmp_path / "dead").mkdir(mode=0o700)
    (tmp_path / "dead" / (name + ".reason")).symlink_to(victim)
    sink = Sink()
    sink.refuse = True
    with manager_with(sink, spool) as manager:
        assert manager.flush_spool().dead == 1
    assert victim.read_text() == "precious\n"
    (moved,) = dead(tmp_path)
    assert moved.startswith(name + ".") and reason(tmp_path, moved).startswith("refused for good")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_spool_folder_others_can_write_is_refused(tmp_path: pathlib.Path, mode: int) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    os.chmod(folder, mode)
    with pytest.raises(AlertConfigurationError) as caught:
        Spool(folder)
    assert str(caught.value) == (
        f"spool.path: {folder}: the spool folder can be written by group or others"
        f" (mode {mode:04o}), so anyone could plant or change files there; refused (chmod 700 {folder})"
    )


def test_folders_the_spool_makes_are_private_whatever_the_umask(tmp_path: pathlib.Path) -> None:
    old = os.umask(0)
    try:
        spool = Spool(tmp_path / "a" / "spool", clock=Clock())
        name = spool.put(AlertMessage("x"), "ops")
    finally:
        os.umask(old)
    assert name is not None
    for folder in (tmp_path / "a", tmp_path / "a" / "spool"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "spool" / name).stat().st_mode) == 0o600
    (tmp_path / "a" / "spool" / "dead").mkdir()
    os.chmod(tmp_path / "a" / "spool" / "dead", 0o777)  # dead/ is the spool's own: set back
    sink = Sink()
    sink.refuse = True
    with manager_with(sink, spool) as manager:
        assert manager.flush_spool().dead == 1
    assert stat.S_IMODE((tmp_path / "a" / "spool" / "dead").stat().st_mode) == 0o700
    (reason_file,) = (tmp_path / "a" / "spool" / "dead").glob("*.reason")
    assert stat.S_IMODE(reason_file.stat().st_mode) == 0o600


def test_a_peer_stuck_holding_the_spool_lock_delays_put_a_bounded_time(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, clock=Clock())
    spool.lock_wait = 0.5
    assert spool.put(AlertMessage("before"), "ops") is not None
    holder = children.start("hold_lock", str(tmp_path / ".lock"), "60")
    try:
        children.wait_ready(holder)
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="kstalerts"):
            assert spool.put(AlertMessage("during"), "ops") is None
        assert time.monotonic() - started < 3.0
        assert "not spooled" in caplog.text and "still locked by another process after 0.5s" in caplog.text
    finally:
        holder.kill()
        holder.communicate()
    assert spool.put(AlertMessage("after"), "ops") is not None
