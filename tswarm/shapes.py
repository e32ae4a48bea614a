"""The one check of data that crosses a process boundary, derived from a TypedDict declaration.

Protocol payloads (``tswarm.protocol.payloads``), stats deltas (``tswarm.stats.entries``) and the JSON
report (``tswarm.controller.outputs``) are declared as TypedDicts; :func:`shape_checker` turns such a
declaration into a checker once, and the checker tells what in a value does not match it. Stdlib only,
and it imports nothing else from tswarm, so that every layer may use it.

The declaration language (what a TypedDict field may be annotated with):

- ``int``: an int; ``float``: a number (an int or a float, as in Python's typing); ``str``, ``bytes``,
  ``bool``, ``None``. **A bool is never accepted where a number is declared**, though Python counts it
  as an int: a bool for a count is a bug on the sending side.
- ``Annotated[int | float, Bounds(min=..., max=...)]``: a number within bounds (both inclusive); a
  NaN is never within bounds. :data:`Count` and :data:`Amount` are the bounds a peer's numbers get.
- ``Literal[v, ...]``: one of these values, of the same type (``Literal[1]`` rejects ``True``).
- ``X | Y``, ``X | None``; ``list[X]``; ``dict[K, V]``; ``tuple[A, B, C]`` (an array of exactly that
  many items: a list or a tuple); ``Any`` (not looked into); another TypedDict; ``NotRequired[X]``
  for a key that may be left out. Keys that are not declared are allowed (and not looked at).

A checker on a valid value does no more work than a hand-written loop would: the whole declaration is
first compiled into one generated function that only says whether a value is plainly valid (exact
types, within bounds), with every record, list and dict inlined (:func:`_compile_plain`); only a value
it does not pass goes through the checks below, which accept what they must (a tuple for a list, an
IntEnum for an int) and build paths and messages for a problem.
"""

from __future__ import annotations

import builtins
import math
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, Required, TypeAlias, Union

__all__ = [
    "MAX_EXACT_INT",
    "Amount",
    "Bounds",
    "Count",
    "ShapeChecker",
    "ShapeError",
    "describe",
    "shape_checker",
    "typed_dict_fields",
]


@dataclass(frozen=True, slots=True)
class Bounds:
    """A number's inclusive bounds, as ``Annotated`` metadata: ``Annotated[int, Bounds(min=0)]``."""

    min: float = -math.inf
    max: float = math.inf


#: the largest int that every reader of our numbers holds exactly (a double's 53-bit mantissa: the JSON
#: report read by JavaScript or pandas, float sums on the master)
MAX_EXACT_INT = 2**53

#: a count a peer sends: an int in [0, 2^53]
Count: TypeAlias = Annotated[int, Bounds(min=0, max=MAX_EXACT_INT)]
#: a time, duration, size or load a peer sends: a finite number in [0, 2^53] (no NaN, no infinity)
Amount: TypeAlias = Annotated[float, Bounds(min=0, max=MAX_EXACT_INT)]


class ShapeError(ValueError):
    """A value that does not match its declared shape; the message names the path and what was expected."""


# A problem while it travels up to the root: the path parts from the innermost out, and the message.
_Problem: TypeAlias = tuple[list[str], str]
# A compiled check: None when the value matches, else its problems (only the first unless every=True).
_Check: TypeAlias = Callable[[Any, bool], list[_Problem] | None]


class ShapeChecker:
    """The checker of one declared shape (see :func:`shape_checker`)."""

    __slots__ = ("_check", "_plain", "declaration", "root")

    def __init__(self, declaration: Any, root: str) -> None:
        self.declaration = declaration
        self.root = root
        self._check = _compile(declaration)
        self._plain = _compile_plain(declaration)

    def first_problem(self, value: Any) -> str | None:
        """The first mismatch, as ``path: expected ..., got ...``; None when ``value`` matches."""
        if self._plain(value):
            return None
        problems = self._check(value, False)
        return self._render(problems[0]) if problems else None

    def problems(self, value: Any) -> list[str]:
        """Every mismatch (empty when ``value`` matches); for reports a person reads, not for the wire."""
        return [self._render(p) for p in self._check(value, True) or ()]

    def check(self, value: Any) -> None:
        """Raise :class:`ShapeError` with the first mismatch, if any."""
        problem = self.first_problem(value)
        if problem is not None:
            raise ShapeError(problem)

    def _render(self, problem: _Problem) -> str:
        parts, message = problem
        path = "".join(reversed(parts)).lstrip(".")
        return f"{path or self.root}: {message}"


