"""StatsEntry, RequestStats, deltas for distributed mode, and StatsHistory."""

from __future__ import annotations

import ast
import random
import sys
from http import HTTPStatus
from pathlib import Path

import msgpack
import pytest

from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsEntry, StatsHistory, normalize_error
from tswarm.stats.entries import MAX_STATUS_CODES, OTHER_STATUS, WINDOW_SLOTS, WIRE_ENTRY_FIELDS

T0 = 1_700_000_000.0


def test_entry_basic_figures() -> None:
    entry = StatsEntry("GET", "/a", start_time=T0)
    for i, rt in enumerate((10.0, 20.0, 30.0, 40.0)):
        entry.log(rt, 100 * (i + 1), now=T0 + i)
    entry.log_error(now=T0 + 3)
    assert entry.num_requests == 4
    assert entry.num_failures == 1
    assert entry.avg_response_time == 25.0
    assert entry.min_response_time == 10.0
    assert entry.max_response_time == 40.0
    assert entry.avg_content_length == 250
    assert entry.fail_ratio == 0.25
    assert entry.last_request_timestamp == T0 + 3
    assert entry.total_rps == pytest.approx(4 / 3)
    assert entry.get_response_time_percentile(1.0) == 40.0
    assert entry.median_response_time == pytest.approx(30.0, rel=0.01)


def test_empty_entry() -> None:
    entry = StatsEntry("GET", "/a", start_time=T0)
    assert entry.min_response_time is None
    assert entry.median_response_time == 0.0
    assert entry.avg_response_time == 0.0
    assert entry.current_rps == 0.0
    assert entry.get_current_response_time_percentile(0.95) == 0.0
    assert entry.fail_ratio == 0.0


def test_percentiles_clamped_to_min_and_max() -> None:
    entry = StatsEntry("GET", "/a", start_time=T0)
    entry.log(100.0, 0, now=T0)
    # the bucket's middle is 100.5, but no request was slower than 100
    assert entry.get_response_time_percentiles(PERCENTILES_TO_REPORT) == [100.0] * len(PERCENTILES_TO_REPORT)


def test_current_rps_window_and_lag() -> None:
    stats = RequestStats(start_time=T0)
    # 5 requests a second for 30 s, then 1 a second
    for sec in range(30):
        for i in range(5):
            stats.log_request("GET", "/a", 10.0, 0, now=T0 + sec + i / 10)
    total = stats.total
    # the window is the 10 whole seconds ending 2 s before the latest request
    assert total.current_rps == pytest.approx(5.0)
    for sec in range(30, 45):
        stats.log_request("GET", "/a", 500.0, 0, now=T0 + sec)
    assert total.current_rps == pytest.approx(1.0)
    # current percentiles only see the slow recent requests, the totals see everything
    assert total.get_current_response_time_percentile(0.5) == pytest.approx(500.0, rel=0.01)
    assert total.median_response_time == pytest.approx(10.0, rel=0.01)
    assert total.total_rps == pytest.approx(165 / 44)


def test_current_rps_counts_only_seconds_since_start() -> None:
    stats = RequestStats(start_time=T0)
    for sec in range(6):
        for _ in range(4):
            stats.log_request("GET", "/a", 10.0, 0, now=T0 + sec)
    # latest request at T0+5: the window is [T0, T0+3), three seconds of 4 requests
    assert stats.total.current_rps == pytest.approx(4.0)
    stats.log_error("GET", "/a", "boom", now=T0 + 1)
    assert stats.total.current_fail_per_sec == pytest.approx(1 / 3)


def test_ring_buffer_memory_is_bounded() -> None:
    stats = RequestStats(start_time=T0)
    for sec in range(10_000):
        stats.log_request("GET", "/a", 1.0 + sec % 7, 0, now=T0 + sec)
        if sec % 3 == 0:
            stats.log_error("GET", "/a", ValueError("x"), now=T0 + sec)
    entry = stats.get("/a", "GET")
    assert len(entry._slot_second) == WINDOW_SLOTS
    assert len(entry._slot_buckets) == WINDOW_SLOTS
    assert all(len(b) <= 2 for b in entry._slot_buckets)
    assert len(stats.errors) == 1


