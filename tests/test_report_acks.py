"""Numbered, acknowledged stats reports: the worker keeps what the master has not acknowledged and
sends it again; the master merges each number once (the network cut itself is in test_multihost.py);
a worker holds its reports while its master is behind."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import test_distributed
import zmq
from conftest import TargetServer
from hypothesis import given, settings
from hypothesis import strategies as st
from test_distributed import Proc, worker_args, write

from tswarm.controller.workers import MAX_REPORTS_AHEAD, ReportNumbers
from tswarm.protocol import PROTOCOL_VERSION, decode, encode
from tswarm.runner.worker import STATS_IN_FLIGHT, STATS_RESEND_AFTER, UnackedReports, report_parts
from tswarm.stats import RequestStats

procs = test_distributed.procs  # the fixture


def test_numbers_in_order_are_merged_once_and_acknowledged() -> None:
    numbers = ReportNumbers()
    assert [numbers.accept(n, n) for n in (1, 2, 3)] == [True, True, True]
    assert numbers.acked == numbers.latest == 3
    assert not numbers.accept(2, 2) and not numbers.accept(3, 1)


def test_a_gap_holds_the_acknowledgement_until_it_is_filled() -> None:
    numbers = ReportNumbers()
    numbers.accept(1, 1)
    assert numbers.accept(3, 2) and numbers.accept(4, 2)  # 2 was lost with a cut connection
    assert numbers.acked == 1 and numbers.latest == 4
    assert numbers.accept(2, 2)  # sent again
    assert numbers.acked == 4
    assert not numbers.accept(2, 2) and not numbers.accept(4, 2)


def test_a_report_given_up_by_the_worker_does_not_hold_the_acknowledgement() -> None:
    numbers = ReportNumbers()
    numbers.accept(1, 1)
    numbers.accept(3, 2)
    # the worker cleared what it kept (the stats were reset): its next report says it keeps from 5
    assert numbers.accept(5, 5)
    assert numbers.acked == 5
    # a report from before that point still in flight is not merged after the point
    assert not numbers.accept(4, 4)


def test_numbers_ahead_of_a_gap_are_bounded() -> None:
    numbers = ReportNumbers()
    numbers.accept(1, 1)
    for n in range(3, 3 + MAX_REPORTS_AHEAD + 1):
        assert numbers.accept(n, 2)
    assert numbers.acked > 1  # the gap at 2 was given up instead of growing the set for ever
    assert len(numbers._ahead) <= MAX_REPORTS_AHEAD


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=40),
    lost=st.sets(st.integers(min_value=1, max_value=40)),
    order=st.randoms(use_true_random=False),
)
def test_every_report_is_merged_exactly_once_whatever_is_lost_and_sent_again(
    count: int, lost: set[int], order
) -> None:
    """The worker's kept reports and the master's numbers together: reports lost on the way, acks
    arriving late, everything sent again in any order, and duplicates: each report is merged once."""
    worker = UnackedReports(limit=1000)
    master = ReportNumbers()
    merged: list[int] = []

    def deliver(frame: bytes) -> None:
        number, kept_from = (int(x) for x in frame.decode().split(":"))
        if master.accept(number, kept_from):
            merged.append(number)

    for now in range(count):
        number, kept_from = worker.number_next()
        frame = f"{number}:{kept_from}".encode()
        worker.sent(number, frame, float(now))
        if number not in lost:
            deliver(frame)
        if order.random() < 0.5:
            worker.acknowledged(master.acked, float(now))
    # the link is back: what was not acknowledged goes again, some of it twice, in any order
    again = worker.due(float(count + 10), 5.0)
    again = again + order.sample(again, len(again) // 2)
    order.shuffle(again)
    for frame in again:
        deliver(frame)
    worker.acknowledged(master.acked, float(count + 10))
    assert sorted(merged) == list(range(1, count + 1))
    assert master.acked == count and len(worker) == 0


def test_kept_reports_are_sent_again_only_when_due_and_bounded() -> None:
    reports = UnackedReports(limit=3)
    for now in range(5):
        number, _ = reports.number_next()
        reports.sent(number, str(number).encode(), float(now))
    assert len(reports) == 3  # 1 and 2 were given up
    assert reports.number_next() == (6, 3)  # the next report says so
    # 3, 4 and 5 went at 2.0, 3.0 and 4.0, and no acknowledgement came: all of them go again together
    assert reports.due(6.0, 4.5) == []
    assert reports.due(6.5, 4.5) == [b"3", b"4", b"5"]
    assert reports.due(6.5, 4.5) == []  # just sent again
    reports.acknowledged(4, 8.0)
    assert reports.due(12.0, 4.5) == []  # the acknowledgement moved at 8.0
    assert reports.due(12.5, 4.5) == [b"5"]
    assert reports.due(12.5, 0.0) == [b"5"]  # on a new connection, or before the final report: at once
    reports.clear()
    assert reports.number_next() == (7, 7)
    assert reports.due(100.0, 0.0) == []


def test_at_most_in_flight_reports_wait_for_the_acknowledgement() -> None:
    reports = UnackedReports(limit=300)
    assert reports.in_flight == STATS_IN_FLIGHT == 3
    held = 0
    for now in range(6):  # the master acknowledges nothing
        if reports.has_room():
            number, _ = reports.number_next()
            reports.sent(number, b"", float(now))
        else:
            held += 1
    assert len(reports) == 3 and held == 3
    reports.acknowledged(1, 6.0)
    assert reports.has_room()
    number, kept_from = reports.number_next()
    assert (number, kept_from) == (4, 2)  # the report after the held seconds: the next number
    reports.sent(number, b"", 6.0)
    assert not reports.has_room()
    reports.acknowledged(4, 7.0)
    assert reports.has_room() and len(reports) == 0


def test_a_master_that_keeps_up_never_makes_a_worker_hold() -> None:
    """A report a second, acknowledged in the master's next heartbeat (up to a second later) and read
    at the worker's interval after that: never more than two wait when a report is due."""
    reports = UnackedReports(limit=300)
    acked_by_master = 0
    for second in range(1, 60):
        reports.acknowledged(acked_by_master, float(second))  # read before this second's report
        assert reports.has_room(), second
        number, _ = reports.number_next()
        reports.sent(number, b"", float(second))
        # the worst phase: the heartbeat acknowledging the previous report comes just after this interval
        acked_by_master = number - 2
        assert len(reports) == min(number, 3)  # two waiting, and this one
        assert reports.due(float(second), STATS_RESEND_AFTER) == []


