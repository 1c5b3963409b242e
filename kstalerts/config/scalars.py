"""Typing plain scalars exactly as PyYAML's ``safe_load`` does (YAML 1.1).

The regular expressions are PyYAML's implicit resolvers (``yaml/resolver.py``)
tried in PyYAML's order, and the conversions follow its ``SafeConstructor``,
so ``yes`` is ``True``, ``017`` is 15, ``1:30`` is 90 and ``1e5`` stays text.
What PyYAML would turn into something outside the subset (dates, merge keys,
``=``) or fail on (``0b_``, overlong numbers) raises
:class:`RefusedScalarError`, which the parser turns into a located
:class:`~kstalerts.exceptions.AlertConfigurationError`.
"""

from .._text import compiled
from .._typing import Any, FrozenSet, Tuple

__all__ = ()

_MAX_NUMBER_CHARS = 4300  # Python's own cap on int() of a decimal string

# PyYAML's implicit resolvers (yaml/resolver.py), in the order it tries them;
# the sources are compiled on first use (a config of words and small numbers
# never needs most of them: see resolve_plain's shortcuts).
_BOOL_WORDS = frozenset("yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF".split())
_NULL_WORDS = frozenset({"~", "null", "Null", "NULL", ""})
_FLOAT = r"""(?x)^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$"""
_INT = r"""(?x)^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"""
_TIMESTAMP = r"""(?x)^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
     (?:[Tt]|[ \t]+)[0-9][0-9]?
     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"""
_DIGITS = "0123456789"


def _word(text: str, words: "FrozenSet[str]") -> bool:
    """``re.match("^(?:w1|w2...)$", text)``: ``$`` also matches before a final newline."""
    return text in words or (text[-1:] == "\n" and text[:-1] in words)


def _decimal(text: str) -> bool:
    """Whether ``_INT`` matches ``text``, a non-empty run of ASCII digits (``_FLOAT`` never does)."""
    return text[0] != "0" or text == "0" or not text[1:].strip("01234567")


class RefusedScalarError(Exception):
    """A plain scalar outside the subset; the parser adds the location."""


def resolve_plain(text: str) -> Any:
    """The value PyYAML's ``safe_load`` gives the plain scalar ``text``.

    >>> [resolve_plain(t) for t in ("yes", "0x1f", "1_000", "1:30", "~", "6.5")]
    [True, 31, 1000, 90, None, 6.5]
    """
    first = text[:1]
    if first in "-+0123456789." and first and len(text) > _MAX_NUMBER_CHARS and compiled(_INT).match(text):
        raise RefusedScalarError(f"number too long ({len(text)} characters)")
    if _word(text, _BOOL_WORDS):
        return text.lower() in ("yes", "true", "on")
    if first and first in _DIGITS and not text.strip(_DIGITS):  # 7, 30, 017: no pattern needed
        if _decimal(text):
            return _int(text)
    elif first and first in "-+0123456789." and compiled(_FLOAT).match(text):
        return _float(text)
    elif first and first in "-+0123456789" and compiled(_INT).match(text):
        return _int(text)
    if text == "<<":
        raise RefusedScalarError("merge keys ('<<') are not supported")
    if _word(text, _NULL_WORDS):
        return None
    if first and first in "0123456789" and compiled(_TIMESTAMP).match(text):
        raise RefusedScalarError(f"dates and timestamps are not supported; quote {text!r} to keep it as text")
    if text == "=":
        raise RefusedScalarError("a plain '=' is not supported; quote it")
    return text


def _sign(value: str) -> Tuple[int, str]:
    sign = -1 if value[0] == "-" else 1
    return sign, value[1:] if value[0] in "+-" else value


def _float(text: str) -> float:
    sign, value = _sign(text.replace("_", "").lower())
    if value == ".inf":
        return sign * float("inf")
    if value == ".nan":
        return float("nan")
    if ":" in value:
        total, base = 0.0, 1
        for part in reversed(value.split(":")):
            total += float(part) * base
            base *= 60
        return sign * total
    return sign * float(value)


def _int(text: str) -> int:
    sign, value = _sign(text.replace("_", ""))
    try:
        if value == "0":
            return 0
        if value.startswith("0b"):
            return sign * int(value[2:], 2)
        if value.startswith("0x"):
            return sign * int(value[2:], 16)
        if value[0] == "0":
            return sign * int(value, 8)
        if ":" in value:
            total = 0
            for part in value.split(":"):
                total = total * 60 + int(part)
            return sign * total
        return sign * int(value)
    except ValueError:
        raise RefusedScalarError(f"{text!r} is not a valid number") from None
