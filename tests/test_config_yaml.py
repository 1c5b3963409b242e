"""The YAML subset reader (kstalerts/config/yaml.py).

valid/*.yml are checked against their *.expected twins (Python literals) and
against PyYAML; invalid/*.yml against the exact message in their *.error
twins. A hypothesis property test generates documents inside the subset and
checks the reader returns exactly what PyYAML's safe_load returns; a fuzz
test feeds thousands of mutated and random inputs and checks the reader
only ever returns a value (equal to PyYAML's) or raises
AlertConfigurationError, quickly.
"""

import ast
import math
import pathlib
import random
import string
import time
from typing import Any, Callable, List

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstalerts.config.scalars import resolve_plain
from kstalerts.config.yaml import parse_yaml
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH
from tests import budget

CASES = pathlib.Path(__file__).parent / "config_cases"
VALID = sorted((CASES / "valid").glob("*.yml"))
INVALID = sorted((CASES / "invalid").glob("*.yml"))


def same(a: Any, b: Any) -> bool:
    """Equal, with types compared too (1 is not True) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def read(path: pathlib.Path) -> str:
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", VALID, ids=[p.stem for p in VALID])
def test_valid_case_matches_expected_and_pyyaml(case: pathlib.Path) -> None:
    expected = ast.literal_eval(case.with_suffix(".expected").read_text(encoding="utf-8"))
    text = read(case)
    value, _ = parse_yaml(text, case.name)
    assert same(value, expected)
    assert same(value, yaml.safe_load(text))


@pytest.mark.parametrize("case", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_case_message(case: pathlib.Path) -> None:
    expected = case.with_suffix(".error").read_text(encoding="utf-8").rstrip("\n")
    with pytest.raises(AlertConfigurationError) as info:
        parse_yaml(read(case), case.name)
    assert str(info.value) == expected
    assert info.value.path == case.name
    assert info.value.line is not None and info.value.column is not None


def test_error_fields_locate_the_problem() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        parse_yaml("alerts:\n  channels:\n    ops: &anchor {type: slack}\n", "conf.yml")
    err = info.value
    assert (err.path, err.line, err.column, err.key) == ("conf.yml", 3, 10, "alerts.channels.ops")
    assert err.reason == "anchors ('&') are not supported"


def test_line_of_every_key_and_item() -> None:
    text = "alerts:\n  throttle: {rate: 5,\n    per: 60}\n  channels:\n    - a\n    - b: 1\n"
    _, lines = parse_yaml(text)
    assert lines == {
        "alerts": 1,
        "alerts.throttle": 2,
        "alerts.throttle.rate": 2,
        "alerts.throttle.per": 3,
        "alerts.channels": 4,
        "alerts.channels.0": 5,
        "alerts.channels.1": 6,
        "alerts.channels.1.b": 6,
    }


def test_size_limit() -> None:
    text = "a: " + "x" * MAX_CONFIG_BYTES
    with pytest.raises(AlertConfigurationError) as info:
        parse_yaml(text, "big.yml")
    assert str(info.value) == f"big.yml:1:1: the file is larger than {MAX_CONFIG_BYTES} bytes"


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "[" * n + "]" * n,
        lambda n: "".join(f"{' ' * i}k{i}:\n" for i in range(n)),
        lambda n: "- " * n + "x",
        lambda n: "a: " + "{b: " * n + "1" + "}" * n,
    ],
    ids=["flow", "mapping", "sequence", "mixed"],
)
def test_depth_limit(make: Callable[[int], str]) -> None:
    parse_yaml(make(MAX_CONFIG_DEPTH - 1))  # within the limit
    with pytest.raises(AlertConfigurationError) as info:
        parse_yaml(make(MAX_CONFIG_DEPTH + 1))
    assert info.value.reason == f"nesting deeper than {MAX_CONFIG_DEPTH} levels"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True),
        ("Off", False),
        ("0x_1F", 31),
        ("-017", -15),
        ("190:20:30", 685230),
        ("1:30.5", 90.5),
        ("-.inf", -math.inf),
        ("~", None),
        ("0o17", "0o17"),
        ("1e5", "1e5"),
        ("y", "y"),
    ],
)
def test_resolve_plain_like_yaml_1_1(text: str, value: Any) -> None:
    assert same(resolve_plain(text), value)
    assert same(yaml.safe_load(text), value)


def test_nan() -> None:
    assert math.isnan(parse_yaml("a: .NaN")[0]["a"])


# -- the property test: generated documents inside the subset ---------------

_PLAIN_TOKENS = [
    "yes", "No", "ON", "off", "True", "FALSE", "y", "null", "Null", "~", "0", "-0", "+12", "017", "08",
    "0x1F", "0b101", "1_000", "1:30", "-1:30:00", "1.5", "1.", ".5", "-.5", "+.5", "1e5", "1.0e+5",
    "6.0e-3", ".inf", "-.Inf", ".NaN", "09:30", "190:20:30.15", "0o17", "12abc", "a b  c", "a#b", "a:b",
    "-x", "?x", ":x", "http://x.example/p?q=1", "foo@example.com", "a'b", 'a"b', "é", "x]", "x}",
]  # fmt: skip
_FLOW_UNSAFE = set(",[]{}?#")
_WORD = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./@-]{0,8}", fullmatch=True)
_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\x85\u2028\u2029\ufeff\ufffe\uffff",
    )
    | st.just("\t"),
    max_size=12,
)
_LINE = st.text(st.sampled_from(string.ascii_letters + string.digits + " #:-'\"\t"), max_size=10)


def _single(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _double(data: st.DataObject, text: str) -> str:
    out = []
    for ch in text:
        style = data.draw(st.integers(0, 3))
        if ch in '"\\' or (style == 0 and ch != " "):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        elif ch == "\t" and style == 1:
            out.append("\\t")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(data: st.DataObject, flow: bool) -> str:
    kind = data.draw(st.integers(0, 5))
    if kind == 0:
        token = data.draw(st.sampled_from(_PLAIN_TOKENS))
        if not (flow and (_FLOW_UNSAFE & set(token) or token[0] in ":?")):
            return token
        return _single(token)
    if kind == 1:
        return data.draw(_WORD)
    if kind == 2:
        return repr(data.draw(st.integers(-(10**20), 10**20)))
    if kind == 3:
        return repr(data.draw(st.floats(allow_nan=False)))
    if kind == 4:
        return _single(data.draw(_TEXT))
    return _double(data, data.draw(_TEXT))


def _comment(data: st.DataObject) -> str:
    return data.draw(st.sampled_from(["", "", " # note", "   #", " # a: [b]"]))


def _flow(data: st.DataObject, depth: int) -> str:
    kind = data.draw(st.integers(0, 2 if depth < 3 else 0))
    if kind == 0:
        return _scalar(data, True)
    sep = data.draw(st.sampled_from([", ", ",", " ,  ", ",\n  "]))
    trailing = data.draw(st.sampled_from(["", ",", " , "]))
    n = data.draw(st.integers(0, 3))
    if kind == 1:
        items = [_flow(data, depth + 1) for _ in range(n)]
        return "[" + sep.join(items) + (trailing if items else "") + "]"
    keys = data.draw(st.lists(_WORD, max_size=n, unique=True))
    pairs = [f"{k}: {_flow(data, depth + 1)}" for k in keys]
    return "{" + sep.join(pairs) + (trailing if pairs else "") + "}"


_SCALAR_KEYS = ["1", "0x2", "2.5", "yes", "Off", "~", "-1", "1:30", "a b", "a#b"]


def _distinct_keys(keys: List[str]) -> List[str]:
    """Drop keys that PyYAML reads as the same value ("yes" and "1" are both 1 == True)."""
    seen: List[Any] = []
    out = []
    for key in keys:
        values = {yaml.safe_load(key), key}  # the plain and the quoted reading
        if not any(v == s for v in values for s in seen):
            seen.extend(values)
            out.append(key)
    return out


def _block_scalar(data: st.DataObject, indent: int) -> List[str]:
    header = data.draw(st.sampled_from(["|", ">", "|-", ">-", "|+", ">+"]))
    first = data.draw(_LINE.filter(lambda s: s[:1] not in ("", " ", "\t")))
    rest = data.draw(st.lists(_LINE.map(lambda s: s.rstrip(" ")), max_size=4))
    pad = " " * indent
    body = [pad + first] + [pad + line if line.strip(" ") else "" for line in rest]
    return [header + _comment(data), *body]


def _block(data: st.DataObject, indent: int, depth: int) -> List[str]:
    """Lines of a block collection whose entries start at column ``indent``."""
    pad = " " * indent
    entries: List[List[str]] = []
    if data.draw(st.booleans()) or depth >= 3:  # mapping
        keys = data.draw(st.lists(_WORD | st.sampled_from(_SCALAR_KEYS), min_size=1, max_size=4, unique=True))
        for key in _distinct_keys(keys):
            shown = data.draw(st.sampled_from([key, _single(key), f'"{key}"', key + "  "]))
            entries.append(_entry(data, pad + shown + ":", indent, depth, indentless_ok=True))
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            entries.append(_entry(data, pad + "-", indent, depth, indentless_ok=False))
    if data.draw(st.booleans()):  # blank and comment lines between entries
        at = data.draw(st.integers(1, len(entries)))
        entries.insert(at, [data.draw(st.sampled_from(["", "# c", "   # c", "  "]))])
    return [line for entry in entries for line in entry]


def _entry(data: st.DataObject, head: str, indent: int, depth: int, *, indentless_ok: bool) -> List[str]:
    kind = data.draw(st.integers(0, 4 if depth < 3 else 2))
    step = data.draw(st.integers(1, 3))
    if kind == 0:
        return [f"{head} {_scalar(data, False)}{_comment(data)}"]
    if kind == 1:
        return [f"{head} {_flow(data, depth + 1)}{_comment(data)}"]
    if kind == 2:
        first, *body = _block_scalar(data, indent + step)
        return [f"{head} {first}", *body]
    if kind == 3 and head.endswith("-"):  # a compact collection on the entry's line
        inner = _block(data, indent + 2, depth + 1)
        return [head + " " + inner[0][indent + 2 :], *inner[1:]] if inner[0].strip() else [head, *inner]
    child_indent = indent if (indentless_ok and data.draw(st.booleans())) else indent + step
    inner = _block(data, child_indent, depth + 1)
    if child_indent == indent and not (inner[0].lstrip() + " ").startswith(
        "- "
    ):  # only a list may sit at its key's indent
        inner = _block(data, indent + step, depth + 1)
    return [head + _comment(data), *inner]


# 100 documents (about 3 s); 250 with KSTALERTS_FULL_TESTS=1 (tests/budget.py).
@pytest.mark.slow(seconds=4)
@settings(max_examples=budget.scale(100, 250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_reader_equals_pyyaml_safe_load(data: st.DataObject) -> None:
    lines = _block(data, data.draw(st.integers(0, 2)), 0)
    start = data.draw(st.sampled_from(["", "---\n", "--- # doc\n", "# head\n"]))
    end = data.draw(st.sampled_from(["", "\n", "\n\n# tail\n"]))
    document = start + "\n".join(lines) + end
    expected = yaml.safe_load(document)
    value, _ = parse_yaml(document)
    assert same(value, expected), document


# -- the fuzz test ---------------------------------------------------------

_PIECES = [
    "a", "key", "- ", "-", ": ", ":", " ", "  ", "#c", " #c", "[", "]", "{", "}", ",", '"x"', "'y'", "''",
    '"\\t"', "|", ">", "|-", ">+", "yes", "1", "0x1f", "1:30", ".5", "~", "x y", "?", "? ", "&a", "*a", "!t",
    "\n", "\n", "\n  ", "\n    ", "\n- ", "\n  - ", "---", "...", "\t", "%", "@", "07", "1_0", ".inf",
    "1.0e+5", "\\", '"\\x4', "z: ", "p: [", "]\n", '"a":1', "<<", "=", "2001-01-01", "\r\n", "\r", "\ufeff",
    "é", "\x00", "\x85", "k: |\n  l1\n\n  l2\n", "k: >-\n   a\n   b\n  c\n", "0b_", "9" * 5000,
]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(chars))
        op = rng.randint(0, 2)
        if op == 0 and chars:
            del chars[min(at, len(chars) - 1)]
        elif op == 1:
            chars.insert(at, rng.choice(" \n-:#[]{},'\"|>\tab1"))
        elif chars:
            chars[min(at, len(chars) - 1)] = rng.choice(" \n-:#[]{},'\"ab1")
    return "".join(chars)


def test_fuzz_value_or_configuration_error_and_fast() -> None:
    rng = random.Random(20261127)
    seeds = [read(p) for p in VALID + INVALID]
    slowest = 0.0
    outcomes = {"value": 0, "error": 0}
    for _ in range(4000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30)))
        else:
            text = _mutate(rng, rng.choice(seeds))
        started = time.perf_counter()
        try:
            value, _ = parse_yaml(text, "fuzz.yml")
        except AlertConfigurationError as exc:
            assert exc.path == "fuzz.yml" and exc.line is not None
            outcomes["error"] += 1
        else:
            outcomes["value"] += 1
            # Never a silently different value: PyYAML agrees on everything accepted.
            assert same(value, yaml.safe_load(text)), text
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.25
    assert outcomes["value"] > 400 and outcomes["error"] > 400


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "x" * 250_000,
        "a: '" + "''" * 120_000 + "'",
        'a: "' + "\\t" * 120_000 + '"',
        "a: [" + "1, " * 80_000 + "]",
        "".join(f"k{i}: {i}\n" for i in range(25_000)),
        "- " * 120_000,
        "a: |\n" + "  line\n" * 40_000,
        " " * 250_000 + "a",
        "[" * 250_000,
    ],
    ids=["long-plain", "quotes", "escapes", "flow", "many-keys", "dashes", "block", "spaces", "brackets"],
)
def test_large_inputs_take_linear_time(text: str) -> None:
    # CPU time, not wall time (a loaded machine cannot stretch it); about 1 s
    # here, where a quadratic pass over these 80,000-250,000 items takes minutes
    started = time.process_time()
    try:
        parse_yaml(text)
    except AlertConfigurationError:
        pass
    assert time.process_time() - started < 6.0