def test_a_lagging_master_whose_acknowledgement_moves_gets_nothing_again() -> None:
    """A master 4 s behind acknowledges each report 4 s after it came: the worker holds, sends one report
    per acknowledgement, and never sends one again; one whose acknowledgement stops gets them again."""
    reports = UnackedReports(limit=300)
    sent_at: dict[int, float] = {}
    again: list[bytes] = []
    acked = 0
    moved_at = 0.0
    for tick in range(1, 120):
        now = float(tick)
        while acked + 1 in sent_at and now - sent_at[acked + 1] >= 4.0:
            acked += 1
            moved_at = now
        reports.acknowledged(acked, now)
        again += reports.due(now, STATS_RESEND_AFTER)
        if reports.has_room():
            number, _ = reports.number_next()
            reports.sent(number, str(number).encode(), now)
            sent_at[number] = now
        assert len(reports) <= STATS_IN_FLIGHT
    assert again == []
    assert len(sent_at) < 119 * 0.9  # fewer reports than seconds: the held ones went in the next
    # the master stops acknowledging (it lost them): after STATS_RESEND_AFTER they all go again, once
    assert reports.due(moved_at + STATS_RESEND_AFTER - 0.5, STATS_RESEND_AFTER) == []
    assert len(reports.due(moved_at + STATS_RESEND_AFTER, STATS_RESEND_AFTER)) == len(reports) > 0


# -- a real worker whose master falls behind ------------------------------------------------------------

COUNTED = """
    from locust import HttpUser, constant, events, task

    requests = {"since_last_report": 0}

    @events.request.add_listener
    def count(**kw):
        requests["since_last_report"] += 1

    @events.report_to_master.add_listener
    def report(client_id, data, **kw):
        # a listener's own data: it accumulates while the worker holds its reports, as the stats do
        data["requests_seen"] = requests["since_last_report"]
        requests["since_last_report"] = 0

    class Steady(HttpUser):
        wait_time = constant(0.05)

        @task
        def fast(self):
            self.client.get("/fast")
"""


