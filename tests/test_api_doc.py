"""docs/api.md lists the public API: every name of the four public ``__all__``
lists, each with a one-line description, and nothing else; private modules
export nothing."""

import importlib
import pathlib
import re
from typing import Dict, List

import pytest

import kstalerts

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("kstalerts", "kstalerts.channels", "kstalerts.transports", "kstalerts.config")


def documented() -> Dict[str, List[str]]:
    """Package -> the names its section of docs/api.md lists (each with a description)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    sections: Dict[str, List[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"## `([\w.]+)`$", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
            continue
        row = re.match(r"\| `(\w+)` \| (.*) \|$", line)
        if row and current is not None:
            assert row.group(2).strip(), f"{current}.{row.group(1)} has no description"
            sections[current].append(row.group(1))
    return sections


def test_docs_api_lists_every_public_name_once() -> None:
    sections = documented()
    assert sorted(sections) == sorted(PACKAGES)
    for package in PACKAGES:
        names = sections[package]
        assert len(names) == len(set(names)), f"{package}: a name listed twice"
        exported = importlib.import_module(package).__all__
        assert sorted(names) == sorted(exported), package
        for name in names:
            assert hasattr(importlib.import_module(package), name), f"{package}.{name}"


def test_the_public_api_has_this_many_names() -> None:
    total = sum(len(importlib.import_module(p).__all__) for p in PACKAGES)
    assert total == sum(len(names) for names in documented().values()) == 58


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for p in pathlib.Path(kstalerts.__file__).resolve().parent.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    ),
)
def test_a_module_exports_nothing_its_package_does_not(path: str) -> None:
    """The public names are the four packages' lists; every module's own ``__all__`` is empty."""
    name = path[: -len(".py")].replace("/", ".")
    assert importlib.import_module(name).__all__ == (), name