def test_error_normalisation_groups_addresses() -> None:
    class Thing:
        pass

    a = normalize_error(RuntimeError(f"bad {Thing()!r}"))
    b = normalize_error(RuntimeError(f"bad {Thing()!r}"))
    assert a == b
    assert "0x...." in a
    assert normalize_error("plain text") == "plain text"

    stats = RequestStats(start_time=T0)
    for i in range(3):
        stats.log_request("GET", "/a", 1.0, 0, now=T0 + i)
        stats.log_error("GET", "/a", ConnectionError(f"<object at 0x7f00{i:08x}>"), now=T0 + i)
    (err,) = stats.errors.values()
    assert err.occurrences == 3
    assert (err.first_seen, err.last_seen) == (T0, T0 + 2)
    assert stats.num_failures == 3
    assert stats.num_requests == 3


def test_exceptions_grouped_by_traceback() -> None:
    stats = RequestStats()
    stats.log_exception("w1", "boom", "Traceback A")
    stats.log_exception("w2", "boom again", "Traceback A")
    stats.log_exception("w1", "other", "Traceback B")
    group = stats.exceptions["Traceback A"]
    assert group.count == 2
    assert group.message == "boom"
    assert group.nodes == {"w1", "w2"}
    assert len(stats.exceptions) == 2


def test_reset_all() -> None:
    stats = RequestStats(start_time=T0)
    stats.log_request("GET", "/a", 5.0, 10, now=T0)
    stats.log_error("GET", "/a", "x", now=T0)
    stats.log_exception("n", "m", "tb")
    stats.reset_all(now=T0 + 100)
    assert stats.num_requests == 0
    assert stats.num_failures == 0
    assert stats.errors == {}
    assert stats.exceptions == {}
    assert stats.start_time == T0 + 100
    assert stats.take_delta()["entries"] == []


# -- distributed mode ---------------------------------------------------------------------------

ENDPOINTS = [("GET", "/"), ("GET", "/items"), ("POST", "/items"), ("GET", "/slow")]


def _events(n: int, seed: int = 42) -> list[tuple]:
    r = random.Random(seed)
    events = []
    for i in range(n):
        method, name = r.choice(ENDPOINTS)
        now = T0 + i * 0.004  # about 40 s of traffic
        rt = r.lognormvariate(3, 1) * (20 if name == "/slow" else 1)
        # HTTP status codes, none for a request that got no response, and None for a non-HTTP one
        status = r.choice((200, 200, 200, 201, 404, 500, 0, None))
        events.append(("req", method, name, rt, r.randint(0, 5000), now, status))
        if r.random() < 0.05:
            events.append(("err", method, name, RuntimeError(f"fail {r.randint(0, 2)} at {object()!r}"), now))
        if r.random() < 0.01:
            events.append(("exc", f"tb {r.randint(0, 3)}"))
    return events


def _apply(stats: RequestStats, event: tuple, node: str) -> None:
    if event[0] == "req":
        stats.log_request(event[1], event[2], event[3], event[4], now=event[5], status_code=event[6])
    elif event[0] == "err":
        stats.log_error(event[1], event[2], event[3], now=event[4])
    else:
        stats.log_exception(node, "msg", event[1])


def _assert_same(a: StatsEntry, b: StatsEntry) -> None:
    assert a.num_requests == b.num_requests
    assert a.num_failures == b.num_failures
    assert a.total_response_time == pytest.approx(b.total_response_time)
    assert a.total_content_length == b.total_content_length
    assert a.min_response_time == b.min_response_time
    assert a.max_response_time == b.max_response_time
    assert a.last_request_timestamp == b.last_request_timestamp
    assert a.histogram == b.histogram
    assert a.status_codes == b.status_codes
    assert a.get_response_time_percentiles(PERCENTILES_TO_REPORT) == b.get_response_time_percentiles(
        PERCENTILES_TO_REPORT
    )
    assert a.current_rps == pytest.approx(b.current_rps)
    assert a.current_fail_per_sec == pytest.approx(b.current_fail_per_sec)
    assert a.get_current_response_time_percentiles((0.5, 0.95)) == b.get_current_response_time_percentiles(
        (0.5, 0.95)
    )


