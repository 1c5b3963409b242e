"""Matchers: amtool's syntax, fully anchored regexes, and the guard against hostile patterns."""

import time

import pytest

from kstalerts import AlertLevel, AlertMessage
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.lifecycle.identity import fields, fingerprint
from kstalerts.lifecycle.matchers import parse_matcher, parse_matchers
from kstalerts.limits import MAX_MATCH_INPUT

DISK = AlertMessage("disk full", "91%", AlertLevel.WARNING, labels={"host": "db1"})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("host=db1", True),
        ("host!=db1", False),
        ('host="db1"', True),
        ("host=~db[0-9]", True),
        ("host!~db[0-9]", False),
        ("alertname=~disk", False),  # anchored: "disk" is not "disk full"
        ('alertname=~"disk.*"', True),
        ("alertname!~disk", True),
        ("level=warning", True),
        ("key=", True),  # no dedup key: the empty value
        ("missing=", True),
        ("missing!=", False),
    ],
)
def test_matchers_follow_alertmanager(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(fields(DISK)) is expected


@pytest.mark.parametrize("bad", ["host", "=db1", "host==", "1host=a", 'host="db1', "host=~(", "host=~a{2,1}"])
def test_a_malformed_matcher_names_the_forms(bad: str) -> None:
    with pytest.raises(AlertConfigurationError, match="malformed|invalid regex|not closed|regex refused"):
        parse_matcher(bad if bad != "host==" else "host=~a(")


@pytest.mark.parametrize(
    "pattern, why",
    [
        ("(a+)+b", "repetition inside a repetition"),
        ("(a|ab)*c", "alternation"),
        (".*a.*b.*c", "more than 2 repetitions"),
        ("(a)\\1", "back-references"),
        ("(?=a)a", "look-arounds"),
    ],
)
def test_hostile_regexes_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(AlertConfigurationError, match=why):
        parse_matcher(f"alertname=~{pattern}")


def test_an_over_long_pattern_is_refused() -> None:
    with pytest.raises(AlertConfigurationError, match="the limit is 256"):
        parse_matcher("host=~" + "a" * 300)


def test_the_worst_allowed_regex_on_the_longest_field_is_quick() -> None:
    matcher = parse_matcher("alertname=~[a-z]*[a-z]*x")
    started = time.monotonic()
    assert not matcher.matches({"alertname": "a" * MAX_MATCH_INPUT})
    assert time.monotonic() - started < 1.0  # a few ms; generous under load


def test_a_field_longer_than_the_input_cap_never_matches_a_regex() -> None:
    long = {"alertname": "a" * (MAX_MATCH_INPUT + 1)}
    assert not parse_matcher("alertname=~a*").matches(long)
    assert parse_matcher("alertname!~a*").matches(long)


def test_silence_matchers_need_one_that_does_not_match_the_empty_string() -> None:
    with pytest.raises(AlertConfigurationError, match="silence everything"):
        parse_matchers(["host=~.*", "dc!=x"], need_non_empty=True)
    assert len(parse_matchers(["host=~.*", "dc=x"], need_non_empty=True)) == 2


def test_identity_is_the_key_else_title_and_labels_never_level_or_body() -> None:
    same = DISK.replace(level=AlertLevel.CRITICAL, body="97%")
    assert fingerprint(same) == fingerprint(DISK)
    assert fingerprint(DISK.replace(labels={"host": "db2"})) != fingerprint(DISK)
    keyed = DISK.replace(dedup_key="disk-db1")
    assert fingerprint(keyed) == fingerprint(AlertMessage("other title", dedup_key="disk-db1"))
