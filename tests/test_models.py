"""AlertLevel, AlertMessage and AlertResult."""

import copy
import pickle
import re
import time

import pytest

from kstalerts import AlertConfigurationError, AlertLevel, AlertMessage, AlertResult
from kstalerts.limits import MAX_BODY_CHARS, MAX_LABELS, MAX_TITLE_CHARS
from kstalerts.models import stored_level


def test_levels_are_ordered() -> None:
    assert AlertLevel.INFO < AlertLevel.SUCCESS < AlertLevel.WARNING < AlertLevel.CRITICAL
    shuffled = [AlertLevel.CRITICAL, AlertLevel.INFO, AlertLevel.WARNING, AlertLevel.SUCCESS]
    assert sorted(shuffled) == list(AlertLevel)


def test_levels_have_kstlib_values() -> None:
    assert [int(level) for level in AlertLevel] == [10, 11, 20, 30]
    assert [level.name for level in AlertLevel] == ["INFO", "SUCCESS", "WARNING", "CRITICAL"]
    warning: int = AlertLevel.WARNING  # kstlib code compares a level with a plain int
    assert AlertLevel(11) is AlertLevel.SUCCESS and warning == 20


@pytest.mark.parametrize("text", ["success", "SUCCESS", "Success", " success "])
def test_success_parses_case_insensitively(text: str) -> None:
    assert AlertLevel.parse(text) is AlertLevel.SUCCESS


@pytest.mark.parametrize(
    "stored, expected",
    [
        (1, AlertLevel.INFO),
        (2, AlertLevel.WARNING),
        (3, AlertLevel.CRITICAL),
        (10, AlertLevel.INFO),
        (11, AlertLevel.SUCCESS),
        (30, AlertLevel.CRITICAL),
        ("success", AlertLevel.SUCCESS),
        (AlertLevel.WARNING, AlertLevel.WARNING),
    ],
)
def test_stored_levels_old_and_new_load(stored: object, expected: AlertLevel) -> None:
    assert stored_level(stored) is expected


@pytest.mark.parametrize("stored", [0, 4, 12, True, None, "loud"])
def test_a_stored_level_that_is_none_of_them_is_refused(stored: object) -> None:
    with pytest.raises(AlertConfigurationError, match="unknown alert level"):
        stored_level(stored)


def test_a_message_written_with_an_old_level_number_reads_back() -> None:
    data = AlertMessage("t", level=AlertLevel.WARNING).to_dict()
    assert data["level"] == "WARNING"
    assert AlertMessage.from_dict({**data, "level": 2}).level is AlertLevel.WARNING
    assert AlertMessage.from_dict({**data, "level": "success"}).level is AlertLevel.SUCCESS


@pytest.mark.parametrize("text", ["critical", "CRITICAL", "Critical", " critical "])
def test_level_parse_is_case_insensitive(text: str) -> None:
    assert AlertLevel.parse(text) is AlertLevel.CRITICAL


def test_level_parse_passes_levels_through() -> None:
    assert AlertLevel.parse(AlertLevel.WARNING) is AlertLevel.WARNING


@pytest.mark.parametrize("value", ["urgent", "", 3, None])
def test_level_parse_rejects_unknown_names_listing_the_valid_ones(value: object) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        AlertLevel.parse(value)  # type: ignore[arg-type]
    assert (
        str(info.value) == f"unknown alert level {value!r}; expected one of: info, success, warning, critical"
    )


def test_level_str_is_its_name() -> None:
    assert str(AlertLevel.WARNING) == "WARNING"


def test_message_is_frozen_and_keeps_its_fields() -> None:
    alert = AlertMessage("Disk full", "/var at 97%", AlertLevel.WARNING)
    with pytest.raises(AttributeError, match="AlertMessage is immutable"):
        alert.title = "x"
    assert (alert.title, alert.body, alert.level, alert.timestamp) == (
        "Disk full",
        "/var at 97%",
        AlertLevel.WARNING,
        False,
    )
    assert alert.labels == {}


def test_message_defaults() -> None:
    alert = AlertMessage("t")
    assert alert.body == "" and alert.level is AlertLevel.INFO and alert.dedup_key is None


@pytest.mark.parametrize("title", ["", "   ", None, 5])
def test_message_rejects_empty_or_non_string_title(title: object) -> None:
    with pytest.raises(AlertConfigurationError, match="alert title must be a non-empty string"):
        AlertMessage(title)  # type: ignore[arg-type]


def test_message_rejects_a_level_that_is_not_an_alert_level() -> None:
    # A name is parsed, as add_channel(min_level="warning") and the config do (issue 27).
    assert AlertMessage("t", level="warning").level is AlertLevel.WARNING  # type: ignore[arg-type]
    with pytest.raises(AlertConfigurationError, match="unknown alert level 'loud'|'loud'"):
        AlertMessage("t", level="loud")  # type: ignore[arg-type]
    with pytest.raises(AlertConfigurationError, match="not int"):
        AlertMessage("t", level=3)  # type: ignore[arg-type]


