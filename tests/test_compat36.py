"""Python 3.6 support: the PEP 562 stand-in, and every module importing on 3.6.

The whole suite runs on 3.6 in CI; these checks fail fast, on any Python,
when a change brings back what 3.6 cannot run: postponed annotations, or an
annotation that only evaluates on a newer Python (``list[str]``, a name
imported under ``TYPE_CHECKING``, a class defined further down).
"""

import pathlib
import subprocess
import sys
import types

import pytest

import kstalerts
import kstalerts.channels
import kstalerts.config
from kstalerts._compat36 import module_getattr
from tests.compat import python36

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = pathlib.Path(kstalerts.__file__).resolve().parent


def test_module_getattr_answers_for_missing_names_only() -> None:
    module = types.ModuleType("kstalerts_compat36_probe")
    module.present = "here"  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        module_getattr(module.__name__, lambda name: f"lazy {name}")
        assert module.present == "here"
        assert module.anything == "lazy anything"
        assert isinstance(module, types.ModuleType)
    finally:
        del sys.modules[module.__name__]


def test_no_file_postpones_its_annotations() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("kstalerts", "tests", "benchmarks", "examples")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "from __future__ import annotations" in path.read_text(encoding="utf-8")
        and path.name != "test_compat36.py"
    ]
    assert offenders == []


_IMPORT_ALL = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
failed = []
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append("%s: %s: %s" % (name, type(exc).__name__, exc))
print("\\n".join(failed))
from kstalerts import AlertHandler, alert_on_failure
from kstalerts.channels import SlackChannel
from kstalerts.config import load_config
"""


@pytest.mark.slow(seconds=2)
def test_every_module_imports_on_python36() -> None:
    modules = sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).replace(".__init__", "")
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py"
    )
    out = subprocess.run(
        [python36(), "-I", "-S", "-c", _IMPORT_ALL, str(PACKAGE.parent), *modules],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    assert len(modules) > 30


def test_the_stand_in_is_installed_on_36_only() -> None:
    # 3.7+ honour a module __getattr__ themselves: their modules keep their class
    for module in (kstalerts, kstalerts.channels, kstalerts.config):
        assert (type(module).__name__ == "_LazyModule") == (sys.version_info < (3, 7))
