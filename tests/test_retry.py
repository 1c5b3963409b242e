"""RetryPolicy, backoff and Retry-After parsing: pure functions, no waits."""

import email.utils
import logging
import pickle
from typing import Any, Dict

import pytest

from kstalerts import AlertConfigurationError, RetryPolicy
from kstalerts.limits import LIMITS, MAX_BACKOFF, MAX_RETRY_AFTER, MAX_SEND_BUDGET
from kstalerts.retry import backoff, parse_retry_after


def test_policy_is_immutable() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError, match="RetryPolicy is immutable"):
        policy.max_retries = 3
    assert policy.replace(max_retries=4).max_retries == 4
    assert policy.replace(max_retries=40).max_retries == 5  # a copy is checked too
    assert policy.max_retries == 2


def test_policy_equality_repr_and_pickle_leave_rand_aside() -> None:
    policy = RetryPolicy(max_retries=3, rand=lambda: 0.5)
    assert policy == RetryPolicy(max_retries=3) and hash(policy) == hash(RetryPolicy(max_retries=3))
    assert repr(RetryPolicy()) == (
        "RetryPolicy(max_retries=2, base_delay=0.5, max_delay=30.0, jitter=True,"
        " max_retry_after=60.0, budget=300.0)"
    )
    assert pickle.loads(pickle.dumps(RetryPolicy(budget=9.0))) == RetryPolicy(budget=9.0)
    assert RetryPolicy() != (2, 0.5, 30.0, True, 60.0, 300.0)
    with pytest.raises(AttributeError, match="RetryPolicy is immutable"):
        del policy.jitter


def test_max_retries_goes_through_the_hard_limits() -> None:
    assert RetryPolicy(max_retries=50).max_retries == 5
    assert RetryPolicy(max_retries=-1).max_retries == 0


def test_other_fields_go_through_the_hard_limits(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kstalerts.limits"):
        policy = RetryPolicy(base_delay=-1, max_delay=1e9, max_retry_after=1e9, budget=float("inf"))
    assert (policy.base_delay, policy.max_delay, policy.max_retry_after, policy.budget) == (
        0.0,
        60.0,
        300.0,
        900.0,
    )
    assert [r.getMessage() for r in caplog.records] == [
        "retry.base_delay: asked -1, applied 0.0 (the minimum)",
        "retry.max_delay: asked 1000000000.0, applied 60.0 (the maximum)",
        "retry.max_retry_after: asked 1000000000.0, applied 300.0 (the maximum)",
        "retry.budget: asked inf, applied 900.0 (the maximum)",
    ]
    # The table's bounds are the library's caps.
    assert (LIMITS["retry.max_delay"].maximum, LIMITS["retry.max_retry_after"].maximum) == (
        MAX_BACKOFF,
        MAX_RETRY_AFTER,
    )
    assert (LIMITS["retry.base_delay"].maximum, LIMITS["retry.budget"].maximum) == (
        MAX_BACKOFF,
        MAX_SEND_BUDGET,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"budget": float("nan")}, "retry.budget: must be a number, not NaN, got nan"),
        ({"max_delay": float("nan")}, "retry.max_delay: must be a number, not NaN, got nan"),
        ({"base_delay": "soon"}, "retry.base_delay: must be a number, got 'soon'"),
        ({"max_retry_after": None}, "retry.max_retry_after: must be a number, got None"),
        ({"budget": True}, "retry.budget: must be a number, got True"),
        ({"max_retries": 1.5}, "channels.max_retries: must be a whole number, got 1.5"),
        ({"jitter": "yes"}, "retry.jitter: must be true or false, got 'yes'"),
        ({"rand": 0.5}, "retry.rand: must be callable, got 0.5"),
    ],
)
def test_a_value_that_is_not_what_a_field_takes_is_an_error(options: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        RetryPolicy(**options)
    assert str(info.value) == message


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [backoff(policy, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff(policy, 10_000) == 3.0


def test_full_jitter_is_uniform_below_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    assert backoff(policy, 3, rand=lambda: 0.0) == 0.0
    assert backoff(policy, 3, rand=lambda: 0.25) == 1.0
    assert backoff(policy, 3, rand=lambda: 7.0) == 4.0  # a broken rand cannot exceed the ceiling


def test_delay_prefers_retry_after_capped() -> None:
    policy = RetryPolicy(jitter=False, base_delay=1.0, max_retry_after=30.0)
    assert policy.delay(1, retry_after=5.0) == 5.0
    assert policy.delay(1, retry_after=1e6) == 30.0
    assert policy.delay(2) == 2.0
    assert policy.delay(2, retry_after=-1) == 2.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.0), ("7", 7.0), (" 12 ", 12.0), ("120", 120.0)],
)
def test_retry_after_seconds(header: str, expected: float) -> None:
    assert parse_retry_after(header) == expected


@pytest.mark.parametrize("header", [None, "", "-3", "1.5e3x", "soon", "9" * 100, "Mon, 99 Foo 2020", "3.5"])
def test_malformed_retry_after_is_none(header: object) -> None:
    assert parse_retry_after(header) is None  # type: ignore[arg-type]


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0663", "-3", "+3", "3.5", " ", "9" * 65, "Wed, 21 Oct 99999 07:28:00 GMT", "\x00"]
)
def test_odd_retry_after_values_are_unusable_not_errors(value: str) -> None:
    assert parse_retry_after(value) is None


def test_a_huge_but_valid_retry_after_is_cut_by_the_policy() -> None:
    wait = parse_retry_after("9" * 60)
    assert wait is not None and RetryPolicy().delay(1, wait) == 60.0
