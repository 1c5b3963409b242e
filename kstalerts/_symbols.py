"""Named constants for private tables, without the cost of :mod:`enum`.

``class Stage(Symbols): CONNECTING = 1`` makes ``Stage.CONNECTING`` one
object with ``name`` and ``value``, compared by identity, hashable, with a
repr like an enum member's; ``list(Stage)`` gives the members in order.
Creating an :class:`enum.Enum` class costs about as much as importing a
small module; the network layer's three private tables (attempt stages,
resend verdicts, faults) are built on every cold send, so they use this.

Type checkers see :class:`enum.Enum` (the names are checked as members);
public types (``AlertLevel``, ``Outcome``) stay real enums.

Rules: imports nothing; members are made once, when the class is.
"""

from ._lazy import TYPE_CHECKING

__all__ = ()

if TYPE_CHECKING:
    from enum import Enum

    Symbols = Enum  # what type checkers see
else:

    class _Member:
        __slots__ = ("name", "value", "_owner")

        def __init__(self, owner, name, value):
            self._owner = owner
            self.name = name
            self.value = value

        def __repr__(self):
            return f"<{self._owner}.{self.name}: {self.value!r}>"

        def __str__(self):
            return f"{self._owner}.{self.name}"

    class _SymbolsMeta(type):
        def __new__(mcls, typename, bases, namespace):
            if namespace.get("_root", False):
                return super().__new__(mcls, typename, bases, namespace)
            body = {k: v for k, v in namespace.items() if k.startswith("_")}
            cls = super().__new__(mcls, typename, bases, body)
            members = []
            for key, value in namespace.items():
                if not key.startswith("_"):
                    member = _Member(typename, key, value)
                    setattr(cls, key, member)
                    members.append(member)
            cls._members = tuple(members)
            return cls

        def __iter__(cls):
            return iter(cls._members)

        def __len__(cls):
            return len(cls._members)

        def __setattr__(cls, name, value):
            if name in cls.__dict__ and isinstance(cls.__dict__[name], _Member):
                raise AttributeError(f"cannot reassign member {name!r}")
            super().__setattr__(name, value)

    class Symbols(metaclass=_SymbolsMeta):
        """The base of a table of named constants (see the module's doc)."""

        _root = True
