"""Locust's JSON statistics list (its ``--json`` and ``--json-file``), built from tswarm's statistics.

Not tswarm's JSON report (``outputs.py``): this is the list Locust pipelines already parse, one object
per endpoint in Locust's own field names. Imports ``tswarm.stats`` only.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tswarm.stats.entries import RequestStats, StatsEntry
from tswarm.stats.histogram import bucket_value

__all__ = ["locust_response_time_key", "locust_stats_list", "locust_stats_text", "write_locust_stats_file"]


def locust_response_time_key(response_time_ms: float) -> int:
    """The key Locust files a response time under in ``response_times``: about two significant digits
    (whole milliseconds below 100 ms, tens below 1 s, hundreds below 10 s, thousands above)."""
    for limit, digits in ((100, 0), (1000, -1), (10000, -2)):
        if response_time_ms < limit:
            return int(round(response_time_ms, digits))
    return int(round(response_time_ms, -3))


def _per_second(entry: StatsEntry, counts: list[int]) -> dict[str, int]:
    # tswarm keeps the latest seconds in a ring (bounded memory), not every second of the run
    seconds = [
        (second, counts[i]) for i, second in enumerate(entry._slot_second) if second >= 0 and counts[i]
    ]
    return {str(second): count for second, count in sorted(seconds)}


def _entry(entry: StatsEntry) -> dict[str, Any]:
    response_times: dict[int, int] = {}
    for key, count in entry.histogram.items():
        rounded = locust_response_time_key(bucket_value(key))
        response_times[rounded] = response_times.get(rounded, 0) + count
    return {
        "name": entry.name,
        "method": entry.method,
        "last_request_timestamp": entry.last_request_timestamp,
        "start_time": entry.start_time,
        "num_requests": entry.num_requests,
        # tswarm counts no request without a response time (Locust's "None" requests)
        "num_none_requests": 0,
        "num_failures": entry.num_failures,
        "total_response_time": entry.total_response_time,
        "max_response_time": entry.max_response_time,
        "min_response_time": entry.min_response_time,
        "total_content_length": int(entry.total_content_length),
        "response_times": {str(k): v for k, v in response_times.items()},
        "num_reqs_per_sec": _per_second(entry, entry._slot_requests),
        "num_fail_per_sec": _per_second(entry, entry._slot_failures),
    }


def locust_stats_list(stats: RequestStats) -> list[dict[str, Any]]:
    """One object per endpoint that saw a request or a failure, in the order they were first seen,
    without the aggregate row: the list Locust prints for ``--json``."""
    return [_entry(e) for e in stats.entries.values() if e.num_requests or e.num_failures]


def locust_stats_text(stats: RequestStats) -> str:
    """The list as Locust prints it: indented by four spaces."""
    return json.dumps(locust_stats_list(stats), indent=4)


def write_locust_stats_file(name: str, stats: RequestStats) -> str:
    """Write the list to ``NAME.json`` (Locust adds the suffix and makes the folder); returns the path."""
    path = f"{name}.json"
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(locust_stats_text(stats))
    return path
