"""Request statistics: one entry per (method, name), the aggregate, errors and exceptions.

``RequestStats.log_request`` is the hot path (every request). It computes the histogram bucket key
once and hands it to the entry, the aggregate and the pending delta, each of which only adds to a few
counters and dicts.

"Current" figures come from a ring of per-second slots (second, requests, failures, histogram), so
memory stays bounded however long the test runs.

Distributed mode: a worker calls ``take_delta()`` (everything logged since the previous call, as
msgpack-friendly basic types) and the master calls ``merge_delta()``; merging adds counts, sums and
histogram buckets, so the master ends with what one process logging every request would hold.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, NotRequired, TypeAlias, TypedDict

from tswarm.shapes import Amount, Bounds, Count, shape_checker
from tswarm.stats.histogram import ResponseTimeHistogram, WireHistogram, bucket_key

__all__ = [
    "DELTA_VERSION",
    "MAX_ERRORS",
    "MAX_NAMES",
    "MAX_STATUS_CODES",
    "MAX_TEXT_CHARS",
    "NO_RESPONSE_STATUS",
    "OTHER_STATUS",
    "OTHER_ERROR",
    "OTHER_METHOD",
    "OTHER_NAME",
    "PERCENTILES_TO_REPORT",
    "ExceptionStats",
    "RequestStats",
    "StatsEntry",
    "StatsDelta",
    "StatsError",
    "WIRE_ENTRY_FIELDS",
    "WireEntry",
    "WireError",
    "WireException",
    "WireStatusCodes",
    "delta_problem",
    "normalize_error",
]

PERCENTILES_TO_REPORT: tuple[float, ...] = (
    0.50,
    0.66,
    0.75,
    0.80,
    0.90,
    0.95,
    0.98,
    0.99,
    0.999,
    0.9999,
    1.0,
)

#: per-second slots kept per entry; must cover the rate window plus its lag, with room to spare
WINDOW_SLOTS = 16
_SLOT_MASK = WINDOW_SLOTS - 1
#: current percentiles cover the current second and the 10 before it
CURRENT_PERCENTILE_WINDOW = 10
#: current rates average 10 whole seconds ending 2 s before the latest request, as Locust does: the
#: latest seconds are still incomplete (workers report about once a second)
CURRENT_RATE_WINDOW = 10
CURRENT_RATE_LAG = 2

#: version of the delta format produced by take_delta
DELTA_VERSION: Final = 2

#: distinct (method, name) entries one test keeps (Locust's web UI stops listing rows at 500). Past it,
#: every new name is counted in the one entry (OTHER_METHOD, OTHER_NAME), with one warning: a test
#: that puts ids in its names, or a peer that sends a million names, cannot take the memory.
MAX_NAMES = 1000
OTHER_METHOD = "OTHER"
OTHER_NAME = "(other names)"
#: distinct errors (and exception tracebacks) one test keeps; past it, new ones count as OTHER_ERROR
MAX_ERRORS = 1000
OTHER_ERROR = "(other errors)"
#: a name, method, error text or traceback is cut after this many characters
MAX_TEXT_CHARS = 10_000
#: the status code of a request that got no response (connection refused or reset, timeout): what the
#: HTTP clients' ``response.status_code`` holds then
NO_RESPONSE_STATUS = 0
#: distinct status codes one entry keeps; past it (or for a code outside 0..999) a request's code is
#: counted as OTHER_STATUS, so that a server answering with odd codes cannot grow the stats
MAX_STATUS_CODES = 32
OTHER_STATUS = -1
_HIGHEST_STATUS = 999

_time = time.time
log = logging.getLogger("tswarm.stats")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def normalize_error(error: object) -> str:
    """The text an error is grouped by: a string as is, anything else as its repr.

    Object addresses (``0x7f3a...``) are replaced by ``0x....`` so that the same error raised on
    different objects groups together.
    """
    text = error if isinstance(error, str) else repr(error)
    if "0x" in text:
        text = _ADDRESS.sub("0x....", text)
    return text


class StatsEntry:
    """Statistics of one (method, name) pair, or of the aggregate (method ``""``).

    Response times are in ms. ``min_response_time`` is None until the first request.
    """

    __slots__ = (
        "method",
        "name",
        "num_requests",
        "num_failures",
        "total_response_time",
        "min_response_time",
        "max_response_time",
        "total_content_length",
        "histogram",
        "status_codes",
        "start_time",
        "last_request_timestamp",
        "_stats",
        "_buckets",
        "_slot_second",
        "_slot_requests",
        "_slot_failures",
        "_slot_buckets",
    )

    def __init__(
        self, method: str, name: str, *, start_time: float | None = None, stats: RequestStats | None = None
    ) -> None:
        self.method = method
        self.name = name
        # the owning RequestStats: current and total rates use its clock (start, latest request) so
        # that an entry nobody calls any more shows its rate falling, as in Locust
        self._stats = stats
        self.reset(start_time)

    def reset(self, start_time: float | None = None) -> None:
        """Zero every figure; ``start_time`` defaults to now."""
        self.num_requests = 0
        self.num_failures = 0
        self.total_response_time: float = 0.0
        self.min_response_time: float | None = None
        self.max_response_time: float = 0
        self.total_content_length: float = 0
        self.histogram = ResponseTimeHistogram()
        self._buckets = self.histogram._buckets
        #: status code -> requests that got it (NO_RESPONSE_STATUS: none; OTHER_STATUS: past the cap);
        #: only requests whose event carried a response with a ``status_code`` are counted here
        self.status_codes: dict[int, int] = {}
        self.start_time = _time() if start_time is None else start_time
        self.last_request_timestamp: float | None = None
        self._slot_second = [-1] * WINDOW_SLOTS
        self._slot_requests = [0] * WINDOW_SLOTS
        self._slot_failures = [0] * WINDOW_SLOTS
        self._slot_buckets: list[dict[int, int]] = [{} for _ in range(WINDOW_SLOTS)]

    # -- logging -------------------------------------------------------------------------------

    def log(
        self,
        response_time_ms: float,
        content_length: int,
        now: float | None = None,
        status_code: int | None = None,
    ) -> None:
        """Count one request that took ``response_time_ms`` and returned ``content_length`` bytes
        (with ``status_code``, when it got an HTTP answer or none: :data:`NO_RESPONSE_STATUS`)."""
        self._record(
            response_time_ms,
            bucket_key(response_time_ms),
            content_length,
            _time() if now is None else now,
            status_code,
        )

    def log_error(self, now: float | None = None) -> None:
        """Count one failure (the request itself is counted by :meth:`log`)."""
        self._record_failure(_time() if now is None else now)

    def _record(self, rt: float, key: int, content_length: int, now: float, status: Any = None) -> None:
        if status is not None:
            codes = self.status_codes
            try:
                count = codes.get(status)
            except TypeError:  # an unhashable status_code on a custom response object
                count = None
                status = OTHER_STATUS
            if count is None:
                _count_status(codes, status, 1)
            else:
                codes[status] = count + 1
        self.num_requests += 1
        self.total_response_time += rt
        if rt > self.max_response_time:
            self.max_response_time = rt
        low = self.min_response_time
        if low is None or rt < low:
            self.min_response_time = rt
        self.total_content_length += content_length
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + 1
        last = self.last_request_timestamp
        if last is None or now > last:
            self.last_request_timestamp = now
        second = int(now)
        i = second & _SLOT_MASK
        if self._slot_second[i] != second and not self._claim_slot(i, second):
            return
        self._slot_requests[i] += 1
        slot = self._slot_buckets[i]
        slot[key] = slot.get(key, 0) + 1

    def _record_failure(self, now: float) -> None:
        self.num_failures += 1
        second = int(now)
        i = second & _SLOT_MASK
        if self._slot_second[i] == second or self._claim_slot(i, second):
            self._slot_failures[i] += 1

    def _claim_slot(self, i: int, second: int) -> bool:
        """Make slot ``i`` hold ``second``; False when that second is older than the ring keeps."""
        if second < self._slot_second[i]:
            return False
        self._slot_second[i] = second
        self._slot_requests[i] = 0
        self._slot_failures[i] = 0
        self._slot_buckets[i] = {}
        return True

    # -- figures -------------------------------------------------------------------------------

    @property
    def avg_response_time(self) -> float:
        return self.total_response_time / self.num_requests if self.num_requests else 0.0

    @property
    def median_response_time(self) -> float:
        return self.get_response_time_percentile(0.5)

    @property
    def avg_content_length(self) -> float:
        return self.total_content_length / self.num_requests if self.num_requests else 0

    @property
    def fail_ratio(self) -> float:
        """Failures per request (1.0 when there are failures but no requests, as in Locust)."""
        if self.num_requests:
            return self.num_failures / self.num_requests
        return 1.0 if self.num_failures else 0.0

    def _clock(self) -> tuple[float, float | None]:
        stats = self._stats
        if stats is not None:
            return stats.start_time, stats.total.last_request_timestamp
        return self.start_time, self.last_request_timestamp

    def _elapsed(self) -> float:
        start, last = self._clock()
        return last - start if last is not None else 0.0

    @property
    def total_rps(self) -> float:
        """Requests per second from the start of the test to the latest request."""
        elapsed = self._elapsed()
        return self.num_requests / elapsed if elapsed > 0 else 0.0

    @property
    def total_fail_per_sec(self) -> float:
        elapsed = self._elapsed()
        return self.num_failures / elapsed if elapsed > 0 else 0.0

    def _rate(self, counts: list[int]) -> float:
        start, last = self._clock()
        if last is None:
            return 0.0
        top = int(last) - CURRENT_RATE_LAG
        bottom = max(top - CURRENT_RATE_WINDOW, int(start))
        if top <= bottom:
            return 0.0
        seconds = self._slot_second
        total = 0
        for i in range(WINDOW_SLOTS):
            if bottom <= seconds[i] < top:
                total += counts[i]
        return total / (top - bottom)

    @property
    def current_rps(self) -> float:
        """Requests per second over the sliding window (about the last 10 s)."""
        return self._rate(self._slot_requests)

    @property
    def current_fail_per_sec(self) -> float:
        return self._rate(self._slot_failures)

    def get_response_time_percentile(self, q: float) -> float:
        """Response time (ms) at percentile ``q`` (0..1) over the whole test; 0 when empty."""
        return self.get_response_time_percentiles((q,))[0]

    def get_response_time_percentiles(self, qs: Sequence[float]) -> list[float]:
        """Several whole-test percentiles in one pass.

        Values are clamped to the exact [min, max] and ``q >= 1`` gives the exact maximum, so a
        bucket's middle never shows more than the slowest request.
        """
        if not self.num_requests or self.min_response_time is None:
            return [0.0] * len(qs)
        low, high = self.min_response_time, self.max_response_time
        values = self.histogram.percentiles(qs)
        for i, q in enumerate(qs):
            v = values[i]
            if q >= 1.0 or v > high:
                values[i] = high
            elif v < low:
                values[i] = low
        return values

    def current_histogram(self) -> ResponseTimeHistogram:
        """Response times of the current percentile window (about the last 10 s)."""
        merged = ResponseTimeHistogram()
        _, last = self._clock()
        if last is None:
            return merged
        top = int(last)
        bottom = top - CURRENT_PERCENTILE_WINDOW
        for i in range(WINDOW_SLOTS):
            if bottom <= self._slot_second[i] <= top:
                merged.merge_wire(self._slot_buckets[i])
        return merged

    def get_current_response_time_percentile(self, q: float) -> float:
        """Response time (ms) at percentile ``q`` over the sliding window; 0 when it is empty."""
        return self.current_histogram().percentile(q)

    def get_current_response_time_percentiles(self, qs: Sequence[float]) -> list[float]:
        return self.current_histogram().percentiles(qs)

    # -- merging -------------------------------------------------------------------------------

    def to_wire(self) -> WireEntry:
        """This entry as msgpack-friendly basic types, as a delta carries it (see :data:`WireEntry`)."""
        return self._wire(copy=True)

    def _wire(self, *, copy: bool) -> WireEntry:
        # lists, not tuples: a delta holds only dicts, lists and scalars
        slots: list[Any] = []
        slotted = 0
        for i in range(WINDOW_SLOTS):
            second = self._slot_second[i]
            if second >= 0 and (self._slot_requests[i] or self._slot_failures[i]):
                buckets = self._slot_buckets[i]
                slots.append(
                    [
                        second,
                        self._slot_requests[i],
                        self._slot_failures[i],
                        dict(buckets) if copy else buckets,
                    ]
                )
                slotted += sum(buckets.values())
        # every request is in the histogram, and in its second's slot while the ring still holds that
        # second: the master rebuilds the histogram from the slots, plus what no slot holds any more
        unslotted: dict[int, int] = {}
        if slotted != self.num_requests:
            unslotted = dict(self._buckets)
            for _, _, _, buckets in slots:
                for key, n in buckets.items():
                    left = unslotted.get(key, 0) - n
                    if left > 0:
                        unslotted[key] = left
                    else:
                        unslotted.pop(key, None)
        return (
            self.method,
            self.name,
            self.num_requests,
            self.num_failures,
            self.total_response_time,
            self.min_response_time if self.min_response_time is not None else 0.0,
            self.max_response_time,
            self.total_content_length,
            self.last_request_timestamp or 0.0,
            slots,
            dict(self.status_codes) if copy else self.status_codes,
            unslotted,
        )

    def merge(self, other: StatsEntry) -> None:
        """Add everything ``other`` counted into this entry (names are not compared)."""
        self._merge_wire(other._wire(copy=False))

    def _merge_wire(self, wire: WireEntry) -> None:
        # wire is trusted here: RequestStats.merge_delta validates before merging
        self._merge_figures(wire)
        buckets = self._buckets
        get = buckets.get
        for second, requests, failures, slot_buckets in wire[9]:
            self._merge_slot(second, requests, failures, slot_buckets)
        for key, n in wire[11].items():
            buckets[key] = get(key, 0) + n

    def _merge_figures(self, wire: WireEntry) -> None:
        """Add a wire entry's counts, sums, extremes and status codes (all but its buckets)."""
        _, _, requests, failures, response_time, low, high, content, last, _, codes, _ = wire
        self.num_requests += requests
        self.num_failures += failures
        self.total_response_time += response_time
        self.total_content_length += content
        if requests:
            if high > self.max_response_time:
                self.max_response_time = high
            mine = self.min_response_time
            if mine is None or low < mine:
                self.min_response_time = low
        if last and (self.last_request_timestamp is None or last > self.last_request_timestamp):
            self.last_request_timestamp = last
        if codes:
            mine_codes = self.status_codes
            for status, count in codes.items():
                if status in mine_codes:
                    mine_codes[status] += count
                else:
                    _count_status(mine_codes, status, count)

    def _merge_slot(self, second: int, requests: int, failures: int, slot_buckets: dict[int, int]) -> None:
        """Add one second of a wire entry: to its slot while the ring holds it, and to the histogram."""
        buckets = self._buckets
        get = buckets.get
        i = second & _SLOT_MASK
        if self._slot_second[i] != second and not self._claim_slot(i, second):
            for key, n in slot_buckets.items():
                buckets[key] = get(key, 0) + n
            return
        self._slot_requests[i] += requests
        self._slot_failures[i] += failures
        target = self._slot_buckets[i]
        slot_get = target.get
        for key, n in slot_buckets.items():
            buckets[key] = get(key, 0) + n
            target[key] = slot_get(key, 0) + n

    def __repr__(self) -> str:
        return f"StatsEntry({self.method!r}, {self.name!r}, requests={self.num_requests}, failures={self.num_failures})"