def test_message_rejects_non_string_body_and_dedup_key() -> None:
    with pytest.raises(AlertConfigurationError, match="alert body must be a string"):
        AlertMessage("t", None)  # type: ignore[arg-type]
    with pytest.raises(AlertConfigurationError, match="dedup_key must be a string"):
        AlertMessage("t", dedup_key=1)  # type: ignore[arg-type]


def test_message_fixes_its_creation_time() -> None:
    before = time.time()
    alert = AlertMessage("t", timestamp=True)
    after = time.time()
    assert before <= alert.created_at <= after
    first = alert.formatted_title
    time.sleep(0.01)
    assert alert.formatted_title == first


def test_formatted_title_has_a_timestamp_only_when_asked() -> None:
    assert AlertMessage("Backup").formatted_title == "Backup"
    stamped = AlertMessage("Backup", timestamp=True, created_at=0.0).formatted_title
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] Backup", stamped)
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(0.0))
    assert stamped == f"[{expected}] Backup"


def test_long_title_and_body_are_cut_with_a_marker() -> None:
    alert = AlertMessage("t" * (MAX_TITLE_CHARS + 10), "b" * (MAX_BODY_CHARS + 5))
    for text, limit, given in ((alert.title, MAX_TITLE_CHARS, "t"), (alert.body, MAX_BODY_CHARS, "b")):
        cut = re.fullmatch(r"(\w+) \[… (\d+) characters cut …\] (\w+)", text)
        assert cut is not None, text
        head, count, tail = cut.groups()
        assert len(text) <= limit and head.startswith(given) and tail.endswith(given)
        assert len(head) + int(count) + len(tail) == (limit + 10 if given == "t" else limit + 5)


