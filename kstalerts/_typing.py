"""The few ``typing`` names kstalerts needs at run time, without importing ``typing``.

``typing`` costs 7 to 12 ms to import (more on 3.6): a cron job sending one
alert should not pay for it. Annotations are strings and the ``typing``
imports sit under ``if TYPE_CHECKING:`` (``tools/detype.py`` keeps the
package that way), so what is left are the names a module *runs*:

- :class:`NamedTuple` as a base class: builds a tuple class that behaves as
  the one ``typing.NamedTuple`` builds (fields from the annotations, in
  order; defaults; ``_fields``, ``_field_defaults``, ``_make``,
  ``_replace``, ``_asdict``, the repr; methods, properties and the
  docstring kept), on 3.6.1 and later, without the ``eval`` that
  :func:`collections.namedtuple` runs for each class;
- ``Generic[T]`` as a base class: an empty slotted base (``Cls[T]`` works on
  3.7+, as with ``typing``);
- :func:`TypeVar`, :func:`cast`, :func:`overload`: what they do at run time,
  which is (next to) nothing;
- ``Callable``, ``Iterable``, ``Mapping``... for ``isinstance``: the
  :mod:`collections.abc` classes ``typing``'s names stand for (a subscript of
  one, ``Mapping[str, int]``, stays in a string annotation: 3.9+ at run time).

Under ``TYPE_CHECKING`` the names *are* ``typing``'s, so mypy checks the
records, generics and casts as it always did.

Rules: imports ``collections.abc`` (``functools``, ``re`` and ``enum`` load it anyway)
and nothing of the package but the flag.
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

    try:
        from _collections import _tuplegetter  # 3.8+: what collections.namedtuple uses
    except ImportError:  # pragma: no cover - 3.6 and 3.7
        from operator import itemgetter as _itemgetter

        def _tuplegetter(index, doc):
            return property(_itemgetter(index), doc=doc)

    _tuple_new = tuple.__new__

    class _Record(tuple):
        """What every record shares: built once here, so a record class costs
        no ``eval`` (``collections.namedtuple`` compiles a ``__new__`` for
        each class: about a fifth of what a cold send imports)."""

        __slots__ = ()
        _fields = ()
        _field_defaults = {}  # noqa: RUF012 (each record class sets its own)

        @classmethod
        def _make(cls, iterable):
            result = _tuple_new(cls, iterable)
            if len(result) != len(cls._fields):
                raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
            return result

        def _replace(self, **changes):
            result = self._make(map(changes.pop, self._fields, self))
            if changes:
                raise ValueError(f"Got unexpected field names: {list(changes)!r}")
            return result

        def _asdict(self):
            return dict(zip(self._fields, self))

        def __repr__(self):
            pairs = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
            return f"{self.__class__.__name__}({pairs})"

        def __getnewargs__(self):
            return tuple(self)

    def _bind(cls, args, kwargs):
        """The values of a record built from ``args`` and ``kwargs``, as a call would bind them."""
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
        values = list(args)
        for name in fields[len(args):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in cls._field_defaults:
                values.append(cls._field_defaults[name])
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
        if kwargs:
            name = next(iter(kwargs))
            if name in fields:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
        return values

    def _new_for(size, tail):
        required = size - len(tail)

        def new(cls, *args, **kwargs):
            given = len(args)
            if not kwargs and required <= given <= size:  # the hot path: positional, defaults after
                return _tuple_new(cls, args + tail[given - required :] if given < size else args)
            return _tuple_new(cls, _bind(cls, args, kwargs))

        new.__name__ = "__new__"
        return new

    class _NamedTupleMeta(type):
        def __new__(mcls, typename, bases, namespace):
            if namespace.get("_root", False):
                return super().__new__(mcls, typename, bases, namespace)
            types = dict(namespace.get("__annotations__", {}))
            fields = tuple(types)
            defaults = {}
            for field in fields:
                if field in namespace:
                    defaults[field] = namespace[field]
                elif defaults:
                    raise TypeError(
                        f"Non-default namedtuple field {field} cannot follow default field(s) "
                        + ", ".join(defaults)
                    )
            body = {
                "__slots__": (),
                "__doc__": f"{typename}({', '.join(fields)})",
                "__new__": _new_for(len(fields), tuple(defaults.values())),
                "_fields": fields,
                "_field_defaults": defaults,
                "__annotations__": types,
            }
            for index, field in enumerate(fields):
                body[field] = _tuplegetter(index, f"Alias for field number {index}")
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
                if key != "__annotations__" and key not in types:
                    body[key] = value
            return type(typename, (_Record,), body)

    class NamedTuple(metaclass=_NamedTupleMeta):
        """``class Point(NamedTuple): x: int; y: int = 0`` as with ``typing``."""

        _root = True


__all__ = ()  # the package's own modules import these names; it exports none
