"""Declared shapes and their one check: tswarm.shapes, protocol payloads, stats deltas (fuzzed too)."""

from __future__ import annotations

import ast
import enum
import re
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tswarm.protocol import PROTOCOL_VERSION, RESERVED_TYPES, ProtocolError, decode, encode
from tswarm.protocol.payloads import PAYLOADS
from tswarm.shapes import Bounds, ShapeError, shape_checker, typed_dict_fields
from tswarm.stats import RequestStats
from tswarm.stats.entries import DELTA_VERSION, WIRE_ENTRY_FIELDS, StatsDelta

REPO = Path(__file__).parent.parent
T0 = 1_700_000_000.0


# -- the checker itself -------------------------------------------------------------------------------


class Inner(TypedDict):
    count: Annotated[int, Bounds(min=0)]
    ratio: Annotated[float, Bounds(min=0, max=1)]


class Outer(TypedDict):
    version: Literal[1]
    name: str
    inner: Inner
    items: list[Inner]
    histogram: dict[Annotated[int, Bounds(min=0)], Annotated[int, Bounds(min=1)]]
    slots: list[tuple[int, str]]
    maybe: float | None
    extra: NotRequired[dict[str, Any]]


GOOD: dict[str, Any] = {
    "version": 1,
    "name": "n",
    "inner": {"count": 0, "ratio": 1},
    "items": [{"count": 3, "ratio": 0.5}],
    "histogram": {0: 1, 12_300_000: 4},
    "slots": [[1, "a"], (2, "b")],
    "maybe": None,
}
OUTER = shape_checker(Outer, "doc")


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = msgpack.unpackb(msgpack.packb(GOOD), strict_map_key=False)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return dict(doc)


def test_a_valid_value_has_no_problems() -> None:
    assert OUTER.first_problem(GOOD) is None
    assert OUTER.problems(GOOD) == []
    assert OUTER.first_problem({**GOOD, "undeclared": object()}) is None  # undeclared keys are not looked at
    OUTER.check(GOOD)


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("version",), True, "version: expected 1, got bool"),
        (("version",), 2, "version: expected 1, got 2"),
        (("name",), 5, "name: expected string, got int"),
        (("inner", "count"), True, "inner.count: expected int >= 0, got bool"),
        (("inner", "count"), -1, "inner.count: expected int >= 0, got -1"),
        (("inner", "count"), 1.0, "inner.count: expected int >= 0, got float"),
        (("inner", "ratio"), False, "inner.ratio: expected number >= 0 <= 1, got bool"),
        (("inner", "ratio"), 1.5, "inner.ratio: expected number >= 0 <= 1, got 1.5"),
        (("items", 0, "ratio"), "x", "items[0].ratio: expected number >= 0 <= 1, got str"),
        (("items", 0), [], "items[0]: expected object, got list"),
        (("histogram", 5), True, "histogram[5]: expected int >= 1, got bool"),
        (("histogram", 5), 0, "histogram[5]: expected int >= 1, got 0"),
        (("histogram", True), 1, "histogram: key True: expected int >= 0, got bool"),
        (("histogram", "k"), 1, "histogram: key 'k': expected int >= 0, got str"),
        (("slots", 0), [1], "slots[0]: expected array of 2, got 1 items"),
        (("slots", 1, 0), False, "slots[1][0]: expected int, got bool"),
        (("maybe",), True, "maybe: expected number or null, got bool"),
        (("extra",), [], "extra: expected object, got list"),
    ],
)
def test_a_problem_names_the_path_and_the_expected_type(
    path: tuple[Any, ...], value: Any, problem: str
) -> None:
    assert OUTER.first_problem(_with(path, value)) == problem
    with pytest.raises(ShapeError, match=re.escape(problem)):
        OUTER.check(_with(path, value))


def test_missing_keys_and_wrong_roots() -> None:
    doc = dict(GOOD)
    del doc["inner"]
    assert OUTER.first_problem(doc) == "inner: missing"
    assert OUTER.first_problem([]) == "doc: expected object, got list"
    assert OUTER.first_problem(None) == "doc: expected object, got null"


def test_every_problem_is_collected_on_request() -> None:
    doc = _with(("name",), 1)
    doc["items"] = [{"count": -1, "ratio": 0}, {"count": 0}]
    assert OUTER.problems(doc) == [
        "name: expected string, got int",
        "items[0].count: expected int >= 0, got -1",
        "items[1].ratio: missing",
    ]


