"""Pass/fail checks of a run (``--check p95<300ms``): parsed once, evaluated on whole-test stats.

Plain logic shared by the command line (parsing, before the test), the headless front-end (the
summary, the outputs, ``--check-abort``) and any later front-end; imports only ``tswarm.stats``.

Grammar: ``[[METHOD] NAME:] METRIC OP VALUE``.

- METRIC: ``avg``, ``median``, ``min``, ``max``, ``pN`` (``p95``, ``p99.9``) in time units ``ms``
  (default), ``s`` or ``m``; ``fail_ratio`` as ``1%`` or ``0.01``; ``failures``, ``requests`` (counts);
  ``rps`` (whole-test requests per second).
- OP: ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``.
- A change against a baseline (``tswarm compare --check`` only): a signed VALUE in ``%`` of the
  baseline's value (``p95<+10%``, ``rps>-5%``), or in percentage points for ``fail_ratio``
  (``fail_ratio<+0.5pp``). A sign or ``pp`` makes a limit relative; without, it is absolute.
- The scope, before the last ``:``, names endpoints: an optional upper-case METHOD, then the request
  name, matched exactly, or as a glob when it holds ``*`` or ``?`` (``/api/*``; ``[`` is literal, as in
  Locust's ``/items/[id]``). Every matching
  endpoint is merged into one before the metric is taken. A scope that matched no request at the end
  breaches its check: nothing was measured, so nothing can hold.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tswarm.stats import RequestStats, StatsEntry

__all__ = [
    "Check",
    "CheckError",
    "CheckVerdict",
    "evaluate_checks",
    "holds",
    "parse_check",
    "parse_checks",
    "split_check_list",
]


class CheckError(ValueError):
    """An expression that is no check; the message names it and says what is wrong."""


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_TIME_METRICS = ("avg", "median", "min", "max")
_COUNT_METRICS = ("failures", "requests")
_TIME_UNITS = {"ms": Decimal(1), "s": Decimal(1000), "m": Decimal(60_000)}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
#: METRIC OP VALUE[UNIT] at the end of an expression (also how a comma-separated list is cut)
_TAIL = re.compile(
    r"(?P<metric>[A-Za-z_][A-Za-z_0-9.]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<sign>[+-])?(?P<value>"
    + _NUMBER
    + r")\s*(?P<unit>ms|s|m|%|pp)?\s*$"
)
_METHOD = re.compile(r"^([A-Z]+)\s+(\S.*)$")


@dataclass(frozen=True)
class Check:
    """One parsed check. ``limit`` is in ms for times, a fraction for ``fail_ratio``."""

    metric: str
    op: str
    limit: float
    #: the request name or glob the check is scoped to, or None for the whole test (Aggregated)
    name: str | None = None
    #: the request method of a scope, or None for any
    method: str | None = None
    #: the expression as given
    source: str = ""
    #: a change against a baseline: ``%`` of the baseline's value or ``pp`` (percentage points of
    #: ``fail_ratio``), ``limit`` then being that signed change; None for an absolute limit
    relative: str | None = None

    @property
    def scope(self) -> str:
        """``GET /cart``, ``/cart`` or ``Aggregated``."""
        if self.name is None:
            return "Aggregated"
        return f"{self.method} {self.name}" if self.method else self.name

    def text(self) -> str:
        """The check in its canonical form (parses back to an equal check)."""
        head = f"{self.scope}: " if self.name is not None else ""
        return f"{head}{self.metric}{self.op}{self.limit_value_text()}"

    def limit_value_text(self) -> str:
        """The limit with its unit: ``300ms``, ``1%``, ``+10%``, ``+0.5pp``."""
        if self.relative is not None:
            return format_change(self.limit, self.relative)
        return format_check_value(self.metric, self.limit)

    def percentile(self) -> float | None:
        """The fraction of a ``pN`` metric, else None."""
        return float(self.metric[1:]) / 100 if self.metric.startswith("p") else None

    def matches(self, method: str, name: str) -> bool:
        """Whether the endpoint (method, name) is in this check's scope."""
        if self.name is None:
            return False
        if self.method is not None and method != self.method:
            return False
        if name == self.name:
            return True
        if "*" in self.name or "?" in self.name:
            # brackets stay literal: Locust's names say /items/[id], never a character class
            return fnmatch.fnmatchcase(name, self.name.replace("[", "[[]"))
        return False


