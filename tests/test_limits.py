"""Every hard limit at, below and above its bounds, and non-number inputs."""

import logging
import math

import pytest

from kstalerts import AlertConfigurationError
from kstalerts.limits import LIMITS, Where, collect_clamps, validate

BOUNDS = [(name, lim.minimum, lim.maximum) for name, lim in LIMITS.items()]


@pytest.mark.parametrize(("name", "low", "high"), BOUNDS)
def test_values_at_the_bounds_pass_unchanged(
    name: str, low: float, high: float, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert validate(name, low) == low
        assert validate(name, high) == high
    assert caplog.records == []


@pytest.mark.parametrize(("name", "low", "high"), BOUNDS)
def test_values_inside_pass_unchanged(name: str, low: float, high: float) -> None:
    middle = (low + high) / 2
    if LIMITS[name].integer:
        middle = int(middle)
    assert validate(name, middle) == middle


@pytest.mark.parametrize(("name", "low", "high"), BOUNDS)
def test_below_minimum_is_clamped_with_a_warning(
    name: str, low: float, high: float, caplog: pytest.LogCaptureFixture
) -> None:
    asked = low - 1
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert validate(name, asked) == low
    assert caplog.messages == [f"{name}: asked {asked!r}, applied {low!r} (the minimum)"]


@pytest.mark.parametrize(("name", "low", "high"), BOUNDS)
def test_above_maximum_is_clamped_with_a_warning(
    name: str, low: float, high: float, caplog: pytest.LogCaptureFixture
) -> None:
    asked = high * 10
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert validate(name, asked) == high
    assert caplog.messages == [f"{name}: asked {asked!r}, applied {high!r} (the maximum)"]


@pytest.mark.parametrize(("name", "low", "high"), BOUNDS)
def test_infinities_are_clamped(name: str, low: float, high: float) -> None:
    assert validate(name, math.inf) == high
    assert validate(name, -math.inf) == low


@pytest.mark.parametrize("name", sorted(LIMITS))
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "must be a number, got True"),
        (False, "must be a number, got False"),
        (None, "must be a number, got None"),
        (math.nan, "must be a number, not NaN, got nan"),
        ("nan", "must be a number, not NaN, got 'nan'"),
        ("ten", "must be a number, got 'ten'"),
        ("", "must be a number, got ''"),
        ([1], "must be a number, got [1]"),
    ],
)
def test_non_numbers_are_errors(name: str, value: object, expected: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        validate(name, value)
    assert str(info.value) == f"{name}: {expected}"
    assert info.value.key == name


def test_numeric_strings_parse() -> None:
    assert validate("throttle.per", " 30.5 ") == 30.5
    assert validate("channels.max_retries", "3") == 3
    assert validate("throttle.rate", "1e9") == 1000


def test_integer_settings_reject_fractions() -> None:
    with pytest.raises(
        AlertConfigurationError, match=r"channels.max_retries: must be a whole number, got 2.5"
    ):
        validate("channels.max_retries", 2.5)
    assert validate("channels.max_retries", 2.0) == 2
    assert isinstance(validate("channels.max_retries", 2.0), int)


def test_float_settings_return_floats() -> None:
    assert isinstance(validate("channels.timeout", 5), float)


def test_burst_is_clamped_to_rate() -> None:
    assert validate("throttle.burst", 50, upper=10) == 10
    assert validate("throttle.burst", 0, upper=10) == 1
    assert validate("throttle.burst", 7, upper=10) == 7
    assert validate("throttle.burst", 5000) == 1000


def test_error_names_file_line_and_key() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        validate("throttle.rate", "fast", where=Where("kstlib.conf.yml", 3, "alerts.throttle.rate"))
    assert str(info.value) == "kstlib.conf.yml:3: alerts.throttle.rate: must be a number, got 'fast'"
    assert (info.value.path, info.value.line, info.value.key) == (
        "kstlib.conf.yml",
        3,
        "alerts.throttle.rate",
    )


def test_collect_clamps_records_only_inside_the_block() -> None:
    validate("throttle.rate", 0)
    with collect_clamps() as outer:
        validate("throttle.rate", 5000)
        with collect_clamps() as inner:
            validate("channels.timeout", 0.1, where=Where(key="alerts.channels.ops.timeout"))
        validate("channels.timeout", 5.0)
    assert [str(c) for c in inner] == ["alerts.channels.ops.timeout: asked 0.1, applied 1.0 (minimum)"]
    assert [c.name for c in outer] == ["throttle.rate", "alerts.channels.ops.timeout"]
