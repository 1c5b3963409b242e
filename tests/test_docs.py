"""The docs say what the code does: the limits table, the README's quick start and links."""

import pathlib
import re
from typing import Dict, Tuple

from kstalerts.limits import LIMITS

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LIMITS_DOC = ROOT / "docs" / "limits.md"


def _table() -> Dict[str, Tuple[str, str]]:
    text = LIMITS_DOC.read_text(encoding="utf-8")
    block = text.split("## Hard limits", 1)[1].split("No source", 1)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.match(r"[a-z_]+\.[a-z_]+", cells[0]):
            rows[cells[0].split(" ")[0]] = (cells[1], cells[2])
    return rows


def test_every_hard_limit_is_in_docs_limits_with_its_bounds() -> None:
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


def test_every_row_of_the_threat_model_names_tests_that_exist() -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    text = (root / "docs" / "threat-model.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Threat")]
    rows = [row for row in rows if not set(row) <= set("|- ")]
    assert len(rows) >= 20
    for row in rows:
        named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row.rsplit("|", 2)[1])
        assert named, f"a row without a test: {row[:60]}"
        for path, name in named:
            source = (root / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name} does not exist"


def test_every_relative_link_of_the_readme_and_docs_exists() -> None:
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            if not path.exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert missing == []


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    for heading in ("## Two commands", "## Install", "## Quick start", "## Channels", "## `send` at a glance",
                    "## `run` at a glance", "## Documentation"):
        assert heading in text
    assert "pip install kstalerts " not in text  # not on PyPI: the routes that work instead