class SlowMaster:
    """A raw ROUTER playing a master that acknowledges a worker's stats reports only when told to."""

    def __init__(self, router: zmq.Socket[bytes], host: str) -> None:
        self.router = router
        self.host = host
        self.identity = b""
        #: every stats report that came, by number, copies included
        self.reports: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.log_lines: list[str] = []
        self.beats = 0
        self.acking = False
        self.stopped = False

    @property
    def acked(self) -> int:
        """What this master acknowledges: every report up to the first gap, once it acknowledges."""
        number = 0
        while self.acking and number + 1 in self.reports:
            number += 1
        return number

    def send(self, msg_type: str, data: dict[str, Any], identity: bytes = b"") -> None:
        self.router.send_multipart([identity or self.identity, encode(msg_type, data, "master")])

    def heartbeat(self) -> None:
        beat = {"timestamp": time.time(), "master_id": "slow", "stats_acked": self.acked}
        self.send("heartbeat", beat, self.identity + b"#hb")

    def run_until(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Answer the worker until ``done()`` holds."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, (dict(self.reports), self.log_lines)
            if not self.router.poll(200):
                continue
            identity, frame = self.router.recv_multipart()
            msg = decode(frame)
            if msg.type == "hello":
                self.identity = identity
                ack = {
                    "index": 0, "protocol": PROTOCOL_VERSION, "heartbeat_interval": 1.0,
                    "heartbeat_timeout": 60.0, "worker_count": 1, "master_id": "slow",
                }  # fmt: skip
                self.send("ack", ack)
                spawn = {
                    "user_classes_count": {"Steady": 1}, "host": self.host, "stop_timeout": 10.0,
                    "test_id": "t", "worker_count": 1, "parsed_options": {},
                }  # fmt: skip
                self.send("spawn", spawn)
            elif msg.type == "heartbeat":
                self.beats += 1
                self.heartbeat()
            elif msg.type == "stats":
                self.reports[msg.data["seq"]].append(msg.data)
                if self.acking:
                    self.heartbeat()  # at once: the acknowledgement moves with every report
            elif msg.type == "logs":
                self.log_lines += [line[2] for line in msg.data["lines"]]
            elif msg.type == "stopped":
                self.stopped = True


def requests_in(report: dict[str, Any]) -> int:
    stats = RequestStats()
    stats.merge_delta(report["stats"])
    return int(stats.total.num_requests)


def test_a_worker_whose_master_does_not_acknowledge_holds_its_reports_and_loses_nothing(
    tmp_path: Path, procs: Callable[..., Proc], target: TargetServer
) -> None:
    """A master that falls behind gets at most STATS_IN_FLIGHT reports; once it acknowledges them, the
    next report carries everything since (the totals are what the target served), and none is sent
    again while the acknowledgement moves."""
    write(tmp_path / "locustfile.py", COUNTED)
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    worker = procs(*worker_args(port, "--master-timeout", "60"), cwd=tmp_path)
    master = SlowMaster(router, target.url)
    try:
        master.run_until(lambda: any("holding the next" in line for line in master.log_lines))
        beats = master.beats
        master.run_until(lambda: master.beats >= beats + 1)  # a second more of holding
        assert set(master.reports) == set(range(1, STATS_IN_FLIGHT + 1)), dict(master.reports)
        held_from = max(master.reports)
        master.acking = True
        master.heartbeat()
        master.run_until(lambda: len(master.reports) >= held_from + 2)
        master.send("stop", {})
        master.run_until(lambda: master.stopped)
        caught_up = [
            line for line in master.log_lines if "acknowledges this worker's stats reports again" in line
        ]
    finally:
        worker.stop()
        router.close()
        context.term()
    numbers = sorted(master.reports)
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    # sent again at most while nothing was acknowledged (after STATS_RESEND_AFTER), never after
    assert all(len(master.reports[n]) == 1 for n in numbers if n > held_from), dict(master.reports)
    first = {n: master.reports[n][0] for n in numbers}
    served = target.counts()["by_endpoint"]["GET /fast"]
    assert sum(requests_in(report) for report in first.values()) == served > 0
    # the listener's data accumulated with the stats: fired once per report that went
    assert [report["requests_seen"] for report in first.values()] == [requests_in(r) for r in first.values()]
    assert len(caught_up) == 1, master.log_lines
    assert sum("holding the next" in line for line in master.log_lines) == 1, master.log_lines


def test_a_report_too_big_for_one_frame_goes_in_parts_that_add_up_to_it() -> None:
    """A report held while the master was behind, of many names, could pass ZeroMQ's frame limit (which
    drops the frame and the connection): it goes in parts, each under the budget, that merge to the whole."""
    worker = RequestStats(start_time=1000.0)
    for i in range(40):
        for k in range(30):
            worker.log_request("GET", f"/n/{i}", 1.0 + k * i, 10, now=1000.0 + k % 20, status_code=200)
        worker.log_error("GET", f"/n/{i}", "boom", now=1001.0)
    worker.log_interrupted(2)
    delta = worker.take_delta()
    data = {"stats": delta, "user_count": 5, "user_classes_count": {"U": 5}, "extra": {"mine": 1}}
    budget = 4_000
    parts = report_parts(data, "w1", budget)
    assert len(parts) > 4
    assert all(len(encode("stats", part, "w1")) <= budget for part in parts)
    assert [e for part in parts for e in part["stats"]["entries"]] == list(delta["entries"])
    assert [part["extra"] for part in parts] == [{"mine": 1}] + [{}] * (len(parts) - 1)
    assert all(part["user_count"] == 5 for part in parts)
    whole, shared = (
        RequestStats(start_time=1000.0, track_deltas=False),
        RequestStats(start_time=1000.0, track_deltas=False),
    )
    whole.merge_delta(decode(encode("stats", data, "w1")).data["stats"])
    for part in parts:
        shared.merge_delta(decode(encode("stats", part, "w1")).data["stats"])
    assert shared.num_requests == whole.num_requests == 1200 and shared.interrupted == whole.interrupted == 2
    assert shared.total.histogram == whole.total.histogram
    assert {k: e.occurrences for k, e in shared.errors.items()} == {
        k: e.occurrences for k, e in whole.errors.items()
    }
    assert report_parts(data, "w1") == [data]  # under the real budget: one report