@dataclass(frozen=True)
class CheckVerdict:
    """A check and what the run showed: ``observed`` is None when no request matched its scope."""

    check: Check
    observed: float | None
    passed: bool

    @property
    def observed_text(self) -> str:
        if self.observed is None:
            return "no request matched"
        if self.check.relative is not None:
            return format_change(self.observed, self.check.relative, observed=True)
        return format_check_value(self.check.metric, self.observed, observed=True)

    @property
    def limit_text(self) -> str:
        return f"{self.check.op} {self.check.limit_value_text()}"


def format_change(value: float, unit: str, *, observed: bool = False) -> str:
    """A signed change: ``+10%``, ``-5%``, ``+0.5pp``; ``+inf%`` from a baseline of zero."""
    if math.isinf(value):
        return f"{'+' if value > 0 else '-'}inf{unit}"
    text = _number(value, 2 if observed else 6)
    return f"{'' if text.startswith('-') else '+'}{text}{unit}"


def format_check_value(metric: str, value: float, *, observed: bool = False) -> str:
    """A metric's value with its unit: ``300ms``, ``1.5s``, ``1.5%``, ``200``. A limit is written
    exactly (it parses back to itself); an ``observed`` value is rounded for reading."""
    if metric == "fail_ratio":
        return f"{_number(value * 100, 3 if observed else 6)}%"
    if metric in _COUNT_METRICS:
        return _number(value)
    if metric == "rps":
        return _number(value, 2 if observed else 6)
    if value >= 1000 and value % 100 == 0:  # whole tenths of a second read better as seconds
        return f"{_number(float(Decimal(int(value)) / 1000))}s"
    return f"{_number(value, 3 if observed else 6)}ms"


def _number(value: float, decimals: int = 6) -> str:
    # no float noise: 2.01 * 100 shows as 201, not 200.99999999999997
    return f"{round(value, decimals):.15g}"


def parse_check(expression: str, *, baseline: bool = False) -> Check:
    """Parse one expression; :class:`CheckError` names it and what is wrong.

    Changes against a baseline (``p95<+10%``) are only taken with ``baseline`` (``tswarm compare``).
    """
    text = expression.strip()
    scope: str | None = None
    body = text
    if ":" in text:
        scope, body = text.rsplit(":", 1)
        scope = scope.strip()
        if not scope:
            raise CheckError(f"check {expression!r}: the endpoint before ':' is empty")
    match = _TAIL.match(body.strip())
    if match is None:
        raise CheckError(
            f"check {expression!r}: expected METRIC OP VALUE like p95<300ms, fail_ratio<1% or rps>=200"
        )
    metric, op, unit = match["metric"], match["op"], match["unit"]
    relative: str | None = None
    if match["sign"] or unit == "pp":
        relative = _relative_unit(expression, metric, match["sign"], unit, baseline=baseline)
        _limit(expression, metric, Decimal(0), None)  # the metric is known
        value = Decimal(match["value"])
        limit = float(-value if match["sign"] == "-" else value)
    else:
        limit = _limit(expression, metric, Decimal(match["value"]), unit)
    method: str | None = None
    name = scope
    if scope is not None:
        method_match = _METHOD.match(scope)
        if method_match:
            method, name = method_match[1], method_match[2].strip()
    return Check(metric=metric, op=op, limit=limit, name=name, method=method, source=text, relative=relative)


def _relative_unit(
    expression: str, metric: str, sign: str | None, unit: str | None, *, baseline: bool
) -> str:
    def wrong(why: str) -> CheckError:
        return CheckError(f"check {expression!r}: {why}")

    if not baseline:
        raise wrong("a change (+10%, -5%, +0.5pp) needs a baseline: give it to tswarm compare --check")
    if unit == "pp":
        if metric != "fail_ratio":
            raise wrong("pp (percentage points) is a change of fail_ratio; give other metrics a change in %")
        return "pp"
    if unit != "%":
        raise wrong(f"a change is in % of the baseline's value (or pp for fail_ratio): {metric}<+10%")
    if sign is None:
        raise wrong("a change in % is signed: +10% or -5%")
    return "%"


