"""``kstalerts pyz OUT``: the running package as one reproducible zipapp.

The archive holds the package's ``.py`` files and ``py.typed`` under its own
name, and a ``__main__.py`` that runs the command line, so both
``python3 -I kstalerts.pyz send ...`` and ``sys.path.insert(0, "kstalerts.pyz")``
work on Python 3.6 and later.

Rules: the same package gives the same bytes, whatever the clock, the folder
or the umask: entries sorted, every timestamp 1980-01-01, every mode 0644, no
``__pycache__``, no file but sources. The file is written next to OUT and
renamed into place, so a reader never sees half an archive.
"""

import argparse
import os

from .._lazy import TYPE_CHECKING
from .._typing import Callable, List, TextIO, Tuple

if TYPE_CHECKING:
    import zipfile

__all__ = ()  # the command line registers setup(); nothing here is the public API

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_SHEBANG = b"#!/usr/bin/env python3\n"
_MAIN = """\
# The command line of the {name} zipapp (built by '{name} pyz').
from {name}.cli import script

script()
"""


# The texts of its --help: the line in 'kstalerts --help', the description, the epilog.
_SUMMARY = "write this kstalerts as one file (zipapp) for a host with no pip"
_DESCRIPTION = (
    "Write the running package as a zipapp: one file that runs with any python3 >= 3.6"
    " ('python3 -I OUT send ...') and can be imported from (sys.path.insert(0, OUT))."
    " The same package gives the same bytes; the SHA-256 is printed."
)
_EPILOG = "example:\n  kstalerts pyz kstalerts.pyz && python3 -I kstalerts.pyz demo"


def setup(add: Callable[..., argparse.ArgumentParser]) -> None:
    parser = add("pyz", _run_pyz, _SUMMARY, _DESCRIPTION, _EPILOG)
    parser.add_argument("out", metavar="OUT", help="the file to write (replaced if it exists)")


def _run_pyz(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    digest = build_pyz(args.out)
    out.write(f"{args.out}: sha256 {digest}\n")
    return 0


def _sources(package_dir: str, name: str) -> List[Tuple[str, str]]:
    """(name in the archive, path on disk) of every source file, sorted."""
    found = []
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for file in files:
            if file.endswith(".py") or file == "py.typed":
                path = os.path.join(folder, file)
                inside = os.path.relpath(path, package_dir).replace(os.sep, "/")
                found.append((f"{name}/{inside}", path))
    return sorted(found)


def _entry(arcname: str) -> "zipfile.ZipInfo":
    import zipfile

    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the mode below is read
    info.external_attr = 0o100644 << 16
    return info


def build_pyz(out: str) -> str:
    """Write the running package to ``out`` as a zipapp; return its SHA-256 (hex)."""
    import hashlib
    import zipfile

    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    name = __name__.split(".")[0]
    if not os.path.isdir(package_dir):
        raise OSError(f"cannot read the package's files from {package_dir} (is it itself in a zip?)")
    partial = f"{out}.partial"
    with open(partial, "wb") as raw:
        raw.write(_SHEBANG)
        with zipfile.ZipFile(raw, "w") as archive:
            archive.writestr(_entry("__main__.py"), _MAIN.format(name=name))
            for arcname, path in _sources(package_dir, name):
                with open(path, "rb") as source:
                    archive.writestr(_entry(arcname), source.read())
    os.chmod(partial, 0o755)  # noqa: S103  (an executable zipapp, like a script)
    os.replace(partial, out)
    with open(out, "rb") as built:
        return hashlib.sha256(built.read()).hexdigest()


