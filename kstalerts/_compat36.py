"""What Python 3.7 added and kstalerts leans on, for Python 3.6 only.

Imported only when ``sys.version_info < (3, 7)``, so newer Pythons never
load it. Remove it with 3.6 support.
"""

import sys

TYPE_CHECKING = False  # typing's flag without importing typing (mypy reads this name the same way)
if TYPE_CHECKING:
    from types import ModuleType as _ModuleType
    from typing import Any, Callable
else:  # the same class, without importing types (which loads functools, collections...)
    _ModuleType = type(sys)

__all__ = ()


def module_getattr(name: "str", getattr_: "Callable[[str], Any]") -> "None":
    """Make module ``name`` honour its PEP 562 ``__getattr__`` (3.7+) on 3.6.

    The module's class becomes a :class:`types.ModuleType` subclass whose
    ``__getattr__`` calls ``getattr_`` for a name the module lacks, and
    whose ``__dir__`` calls the module's own ``__dir__`` when it has one.
    """

    class _LazyModule(_ModuleType):
        def __getattr__(self, attr: "str") -> "Any":
            return getattr_(attr)

        def __dir__(self) -> "Any":  # the module's own __dir__ (PEP 562), when it has one
            own = self.__dict__.get("__dir__")
            return own() if own is not None else super().__dir__()

    sys.modules[name].__class__ = _LazyModule
