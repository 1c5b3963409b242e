"""Names a package loads on first use (PEP 562), written once for every package.

``__getattr__ = lazy(__name__, {"Name": ".module", "Other": (".module", "attr")})``
in a package's ``__init__`` makes ``package.Name`` import ``.module`` the
first time it is read, then keep the value in the package (so the next
read costs nothing). On Python 3.6, which lacks module ``__getattr__``, the
package's module class is swapped for one that has it.

Rules: this module imports only what the import system has already loaded.
"""

import sys

TYPE_CHECKING = False  # typing's flag without importing typing (mypy reads this name the same way)
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping, Tuple, Union

    Where = Union[str, Tuple[str, str]]  # ".module", or (".module", "attribute")

__all__ = ()


def _absolute(name: "str", package: "str") -> "str":
    """The absolute module name ``from <name> import ...`` means in ``package``."""
    bare = name.lstrip(".")
    level = len(name) - len(bare)
    if not level:
        return name
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{bare}" if bare else base


def lazy(package: "str", table: "Mapping[str, Where]") -> "Callable[[str], Any]":
    """The ``__getattr__`` of ``package``: a name of ``table`` from its module, on first use."""

    def load(name: "str") -> "Any":
        try:
            where = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module_name, attr = (where, name) if isinstance(where, str) else where
        absolute = _absolute(module_name, package)
        __import__(absolute)  # not importlib: it is one more module to load, and -X importtime shows this
        value = getattr(sys.modules[absolute], attr)
        setattr(sys.modules[package], name, value)
        return value

    if sys.version_info < (3, 7):  # module __getattr__ (PEP 562) is 3.7+
        from ._compat36 import module_getattr as install

        install(package, load)
    return load
