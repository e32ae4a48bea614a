"""Numbered, acknowledged stats reports: the worker keeps what the master has not acknowledged and
sends it again; the master merges each number once (the network cut itself is in test_multihost.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tswarm.controller.workers import MAX_REPORTS_AHEAD, ReportNumbers
from tswarm.runner.worker import UnackedReports


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
            worker.acknowledged(master.acked)
    # the link is back: what was not acknowledged goes again, some of it twice, in any order
    again = worker.due(float(count + 10), 5.0)
    again = again + order.sample(again, len(again) // 2)
    order.shuffle(again)
    for frame in again:
        deliver(frame)
    worker.acknowledged(master.acked)
    assert sorted(merged) == list(range(1, count + 1))
    assert master.acked == count and len(worker) == 0


def test_kept_reports_are_sent_again_only_when_due_and_bounded() -> None:
    reports = UnackedReports(limit=3)
    for now in range(5):
        number, _ = reports.number_next()
        reports.sent(number, str(number).encode(), float(now))
    assert len(reports) == 3  # 1 and 2 were given up
    assert reports.number_next() == (6, 3)  # the next report says so
    assert reports.due(6.0, 3.5) == [b"3"]  # sent at 2.0; 4 went at 3.0
    assert reports.due(6.0, 3.5) == []  # just sent again
    reports.acknowledged(4)
    assert reports.due(100.0, 3.0) == [b"5"]
    reports.clear()
    assert reports.number_next() == (7, 7)