def shape_checker(declaration: Any, root: str = "value") -> ShapeChecker:
    """Compile ``declaration`` (usually a TypedDict) into a checker; ``root`` names the whole value."""
    return ShapeChecker(declaration, root)


def typed_dict_fields(declaration: Any) -> dict[str, tuple[Any, bool]]:
    """A TypedDict's fields: name -> (declared type, required).

    ``__required_keys__`` is wrong on Python 3.11 when annotations are strings (``from __future__ import
    annotations``), so requiredness is read from the resolved hints instead.
    """
    fields = {}
    for name, hint in typing.get_type_hints(declaration, include_extras=True).items():
        required = getattr(declaration, "__total__", True)
        origin = typing.get_origin(hint)
        if origin is NotRequired or origin is Required:
            required = origin is Required
            hint = typing.get_args(hint)[0]
        fields[name] = (hint, required)
    return fields


def describe(declaration: Any) -> str:
    """How a problem message names a declared type: ``int``, ``number``, ``string or null``, ``object``..."""
    origin = typing.get_origin(declaration)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(declaration)
        text = describe(base)
        for bounds in metadata:
            if isinstance(bounds, Bounds):
                if bounds.min > -math.inf:
                    text += f" >= {bounds.min:g}"
                if bounds.max < math.inf:
                    text += f" <= {bounds.max:g}"
        return text
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(declaration)
        named = [describe(a) for a in options if a is not type(None)]
        return " or ".join(named + (["null"] if type(None) in options else []))
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(declaration))
    if origin is list:
        return "list"
    if origin is tuple:
        return f"array of {len(typing.get_args(declaration))}"
    if origin is dict or declaration is dict or typing.is_typeddict(declaration):
        return "object"
    return _SCALAR_NAMES.get(declaration, getattr(declaration, "__name__", str(declaration)))


# -- compiling a declaration into a check ---------------------------------------------------------------

_SCALAR_NAMES: dict[Any, str] = {
    int: "int",
    float: "number",
    str: "string",
    bytes: "bytes",
    bool: "bool",
    None: "null",
    type(None): "null",
    Any: "any value",
}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True, slots=True)
class _Scalar:
    """A plain value: ``exact`` are the types accepted by ``type(v) in exact`` (the fast test)."""

    exact: tuple[type, ...]
    number: bool
    bounds: Bounds
    name: str

    def accepts(self, value: Any) -> bool:
        # the slow, exact answer: int subclasses other than bool (an IntEnum) are ints too
        if type(value) not in self.exact and (isinstance(value, bool) or not isinstance(value, self.exact)):
            return False
        if self.number:
            return bool(self.bounds.min <= value <= self.bounds.max)
        return True

    def problem(self, value: Any) -> list[_Problem]:
        if isinstance(value, bool) and self.number or not isinstance(value, self.exact):
            return [([], f"expected {self.name}, got {_type_name(value)}")]
        return [([], f"expected {self.name}, got {value!r}")]


def _scalar(declaration: Any) -> _Scalar | None:
    """The declaration as a plain value type, or None when it is not one."""
    bounds = Bounds()
    name = describe(declaration)
    if typing.get_origin(declaration) is typing.Annotated:
        declaration, *metadata = typing.get_args(declaration)
        for item in metadata:
            if isinstance(item, Bounds):
                bounds = item
    if declaration is int:
        return _Scalar((int,), True, bounds, name)
    if declaration is float:
        return _Scalar((int, float), True, bounds, name)
    if declaration in (str, bytes, bool):
        return _Scalar((declaration,), False, bounds, name)
    if declaration is None or declaration is type(None):
        return _Scalar((type(None),), False, bounds, name)
    return None


