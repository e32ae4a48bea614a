"""Request statistics: histograms, entries, errors, deltas for distributed mode, history; may import tswarm.shapes only.

Plain Python (the stdlib, and tswarm.shapes for the declared delta's check, which is stdlib-only too):
neither gevent nor Textual is imported here, so both the master and the workers use it.
"""

from __future__ import annotations

from tswarm.stats.entries import (
    PERCENTILES_TO_REPORT,
    ExceptionStats,
    RequestStats,
    StatsEntry,
    StatsError,
    normalize_error,
)
from tswarm.stats.histogram import ResponseTimeHistogram, bucket_key, bucket_value
from tswarm.stats.history import HistorySample, StatsHistory

__all__ = [
    "PERCENTILES_TO_REPORT",
    "ExceptionStats",
    "HistorySample",
    "RequestStats",
    "ResponseTimeHistogram",
    "StatsEntry",
    "StatsError",
    "StatsHistory",
    "bucket_key",
    "bucket_value",
    "normalize_error",
]
