"""A bounded history of the aggregate's current figures, for charts and the JSON report."""

from __future__ import annotations

import time
from typing import NamedTuple

from tswarm.stats.entries import RequestStats

__all__ = ["HistorySample", "StatsHistory"]


class HistorySample(NamedTuple):
    """The aggregate at one moment; rates and percentiles are over the sliding window."""

    timestamp: float
    user_count: int
    current_rps: float
    current_fail_per_sec: float
    #: current median and 95th percentile response time in ms
    p50: float
    p95: float
    #: requests and failures since the start of the test
    total_requests: int
    total_failures: int
    #: current 99th percentile response time in ms (last, so older positional uses keep working)
    p99: float = 0.0


class StatsHistory:
    """About one sample a second, never more than ``max_points``.

    When full, every other sample is dropped and from then on only every other call is kept, so
    memory stays bounded and the samples still cover the whole run, evenly spaced.
    """

    def __init__(self, max_points: int = 2048) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2")
        self.max_points = max_points
        self._samples: list[HistorySample] = []
        #: keep one call in this many
        self._every = 1
        self._skip = 0

    def record(
        self, stats: RequestStats, user_count: int, now: float | None = None, *, force: bool = False
    ) -> HistorySample | None:
        """Sample ``stats.total`` now; returns the sample, or None when thinning skipped this call.

        ``force`` keeps the sample whatever the thinning (use it for the final sample of a run).
        """
        if self._skip > 0 and not force:
            self._skip -= 1
            return None
        total = stats.total
        p50, p95, p99 = total.get_current_response_time_percentiles((0.5, 0.95, 0.99))
        sample = HistorySample(
            timestamp=time.time() if now is None else now,
            user_count=user_count,
            current_rps=total.current_rps,
            current_fail_per_sec=total.current_fail_per_sec,
            p50=p50,
            p95=p95,
            total_requests=total.num_requests,
            total_failures=total.num_failures,
            p99=p99,
        )
        self.append(sample)
        return sample

    def append(self, sample: HistorySample) -> None:
        """Add a sample as is (thinning when full)."""
        self._samples.append(sample)
        self._skip = self._every - 1
        if len(self._samples) >= self.max_points:
            # keep the newest sample: it is the one a chart's right edge shows
            last = self._samples[-1]
            self._samples = self._samples[::2]
            if self._samples[-1] is not last:
                self._samples.append(last)
            self._every *= 2
            self._skip = self._every - 1

    def points(self) -> list[HistorySample]:
        """The samples, oldest first."""
        return list(self._samples)

    def clear(self) -> None:
        self._samples = []
        self._every = 1
        self._skip = 0

    def __len__(self) -> int:
        return len(self._samples)
