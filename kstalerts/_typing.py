"""The ``typing`` names kstalerts' modules use, without importing ``typing``.

``typing`` costs 7 to 12 ms to import (more on 3.6): a cron job sending one
alert should not pay for it. Every module imports its typing names from
here (``from ._typing import Dict, Optional``), and annotations stay
written as they read best; at run time the names are stand-ins that cost
next to nothing to evaluate:

- ``Optional``, ``Dict``, ``Callable``...: one small object each whose
  subscript gives it back (``Optional[str]`` in an annotation is one
  call); those that stand for a class (``Mapping``, ``Sequence``,
  ``Callable``, ``Dict``...) answer ``isinstance`` and ``issubclass`` as
  that class does;
- :class:`NamedTuple` as a base class: builds a tuple class that behaves as
  the one ``typing.NamedTuple`` builds (fields from the annotations, in
  order; defaults; ``_fields``, ``_field_defaults``, ``_make``,
  ``_replace``, ``_asdict``, the repr; methods, properties and the
  docstring kept), on 3.6.1 and later, without the ``eval`` that
  :func:`collections.namedtuple` runs for each class;
- ``Generic[T]`` as a base class: an empty slotted base (``Cls[T]`` gives
  ``Cls`` back, on 3.6 too);
- :func:`TypeVar`, :func:`cast`, :func:`overload`: what they do at run time,
  which is (next to) nothing.

Under ``TYPE_CHECKING`` the names *are* ``typing``'s, so mypy checks the
records, generics and casts as it always did.

Rules: imports ``collections.abc`` (``functools``, ``re`` and ``enum`` load it anyway)
and nothing of the package but the flag.
"""

from ._lazy import TYPE_CHECKING

if TYPE_CHECKING:  # typing's own names, re-exported (``X as X``) for the modules that use them
    from typing import IO as IO
    from typing import Any as Any
    from typing import Callable as Callable
    from typing import ClassVar as ClassVar
    from typing import Deque as Deque
    from typing import Dict as Dict
    from typing import FrozenSet as FrozenSet
    from typing import Generic as Generic
    from typing import Iterable as Iterable
    from typing import Iterator as Iterator
    from typing import List as List
    from typing import Mapping as Mapping
    from typing import MutableMapping as MutableMapping
    from typing import NamedTuple as NamedTuple
    from typing import NoReturn as NoReturn
    from typing import Optional as Optional
    from typing import Pattern as Pattern
    from typing import Sequence as Sequence
    from typing import Set as Set
    from typing import TextIO as TextIO
    from typing import Tuple as Tuple
    from typing import Type as Type
    from typing import TypeVar as TypeVar
    from typing import Union as Union
    from typing import cast as cast
    from typing import overload as overload
else:
    import collections.abc as _abc

    class _Alias:
        """A ``typing`` name at run time: subscripting it gives it back (so
        ``Optional[str]`` in an annotation costs one call), and ``isinstance``
        / ``issubclass`` ask the class it stands for, if any."""

        __slots__ = ("_name", "_origin")

        def __init__(self, name, origin=None):
            self._name = name
            self._origin = origin

        def __getitem__(self, params):
            return self

        def __instancecheck__(self, obj):
            return isinstance(obj, self._check())

        def __subclasscheck__(self, cls):
            return issubclass(cls, self._check())

        def _check(self):
            if self._origin is None:
                raise TypeError(f"{self!r} cannot be used with isinstance() or issubclass()")
            return self._origin

        def __repr__(self):
            return f"kstalerts._typing.{self._name}"

    Any = _Alias("Any")
    ClassVar = _Alias("ClassVar")
    NoReturn = _Alias("NoReturn")
    Optional = _Alias("Optional")
    Union = _Alias("Union")
    Dict = _Alias("Dict", dict)
    List = _Alias("List", list)
    Tuple = _Alias("Tuple", tuple)
    Set = _Alias("Set", set)
    FrozenSet = _Alias("FrozenSet", frozenset)
    Type = _Alias("Type", type)
    Deque = _Alias("Deque")
    IO = _Alias("IO")
    TextIO = _Alias("TextIO")
    Pattern = _Alias("Pattern")
    Callable = _Alias("Callable", _abc.Callable)
    Iterable = _Alias("Iterable", _abc.Iterable)
    Iterator = _Alias("Iterator", _abc.Iterator)
    Mapping = _Alias("Mapping", _abc.Mapping)
    MutableMapping = _Alias("MutableMapping", _abc.MutableMapping)
    Sequence = _Alias("Sequence", _abc.Sequence)

    def TypeVar(name, *constraints, bound=None, covariant=False, contravariant=False):  # noqa: N802
        """A type variable stands for nothing at run time: its name."""
        return name

    def cast(typ, value):
        """``value``, unchanged (what ``typing.cast`` does at run time)."""
        return value

    def overload(func):
        """``func``, unchanged: the last (undecorated) definition is the one that runs."""
        return func

    class _GenericMeta(type):
        def __getitem__(cls, params):  # ``Generic[T]`` and ``Cls[int]`` give the class back (3.6 too)
            return cls

    class Generic(metaclass=_GenericMeta):
        """What a ``Generic[T]`` base is at run time: an empty slotted base."""

        __slots__ = ()

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
        """What every record shares, written once here, so a record class
        costs no ``eval`` (``collections.namedtuple`` compiles a ``__new__``
        for each class)."""

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