def _merge_wire_twice(entry: StatsEntry, total: StatsEntry, wire: WireEntry) -> None:
    """``entry._merge_wire(wire)`` then ``total._merge_wire(wire)``, in one pass over the buckets.

    The master's hot path: every entry of every worker's report goes into its entry and the aggregate.
    """
    entry._merge_figures(wire)
    total._merge_figures(wire)
    entry_buckets, total_buckets = entry._buckets, total._buckets
    entry_get, total_get = entry_buckets.get, total_buckets.get
    entry_seconds, total_seconds = entry._slot_second, total._slot_second
    for second, requests, failures, slot_buckets in wire[9]:
        i = second & _SLOT_MASK
        if (entry_seconds[i] == second or entry._claim_slot(i, second)) and (
            total_seconds[i] == second or total._claim_slot(i, second)
        ):
            entry._slot_requests[i] += requests
            entry._slot_failures[i] += failures
            total._slot_requests[i] += requests
            total._slot_failures[i] += failures
            entry_slot, total_slot = entry._slot_buckets[i], total._slot_buckets[i]
            entry_slot_get, total_slot_get = entry_slot.get, total_slot.get
            for key, n in slot_buckets.items():
                entry_buckets[key] = entry_get(key, 0) + n
                entry_slot[key] = entry_slot_get(key, 0) + n
                total_buckets[key] = total_get(key, 0) + n
                total_slot[key] = total_slot_get(key, 0) + n
        else:  # a second older than one of the rings holds (rare): each on its own
            entry._merge_slot(second, requests, failures, slot_buckets)
            total._merge_slot(second, requests, failures, slot_buckets)
    for key, n in wire[11].items():
        entry_buckets[key] = entry_get(key, 0) + n
        total_buckets[key] = total_get(key, 0) + n


