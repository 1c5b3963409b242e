"""The few ``typing`` names kstalerts needs at run time, without importing ``typing``.

``typing`` costs 7 to 12 ms to import (more on 3.6): a cron job sending one
alert should not pay for it. Annotations are strings and the ``typing``
imports sit under ``if TYPE_CHECKING:`` (``tools/detype.py`` keeps the
package that way), so what is left are the names a module *runs*:

- :class:`NamedTuple` as a base class: builds the same
  :func:`collections.namedtuple` class ``typing.NamedTuple`` builds (fields
  from the annotations, in order; defaults; methods, properties and the
  docstring copied over), on 3.6.1 and later;
- ``Generic[T]`` as a base class: an empty slotted base (``Cls[T]`` works on
  3.7+, as with ``typing``);
- :func:`TypeVar`, :func:`cast`, :func:`overload`: what they do at run time,
  which is (next to) nothing;
- ``Callable``, ``Iterable``, ``Mapping``... for ``isinstance``: the
  :mod:`collections.abc` classes ``typing``'s names stand for (a subscript of
  one, ``Mapping[str, int]``, stays in a string annotation: 3.9+ at run time).

Under ``TYPE_CHECKING`` the names *are* ``typing``'s, so mypy checks the
records, generics and casts as it always did.

Rules: imports ``collections`` (which ``functools``, ``re`` and ``enum``
load anyway) and nothing of the package but the flag.
"""

from ._lazy import TYPE_CHECKING

if TYPE_CHECKING:  # typing's own names, re-exported (``X as X``) for the modules that use them
    from typing import Callable as Callable
    from typing import Generic as Generic
    from typing import Iterable as Iterable
    from typing import Iterator as Iterator
    from typing import Mapping as Mapping
    from typing import MutableMapping as MutableMapping
    from typing import NamedTuple as NamedTuple
    from typing import Sequence as Sequence
    from typing import TypeVar as TypeVar
    from typing import cast as cast
    from typing import overload as overload
else:
    import collections
    from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence  # noqa: F401

    def TypeVar(name, *constraints, bound=None, covariant=False, contravariant=False):  # noqa: N802
        """A type variable stands for nothing at run time: its name."""
        return name

    def cast(typ, value):
        """``value``, unchanged (what ``typing.cast`` does at run time)."""
        return value

    def overload(func):
        """``func``, unchanged: the last (undecorated) definition is the one that runs."""
        return func

    class _Generic:
        """The base a ``Generic[T]`` base stands for at run time."""

        __slots__ = ()

        def __class_getitem__(cls, params):  # 3.7+: ``Cls[int]`` is ``Cls``
            return cls

    class _Subscript:
        __slots__ = ()

        def __getitem__(self, params):
            return _Generic

        def __repr__(self):
            return "kstalerts._typing.Generic"

    Generic = _Subscript()

    # What a record's class body may not set (typing.NamedTuple refuses them too).
    _PROHIBITED = frozenset(
        "__new__ __init__ __slots__ __getnewargs__ _fields _field_defaults".split()
        + "_make _replace _asdict _source".split()
    )
    _KEPT = frozenset(("__module__", "__qualname__", "__annotations__"))

    class _NamedTupleMeta(type):
        def __new__(mcls, typename, bases, namespace):
            if namespace.get("_root", False):
                return super().__new__(mcls, typename, bases, namespace)
            types = dict(namespace.get("__annotations__", {}))
            record = collections.namedtuple(typename, list(types))
            defaults = {}
            for field in types:
                if field in namespace:
                    defaults[field] = namespace[field]
                elif defaults:
                    raise TypeError(
                        f"Non-default namedtuple field {field} cannot follow default field(s) "
                        + ", ".join(defaults)
                    )
            record.__new__.__defaults__ = tuple(defaults.values()) or None
            record.__annotations__ = types
            record._field_defaults = defaults  # novm: set here, so 3.6 has it too (as typing's does)
            record.__module__ = namespace.get("__module__", record.__module__)
            record.__qualname__ = namespace.get("__qualname__", typename)
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
                if key not in _KEPT and key not in types:
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=_NamedTupleMeta):
        """``class Point(NamedTuple): x: int; y: int = 0`` as with ``typing``."""

        _root = True


__all__ = ()  # the package's own modules import these names; it exports none
