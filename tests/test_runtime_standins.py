"""The run-time stand-ins for ``typing`` (kstalerts/_typing.py).

A record must behave as the ``typing.NamedTuple`` it stands for (fields,
defaults, ``_replace``, ``_asdict``, ``_make``, the repr, pickling, the
errors of a wrong call); the other names must subscript, and answer
``isinstance`` as the class they stand for.
"""

import pickle
import sys
from typing import NamedTuple as TypingNamedTuple

import pytest

from kstalerts._typing import Any, Callable, Dict, Generic, Mapping, NamedTuple, Optional, Sequence, TypeVar

T = TypeVar("T")


class Point(NamedTuple):
    """A point."""

    x: "int"
    y: "int" = 0

    def norm(self) -> "int":
        return abs(self.x) + abs(self.y)


class TypedPoint(TypingNamedTuple):
    x: int
    y: int = 0


def test_a_record_behaves_as_typings_named_tuple() -> None:
    mine, theirs = Point(1), TypedPoint(1)
    assert tuple(mine) == tuple(theirs) == (1, 0)
    assert Point._fields == TypedPoint._fields == ("x", "y")
    assert Point._field_defaults == {"y": 0}
    assert repr(Point(3, y=4)) == "Point(x=3, y=4)"
    assert mine._replace(y=5) == (1, 5) and isinstance(mine._replace(y=5), Point)
    assert Point(x=2)._asdict() == {"x": 2, "y": 0}
    assert Point._make([7, 8]) == Point(7, 8)
    assert Point(3, 4).norm() == 7 and Point.__doc__ == "A point."
    assert Point(1, 2).x == 1 and Point(1, 2).y == 2
    assert isinstance(mine, tuple) and hash(mine) == hash((1, 0))
    assert pickle.loads(pickle.dumps(Point(5, 6))) == Point(5, 6)
    assert Point.__module__ == __name__ and Point.__qualname__ == "Point"


@pytest.mark.parametrize(
    "call",
    [
        lambda: Point(),  # type: ignore[call-arg]
        lambda: Point(1, 2, 3),  # type: ignore[call-arg]
        lambda: Point(1, x=2),  # type: ignore[misc]
        lambda: Point(1, z=2),  # type: ignore[call-arg]
    ],
    ids=["missing", "too many", "twice", "unknown"],
)
def test_a_wrong_call_is_a_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()


def test_a_record_refuses_what_typing_refuses() -> None:
    with pytest.raises(TypeError):

        class Bad(NamedTuple):  # a field without a default after one with
            a: "int" = 0
            b: "int"  # type: ignore[misc]

    with pytest.raises(AttributeError):

        class Worse(NamedTuple):
            a: "int"
            _fields = ("x",)  # type: ignore[misc]

    with pytest.raises(ValueError):
        Point(1)._replace(z=3)  # type: ignore[call-arg]


def test_the_network_layer_loads_no_typing() -> None:
    import subprocess

    code = "import sys, kstalerts.net.attempt; print('typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {_root()!r}); {code}"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    assert out == ["False"]


def _root() -> str:
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_typing_names_subscript_and_check_as_the_class_they_stand_for() -> None:
    assert Optional[str] is Optional and Dict[str, Any] is Dict and Callable[[int], str] is Callable
    assert isinstance({}, Mapping) and not isinstance([], Mapping) and isinstance([], Sequence)
    assert isinstance(len, Callable)  # type: ignore[arg-type]  # mypy takes it for typing's special form
    assert issubclass(dict, Dict) and not isinstance("x", Dict)
    with pytest.raises(TypeError):
        isinstance(1, Optional)  # type: ignore[arg-type]  # stands for no class: as typing says

    class Box(Generic[T]):
        pass

    assert Box[int] is Box  # on 3.6 too


def test_no_module_imports_typing_when_it_runs() -> None:
    """Every module takes its typing names from kstalerts/_typing.py; only
    ``if TYPE_CHECKING:`` blocks (never run) may name ``typing`` itself."""
    import ast
    import os

    package = os.path.join(_root(), "kstalerts")
    offenders = []
    for folder, _, files in os.walk(package):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            guarded = {
                id(inner)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
                for stmt in node.body
                for inner in ast.walk(stmt)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    named = node.module == "typing"
                elif isinstance(node, ast.Import):
                    named = any(a.name == "typing" for a in node.names)
                else:
                    continue
                if named and id(node) not in guarded:
                    offenders.append(f"{os.path.relpath(path, package)}:{node.lineno}")
    assert offenders == []