@dataclass(slots=True)
class StatsError:
    """One kind of failure of one (method, name): the normalised error text and how often it occurred."""

    method: str
    name: str
    error: str
    occurrences: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0

    def to_wire(self) -> WireError:
        return {
            "method": self.method,
            "name": self.name,
            "error": self.error,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


@dataclass(slots=True)
class ExceptionStats:
    """Exceptions raised in user code, grouped by traceback."""

    count: int
    message: str
    traceback: str
    nodes: set[str] = field(default_factory=set)


ErrorKey = tuple[str, str, str]


def _count_status(codes: dict[int, int], status: Any, count: int) -> None:
    """Add ``count`` requests of a code not yet in ``codes`` (the slow path: checks and the cap)."""
    if status.__class__ is not int:
        # an IntEnum (http.HTTPStatus) counts as its number; anything else is not a status code
        status = int(status) if isinstance(status, int) and not isinstance(status, bool) else OTHER_STATUS
    if not NO_RESPONSE_STATUS <= status <= _HIGHEST_STATUS or (
        status not in codes and len(codes) >= MAX_STATUS_CODES - 1
    ):
        # one place is kept for OTHER_STATUS, so an entry never holds more than MAX_STATUS_CODES
        status = OTHER_STATUS
    codes[status] = codes.get(status, 0) + count


def _count_error(
    errors: dict[ErrorKey, StatsError],
    method: str,
    name: str,
    text: str,
    occurrences: int,
    first_seen: float,
    last_seen: float,
) -> None:
    key = (method, name, text)
    err = errors.get(key)
    if err is None and len(errors) >= MAX_ERRORS:
        key = (OTHER_METHOD, OTHER_NAME, OTHER_ERROR)
        err = errors.get(key)
    if err is None:
        errors[key] = StatsError(key[0], key[1], key[2], occurrences, first_seen, last_seen)
        return
    err.occurrences += occurrences
    err.first_seen = min(err.first_seen, first_seen)
    err.last_seen = max(err.last_seen, last_seen)


def _count_exception(
    exceptions: dict[str, ExceptionStats], count: int, message: str, traceback: str, nodes: Iterable[str]
) -> None:
    group = exceptions.get(traceback)
    if group is None and len(exceptions) >= MAX_ERRORS:
        message = traceback = OTHER_ERROR
        group = exceptions.get(traceback)
    if group is None:
        group = exceptions[traceback] = ExceptionStats(0, message, traceback)
    group.count += count
    group.nodes.update(nodes)


class RequestStats:
    """All the statistics of a test: entries, the aggregate, errors and exceptions.

    Args:
        track_deltas: keep what is logged since the last :meth:`take_delta` (workers, and local
            runners that report to a front-end). A master that only merges can turn it off.
        cumulative: keep the whole-test figures (``entries``, ``total``, ``errors``, ``exceptions``).
            A worker whose master holds the real totals may turn it off: ``log_request`` then only
            feeds the delta and costs about a third (like a Locust worker, whose stats reset at
            every report).
        start_time: when the test started (default: now); total and current rates count from it.
    """

    def __init__(
        self, *, track_deltas: bool = True, cumulative: bool = True, start_time: float | None = None
    ) -> None:
        if not (track_deltas or cumulative):
            raise ValueError("RequestStats needs track_deltas or cumulative (or both)")
        self.track_deltas = track_deltas
        self.cumulative = cumulative
        self.start_time: float = _time() if start_time is None else start_time
        self.entries: dict[tuple[str, str], StatsEntry] = {}
        self.total = StatsEntry("", "Aggregated", start_time=self.start_time, stats=self)
        self.errors: dict[ErrorKey, StatsError] = {}
        #: traceback -> group
        self.exceptions: dict[str, ExceptionStats] = {}
        #: the (name, method) keys counted under their own name (at most MAX_NAMES)
        self._names: set[tuple[str, str]] = set()
        self._warned_names = False
        #: requests that were still waiting for their response when their user was stopped: never
        #: counted as requests (they have no response time), reported beside them
        self.interrupted = 0
        self._new_delta()

    def _new_delta(self) -> None:
        self._delta_interrupted = 0
        self._delta_entries: dict[tuple[str, str], StatsEntry] = {}
        self._delta_errors: dict[ErrorKey, StatsError] = {}
        self._delta_exceptions: dict[str, ExceptionStats] = {}

    @property
    def num_requests(self) -> int:
        return self.total.num_requests

    @property
    def num_failures(self) -> int:
        return self.total.num_failures

    @property
    def last_request_timestamp(self) -> float | None:
        return self.total.last_request_timestamp

    def get(self, name: str, method: str) -> StatsEntry:
        """The entry of (name, method), created empty when missing (past MAX_NAMES: the "other" entry)."""
        entry = self.entries.get((name, method))
        if entry is None:
            key = self._admit((name, method))
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = StatsEntry(key[1], key[0], stats=self)
        return entry

    def _delta_entry(self, key: tuple[str, str]) -> StatsEntry:
        entry = self._delta_entries.get(key)
        if entry is None:
            key = self._admit(key)
            entry = self._delta_entries.get(key)
            if entry is None:
                entry = self._delta_entries[key] = StatsEntry(key[1], key[0], start_time=0.0)
        return entry

    def _admit(self, key: tuple[str, str]) -> tuple[str, str]:
        """The key that requests of ``key`` (a (name, method) without an entry yet) are counted under."""
        name, method = key
        if len(name) > MAX_TEXT_CHARS or len(method) > MAX_TEXT_CHARS:
            key = (name[:MAX_TEXT_CHARS], method[:MAX_TEXT_CHARS])
        if key in self._names:
            return key
        if len(self._names) < MAX_NAMES:
            self._names.add(key)
            return key
        if not self._warned_names:
            self._warned_names = True
            log.warning(
                "More than %d distinct request names: the requests of new names are counted as %r %r. "
                "Group requests under fewer names (the name= argument of a request)",
                MAX_NAMES,
                OTHER_METHOD,
                OTHER_NAME,
            )
        return (OTHER_NAME, OTHER_METHOD)

    def log_request(
        self,
        method: str,
        name: str,
        response_time: float,
        content_length: int,
        now: float | None = None,
        status_code: int | None = None,
    ) -> None:
        """Count one request (failed or not) that took ``response_time`` ms.

        ``status_code``: the HTTP status it got (:data:`NO_RESPONSE_STATUS` for none), counted per
        entry; None for a request that is not HTTP (a custom client's event without a response).
        """
        if now is None:
            now = _time()
        bucket = bucket_key(response_time)
        key = (name, method)
        if self.cumulative:
            entry = self.entries.get(key)
            if entry is None:
                entry = self.get(name, method)
            entry._record(response_time, bucket, content_length, now, status_code)
            self.total._record(response_time, bucket, content_length, now, status_code)
        if self.track_deltas:
            delta = self._delta_entries.get(key)
            if delta is None:
                delta = self._delta_entry(key)
            delta._record(response_time, bucket, content_length, now, status_code)

    def log_error(self, method: str, name: str, error: object, now: float | None = None) -> None:
        """Count one failure of (method, name); log the request itself with :meth:`log_request`."""
        if now is None:
            now = _time()
        text = normalize_error(error)
        if self.cumulative:
            self.get(name, method)._record_failure(now)
            self.total._record_failure(now)
            _count_error(self.errors, method, name, text, 1, now, now)
        if self.track_deltas:
            self._delta_entry((name, method))._record_failure(now)
            _count_error(self._delta_errors, method, name, text, 1, now, now)

    def log_exception(self, node_id: str, message: str, traceback: str) -> None:
        """Count an exception raised in user code; exceptions with the same traceback group together."""
        if self.cumulative:
            _count_exception(self.exceptions, 1, message, traceback, (node_id,))
        if self.track_deltas:
            _count_exception(self._delta_exceptions, 1, message, traceback, (node_id,))

    def log_interrupted(self, count: int = 1) -> None:
        """Count requests cut off when their user was stopped (see :attr:`interrupted`)."""
        if self.cumulative:
            self.interrupted += count
        if self.track_deltas:
            self._delta_interrupted += count

    def reset_all(self, now: float | None = None) -> None:
        """Zero every entry, drop errors, exceptions and the pending delta; the test restarts now."""
        self.start_time = _time() if now is None else now
        self.interrupted = 0
        self.total.reset(self.start_time)
        for entry in self.entries.values():
            entry.reset(self.start_time)
        self.errors = {}
        self.exceptions = {}
        self._new_delta()

    def sorted_entries(self) -> list[StatsEntry]:
        """Entries sorted by (name, method), without the aggregate."""
        return [self.entries[key] for key in sorted(self.entries)]

    # -- distributed mode ----------------------------------------------------------------------

    def take_delta(self) -> StatsDelta:
        """Everything logged since the previous call, as msgpack-friendly basic types; starts a new delta.

        Its shape is declared by :class:`StatsDelta` (version 2): ``entries`` (:data:`WireEntry`, an
        array per entry), ``errors`` (:class:`WireError`) and ``exceptions`` (:class:`WireException`).
        Histograms are ``{bucket key: count}`` with int keys (decode msgpack with
        ``strict_map_key=False``). The aggregate is not sent: the master rebuilds it from the entries.
        """
        delta: StatsDelta = {
            "version": DELTA_VERSION,
            "entries": [entry._wire(copy=False) for entry in self._delta_entries.values()],
            "errors": [err.to_wire() for err in self._delta_errors.values()],
            "exceptions": [
                {"count": group.count, "message": group.message, "traceback": group.traceback}
                for group in self._delta_exceptions.values()
            ],
        }
        if self._delta_interrupted:
            delta["interrupted"] = self._delta_interrupted
        self._new_delta()
        return delta

    def merge_delta(self, delta: dict[str, Any], node_id: str = "local") -> None:
        """Add a delta from :meth:`take_delta` (sent by ``node_id``) into these statistics.

        Raises:
            ValueError: the delta is malformed; nothing of it was merged.
        """
        problem = delta_problem(delta)
        if problem:
            raise ValueError(f"malformed stats delta from {node_id}: {problem}")
        entries, total = self.entries, self.total
        for wire in delta["entries"]:
            if self.cumulative:
                key = (wire[1], wire[0])
                entry = entries.get(key)
                if entry is None:
                    entry = self.get(*key)
                _merge_wire_twice(entry, total, wire)
            if self.track_deltas:
                self._delta_entry((wire[1], wire[0]))._merge_wire(wire)
        interrupted = delta.get("interrupted", 0)
        if interrupted:
            self.log_interrupted(interrupted)
        error_targets = [self.errors] if self.cumulative else []
        exception_targets = [self.exceptions] if self.cumulative else []
        if self.track_deltas:
            error_targets.append(self._delta_errors)
            exception_targets.append(self._delta_exceptions)
        for err in delta["errors"]:
            for errors in error_targets:
                _count_error(
                    errors,
                    err["method"][:MAX_TEXT_CHARS],
                    err["name"][:MAX_TEXT_CHARS],
                    err["error"][:MAX_TEXT_CHARS],
                    err["occurrences"],
                    err["first_seen"],
                    err["last_seen"],
                )
        # the master knows who sent the delta; that node is the one that saw the exception
        for exc in delta["exceptions"]:
            for exceptions in exception_targets:
                _count_exception(
                    exceptions,
                    exc["count"],
                    exc["message"][:MAX_TEXT_CHARS],
                    exc["traceback"][:MAX_TEXT_CHARS],
                    (node_id,),
                )


# -- the delta's shape ---------------------------------------------------------------------------
# Declared once; ``delta_problem`` (and so ``merge_delta``) checks a delta against it. A bool is never a
# count or a time here, and every number is finite, >= 0 and at most 2^53 (Count, Amount: tswarm.shapes),
# so that a peer's delta cannot put an infinity or a NaN into the totals and the reports.

#: one per-second slot of an entry: [second, requests, failures, histogram]
WireSlot: TypeAlias = tuple[Count, Count, Count, WireHistogram]
#: status code (OTHER_STATUS, NO_RESPONSE_STATUS or 1..999) -> requests that got it
WireStatusCodes: TypeAlias = dict[Annotated[int, Bounds(min=OTHER_STATUS, max=_HIGHEST_STATUS)], Count]


#: One :class:`StatsEntry` in a delta (``StatsEntry.to_wire``), by position, in this order (an array on
#: the wire: a report of 50 entries is a third of the bytes, and a third of the decoding, of one whose
#: entries are keyed). The whole-test histogram is not sent: it is the sum of the per-second slots'
#: histograms, plus ``unslotted`` for requests whose second the ring no longer holds (usually empty).
WireEntry: TypeAlias = tuple[
    str,  # method
    str,  # name
    Count,  # num_requests
    Count,  # num_failures
    Amount,  # total_response_time
    Amount,  # min_response_time: 0.0 when the entry has no requests
    Amount,  # max_response_time
    Amount,  # total_content_length
    Amount,  # last_request_timestamp: 0.0 when the entry has no requests
    list[WireSlot],  # per_second
    WireStatusCodes,  # status_codes: requests per status code (at most MAX_STATUS_CODES kept on merging)
    WireHistogram,  # unslotted: the requests of no slot, by bucket
]
#: the names of a :data:`WireEntry`'s fields, in order
WIRE_ENTRY_FIELDS: Final = (
    "method",
    "name",
    "num_requests",
    "num_failures",
    "total_response_time",
    "min_response_time",
    "max_response_time",
    "total_content_length",
    "last_request_timestamp",
    "per_second",
    "status_codes",
    "unslotted",
)


class WireError(TypedDict):
    """One :class:`StatsError` in a delta."""

    method: str
    name: str
    error: str
    occurrences: Count
    first_seen: Amount
    last_seen: Amount


class WireException(TypedDict):
    """One group of :class:`ExceptionStats` in a delta (the master adds the sender as its node)."""

    count: Count
    message: str
    traceback: str


class StatsDelta(TypedDict):
    """What a worker sends in its ``stats`` message (:meth:`RequestStats.take_delta`)."""

    #: DELTA_VERSION (a test keeps the two equal)
    version: Literal[2]
    entries: list[WireEntry]
    errors: list[WireError]
    exceptions: list[WireException]
    #: requests cut off by a stop since the last delta (left out when none)
    interrupted: NotRequired[Count]


_DELTA_SHAPE = shape_checker(StatsDelta, "delta")


def delta_problem(delta: object) -> str | None:
    """Why ``delta`` is not a valid stats delta (the path and what was expected), or None when it is."""
    problem = _DELTA_SHAPE.first_problem(delta)
    if problem is not None:
        return problem
    assert isinstance(delta, dict)
    for i, wire in enumerate(delta["entries"]):
        # the rules the declaration cannot say: every counted request sits in one bucket
        requests = wire[2]
        bucketed = sum(wire[11].values())
        for j, (_, slot_requests, _, slot_buckets) in enumerate(wire[9]):
            in_slot = sum(slot_buckets.values())
            if in_slot != slot_requests:
                return f"entries[{i}].per_second[{j}]: histogram counts do not add up to its requests"
            bucketed += in_slot
        if bucketed != requests:
            return f"entries[{i}]: histogram counts (per second and unslotted) do not add up to num_requests"
        codes = wire[10]
        if codes and sum(codes.values()) > requests:
            return f"entries[{i}]: status code counts add up to more than num_requests"
    return None
