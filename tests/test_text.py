"""The one text rule: cleaning, one-line replies, and cutting from the middle."""

import re
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from typing import Match

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstalerts._text import clean, cut, cut_bytes, one_line
from kstalerts.channels.discord import escape_markdown
from kstalerts.channels.slack import escape_mrkdwn
from tests.hostile import HOSTILE_TEXT

_MARKER = re.compile(r"\[… (\d+) (line|character)s? cut …\]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _parts(result: str) -> "Tuple[str, Optional[Match[str]], str]":
    found = list(_MARKER.finditer(result))
    if not found:
        return result, None, ""
    last = found[-1]
    return result[: last.start()], last, result[last.end() :]


# -- clean ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "given_text, expected",
    [
        ("\x1b[31mred\x1b[0m", "red"),  # CSI colour: gone whole, not "[31m"
        ("\x1b]0;title\x07text", "text"),  # OSC window title
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
        ("a\x9b2Jb", "ab"),  # 8-bit CSI
        ("a\x1bcb", "ab"),  # two-byte escape (RIS)
        ("a\r\nb\rc\x85d\u2028e\u2029f", "a\nb\nc\nd\ne\nf"),
        ("tab\tkept\nnewline kept", "tab\tkept\nnewline kept"),
        ("nul\x00bel\x07del\x7fc1\x90", "nul\ufffdbel\ufffddel\ufffdc1\ufffd"),
        ("lone \x1b at the end\x1b", "lone \ufffd at the end\ufffd"),
    ],
)
def test_clean_removes_ansi_and_makes_other_controls_visible(given_text: str, expected: str) -> None:
    assert clean(given_text) == expected


@given(HOSTILE_TEXT)
def test_clean_leaves_no_control_but_tab_and_newline_and_is_idempotent(text: str) -> None:
    cleaned = clean(text)
    assert not _CONTROLS.search(cleaned) and "\x1b" not in cleaned
    assert clean(cleaned) == cleaned


# -- one_line -------------------------------------------------------------------


def test_one_line_masks_secrets_longest_first_and_squeezes_controls() -> None:
    text = b"denied for TOKEN123 and TOKEN\r\n\x1b[1m  again\x00"
    assert one_line(text, secrets=["TOKEN", "TOKEN123", ""]) == "denied for *** and *** again"


def test_one_line_cuts_from_the_middle_and_keeps_the_end() -> None:
    shown = one_line("error: " + "x" * 1000 + " (code 42)", limit=100)
    assert len(shown) <= 100 and shown.startswith("error: xxx") and shown.endswith("(code 42)")
    assert "[… 943 characters cut …]" in shown


# -- cut ------------------------------------------------------------------------


def test_two_hundred_lines_keep_the_first_and_the_last_with_the_count() -> None:
    text = "\n".join(str(n) for n in range(1, 201))
    result = cut(text, 300)
    lines = result.split("\n")
    head, marker, tail = _parts(result)
    assert marker is not None and marker.group(2) == "line"
    assert lines[0] == "1" and lines[-1] == "200" and len(result) <= 300
    kept = head.count("\n") + tail.count("\n")
    assert kept + int(marker.group(1)) == 200  # every line is kept or counted, exactly


def test_a_text_that_fits_is_untouched_and_one_line_is_cut_by_characters() -> None:
    assert cut("short", 5) == "short"
    result = cut("x" * 100, 40)
    assert result == "x" * 8 + " [… 85 characters cut …] " + "x" * 7 and len(result) == 40
    assert cut("aaaa\n" + "b" * 40 + "\ncccc", 40) == "aaaa\n[… 1 line cut …]\ncccc"  # singular
    assert cut("a" * 26, 25) == "a" * 25  # no room for a marker and a character each side


def test_a_huge_first_line_falls_back_to_characters() -> None:
    text = "A" * 500 + "\nshort\n" + "Z" * 500
    result = cut(text, 100)
    head, marker, tail = _parts(result)
    assert marker is not None and marker.group(2) == "character"
    assert head.startswith("AAA") and tail.endswith("ZZZ") and len(result) <= 100


def test_a_limit_smaller_than_the_marker_keeps_the_start() -> None:
    assert cut("abcdefghijklmnopqrstuvwxyz" * 2, 10) == "abcdefghij"
    assert cut("anything", 0) == ""


def test_escape_is_counted_in_the_limit_and_never_split() -> None:
    result = cut("<" * 100, 60, escape=escape_mrkdwn)
    head, marker, tail = _parts(result)
    assert marker is not None and len(result) <= 60
    assert re.fullmatch(r"(&lt;)+ ", head) and re.fullmatch(r" (&lt;)+", tail)
    assert (len(head) - 1) // 4 + int(marker.group(1)) + (len(tail) - 1) // 4 == 100


def test_cut_bytes_counts_utf8_and_never_splits_a_character() -> None:
    result = cut_bytes("é" * 1000, 200)
    head, marker, tail = _parts(result)
    assert marker is not None and len(result.encode("utf-8")) <= 200
    assert set(head.strip() + tail.strip()) == {"é"}
    assert len(head.strip()) + int(marker.group(1)) + len(tail.strip()) == 1000


@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=400), st.integers(0, 300))
def test_cut_never_exceeds_the_limit_and_counts_exactly(text: str, limit: int) -> None:
    result = cut(text, limit)
    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text
        return
    head, marker, tail = _parts(result)
    if marker is None:  # the limit is smaller than any marker: the start alone
        assert text.startswith(result)
        return
    count = int(marker.group(1))
    if marker.group(2) == "line":
        head, tail = head[:-1], tail[1:]  # the marker stands on its own line
        lines = text.split("\n")
        assert head.split("\n") == lines[: head.count("\n") + 1]
        assert tail.split("\n") == lines[len(lines) - tail.count("\n") - 1 :]
        assert head.count("\n") + 1 + count + tail.count("\n") + 1 == len(lines)
    else:
        head, tail = head[:-1], tail[1:]
        assert text.startswith(head) and text.endswith(tail)
        assert len(head) + count + len(tail) == len(text)


@given(st.text(max_size=300), st.integers(30, 200))
def test_cut_bytes_never_exceeds_the_limit(text: str, limit: int) -> None:
    text = clean(text.encode("utf-8", "replace").decode("utf-8"))
    assert len(cut_bytes(text, limit).encode("utf-8")) <= limit


@given(st.text(max_size=300), st.integers(0, 200))
def test_escaped_cut_never_exceeds_the_limit_nor_ends_on_a_lone_backslash(text: str, limit: int) -> None:
    result = cut(text, limit, escape=escape_markdown)
    assert len(result) <= limit
    head, marker, _ = _parts(result)
    if marker is not None:
        assert not re.search(r"(?<!\\)(\\\\)*\\ $", head)  # the marker is never escaped by a cut
