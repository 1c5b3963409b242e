"""Plain scalars typed without the patterns give what the patterns give.

:func:`resolve_plain` answers words (booleans, nulls) from sets and runs of
digits without a pattern, so a cold ``kstalerts send --config`` compiles no
regular expression for them. These checks run PyYAML's resolver order with
the patterns themselves on the same texts and compare.
"""

import re
from typing import Any

import pytest

from kstalerts.config import scalars
from kstalerts.config.scalars import RefusedScalarError, resolve_plain

SAMPLES = (
    "yes", "Yes", "YES", "no", "off", "On", "true", "False", "yes\n", "no\n", "yEs", "truee",
    "~", "null", "Null", "NULL", "", "null\n", "\n", "nul",
    "0", "7", "30", "017", "00", "08", "0_7", "1_000", "007", "0777", "0778", "10\n", "٣", "²",
    "0x1f", "-0x1f", "0b101", "+12", "-0", "1:30", "190:20:30", "6.5", "1e5", "1.0e+5", ".inf", "-.Inf", ".nan",
    "2024-01-02", "2001-12-14t21:59:43.10-05:00", "<<", "=", "slack", "http://x/y", "12 monkeys",
)  # fmt: skip


def by_patterns(text: str) -> Any:
    """resolve_plain as it was: every test a pattern, in PyYAML's order."""

    def match(source: str) -> bool:
        return re.match(source, text) is not None

    first = text[:1]
    if match(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"):
        return text.lower() in ("yes", "true", "on")
    if first and first in "-+0123456789." and match(scalars._FLOAT):
        return scalars._float(text)
    if first and first in "-+0123456789" and match(scalars._INT):
        return scalars._int(text)
    if text == "<<":
        raise RefusedScalarError("merge keys")
    if match(r"^(?:~|null|Null|NULL|)$"):
        return None
    if first and first in "0123456789" and match(scalars._TIMESTAMP):
        raise RefusedScalarError("dates")
    if text == "=":
        raise RefusedScalarError("=")
    return text


def outcome(resolve: Any, text: str) -> Any:
    try:
        value = resolve(text)
    except RefusedScalarError:
        return "refused"
    return (type(value).__name__, repr(value))


@pytest.mark.parametrize("text", SAMPLES)
def test_shortcuts_agree_with_the_patterns(text: str) -> None:
    assert outcome(resolve_plain, text) == outcome(by_patterns, text)


def test_the_samples_reach_every_branch() -> None:
    kinds = {outcome(resolve_plain, text)[0] for text in SAMPLES}
    assert kinds == {"bool", "NoneType", "int", "float", "str", "r"}  # "r": refused