def test_labels_are_read_only_and_validated() -> None:
    source = {"service": "db"}
    alert = AlertMessage("t", labels=source)
    source["service"] = "changed"
    assert alert.labels == {"service": "db"}
    with pytest.raises(TypeError):
        alert.labels["x"] = "y"  # type: ignore[index]
    with pytest.raises(AlertConfigurationError, match="labels map strings to strings"):
        AlertMessage("t", labels={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(AlertConfigurationError, match=f"too many labels: {MAX_LABELS + 1}"):
        AlertMessage("t", labels={str(i): "v" for i in range(MAX_LABELS + 1)})


def test_message_is_hashable_and_equal_by_content() -> None:
    a = AlertMessage("t", "b", labels={"x": "y"}, created_at=1.0)
    b = AlertMessage("t", "b", labels={"x": "y"}, created_at=2.0)
    assert a == b and hash(a) == hash(b)


def test_dedup_key_defaults_to_level_and_title() -> None:
    assert AlertMessage("Disk", level=AlertLevel.WARNING).effective_dedup_key == "WARNING:Disk"
    assert AlertMessage("Disk", dedup_key="disk-1").effective_dedup_key == "disk-1"


def test_dict_round_trip_is_exact() -> None:
    alert = AlertMessage("t", "b", AlertLevel.CRITICAL, timestamp=True, labels={"a": "b"}, dedup_key="k")
    again = AlertMessage.from_dict(alert.to_dict())
    assert again == alert and again.created_at == alert.created_at


def test_results_describe_themselves() -> None:
    ok = AlertResult("ops", True, "m1", attempts=2)
    assert str(ok) == "ops: delivered (2 attempt(s))"
    assert (
        str(AlertResult("ops", False, error="HTTP 404 no_service", attempts=1))
        == "ops: failed: HTTP 404 no_service"
    )
    assert str(AlertResult("ops", False, error="slow down", throttled=True)).startswith("ops: throttled: ")
    assert str(AlertResult("ops", False, suppressed=True)) == "ops: suppressed (duplicate within the window)"
    with pytest.raises(AttributeError, match="AlertResult is immutable"):
        ok.success = False


def test_message_replace_checks_the_change_and_keeps_the_creation_time() -> None:
    alert = AlertMessage("t", "b", AlertLevel.INFO, labels={"a": "b"}, created_at=5.0)
    changed = alert.replace(level=AlertLevel.CRITICAL, body="x" * (MAX_BODY_CHARS + 1))
    assert changed.level is AlertLevel.CRITICAL and changed.created_at == 5.0
    assert changed.labels == {"a": "b"} and "[… 26 characters cut …]" in changed.body
    assert alert.level is AlertLevel.INFO
    with pytest.raises(AlertConfigurationError, match="alert title must be a non-empty string"):
        alert.replace(title="")
    with pytest.raises(TypeError):
        alert.replace(colour="red")


def test_message_equality_ignores_creation_time_and_hash_ignores_labels() -> None:
    a = AlertMessage("t", labels={"x": "1"}, created_at=1.0)
    assert a != AlertMessage("t", labels={"x": "2"}, created_at=1.0)
    assert hash(a) == hash(AlertMessage("t", labels={"x": "2"}))
    assert a != AlertMessage("t", "other body") and a != ("t",)
    with pytest.raises(AttributeError):
        del a.title


def test_message_repr_shows_every_field() -> None:
    alert = AlertMessage("t", labels={"a": "b"}, created_at=1.0)
    assert repr(alert) == (
        "AlertMessage(title='t', body='', level=<AlertLevel.INFO: 10>, timestamp=False,"
        " labels=mappingproxy({'a': 'b'}), dedup_key=None, created_at=1.0)"
    )


def test_message_pickles_with_its_labels_and_creation_time() -> None:
    alert = AlertMessage("t", "b", AlertLevel.CRITICAL, True, {"service": "db"}, "k", created_at=3.5)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(alert, protocol))
        assert again == alert and again.created_at == 3.5
        assert again.labels == {"service": "db"}
        with pytest.raises(TypeError):
            again.labels["x"] = "y"
    assert copy.copy(alert) == alert and copy.deepcopy(alert).labels == alert.labels


def test_result_pickles_with_its_alert() -> None:
    alert = AlertMessage("t", labels={"a": "b"}, created_at=2.0)
    result = AlertResult("ops", False, None, "HTTP 503", 3, retryable=True, status=503, alert=alert)
    again = pickle.loads(pickle.dumps(result))
    assert again == result and str(again) == "ops: failed: HTTP 503"
    assert again.alert == alert and again.alert is not None and again.alert.labels == {"a": "b"}
    assert again.alert.created_at == 2.0


def test_level_pickles_as_itself() -> None:
    for level in AlertLevel:
        assert pickle.loads(pickle.dumps(level)) is level


def test_result_equality_hash_and_repr_leave_the_alert_out() -> None:
    a = AlertResult("ops", True, "m1", attempts=1, alert=AlertMessage("one"))
    b = AlertResult("ops", True, "m1", attempts=1, alert=AlertMessage("two"))
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(attempts=2) and a != ("ops", True)
    with pytest.raises(AttributeError, match="AlertResult is immutable"):
        del a.error
    assert repr(a) == (
        "AlertResult(channel='ops', success=True, message_id='m1', error=None, attempts=1,"
        " throttled=False, suppressed=False, retryable=False, spooled=False, status=None)"
    )
    spooled = a.replace(spooled=True)
    assert spooled.spooled and spooled.alert is a.alert and not a.spooled


def test_a_result_stores_its_outcome_and_reads_the_flags_from_it() -> None:
    """No round trip: the outcome a delivery came to is kept, whatever else changes."""
    from kstalerts import Delivery, Outcome

    limited = AlertResult.from_delivery("ops", Delivery(Outcome.RATE_LIMITED, note="429"), attempts=2)
    assert limited.outcome is Outcome.RATE_LIMITED
    assert (limited.success, limited.throttled, limited.suppressed, limited.retryable) == (False, True, False, True)
    # Once derived from the flags, zero attempts named our own throttle: the stored outcome stays.
    assert limited.replace(attempts=0, spooled=True).outcome is Outcome.RATE_LIMITED
    # Flags given by hand name their outcome once, as before.
    assert AlertResult("ops", False, throttled=True).outcome is Outcome.THROTTLED
    assert AlertResult("ops", True).replace(success=False, retryable=True).outcome is Outcome.FAILED
    for outcome in Outcome:
        result = AlertResult("ops", outcome=outcome, attempts=1)
        assert result.outcome is outcome
        assert result.success is outcome.meaning.success and result.retryable is outcome.meaning.retryable


def test_title_body_and_labels_are_cleaned_once_when_built() -> None:
    """No channel sees a control character: ANSI gone, line breaks as \\n, the rest U+FFFD."""
    alert = AlertMessage("\x1b[1mDisk\x1b[0m full\r\n", "a\rb\x00c\u2028d", labels={"k\x1b[2J": "v\x07"})
    assert (alert.title, alert.body, dict(alert.labels)) == ("Disk full\n", "a\nb\ufffdc\nd", {"k": "v\ufffd"})
    assert alert.replace(level=AlertLevel.WARNING).body == alert.body  # cleaning is idempotent
    with pytest.raises(AlertConfigurationError, match="alert title must be a non-empty string"):
        AlertMessage("\x1b[31m\x1b[0m")  # nothing left once the colour codes go
