"""A mergeable log-linear histogram of response times.

Every value is kept to three significant digits: one bucket per 1 ms from 100 to 999 ms, per 10 ms
from 1000 to 9999 ms, per 0.01 ms from 1 to 9.99 ms, and so on down to a floor of 0.001 ms. A
percentile is reported as the middle of its bucket, so its relative error is at most 0.5%.

A bucket's key is its lower bound as an integer number of 10 ns units (``1e-5`` ms): 123.4 ms goes
into key ``12_300_000``, 1.234 ms into ``123_000``. Keys are therefore plain ints that sort like the
values they stand for, which keeps the wire format (``{key: count}``) self-describing. Zero (and any
negative value) has key 0; positive values below the floor share the floor bucket (key 100).

Merging adds bucket counts, so percentiles merged from many workers equal those of one process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, TypeAlias

from tswarm.shapes import MAX_EXACT_INT, Bounds, shape_checker

__all__ = [
    "distribution_bars",
    "ResponseTimeHistogram",
    "WireHistogram",
    "bucket_key",
    "bucket_value",
    "percentile_rank",
    "wire_problem",
]

#: one key unit in ms (10 ns)
KEY_UNIT_MS = 1e-5
_KEYS_PER_MS = 100_000.0
#: the smallest positive bucket: 0.001 ms
FLOOR_KEY = 100


def _build_tables(size: int) -> tuple[list[int], list[int]]:
    # For an int x with x.bit_length() == n, x has either d or d + 1 decimal digits where d is the
    # digit count of 2**(n-1). The step keeps three significant digits; crossing the next power of
    # ten multiplies it by ten. Two list look-ups replace a log10 or a loop on the hot path.
    steps = [1] * size
    decades = [1] * size
    for n in range(1, size):
        digits = len(str(1 << (n - 1)))
        steps[n] = 10 ** max(digits - 3, 0)
        decades[n] = 10**digits
    return steps, decades


# 1100 bits covers every finite float times _KEYS_PER_MS
_STEP_BY_BITS, _DECADE_BY_BITS = _build_tables(1100)


def bucket_key(value_ms: float) -> int:
    """The bucket key of a response time in ms (a finite float)."""
    x = int(value_ms * _KEYS_PER_MS)
    if x < 1000:
        if x >= FLOOR_KEY:
            return x
        return 0 if value_ms <= 0 else FLOOR_KEY
    n = x.bit_length()
    step = _STEP_BY_BITS[n]
    if x >= _DECADE_BY_BITS[n]:
        step *= 10
    return x - x % step


def _bucket_step(key: int) -> int:
    if key < 1000:
        return 1
    n = key.bit_length()
    step = _STEP_BY_BITS[n]
    return step * 10 if key >= _DECADE_BY_BITS[n] else step


def bucket_value(key: int) -> float:
    """The representative value (in ms) of a bucket: its middle; 0 for the zero bucket."""
    if key <= 0:
        return 0.0
    return (key + _bucket_step(key) / 2) / _KEYS_PER_MS


def percentile_rank(q: float, count: int) -> int:
    """The 0-based rank of percentile ``q`` (0..1) among ``count`` sorted samples.

    Locust's convention: the sample with ``int(q * count)`` samples below it, so ``q=1.0`` is the
    maximum. The epsilon keeps ``0.99 * 100`` from landing on rank 98.
    """
    rank = int(q * count + 1e-9)
    if rank >= count:
        return count - 1
    return max(rank, 0)


def _percentiles_of(buckets: Mapping[int, int], qs: Sequence[float]) -> list[float]:
    total = sum(buckets.values())
    if total <= 0:
        return [0.0] * len(qs)
    keys = sorted(buckets)
    ranks = [percentile_rank(q, total) for q in qs]
    result = [0.0] * len(qs)
    below = 0  # samples in the buckets before keys[index]
    index = 0
    for i in sorted(range(len(qs)), key=ranks.__getitem__):
        rank = ranks[i]
        while below + buckets[keys[index]] <= rank:
            below += buckets[keys[index]]
            index += 1
        result[i] = bucket_value(keys[index])
    return result


class ResponseTimeHistogram:
    """Counts of response times (ms) in log-linear buckets of three significant digits.

    ``record`` is the hot path (called for every request). Storage is sparse: only buckets that
    were hit take memory, a few hundred at most for a typical endpoint.
    """

    __slots__ = ("_buckets",)

    def __init__(self, buckets: Mapping[int, int] | None = None) -> None:
        self._buckets: dict[int, int] = dict(buckets) if buckets else {}

    def record(self, value_ms: float, count: int = 1) -> None:
        """Count ``count`` responses that took ``value_ms`` milliseconds."""
        key = bucket_key(value_ms)
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + count

    def record_key(self, key: int, count: int = 1) -> None:
        """Count responses whose bucket key is already known (see :func:`bucket_key`)."""
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + count

    def merge(self, other: ResponseTimeHistogram) -> None:
        """Add the counts of ``other`` into this histogram."""
        buckets = self._buckets
        for key, n in other._buckets.items():
            buckets[key] = buckets.get(key, 0) + n

    def merge_wire(self, wire: Mapping[int, int]) -> None:
        """Add counts given in the wire format (already validated) into this histogram."""
        buckets = self._buckets
        for key, n in wire.items():
            buckets[key] = buckets.get(key, 0) + n

    def copy(self) -> ResponseTimeHistogram:
        return ResponseTimeHistogram(self._buckets)

    def clear(self) -> None:
        self._buckets.clear()

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return sum(self._buckets.values())

    def __len__(self) -> int:
        """Number of non-empty buckets."""
        return len(self._buckets)

    def __bool__(self) -> bool:
        return bool(self._buckets)

    def items(self) -> Iterable[tuple[int, int]]:
        """(bucket key, count) pairs in ascending key order."""
        return sorted(self._buckets.items())

    def percentile(self, q: float) -> float:
        """The response time (ms) that a fraction ``q`` (0..1) of the values are at or below.

        Returns the representative value of the bucket holding that rank, 0 when empty.
        """
        return _percentiles_of(self._buckets, (q,))[0]

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """Several percentiles in one pass over the sorted buckets."""
        return _percentiles_of(self._buckets, qs)

    def to_wire(self) -> dict[int, int]:
        """A msgpack-friendly copy: bucket key -> count, both ints."""
        return dict(self._buckets)

    @classmethod
    def from_wire(cls, wire: Mapping[int, int]) -> ResponseTimeHistogram:
        """Rebuild a histogram from :meth:`to_wire`; raises ``ValueError`` on a malformed mapping."""
        problem = wire_problem(wire)
        if problem:
            raise ValueError(problem)
        return cls(wire)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResponseTimeHistogram):
            return NotImplemented
        return self._buckets == other._buckets

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ResponseTimeHistogram(count={self.count}, buckets={len(self._buckets)})"


#: the key of the longest response time a peer may send (2^53 ms: tswarm.shapes.Amount)
MAX_BUCKET_KEY = bucket_key(MAX_EXACT_INT)

#: the histogram's wire format: bucket key (>= 0) -> count of values in that bucket (>= 1)
#: (a key past MAX_BUCKET_KEY stands for no response time a peer may send: see tswarm.shapes.Amount; a
#: count needs no upper bound here, as a delta's counts add up to its entry's num_requests, a Count)
WireHistogram: TypeAlias = dict[
    Annotated[int, Bounds(min=0, max=MAX_BUCKET_KEY)], Annotated[int, Bounds(min=1)]
]
_WIRE_SHAPE = shape_checker(WireHistogram, "histogram")


def wire_problem(wire: object) -> str | None:
    """Why ``wire`` is not a histogram in the wire format (:data:`WireHistogram`), or None when it is."""
    return _WIRE_SHAPE.first_problem(wire)


def distribution_bars(histogram: Sequence[Sequence[int]], bars: int) -> list[tuple[float, float, int]]:
    """The histogram's buckets gathered into at most ``bars`` bars of equal width on a log scale:
    (from ms, to ms, count) each, slowest last; zero-ms responses go into the first bar."""
    values = [(bucket_value(key), count) for key, count in histogram]
    if not values:
        return []
    positive = [v for v, _ in values if v > 0]
    low = min(positive, default=0.001)
    high = max(positive, default=0.001)
    if high <= low * 1.0001:
        return [(low, high, sum(c for _, c in values))]
    log_low, log_high = math.log10(low), math.log10(high)
    width = (log_high - log_low) / bars
    counts = [0] * bars
    for value, count in values:
        index = 0 if value <= low else min(bars - 1, int((math.log10(value) - log_low) / width))
        counts[index] += count
    return [(10 ** (log_low + i * width), 10 ** (log_low + (i + 1) * width), counts[i]) for i in range(bars)]
