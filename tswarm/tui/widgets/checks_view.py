"""The Checks view: every --check with its observed value, limit and verdict, breached ones first.

Draws the snapshot's ``checks`` (evaluated by the controller on the whole-test numbers so far); imports
Textual and the controller's snapshot and nothing that runs a test.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tswarm.controller.snapshot import CheckRow, CheckStatus, RunSnapshot
from tswarm.tui.widgets.detail_table import DetailTable
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["NO_CHECKS_TEXT", "ChecksView"]

_COLUMNS = (
    ColumnSpec("verdict", "Verdict"),
    ColumnSpec("check", "Check"),
    ColumnSpec("observed", "Observed"),
    ColumnSpec("limit", "Limit"),
)

#: breached first (what needs looking at), then those still waiting for a request, then those that hold
_ORDER = {CheckStatus.BREACHED: 0, CheckStatus.PENDING: 1, CheckStatus.PASSED: 2}

_VERDICT = {
    CheckStatus.BREACHED: Text("✗ breached", style="bold red"),
    CheckStatus.PENDING: Text("… waiting", style="yellow"),
    CheckStatus.PASSED: Text("✓ holds", style="green"),
}

NO_CHECKS_TEXT = (
    "No checks for this run.\n\n"
    # one paragraph: the Static wraps it to the width
    "Checks are pass/fail limits on the whole-test numbers: shown here while the test runs, they "
    "decide the exit code at the end (3 when one is breached). Give them on the command line,\n\n"
    "  --check 'p95<300ms' --check 'fail_ratio<1%'\n"
    "  --check 'GET /api/cart: p99<500ms'   (one endpoint)\n"
    "  --check-abort                        (stop at the first breach)\n\n"
    'in the config file,  check = ["p95<300ms", "fail_ratio<1%"]\n'
    "or in the environment,  TSWARM_CHECK='p95<300ms,fail_ratio<1%'"
)


class ChecksView(DetailTable[CheckRow]):
    DEFAULT_CSS = """
    ChecksView {
        #checks-table { height: 1fr; min-height: 3; }
        #checks-detail { height: auto; padding: 0 1; border-top: solid $foreground 30%; }
        &.-no-checks #checks-table { display: none; }
        &.-no-checks #checks-detail { border-top: none; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: the check that stopped the test (--check-abort), with what it observed, or None
        self._stopped_by: str | None = None

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="checks-table")
        yield Static("", id="checks-detail", classes="detail", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        self.set_class(not snapshot.checks, "-no-checks")
        self._stopped_by = snapshot.stopped_by_check
        numbered = sorted(enumerate(snapshot.checks), key=lambda item: (_ORDER[item[1].status], item[0]))
        # keyed by position as given: two equal checks stay two rows
        self.show(_COLUMNS, {str(index): row for index, row in numbered}, _cells)

    def detail(self, item: CheckRow | None) -> str:
        if not self._by_key:
            return NO_CHECKS_TEXT
        lines = []
        if item is not None:
            lines.append(
                f"{item.check}: observed {item.observed_text}, limit {item.limit_text}: {_verdict_word(item)}"
            )
        if self._stopped_by:
            lines.append(f"The test was stopped by check {self._stopped_by} (--check-abort).")
        return "\n".join(lines)


def _verdict_word(row: CheckRow) -> str:
    if row.status is CheckStatus.PENDING:
        return "waiting (no request matched its scope yet)"
    return "holds" if row.status is CheckStatus.PASSED else "breached"


def _cells(row: CheckRow) -> list[Cell]:
    return [
        _VERDICT[row.status],
        row.check,
        row.observed_text,
        row.limit_text,
    ]
