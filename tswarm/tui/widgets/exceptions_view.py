"""The Exceptions view: exceptions raised in user code grouped by type and place (one row however many
messages vary), and the message variants and a traceback of the selected group below."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tswarm.controller.formatting import format_count
from tswarm.controller.snapshot import ExceptionRow, RunSnapshot
from tswarm.tui.widgets.detail_table import DetailTable
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["ExceptionGroup", "ExceptionsView", "group_exceptions"]

_COLUMNS = (
    ColumnSpec("count", Text("Count", justify="right")),
    ColumnSpec("type", "Type"),
    ColumnSpec("where", "Where"),
    ColumnSpec("nodes", "Nodes"),
    # last: a long message runs off the right edge; the detail below shows all of it
    ColumnSpec("message", "Message"),
)
#: nodes named in the Nodes column; past this many, only their number
MAX_NODES_NAMED = 3
#: a traceback's frame line: File "path", line N, in function
_FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+), in (.+)$', re.M)
#: message variants listed under a group; the rest are counted
MAX_VARIANTS_LISTED = 20


@dataclass(frozen=True)
class ExceptionGroup:
    """The exceptions of one type raised at one place, with their messages, most frequent first."""

    type: str
    where: str
    count: int
    variants: tuple[ExceptionRow, ...]
    nodes: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.type}\x00{self.where}"


def _type_of(message: str) -> str:
    # "ValueError(bad)" from the runners, "KeyError: 'x'" as Python prints it
    match = re.match(r"[\w.]+", message.strip())
    return match.group(0) if match else message.strip()[:40]


def _where(traceback: str) -> str:
    """``file.py:52 in parse_reply``: the innermost frame of ``traceback`` ("" when it has none)."""
    frames = _FRAME.findall(traceback)
    if not frames:
        return ""
    path, line, function = frames[-1]
    return f"{os.path.basename(path)}:{line} in {function.strip()}"


def group_exceptions(rows: tuple[ExceptionRow, ...]) -> list[ExceptionGroup]:
    """``rows`` grouped by exception type and innermost frame, most frequent group first."""
    by_key: dict[tuple[str, str], list[ExceptionRow]] = {}
    for row in rows:
        by_key.setdefault((_type_of(row.message), _where(row.traceback)), []).append(row)
    groups = [
        ExceptionGroup(
            type=type_,
            where=where,
            count=sum(r.count for r in variants),
            variants=tuple(sorted(variants, key=lambda r: (-r.count, r.message))),
            nodes=tuple(sorted({node for r in variants for node in r.nodes})),
        )
        for (type_, where), variants in by_key.items()
    ]
    groups.sort(key=lambda g: (-g.count, g.type, g.where))
    return groups


class ExceptionsView(DetailTable[ExceptionGroup]):
    DEFAULT_CSS = """
    ExceptionsView {
        #exceptions-table { height: 1fr; min-height: 3; }
        #exceptions-traceback-box { height: 2fr; border-top: solid $foreground 30%; }
        #exceptions-traceback { padding: 0 1; }
    }
    """

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="exceptions-table")
        with VerticalScroll(id="exceptions-traceback-box", can_focus=False):
            yield Static("", id="exceptions-traceback", classes="detail", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        self.show(_COLUMNS, {g.key: g for g in group_exceptions(snapshot.exceptions)}, _cells)

    def detail(self, item: ExceptionGroup | None) -> str:
        if item is None:
            return "No exceptions."
        if len(item.variants) == 1:
            return item.variants[0].traceback.rstrip()
        lines = [f"{len(item.variants)} messages of {item.type} at {item.where or 'an unknown place'}:"]
        width = len(format_count(item.variants[0].count))
        lines += [
            f"  {format_count(v.count):>{width}} x {v.message.splitlines()[0] if v.message else ''}"
            for v in item.variants[:MAX_VARIANTS_LISTED]
        ]
        if len(item.variants) > MAX_VARIANTS_LISTED:
            lines.append(f"  … and {len(item.variants) - MAX_VARIANTS_LISTED} more")
        lines += ["", "The most frequent one's traceback:", item.variants[0].traceback.rstrip()]
        return "\n".join(lines)


def _cells(g: ExceptionGroup) -> list[Cell]:
    first = g.variants[0].message.splitlines()[0] if g.variants[0].message else ""
    message = first if len(g.variants) == 1 else f"{len(g.variants)} messages, e.g. {first}"
    nodes = ", ".join(g.nodes) if len(g.nodes) <= MAX_NODES_NAMED else f"{len(g.nodes)} nodes"
    return [Text(format_count(g.count), justify="right"), g.type, g.where, nodes, message]