def _limit(expression: str, metric: str, value: Decimal, unit: str | None) -> float:
    # Decimal scales exactly: 1.61s is 1610 ms, not 1610.0000000000002
    def wrong(why: str) -> CheckError:
        return CheckError(f"check {expression!r}: {why}")

    if metric in _TIME_METRICS or re.fullmatch(r"p[0-9]+(\.[0-9]+)?", metric):
        if metric.startswith("p") and not 0 < float(metric[1:]) <= 100:
            raise wrong(f"percentile {metric} must be above p0 and up to p100")
        if unit == "%":
            raise wrong(f"{metric} is a time: give ms, s or m")
        return float(value * _TIME_UNITS[unit or "ms"])
    if metric == "fail_ratio":
        if unit not in (None, "%"):
            raise wrong("fail_ratio is a ratio: give a percentage like 1% or a fraction like 0.01")
        return float(value / 100 if unit == "%" else value)
    if metric in _COUNT_METRICS or metric == "rps":
        if unit is not None:
            raise wrong(f"{metric} takes a plain number, not {unit}")
        return float(value)
    known = "avg, median, min, max, pN (p95, p99.9), fail_ratio, failures, requests, rps"
    raise wrong(f"unknown metric {metric!r}: use {known}")


def split_check_list(text: str) -> list[str]:
    """Cut ``TSWARM_CHECK``'s value into expressions at newlines and at commas that end one: a comma
    inside a scope name (``/a,b: p95<1s``) stays, as what precedes it is no complete check."""
    expressions: list[str] = []
    for line in text.splitlines():
        current = ""
        for piece in line.split(","):
            current = f"{current},{piece}" if current else piece
            if _TAIL.search(current.rsplit(":", 1)[-1]):
                expressions.append(current.strip())
                current = ""
        if current.strip():
            expressions.append(current.strip())
    return [e for e in expressions if e]


def parse_checks(expressions: Iterable[str], *, baseline: bool = False) -> list[Check]:
    """Parse every expression (the first bad one raises :class:`CheckError`)."""
    return [parse_check(e, baseline=baseline) for e in expressions if e.strip()]


def scoped_entry(stats: RequestStats, check: Check) -> StatsEntry | None:
    """The entry a check is evaluated on: the aggregate, the one matching endpoint, or the merge of
    every endpoint a glob matches; None when nothing matched."""
    if check.name is None:
        total = stats.total
        return total if (total.num_requests or total.num_failures) else None
    matching = [
        e
        for e in stats.sorted_entries()
        if check.matches(e.method, e.name) and (e.num_requests or e.num_failures)
    ]
    if not matching:
        return None
    if len(matching) == 1:
        return matching[0]
    merged = StatsEntry(check.method or "", check.name, start_time=stats.start_time, stats=stats)
    for entry in matching:
        merged.merge(entry)
    return merged


def observe(entry: StatsEntry, metric: str) -> float:
    """A metric's whole-test value on one entry (percentiles as the summary computes them)."""
    if metric == "avg":
        return entry.avg_response_time
    if metric == "median":
        return entry.median_response_time
    if metric == "min":
        return float(entry.min_response_time or 0)
    if metric == "max":
        return float(entry.max_response_time)
    if metric == "fail_ratio":
        return entry.fail_ratio
    if metric == "failures":
        return float(entry.num_failures)
    if metric == "requests":
        return float(entry.num_requests)
    if metric == "rps":
        return entry.total_rps
    return entry.get_response_time_percentile(float(metric[1:]) / 100)


def holds(check: Check, observed: float) -> bool:
    """Whether ``observed`` (in the check's unit: a change for a relative check) is within the limit."""
    return _OPERATORS[check.op](observed, check.limit)


def evaluate_checks(stats: RequestStats, checks: Sequence[Check]) -> list[CheckVerdict]:
    """Every check's verdict on the whole-test numbers of ``stats`` so far."""
    verdicts = []
    for check in checks:
        entry = scoped_entry(stats, check)
        if entry is None:
            verdicts.append(CheckVerdict(check, None, False))
            continue
        observed = observe(entry, check.metric)
        passed = math.isfinite(observed) and holds(check, observed)
        verdicts.append(CheckVerdict(check, observed, passed))
    return verdicts
