"""``kstalerts pyz``: one reproducible file that runs and imports on 3.6 and 3.13.

The archive is built by real child processes from copies of the package
whose files carry different times, in different folders, under different
umasks; it is then run with ``python -I`` on the oldest and newest Python.
"""

import glob
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

import kstalerts
from tests.servers._require import unavailable

PACKAGE = pathlib.Path(kstalerts.__file__).resolve().parent
NAME = PACKAGE.name


def pyenv_python(version: str) -> str:
    """pyenv's newest Python ``version`` (e.g. "3.13"); missing, the test skips (fails under CI)."""
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python")))
    for candidate in [*reversed(found), "/usr/bin/python" + version]:
        if os.access(candidate, os.X_OK):
            return candidate
    unavailable("no Python %s found (pyenv versions/%s.*)" % (version, version))


def copy_package(where: pathlib.Path, mtime: float) -> pathlib.Path:
    """A copy of the package under ``where``, every file's time set to ``mtime``, with a stray cache."""
    target = where / NAME
    shutil.copytree(str(PACKAGE), str(target), ignore=shutil.ignore_patterns("__pycache__"))
    (target / "__pycache__").mkdir(exist_ok=True)
    (target / "__pycache__" / "stray.cpython-36.pyc").write_bytes(b"not a source")
    for path in target.rglob("*"):
        os.utime(str(path), (mtime, mtime))
    return where


def build(source_root: pathlib.Path, out: pathlib.Path, umask: int) -> str:
    code = "import os, sys; os.umask(%d); from %s.cli import main; sys.exit(main(['pyz', sys.argv[1]]))"
    done = subprocess.run(
        [sys.executable, "-I", "-c", code % (umask, NAME), str(out)],
        cwd=str(source_root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "%s: sha256 %s\n" % (out, hashlib.sha256(out.read_bytes()).hexdigest())
    return done.stdout.split()[-1]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    first = copy_package(tmp_path_factory.mktemp("now"), mtime=1_700_000_000)
    second = copy_package(tmp_path_factory.mktemp("elsewhere") / "deeper", mtime=1_000_000_000)
    out_a = tmp_path_factory.mktemp("out_a") / "kstalerts.pyz"
    out_b = tmp_path_factory.mktemp("out_b") / "other-name.pyz"
    digest_a = build(first, out_a, umask=0o022)
    digest_b = build(second, out_b, umask=0o077)
    assert digest_a == digest_b, "two builds of the same package differ"
    return out_a


def test_the_archive_holds_sources_only_with_fixed_times_and_modes(pyz: pathlib.Path) -> None:
    with zipfile.ZipFile(str(pyz)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert NAME + "/cli.py" in names and NAME + "/py.typed" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.6", "3.13"])
def test_demo_runs_from_the_archive_isolated(pyz: pathlib.Path, version: str, tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [pyenv_python(version), "-I", str(pyz), "demo"], cwd=str(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "demo OK" in done.stdout


@pytest.mark.parametrize("version", ["3.6", "3.13"])
def test_the_archive_can_be_imported_from(pyz: pathlib.Path, version: str, tmp_path: pathlib.Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, sys.argv[1]); import {NAME}; "
        f"print({NAME}.__file__); print({NAME}.AlertMessage('t').title)"
    )
    done = subprocess.run(
        [pyenv_python(version), "-I", "-c", code, str(pyz)], cwd=str(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [os.path.join(str(pyz), NAME, "__init__.py"), "t"]


def test_send_runs_from_the_archive(pyz: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """``send --dry-run`` with a config beside it: the CLI works, not only the demo."""
    config = tmp_path / "kstlib.conf.yml"
    config.write_text("alerts:\n  channels:\n    out:\n      type: console\n")
    done = subprocess.run(
        [pyenv_python("3.6"), "-I", str(pyz), "send", "--title", "from the pyz", "--config", str(config)],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "from the pyz" in done.stdout + done.stderr