@pytest.mark.parametrize("cumulative_workers", [True, False])
def test_merged_deltas_equal_one_process(cumulative_workers: bool) -> None:
    events = _events(10_000)
    single = RequestStats(start_time=T0, track_deltas=False)
    master = RequestStats(start_time=T0, track_deltas=False)
    workers = [RequestStats(start_time=T0, cumulative=cumulative_workers) for _ in range(3)]
    r = random.Random(7)
    for i, event in enumerate(events):
        w = r.randrange(3)
        _apply(single, event, f"w{w}")
        _apply(workers[w], event, f"w{w}")
        if i % 997 == 0:  # deltas taken at several points, as msgpack would carry them
            k = r.randrange(3)
            wire = msgpack.packb(workers[k].take_delta())
            master.merge_delta(msgpack.unpackb(wire, strict_map_key=False), node_id=f"w{k}")
    for k, worker in enumerate(workers):
        master.merge_delta(worker.take_delta(), node_id=f"w{k}")
        assert worker.take_delta()["entries"] == []

    assert sorted(master.entries) == sorted(single.entries)
    for key, entry in single.entries.items():
        _assert_same(master.entries[key], entry)
    _assert_same(master.total, single.total)
    assert master.num_requests == single.num_requests > 0
    assert {k: (e.occurrences, e.first_seen, e.last_seen) for k, e in master.errors.items()} == {
        k: (e.occurrences, e.first_seen, e.last_seen) for k, e in single.errors.items()
    }
    assert {tb: (g.count, g.nodes) for tb, g in master.exceptions.items()} == {
        tb: (g.count, g.nodes) for tb, g in single.exceptions.items()
    }


def test_delta_is_basic_types_only() -> None:
    stats = RequestStats(start_time=T0)
    for event in _events(500):
        _apply(stats, event, "w")
    delta = stats.take_delta()

    def check(obj: object) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                assert type(k) in (str, int)
                check(v)
        elif isinstance(obj, (list, tuple)):  # an entry is a tuple, an array on the wire
            for v in obj:
                check(v)
        else:
            assert type(obj) in (str, int, float), type(obj)

    check(delta)


def test_a_delta_longer_than_the_ring_keeps_every_request() -> None:
    """The whole-test histogram is rebuilt from the per-second slots, plus the requests of seconds the
    ring no longer holds (a worker that held its reports while its master was behind)."""
    worker = RequestStats(start_time=T0)
    single = RequestStats(start_time=T0, track_deltas=False)
    for second in range(3 * WINDOW_SLOTS):
        for stats in (worker, single):
            stats.log_request("GET", "/a", 1.0 + second, 10, now=T0 + second, status_code=200)
    delta = msgpack.unpackb(msgpack.packb(worker.take_delta()), strict_map_key=False)
    (entry,) = delta["entries"]
    assert len(entry[_field("per_second")]) == WINDOW_SLOTS
    assert sum(entry[_field("unslotted")].values()) == 2 * WINDOW_SLOTS
    master = RequestStats(start_time=T0, track_deltas=False)
    master.merge_delta(delta, node_id="w1")
    _assert_same(master.entries[("/a", "GET")], single.entries[("/a", "GET")])
    _assert_same(master.total, single.total)