def test_int_subclasses_other_than_bool_are_ints() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert OUTER.first_problem(_with(("inner", "count"), Level.HIGH)) is None
    assert OUTER.first_problem(_with(("histogram", 7), Level.HIGH)) is None


def test_the_shapes_module_is_stdlib_only() -> None:
    tree = ast.parse((REPO / "tswarm" / "shapes.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, name


# -- bool is never a number: the rule for each of the three shapes -------------------------------------
# (the JSON report's own test is in tests/test_outputs.py: test_a_bool_is_never_a_number_in_the_report)


@pytest.mark.parametrize(
    ("msg_type", "data"),
    [
        ("hello", {"protocol": True, "version": "v", "host": "h", "pid": 1}),
        ("hello", {"protocol": 1, "version": "v", "host": "h", "pid": False}),
        ("heartbeat", {"timestamp": True}),
        ("heartbeat", {"timestamp": 1.0, "user_count": True}),
        ("cpu_warning", {"cpu": False}),
        ("ack", {"index": True, "protocol": 1}),
        ("spawning", {"user_classes_count": {"A": True}, "user_count": 1}),
        ("stats", {"stats": {}, "user_count": True}),
    ],
)
def test_protocol_rejects_a_bool_for_a_number(msg_type: str, data: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="got bool"):
        decode(encode(msg_type, data, "w1"))


def _delta() -> dict[str, Any]:
    worker = RequestStats(start_time=T0)
    worker.log_request("GET", "/a", 5.0, 10, now=T0)
    worker.log_error("GET", "/a", "boom", now=T0)
    worker.log_exception("w1", "m", "tb")
    delta: dict[str, Any] = msgpack.unpackb(msgpack.packb(worker.take_delta()), strict_map_key=False)
    return delta


@pytest.mark.parametrize(
    "path",
    [
        ("version",),  # True == 1: a delta with version True was merged before
        ("entries", 0, WIRE_ENTRY_FIELDS.index("num_requests")),
        ("entries", 0, WIRE_ENTRY_FIELDS.index("total_response_time")),
        ("entries", 0, WIRE_ENTRY_FIELDS.index("last_request_timestamp")),
        ("entries", 0, WIRE_ENTRY_FIELDS.index("per_second"), 0, 1),
        ("errors", 0, "occurrences"),
        ("errors", 0, "first_seen"),
        ("exceptions", 0, "count"),
    ],
)
def test_stats_delta_rejects_a_bool_for_a_number(path: tuple[Any, ...]) -> None:
    delta = _delta()
    target: Any = delta
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = True
    master = RequestStats(start_time=T0, track_deltas=False)
    with pytest.raises(ValueError, match="got bool"):
        master.merge_delta(delta, node_id="w1")
    assert master.num_requests == 0 and not master.errors and not master.exceptions


def test_a_histogram_count_that_is_a_bool_is_rejected() -> None:
    delta = _delta()
    histogram = delta["entries"][0][WIRE_ENTRY_FIELDS.index("per_second")][0][3]
    histogram[next(iter(histogram))] = True
    with pytest.raises(ValueError, match=r"entries\[0\]\[9\]\[0\]\[3\]\[\d+\]: expected int >= 1, got bool"):
        RequestStats().merge_delta(delta, node_id="w1")


# -- one declaration, everywhere ----------------------------------------------------------------------


def test_reserved_types_are_the_declared_payloads() -> None:
    assert frozenset(PAYLOADS) == RESERVED_TYPES


def test_the_delta_version_is_declared_once() -> None:
    assert typing.get_args(typing.get_type_hints(StatsDelta)["version"]) == (DELTA_VERSION,)


def _documented_keys() -> dict[str, set[str]]:
    """message type -> every key the data column of docs/protocol.md names (nested ones included)."""
    keys: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "protocol.md").read_text().splitlines():
        match = re.match(r"\| `([a-z_]+)` \| `(.*?)` \|", line)
        if match:
            keys.setdefault(match[1], set()).update(re.findall(r'"([a-z_]+)":', match[2]))
    return keys


def _declared_keys(declaration: Any) -> set[str]:
    keys = set()
    for name, (hint, _) in typed_dict_fields(declaration).items():
        keys.add(name)
        for inner in [hint, *typing.get_args(hint)]:
            if typing.is_typeddict(inner):
                keys |= _declared_keys(inner)
    return keys


def test_protocol_doc_names_the_declared_keys() -> None:
    documented = _documented_keys()
    assert set(documented) == set(PAYLOADS)
    for msg_type, declaration in PAYLOADS.items():
        assert documented[msg_type] == _declared_keys(declaration), msg_type


# -- fuzzing: decode and merge raise their one documented error, nothing else -------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
keys = st.text(max_size=8) | st.integers(min_value=-(2**63), max_value=2**64 - 1)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
declared_names = sorted({name for d in PAYLOADS.values() for name in typed_dict_fields(d)})
# data maps that use the declared key names, so that the checks past "missing" are reached
payload_like = st.dictionaries(st.sampled_from(declared_names) | st.text(max_size=4), values, max_size=8)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=64))
def test_decode_of_any_bytes_raises_only_protocol_error(frame: bytes) -> None:
    try:
        msg = decode(frame)
    except ProtocolError as e:
        assert str(e)
    else:
        assert isinstance(msg.type, str) and isinstance(msg.node_id, str)