def _compile(declaration: Any) -> _Check:
    scalar = _scalar(declaration)
    if scalar is not None:
        return _scalar_check(scalar)
    if declaration is Any:
        return lambda value, every: None
    if typing.is_typeddict(declaration):
        return _record_check(declaration)
    origin = typing.get_origin(declaration)
    args = typing.get_args(declaration)
    if origin is Union or origin is types.UnionType:
        return _union_check(declaration, [_compile(a) for a in args])
    if origin is Literal:
        return _literal_check(declaration, args)
    if origin is list:
        return _list_check(args[0])
    if origin is dict:
        return _dict_check(args[0], args[1])
    if origin is tuple and args and args[-1] is not Ellipsis:
        return _tuple_check(args)
    raise TypeError(f"no shape check for the declared type {declaration!r}")


def _scalar_check(scalar: _Scalar) -> _Check:
    def slow(value: Any) -> list[_Problem] | None:
        return None if scalar.accepts(value) else scalar.problem(value)

    source = (
        f"def check(v, every):\n    if {_rejects(scalar, 'v')}:\n        return slow(v)\n    return None\n"
    )
    check: _Check = _generate(source, "check", slow=slow)
    return check


def _mismatch(declaration: Any, value: Any) -> list[_Problem]:
    return [([], f"expected {describe(declaration)}, got {_type_name(value)}")]


def _record_check(declaration: Any) -> _Check:
    fields = [
        (name, _compile(hint), required) for name, (hint, required) in typed_dict_fields(declaration).items()
    ]

    def check(value: Any, every: bool) -> list[_Problem] | None:
        if not isinstance(value, dict):
            return _mismatch(declaration, value)
        found: list[_Problem] | None = None
        for name, field_check, required in fields:
            problems: list[_Problem] | None
            if name not in value:
                if not required:
                    continue
                problems = [([], "missing")]
            else:
                problems = field_check(value[name], every)
                if problems is None:
                    continue
            for parts, _ in problems:
                parts.append(f".{name}")
            if not every:
                return problems
            found = (found or []) + problems
        return found

    return check


def _union_check(declaration: Any, options: list[_Check]) -> _Check:
    def check(value: Any, every: bool) -> list[_Problem] | None:
        for option in options:
            if option(value, False) is None:
                return None
        return _mismatch(declaration, value)

    return check


def _literal_check(declaration: Any, allowed: tuple[Any, ...]) -> _Check:
    # (type, value) pairs, so that True does not pass for 1
    accepted = {(type(v), v) for v in allowed}

    def check(value: Any, every: bool) -> list[_Problem] | None:
        try:
            if (type(value), value) in accepted:
                return None
        except TypeError:  # unhashable
            pass
        # the wrong value of the right type is shown; otherwise its type (True for 1 says "got bool")
        shown = repr(value) if type(value) in {t for t, _ in accepted} else _type_name(value)
        return [([], f"expected {describe(declaration)}, got {shown}")]

    return check


def _items_problems(
    items: Iterator[tuple[Any, Any]], check: _Check, every: bool, label: Callable[[Any], str]
) -> list[_Problem] | None:
    found: list[_Problem] | None = None
    for where, item in items:
        problems = check(item, every)
        if problems is None:
            continue
        for parts, _ in problems:
            parts.append(label(where))
        if not every:
            return problems
        found = (found or []) + problems
    return found


def _index(i: Any) -> str:
    return f"[{i}]"


def _list_check(item_declaration: Any) -> _Check:
    item_check = _compile(item_declaration)
    scalar = _scalar(item_declaration)
    plain = _plain_loop("v in values", [_rejects(scalar, "v")]) if scalar is not None else None

    def check(value: Any, every: bool) -> list[_Problem] | None:
        if type(value) is not list and not isinstance(value, list | tuple):
            return _mismatch(list, value)
        if plain is not None and plain(value):
            return None
        return _items_problems(iter(enumerate(value)), item_check, every, _index)

    return check


