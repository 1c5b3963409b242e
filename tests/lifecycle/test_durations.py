"""Durations: units, compound forms, the hard limits, and the CLI's strict form."""

import pytest

from kstalerts.exceptions import AlertConfigurationError
from kstalerts.lifecycle.durations import duration, human, parse_seconds, strict_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30),
        ("5m", 300),
        ("4h", 14400),
        ("2d", 172800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("90", 90),
        (45, 45),
    ],
)
def test_durations_read_as_people_write_them(text: object, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "1y", "-5m", "h", True, None, "1h-30m"])
def test_a_bad_duration_says_what_is_accepted(bad: object) -> None:
    with pytest.raises(AlertConfigurationError, match="30s, 5m, 4h, 2d"):
        parse_seconds(bad, name="--for")


def test_config_durations_are_clamped_by_the_one_validator(caplog: pytest.LogCaptureFixture) -> None:
    assert duration("lifecycle.repeat_interval", "30d") == 604800.0
    assert "lifecycle.repeat_interval: asked" in caplog.text


def test_the_command_line_refuses_a_duration_out_of_limits() -> None:
    with pytest.raises(AlertConfigurationError, match="out of range; use from 1s to 30d"):
        strict_duration("silence.duration", "31d", what="--for")
    assert strict_duration("silence.duration", "2h") == 7200.0


def test_human_shows_the_two_largest_units() -> None:
    assert [human(x) for x in (0, 1.5, 90, 3600, 93784)] == ["0s", "1.5s", "1m30s", "1h", "1d2h"]