def _field(name: str) -> int:
    return WIRE_ENTRY_FIELDS.index(name)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("entries"),
        lambda d: d.__setitem__("version", 99),
        lambda d: d.__setitem__("version", 1),  # keyed entries, before protocol 3
        lambda d: d["entries"][0].__setitem__(_field("num_requests"), "3"),
        lambda d: d["entries"][0].__setitem__(_field("unslotted"), {"x": 1}),
        lambda d: d["entries"][0].__setitem__(_field("unslotted"), {100: 1}),  # one request too many
        lambda d: d["entries"][0].__setitem__(
            _field("num_requests"), d["entries"][0][_field("num_requests")] + 1
        ),
        lambda d: d["entries"][0][_field("per_second")].append([1, 2]),
        lambda d: d["entries"][0][_field("per_second")][0].__setitem__(1, 2),  # its buckets hold 1
        lambda d: d["entries"][0][_field("per_second")][0][3].clear(),
        lambda d: d["entries"][0].__setitem__(_field("status_codes"), {200: 2}),
        lambda d: d["entries"][0].__setitem__(_field("status_codes"), {1000: 1}),
        lambda d: d["entries"][0].__setitem__(_field("status_codes"), {"200": 1}),
        lambda d: d["entries"][0].__setitem__(_field("status_codes"), {200: -1}),
        lambda d: d["entries"][0].pop(),
        lambda d: d["entries"][0].append({}),
        lambda d: d["errors"].append({"method": "GET"}),
        lambda d: d["exceptions"].append({"count": True, "message": "m", "traceback": "t"}),
    ],
)
def test_malformed_delta_raises_and_merges_nothing(mutate) -> None:
    worker = RequestStats(start_time=T0)
    worker.log_request("GET", "/a", 5.0, 10, now=T0)
    delta = msgpack.unpackb(msgpack.packb(worker.take_delta()), strict_map_key=False)  # as sent
    mutate(delta)
    master = RequestStats(start_time=T0, track_deltas=False)
    with pytest.raises(ValueError, match="malformed stats delta"):
        master.merge_delta(delta, node_id="w1")
    assert master.num_requests == 0


def test_merge_delta_rejects_non_dict() -> None:
    with pytest.raises(ValueError):
        RequestStats().merge_delta([1, 2, 3])  # type: ignore[arg-type]


# -- history ------------------------------------------------------------------------------------


def test_history_is_bounded_and_covers_the_run() -> None:
    stats = RequestStats(start_time=T0)
    history = StatsHistory(max_points=64)
    for sec in range(1000):
        stats.log_request("GET", "/a", 10.0, 0, now=T0 + sec)
        history.record(stats, user_count=5, now=T0 + sec)
    points = history.points()
    assert len(points) <= 64
    assert points[0].timestamp == T0
    assert points[-1].timestamp >= T0 + 1000 - 32
    gaps = {b.timestamp - a.timestamp for a, b in zip(points, points[1:], strict=False)}
    assert max(gaps) <= 32
    assert points[-1].total_requests == stats.num_requests or points[-1].total_requests > 900
    final = history.record(stats, user_count=5, now=T0 + 1000, force=True)
    assert final is not None and history.points()[-1] == final


def test_history_samples_p50_p95_and_p99_of_the_window() -> None:
    stats = RequestStats(start_time=T0)
    for i in range(100):
        stats.log_request("GET", "/a", float(i + 1), 0, now=T0 + 1)
    sample = StatsHistory().record(stats, user_count=1, now=T0 + 1)
    assert sample is not None
    assert sample.p50 == pytest.approx(50, abs=2)
    assert sample.p95 == pytest.approx(95, abs=2)
    assert sample.p99 == pytest.approx(99, abs=2)


