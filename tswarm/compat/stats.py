"""``locust.stats``: the statistics types and the module-level settings Locust files tune; may import tswarm.stats.

Locust's documented way to tune its statistics is to assign to these names from the test file
(``locust.stats.CONSOLE_STATS_INTERVAL_SEC = 15``). tswarm has command-line options for what it lets
you tune (``--percentiles``, ``--csv-full-history``), so an assignment here changes nothing: the test
file still loads and runs, and :func:`warn_about_changed_settings` says once which ones had no effect.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from tswarm.stats import RequestStats, StatsEntry, StatsError

log = logging.getLogger(__name__)

# Locust's defaults (2.x); the values a test file may assign over.
CONSOLE_STATS_INTERVAL_SEC = 2
HISTORY_STATS_INTERVAL_SEC = 5
CSV_STATS_INTERVAL_SEC = 1
CSV_STATS_FLUSH_INTERVAL_SEC = 5
CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = 10
PERCENTILES_TO_REPORT = [0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0]
PERCENTILES_TO_STATISTICS = [0.95, 0.99]
PERCENTILES_TO_CHART = [0.5, 0.95]

#: each tunable name -> what to use instead in tswarm
SETTINGS: dict[str, str] = {
    "CONSOLE_STATS_INTERVAL_SEC": "the headless table is printed every 2 s",
    "HISTORY_STATS_INTERVAL_SEC": "the history keeps one sample a second",
    "CSV_STATS_INTERVAL_SEC": "the CSV history has one row a second",
    "CSV_STATS_FLUSH_INTERVAL_SEC": "the CSV files are written as the run goes",
    "CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW": "current percentiles use a 10 s window",
    "PERCENTILES_TO_REPORT": "use --percentiles for the TUI",
    "PERCENTILES_TO_STATISTICS": "use --percentiles for the TUI",
    "PERCENTILES_TO_CHART": "use --percentiles for the TUI",
}
_DEFAULTS: dict[str, Any] = {name: globals()[name] for name in SETTINGS}

__all__ = [
    "CONSOLE_STATS_INTERVAL_SEC",
    "CSV_STATS_FLUSH_INTERVAL_SEC",
    "CSV_STATS_INTERVAL_SEC",
    "CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW",
    "HISTORY_STATS_INTERVAL_SEC",
    "PERCENTILES_TO_CHART",
    "PERCENTILES_TO_REPORT",
    "PERCENTILES_TO_STATISTICS",
    "RequestStats",
    "StatsEntry",
    "StatsError",
]


def changed_settings(module: ModuleType | None) -> list[str]:
    """The tunable names the test file assigned a value other than Locust's default to, on ``module``."""
    if module is None:
        return []
    own = vars(module)
    return [name for name in SETTINGS if name in own and own[name] != _DEFAULTS[name]]


def warn_about_changed_settings(module: ModuleType | None) -> None:
    """Log one warning that names every changed setting and what tswarm offers instead."""
    changed = changed_settings(module)
    if changed:
        log.warning(
            "the test file sets %s; tswarm does not read these (%s)",
            ", ".join(f"locust.stats.{name}" for name in changed),
            "; ".join(sorted({SETTINGS[name] for name in changed})),
        )
