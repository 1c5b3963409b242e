"""Matchers as Alertmanager and amtool write them: ``name=value``,
``name!=value``, ``name=~regex``, ``name!~regex``.

A matcher is tried on the fields :func:`~kstalerts.lifecycle.identity.fields`
gives (labels plus ``alertname``, ``level``, ``key``); a missing field is
the empty string, as in Alertmanager. Regexes are fully anchored
(``alertname=~disk`` does not match ``disk full``; write ``disk.*``).

Rules, so a matcher from a shell or a config file can never hang a send:
a value or regex is at most ``MAX_MATCHER_PATTERN`` characters; a regex is
refused when it has a back-reference or a look-around (Alertmanager's RE2
has neither), a repetition inside a repetition (``(a+)+``), an alternation
inside a repetition (``(a|ab)*``), or more than two repetitions that may
repeat more than once (``.*a.*b.*c``); and a regex is tried only on a
field of at most ``MAX_MATCH_INPUT`` characters: a longer field never
matches ``=~`` (and so always matches ``!~``). With these rules the worst
match costs a few milliseconds. A value may be quoted (``name="a b"``),
with ``\\"`` and ``\\\\`` escapes.
"""

import re

from .._typing import Any, Iterable, List, Mapping, NamedTuple, Optional, Pattern, Sequence, Tuple
from ..exceptions import AlertConfigurationError
from ..limits import MAX_MATCH_INPUT, MAX_MATCHER_PATTERN

__all__ = ()

_FORM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_MAX_REPEATS = 2


class Matcher(NamedTuple):
    """One parsed matcher; :meth:`matches` tries it on a mapping of fields."""

    name: str
    op: str  # "=", "!=", "=~" or "!~"
    value: str
    regex: Optional[Pattern[str]]

    def matches(self, seen: Mapping[str, str]) -> bool:
        """Whether the field ``name`` of ``seen`` satisfies this matcher."""
        text = seen.get(self.name, "")
        if self.regex is None:
            return (text == self.value) is (self.op == "=")
        found = len(text) <= MAX_MATCH_INPUT and self.regex.fullmatch(text) is not None
        return found is (self.op == "=~")

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_quote(self.value)}"'


def parse_matcher(text: str) -> Matcher:
    """The matcher ``text`` writes; a clear :class:`AlertConfigurationError` otherwise."""
    if not isinstance(text, str):
        raise AlertConfigurationError(f"a matcher is a string such as 'host=db1', not {type(text).__name__}")
    form = _FORM.fullmatch(text)
    if form is None:
        raise AlertConfigurationError(
            f"matcher {text[:80]!r} is malformed; write name=value, name!=value, name=~regex or"
            ' name!~regex (for example host=db1 or alertname=~"disk.*")'
        )
    name, op, raw = form.groups()
    value = _unquote(raw, text)
    if len(value) > MAX_MATCHER_PATTERN:
        raise AlertConfigurationError(
            f"matcher {name}{op}...: its value is {len(value)} characters; the limit is {MAX_MATCHER_PATTERN}"
        )
    regex = _compile(value, f"{name}{op}{value}") if op in ("=~", "!~") else None
    return Matcher(name, op, value, regex)


def parse_matchers(texts: Iterable[Any], *, need_non_empty: bool = False) -> Tuple[Matcher, ...]:
    """Several matchers; with ``need_non_empty``, one at least must not match the empty string.

    That rule (Alertmanager's for silences) keeps ``alertname=~".*"`` from
    silencing everything by accident.
    """
    parsed = tuple(parse_matcher(text) for text in texts)
    if not parsed:
        raise AlertConfigurationError("give at least one matcher, such as host=db1")
    if need_non_empty and all(m.matches({}) for m in parsed):
        raise AlertConfigurationError(
            "every matcher here also matches an alert without that label (an empty value), so it would"
            " silence everything; add one that names a value, such as host=db1"
        )
    return parsed


def matches_all(matchers: Sequence[Matcher], seen: Mapping[str, str]) -> bool:
    """Whether every matcher holds for ``seen``."""
    return all(m.matches(seen) for m in matchers)


def _unquote(raw: str, text: str) -> str:
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        if '"' in raw[:1]:
            raise AlertConfigurationError(f"matcher {text[:80]!r}: the quoted value is not closed")
        return raw
    out: List[str] = []
    chars = iter(raw[1:-1])
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
        elif char == '"':
            raise AlertConfigurationError(f'matcher {text[:80]!r}: escape a quote inside the value as \\"')
        out.append(char)
    return "".join(out)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _compile(pattern: str, shown: str) -> Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise AlertConfigurationError(f"matcher {shown[:80]!r}: invalid regex ({exc})") from None
    why = _hostile(pattern)
    if why:
        raise AlertConfigurationError(
            f"matcher {shown[:80]!r}: regex refused: {why}; write it more simply (a silence or"
            " rule must never make a send wait on a regex)"
        )
    return compiled


def _parser() -> Any:
    try:
        import re._parser as parser  # type: ignore[import-not-found,unused-ignore]  # 3.11+
    except ImportError:
        import sre_parse as parser
    return parser


def _hostile(pattern: str) -> Optional[str]:
    """Why ``pattern`` could backtrack without bound, or ``None``."""
    parser = _parser()
    tree = parser.parse(pattern)
    consts = _constants()
    repeats = [0]

    def walk(items: Any, inside_repeat: bool) -> Optional[str]:
        for op, arg in items:
            name = str(op)
            if name in consts["refs"]:
                return "back-references are not supported"
            if name in consts["looks"]:
                return "look-arounds are not supported"
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                _, high, sub = arg
                many = high is None or high > 1 or str(high) == "MAXREPEAT"
                if many:
                    if inside_repeat:
                        return "a repetition inside a repetition"
                    repeats[0] += 1
                    if repeats[0] > _MAX_REPEATS:
                        return f"more than {_MAX_REPEATS} repetitions (*, +, {{m,n}})"
                why = walk(sub, inside_repeat or many)
                if why:
                    return why
            elif name == "BRANCH":
                if inside_repeat:
                    return "an alternation (|) inside a repetition"
                for branch in arg[1]:
                    why = walk(branch, inside_repeat)
                    if why:
                        return why
            elif name == "SUBPATTERN":
                why = walk(arg[-1], inside_repeat)
                if why:
                    return why
            elif name == "ATOMIC_GROUP":
                why = walk(arg, inside_repeat)
                if why:
                    return why
        return None

    return walk(tree, False)


def _constants() -> Mapping[str, Tuple[str, ...]]:
    refs = ("GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE", "GROUPREF_UNI_IGNORE")
    return {"refs": refs, "looks": ("ASSERT", "ASSERT_NOT")}
