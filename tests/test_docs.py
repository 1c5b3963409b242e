"""The README's hard-limits table says what kstalerts.limits enforces."""

import pathlib
import re
from typing import Dict, Tuple

from kstalerts.limits import LIMITS

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _table() -> Dict[str, Tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    block = text.split("### Hard limits", 1)[1].split("No source", 1)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.match(r"[a-z_]+\.[a-z_]+", cells[0]):
            rows[cells[0].split(" ")[0]] = (cells[1], cells[2])
    return rows


def test_every_hard_limit_is_in_the_readme_with_its_bounds() -> None:
    table = _table()
    assert set(table) == set(LIMITS)
    for name, limit in LIMITS.items():
        low, high = table[name]
        assert float(low) == limit.minimum, name
        if name == "throttle.burst":
            assert high == "rate"
        else:
            assert float(high) == limit.maximum, name


def test_the_quick_start_runs() -> None:
    text = README.read_text(encoding="utf-8")
    code = text.split("## Quick start", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: Dict[str, object] = {}
    exec(compile(code, "README.md quick start", "exec"), namespace)
    assert namespace["paged"] and len(namespace["paged"]) == 1  # type: ignore[arg-type]
