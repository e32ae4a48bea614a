"""What the master pays to check one incoming stats message: the hand-written checks tswarm had before the
shapes were declared (frozen below) against the checks derived from the declarations (tswarm.shapes).

usage: python benchmarks/shape_checks.py [--entries 20] [--requests 300] [--number 300] [--rounds 7]

One message is built the way a worker builds it (RequestStats.take_delta over about 1.5 s of requests,
packed and unpacked with msgpack), then each way of checking it runs ``--number`` times per round,
the ways alternating round by round so that a busy machine penalises them alike; the table shows the
best and the median round per message. msgpack.unpackb and merge_delta's merging are shown for scale,
and msgspec.convert (strict) on the same message when msgspec is installed, as the library considered.
No network, no processes: pure CPU on this interpreter.
"""

from __future__ import annotations

import argparse
import random
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import msgpack

from tswarm.protocol.payloads import payload_checker
from tswarm.stats.entries import RequestStats, delta_problem

T0 = 1_700_000_000.0

# -- the checks as they were (tswarm/protocol/messages.py and tswarm/stats/entries.py before) -------------

_OLD_NUMBER = (int, float)
_OLD_STATS_KEYS: dict[str, type | tuple[type, ...]] = {"stats": dict, "user_count": int}
_OLD_ENTRY_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "name": (str,),
    "num_requests": (int,),
    "num_failures": (int,),
    "total_response_time": _OLD_NUMBER,
    "min_response_time": _OLD_NUMBER,
    "max_response_time": _OLD_NUMBER,
    "total_content_length": _OLD_NUMBER,
    "last_request_timestamp": _OLD_NUMBER,
    "histogram": (dict,),
    "per_second": (list,),
}
_OLD_ERROR_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "name": (str,),
    "error": (str,),
    "occurrences": (int,),
    "first_seen": _OLD_NUMBER,
    "last_seen": _OLD_NUMBER,
}
_OLD_EXCEPTION_FIELDS: dict[str, tuple[type, ...]] = {"count": (int,), "message": (str,), "traceback": (str,)}


def old_payload_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "'stats' message data must be a map"
    for key, expected in _OLD_STATS_KEYS.items():
        if key not in data:
            return f"'stats' message lacks {key!r}"
        value = data[key]
        if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
            return f"'stats' message has a {type(value).__name__} for {key!r}"
    return None


def old_wire_problem(wire: object) -> str | None:
    if not isinstance(wire, dict):
        return f"histogram must be a mapping, not {type(wire).__name__}"
    for key, n in wire.items():
        if type(key) is not int or key < 0:
            return f"histogram key {key!r} is not a non-negative int"
        if type(n) is not int or n <= 0:
            return f"histogram count {n!r} for key {key} is not a positive int"
    return None


def _old_fields_problem(obj: object, fields: dict[str, tuple[type, ...]], where: str) -> str | None:
    if not isinstance(obj, dict):
        return f"{where} must be a mapping, not {type(obj).__name__}"
    for name, types in fields.items():
        if name not in obj:
            return f"{where} lacks {name!r}"
        if type(obj[name]) not in types:
            return f"{where}.{name} has type {type(obj[name]).__name__}"
    return None


def _old_entry_problem(wire: dict[str, Any], where: str) -> str | None:
    problem = _old_fields_problem(wire, _OLD_ENTRY_FIELDS, where)
    if problem:
        return problem
    if wire["num_requests"] < 0 or wire["num_failures"] < 0:
        return f"{where} has a negative count"
    problem = old_wire_problem(wire["histogram"])
    if problem:
        return f"{where}: {problem}"
    if sum(wire["histogram"].values()) != wire["num_requests"]:
        return f"{where}: histogram counts do not add up to num_requests"
    for j, slot in enumerate(wire["per_second"]):
        if (
            not isinstance(slot, list | tuple)
            or len(slot) != 4
            or any(type(v) is not int or v < 0 for v in slot[:3])
        ):
            return f"{where}.per_second[{j}] must be [second, requests, failures, histogram]"
        problem = old_wire_problem(slot[3])
        if problem:
            return f"{where}.per_second[{j}]: {problem}"
    return None