def test_stats_package_imports_only_stdlib() -> None:
    # tswarm.shapes (the one shape check) is allowed: it is stdlib-only itself, checked here too
    allowed_local = ("tswarm.stats", "tswarm.shapes")
    tswarm_dir = Path(__file__).parent.parent / "tswarm"
    for path in [*(tswarm_dir / "stats").glob("*.py"), tswarm_dir / "shapes.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                local = path.name != "shapes.py" and name.startswith(allowed_local)
                assert local or top in sys.stdlib_module_names or top == "__future__", (path.name, name)


def test_interrupted_requests_travel_in_deltas_and_reset() -> None:
    worker = RequestStats(cumulative=False)
    worker.log_interrupted()
    worker.log_interrupted(2)
    delta = worker.take_delta()
    assert delta.get("interrupted") == 3
    assert "interrupted" not in worker.take_delta()  # counted once, and left out when none
    master = RequestStats(track_deltas=False)
    master.merge_delta(msgpack.unpackb(msgpack.packb(delta), strict_map_key=False), "w1")
    assert master.interrupted == 3
    assert master.num_requests == 0  # never counted as requests
    for bad in (-1, float("inf"), True, "3"):
        with pytest.raises(ValueError, match="interrupted"):
            master.merge_delta({**delta, "interrupted": bad}, "w2")
    assert master.interrupted == 3
    master.reset_all()
    assert master.interrupted == 0


# -- status codes -------------------------------------------------------------------------------


def test_status_codes_counted_per_entry_and_in_the_aggregate() -> None:
    stats = RequestStats(start_time=T0)
    for status in (200, 200, 404, 0, None, HTTPStatus.OK):
        stats.log_request("GET", "/a", 5.0, 10, now=T0, status_code=status)
    stats.log_request("POST", "/b", 5.0, 10, now=T0, status_code=500)
    assert stats.entries[("/a", "GET")].status_codes == {200: 3, 404: 1, 0: 1}
    assert stats.entries[("/b", "POST")].status_codes == {500: 1}
    assert stats.total.status_codes == {200: 3, 404: 1, 0: 1, 500: 1}
    # an IntEnum is kept as its number: the delta stays msgpack-friendly
    assert all(type(code) is int for code in stats.total.status_codes)
    stats.reset_all(now=T0 + 1)
    assert stats.total.status_codes == {} == stats.entries[("/a", "GET")].status_codes


def test_status_codes_are_capped_and_odd_codes_count_as_other() -> None:
    stats = RequestStats(start_time=T0)
    for status in (*range(100, 100 + MAX_STATUS_CODES + 10), 1000, -5, True, "200", [1]):
        stats.log_request("GET", "/a", 5.0, 10, now=T0, status_code=status)  # type: ignore[arg-type]
    codes = stats.entries[("/a", "GET")].status_codes
    assert len(codes) == MAX_STATUS_CODES
    assert codes[OTHER_STATUS] == 10 + 1 + 4 + 1  # past the cap, out of range, bool, str, list
    assert sum(codes.values()) == stats.num_requests
    # merging more codes into a full entry keeps the cap too
    master = RequestStats(start_time=T0, track_deltas=False)
    master.merge_delta(stats.take_delta(), node_id="w1")
    other = RequestStats(start_time=T0)
    other.log_request("GET", "/a", 5.0, 10, now=T0, status_code=599)
    master.merge_delta(other.take_delta(), node_id="w2")
    merged = master.entries[("/a", "GET")].status_codes
    assert len(merged) == MAX_STATUS_CODES
    assert merged[OTHER_STATUS] == codes[OTHER_STATUS] + 1


def test_delta_without_status_codes_merges() -> None:
    worker = RequestStats(start_time=T0)
    worker.log_request("GET", "/a", 5.0, 10, now=T0, status_code=200)
    worker.log_request("GET", "/a", 5.0, 10, now=T0)
    delta = worker.take_delta()
    assert delta["entries"][0][_field("status_codes")] == {200: 1}
    worker.log_request("GET", "/a", 5.0, 10, now=T0)
    old = worker.take_delta()
    assert old["entries"][0][_field("status_codes")] == {}  # no request had a status code
    master = RequestStats(start_time=T0, track_deltas=False)
    master.merge_delta(delta, node_id="w1")
    master.merge_delta(old, node_id="w2")
    assert master.num_requests == 3
    assert master.total.status_codes == {200: 1}