def _rejects(scalar: _Scalar, name: str) -> str:
    """A Python expression, true when the variable ``name`` is not a plain value of ``scalar``.

    "Plain" means of an exact accepted type and within bounds; anything else (an IntEnum, a value out
    of bounds, a wrong type) goes to the slow path, which finds out whether and why it is wrong.
    """
    if scalar.exact == (type(None),):
        return f"{name} is not None"
    if len(scalar.exact) == 1:
        test = f"type({name}) is not {scalar.exact[0].__name__}"
    else:
        test = f"type({name}) not in ({', '.join(t.__name__ for t in scalar.exact)})"
    low, high = scalar.bounds.min, scalar.bounds.max
    if scalar.number and math.isfinite(low) and math.isfinite(high):
        # one chained comparison: false for NaN too (every comparison with it is false)
        return f"{test} or not {low!r} <= {name} <= {high!r}"
    if scalar.number and math.isfinite(low):
        test += f" or {name} < {low!r}"
    if scalar.number and math.isfinite(high):
        test += f" or {name} > {high!r}"
    if float in scalar.exact and scalar.bounds != Bounds():
        test += f" or {name} != {name}"  # NaN: every comparison with it is false
    return test


def _plain_loop(header: str, tests: list[str]) -> Callable[[Any], bool]:
    """A function that runs ``for {header}`` over its argument and is False at the first non-plain item.

    Generated (as dataclasses generates ``__init__``) because a histogram holds thousands of items and a
    function call per item would double the cost of checking a stats delta; the expressions come only
    from declarations (type names and finite bounds), never from the data checked.
    """
    condition = " or ".join(f"({t})" for t in tests) if tests else "False"
    source = f"def plain(values):\n    for {header}:\n        if {condition}:\n            return False\n    return True\n"
    plain: Callable[[Any], bool] = _generate(source, "plain")
    return plain


def _generate(source: str, name: str, **names: Any) -> Any:
    """The function ``name`` defined by ``source``, which sees the builtins and ``names``."""
    namespace: dict[str, Any] = {"__builtins__": builtins, **names}
    exec(source, namespace)
    return namespace[name]


def _dict_check(key_declaration: Any, value_declaration: Any) -> _Check:
    key_check = _compile(key_declaration)
    value_check = _compile(value_declaration)
    key_scalar = _scalar(key_declaration)
    value_scalar = _scalar(value_declaration)
    plain = None
    if (key_declaration is Any or key_scalar) and (value_declaration is Any or value_scalar):
        tests = [_rejects(key_scalar, "k")] if key_scalar else []
        tests += [_rejects(value_scalar, "v")] if value_scalar else []
        plain = _plain_loop("k, v in values.items()", tests)

    def check(value: Any, every: bool) -> list[_Problem] | None:
        if not isinstance(value, dict):
            return _mismatch(dict, value)
        if plain is not None and plain(value):
            return None
        found: list[_Problem] | None = None
        for key, item in value.items():
            problems = key_check(key, every)
            if problems is not None:
                problems = [(parts, f"key {key!r}: {message}") for parts, message in problems]
            else:
                problems = value_check(item, every)
                if problems is None:
                    continue
                for parts, _ in problems:
                    parts.append(f"[{key!r}]")
            if not every:
                return problems
            found = (found or []) + problems
        return found

    return check


def _tuple_check(item_declarations: tuple[Any, ...]) -> _Check:
    checks = [_compile(a) for a in item_declarations]
    size = len(checks)
    name = f"array of {size}"

    def check(value: Any, every: bool) -> list[_Problem] | None:
        if not isinstance(value, list | tuple) or len(value) != size:
            got = f"{len(value)} items" if isinstance(value, list | tuple) else _type_name(value)
            return [([], f"expected {name}, got {got}")]
        found: list[_Problem] | None = None
        for i in range(size):
            problems = checks[i](value[i], every)
            if problems is None:
                continue
            for parts, _ in problems:
                parts.append(f"[{i}]")
            if not every:
                return problems
            found = (found or []) + problems
        return found

    return check