def old_delta_problem(delta: Any) -> str | None:
    if not isinstance(delta, dict):
        return f"delta must be a mapping, not {type(delta).__name__}"
    if delta.get("version") != 1:
        return f"unsupported delta version {delta.get('version')!r}"
    for part in ("entries", "errors", "exceptions"):
        if not isinstance(delta.get(part), list):
            return f"delta[{part!r}] must be a list"
    for i, wire in enumerate(delta["entries"]):
        problem = _old_entry_problem(wire, f"entries[{i}]")
        if problem:
            return problem
    for i, err in enumerate(delta["errors"]):
        problem = _old_fields_problem(err, _OLD_ERROR_FIELDS, f"errors[{i}]")
        if problem:
            return problem
    for i, exc in enumerate(delta["exceptions"]):
        problem = _old_fields_problem(exc, _OLD_EXCEPTION_FIELDS, f"exceptions[{i}]")
        if problem:
            return problem
    return None


# -- the message and the contenders -----------------------------------------------------------------------


def stats_message(entries: int, requests: int, seed: int = 7) -> dict[str, Any]:
    """A worker's ``stats`` message after ~1.5 s: ``entries`` endpoints of ``requests`` requests each."""
    rng = random.Random(seed)
    stats = RequestStats(start_time=T0, cumulative=False)
    for e in range(entries):
        for i in range(requests):
            now = T0 + 1.5 * i / requests
            stats.log_request("GET", f"/endpoint/{e}", rng.lognormvariate(3.0, 0.8), 1024, now=now)
            if i % 50 == 0:
                stats.log_error("GET", f"/endpoint/{e}", "HTTPError('500 Server Error')", now=now)
    data = {"stats": stats.take_delta(), "user_count": 100, "user_classes_count": {"WebUser": 100}}
    message: dict[str, Any] = msgpack.unpackb(msgpack.packb(data), strict_map_key=False)
    return message


def contenders(message: dict[str, Any]) -> dict[str, Callable[[], object]]:
    new_payload = payload_checker("stats")
    assert new_payload is not None
    assert old_payload_problem(message) is None and old_delta_problem(message["stats"]) is None
    assert new_payload.first_problem(message) is None and delta_problem(message["stats"]) is None
    packed = msgpack.packb(message)

    def merge() -> None:
        RequestStats(track_deltas=False).merge_delta(message["stats"])

    ways: dict[str, Callable[[], object]] = {
        "old checks (payload + delta)": lambda: (
            old_payload_problem(message),
            old_delta_problem(message["stats"]),
        ),
        "new checks (payload + delta)": lambda: (
            new_payload.first_problem(message),
            delta_problem(message["stats"]),
        ),
        "for scale: msgpack.unpackb": lambda: msgpack.unpackb(packed, strict_map_key=False),
        "for scale: merge_delta (new check + merge)": merge,
    }
    try:
        import msgspec
    except ImportError:
        return ways
    from tswarm.protocol.payloads import Stats
    from tswarm.stats.entries import StatsDelta

    def with_msgspec() -> None:
        msgspec.convert(message, type=Stats, strict=True)
        msgspec.convert(message["stats"], type=StatsDelta, strict=True)

    ways["msgspec.convert strict (same declarations)"] = with_msgspec
    return ways


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20, help="endpoints in the delta (20)")
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint (300)")
    parser.add_argument("--number", type=int, default=300, help="checks per round (300)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (7)")
    args = parser.parse_args()

    message = stats_message(args.entries, args.requests)
    delta = message["stats"]
    buckets = sum(len(e["histogram"]) + sum(len(s[3]) for s in e["per_second"]) for e in delta["entries"])
    print(
        f"stats message: {len(delta['entries'])} entries, {len(delta['errors'])} errors, "
        f"{buckets} histogram buckets, {len(msgpack.packb(message))} bytes packed"
    )
    ways = contenders(message)
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, run in ways.items():
            times[name].append(timeit.timeit(run, number=args.number) / args.number * 1e6)
    width = max(map(len, ways))
    print(f"{'per message':<{width}}  {'best µs':>8}  {'median µs':>9}")
    for name, rounds in times.items():
        print(f"{name:<{width}}  {min(rounds):8.1f}  {statistics.median(rounds):9.1f}")


if __name__ == "__main__":
    main()
