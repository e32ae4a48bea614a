"""ResponseTimeHistogram: accuracy against exact percentiles, merging, wire format."""

from __future__ import annotations

import random

import msgpack
import pytest

from tswarm.stats.histogram import ResponseTimeHistogram, bucket_key, bucket_value, percentile_rank

PERCENTILES = (0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)


def exact_percentile(samples: list[float], q: float) -> float:
    """Nearest rank, Locust's convention: the sample with int(q * n) samples below it."""
    ordered = sorted(samples)
    return ordered[percentile_rank(q, len(ordered))]


def _rng() -> random.Random:
    return random.Random(1234)


DISTRIBUTIONS = {
    "lognormal": lambda r: [r.lognormvariate(4.0, 1.0) for _ in range(50_000)],
    "uniform": lambda r: [r.uniform(0.0, 2000.0) for _ in range(50_000)],
    "bimodal": lambda r: [r.gauss(20, 3) if r.random() < 0.7 else r.gauss(900, 50) for _ in range(50_000)],
    "tiny_sub_ms": lambda r: [r.uniform(0.001, 0.9) for _ in range(20_000)],
    "huge": lambda r: [r.uniform(1e5, 5e7) for _ in range(20_000)],
    "integers": lambda r: [float(r.randint(1, 5000)) for _ in range(20_000)],
    "few": lambda r: [r.expovariate(1 / 50) for _ in range(7)],
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_percentiles_within_one_percent(name: str) -> None:
    samples = [max(v, 0.001) for v in DISTRIBUTIONS[name](_rng())]
    hist = ResponseTimeHistogram()
    for v in samples:
        hist.record(v)
    assert hist.count == len(samples)
    got = hist.percentiles(PERCENTILES)
    for q, value in zip(PERCENTILES, got, strict=True):
        exact = exact_percentile(samples, q)
        assert abs(value - exact) <= 0.01 * exact, (q, value, exact)
        assert hist.percentile(q) == value


@pytest.mark.parametrize(
    "value",
    [0.001, 0.00123, 0.0999, 0.5, 1.0, 1.005, 9.99, 99.95, 100.0, 123.4, 999.9, 1000.0, 1e4, 3.6e6, 1e12],
)
def test_every_value_is_kept_to_three_significant_digits(value: float) -> None:
    rep = bucket_value(bucket_key(value))
    assert abs(rep - value) <= 0.005 * value + 1e-12


def test_bucket_keys_are_ordered_lower_bounds() -> None:
    assert bucket_key(0.0) == 0
    assert bucket_key(-3.0) == 0
    assert bucket_key(1e-9) == 100  # below the floor: the floor bucket
    assert bucket_key(123.4) == 12_300_000
    assert bucket_key(1.234) == 123_000
    assert bucket_key(12_345.0) == 1_230_000_000
    values = sorted(random.Random(5).uniform(0, 1e5) for _ in range(2000))
    keys = [bucket_key(v) for v in values]
    assert keys == sorted(keys)
    assert bucket_value(0) == 0.0


def test_zero_and_empty() -> None:
    hist = ResponseTimeHistogram()
    assert hist.percentile(0.5) == 0.0
    assert hist.count == 0
    hist.record(0.0, count=3)
    assert hist.percentile(0.99) == 0.0
    assert hist.count == 3


def test_merge_equals_one_histogram_of_all_samples() -> None:
    r = _rng()
    a_samples = [r.lognormvariate(3, 1.2) for _ in range(10_000)]
    b_samples = [r.uniform(0, 50) for _ in range(7_000)]
    a, b, both = ResponseTimeHistogram(), ResponseTimeHistogram(), ResponseTimeHistogram()
    for v in a_samples:
        a.record(v)
        both.record(v)
    for v in b_samples:
        b.record(v)
        both.record(v)
    merged = a.copy()
    merged.merge(b)
    assert merged == both
    assert merged.percentiles(PERCENTILES) == both.percentiles(PERCENTILES)
    assert a.count == len(a_samples)  # copy() left a alone


def test_wire_round_trip_through_msgpack() -> None:
    hist = ResponseTimeHistogram()
    for v in (0.0, 0.5, 12.25, 12.25, 4000.0, 1e9):
        hist.record(v)
    packed = msgpack.packb(hist.to_wire())
    back = ResponseTimeHistogram.from_wire(msgpack.unpackb(packed, strict_map_key=False))
    assert back == hist
    assert back.percentiles(PERCENTILES) == hist.percentiles(PERCENTILES)


@pytest.mark.parametrize("bad", [[1, 2], {"a": 1}, {10: -1}, {10: 0}, {-5: 1}, {10: 1.5}, {10: True}])
def test_from_wire_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError):
        ResponseTimeHistogram.from_wire(bad)  # type: ignore[arg-type]


def test_clear_and_record_key() -> None:
    hist = ResponseTimeHistogram()
    hist.record_key(bucket_key(5.0), 4)
    assert hist.count == 4
    hist.clear()
    assert hist.count == 0
    assert not hist