# -- the fast path: one generated function per declaration -----------------------------------------------

#: records nested deeper than this are checked by calling their compiled check, not inlined
_MAX_INLINE_DEPTH = 8


class _PlainSource:
    """Generates ``def plain(v0)``: True when the value is plainly valid, False when it may not be.

    "Plainly valid" is stricter than valid (exact ``dict`` and ``list`` types, plain scalars): False
    only sends the value to the compiled checks, which decide. Every test comes from the declaration
    (type names, finite bounds, field names as repr'd literals), never from the data checked.
    """

    def __init__(self) -> None:
        self.lines = ["def plain(v0):"]
        self.names: dict[str, Any] = {"_MISSING": _MISSING}
        self._variables = 0

    def variable(self) -> str:
        self._variables += 1
        return f"v{self._variables}"

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def block(self, declaration: Any, var: str, indent: int, depth: int) -> None:
        """The body of an ``if`` or a ``for``: :meth:`emit`'s lines, or ``pass`` when it has none."""
        size = len(self.lines)
        self.emit(declaration, var, indent, depth)
        if len(self.lines) == size:
            self.line(indent, "pass")

    def emit(self, declaration: Any, var: str, indent: int, depth: int = 0) -> None:
        """Lines that return False unless ``var`` is plainly a value of ``declaration``."""
        if declaration is Any:
            return
        scalar = _scalar(declaration)
        if scalar is not None:
            self.line(indent, f"if {_rejects(scalar, var)}: return False")
            return
        origin = typing.get_origin(declaration)
        args = typing.get_args(declaration)
        if typing.is_typeddict(declaration) and depth < _MAX_INLINE_DEPTH:
            self.line(indent, f"if type({var}) is not dict: return False")
            for name, (hint, required) in typed_dict_fields(declaration).items():
                if hint is Any and not required:
                    continue
                item = self.variable()
                self.line(indent, f"{item} = {var}.get({name!r}, _MISSING)")
                if required:
                    self.line(indent, f"if {item} is _MISSING: return False")
                    self.emit(hint, item, indent, depth + 1)
                else:
                    self.line(indent, f"if {item} is not _MISSING:")
                    self.block(hint, item, indent + 1, depth + 1)
        elif origin is list:
            self.line(indent, f"if type({var}) is not list: return False")
            if args[0] is not Any:
                item = self.variable()
                self.line(indent, f"for {item} in {var}:")
                self.block(args[0], item, indent + 1, depth + 1)
        elif origin is dict:
            self.line(indent, f"if type({var}) is not dict: return False")
            if args[0] is not Any or args[1] is not Any:
                key, item = self.variable(), self.variable()
                self.line(indent, f"for {key}, {item} in {var}.items():")
                self.emit(args[0], key, indent + 1, depth + 1)
                self.block(args[1], item, indent + 1, depth + 1)
        elif origin is tuple and args and args[-1] is not Ellipsis:
            self.line(indent, f"if type({var}) is not list or len({var}) != {len(args)}: return False")
            items = [self.variable() for _ in args]
            self.line(indent, f"{', '.join(items)}{',' if len(items) == 1 else ''} = {var}")
            for item_declaration, item in zip(args, items, strict=True):
                self.emit(item_declaration, item, indent, depth + 1)
        else:
            # unions, literals, records nested too deep: their compiled check, called
            check = f"c{len(self.names)}"
            self.names[check] = _compile(declaration)
            self.line(indent, f"if {check}({var}, False) is not None: return False")


class _Missing:
    __slots__ = ()


_MISSING = _Missing()


def _compile_plain(declaration: Any) -> Callable[[Any], bool]:
    """A function that is True when a value plainly matches ``declaration`` (see :class:`_PlainSource`)."""
    source = _PlainSource()
    source.emit(declaration, "v0", 1)
    source.line(1, "return True")
    plain: Callable[[Any], bool] = _generate("\n".join(source.lines) + "\n", "plain", **source.names)
    return plain