@FUZZ
@given(values)
def test_decode_of_any_msgpack_value_raises_only_protocol_error(value: Any) -> None:
    frame = msgpack.packb(value, use_bin_type=True)
    try:
        msg = decode(frame)
    except ProtocolError as e:
        assert str(e)
    else:  # compared as bytes: NaN is not equal to itself
        assert encode(msg.type, msg.data, msg.node_id) == frame


@FUZZ
@given(st.sampled_from(sorted(RESERVED_TYPES)), payload_like | values, st.text(max_size=8))
def test_decode_of_any_builtin_message_raises_only_protocol_error(
    msg_type: str, data: Any, node: str
) -> None:
    try:
        msg = decode(encode(msg_type, data, node))
    except ProtocolError as e:
        assert str(e).startswith(f"{msg_type!r} message: ")
    else:
        assert msg.type == msg_type and msg.node_id == node


def test_a_real_hello_decodes() -> None:
    hello = {"protocol": PROTOCOL_VERSION, "version": "1", "host": "h", "pid": 3, "cpu_count": 2}
    assert decode(encode("hello", hello, "w")).data == hello


delta_entry_like = st.lists(
    values
    | st.integers(min_value=0, max_value=10)
    | st.dictionaries(st.integers(0, 10**8), st.integers(-1, 5), max_size=4)
    | st.lists(
        st.lists(
            st.integers(0, 10) | st.dictionaries(st.integers(0, 10**8), st.integers(-1, 5), max_size=3),
            max_size=4,
        ),
        max_size=2,
    ),
    min_size=len(WIRE_ENTRY_FIELDS) - 1,
    max_size=len(WIRE_ENTRY_FIELDS) + 1,
)
delta_like = st.fixed_dictionaries(
    {"version": st.just(DELTA_VERSION) | values},
    optional={
        "entries": st.lists(delta_entry_like | values, max_size=3),
        "errors": st.lists(payload_like, max_size=2) | values,
        "exceptions": st.lists(payload_like, max_size=2) | values,
    },
)


@FUZZ
@given(delta_like | values)
def test_merge_delta_raises_only_value_error_and_merges_nothing(delta: Any) -> None:
    master = RequestStats(start_time=T0, track_deltas=False)
    try:
        master.merge_delta(delta, node_id="w1")
    except ValueError as e:
        assert str(e).startswith("malformed stats delta from w1: ")
        assert master.num_requests == 0 and not master.entries and not master.errors


_PLAIN_CASES = [(OUTER, GOOD), *((shape_checker(d, "data"), None) for d in PAYLOADS.values())]
_PLAIN_CASES.append((shape_checker(StatsDelta, "delta"), None))


@settings(FUZZ, max_examples=100)
@given(st.sampled_from(range(len(_PLAIN_CASES))), payload_like | delta_like | values)
def test_the_fast_path_never_passes_what_the_checks_reject(case: int, value: Any) -> None:
    # ShapeChecker's generated fast path answers "plainly valid" first; the compiled checks must agree
    checker, good = _PLAIN_CASES[case]
    for candidate in (value, good):
        if candidate is not None and checker._plain(candidate):
            assert checker._check(candidate, True) is None
