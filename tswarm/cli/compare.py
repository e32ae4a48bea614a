"""``tswarm compare BASELINE.json CANDIDATE.json``: read two runs' JSON reports, show and write their
comparison, and turn ``--check`` verdicts into the exit code; may import the controller's comparison
and outputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from tswarm.checks import CheckError, parse_checks
from tswarm.cli.options import check_output_path
from tswarm.controller.compare import (
    compare_reports,
    comparison_json,
    render_comparison_markdown,
    render_comparison_table,
)
from tswarm.controller.outputs import load_json_report, write_text_file
from tswarm.controller.report import use_color
from tswarm.exceptions import ConfigError

__all__ = ["EXIT_REGRESSION", "run_compare"]

#: the exit code of a breached check, as on a run
EXIT_REGRESSION = 3


def run_compare(
    baseline_path: str,
    candidate_path: str,
    *,
    checks: Sequence[str] = (),
    markdown: str | None = None,
    json_path: str | None = None,
) -> int:
    """Compare the two reports, print the table, write the outputs asked for; returns the exit code:
    3 when a check is breached, else 0.

    Everything is checked before anything is written: the checks, both reports and every output
    path. The table goes to stdout, or to stderr when an output is written to stdout (``-``).

    Raises:
        ConfigError: a check does not parse, or an output cannot be written.
        ReportFileError: a report cannot be read back (see ``load_json_report``).
    """
    try:
        parsed = parse_checks(checks, baseline=True)
    except CheckError as e:
        raise ConfigError(str(e)) from None
    if markdown == "-" and json_path == "-":
        raise ConfigError("--markdown and --json cannot both write to stdout ('-'); give one a file")
    for option, path in (("--markdown", markdown), ("--json", json_path)):
        if path and path != "-":
            check_output_path(path, option)
    baseline = load_json_report(baseline_path)
    candidate = load_json_report(candidate_path)
    comparison = compare_reports(
        baseline, candidate, parsed, baseline_path=baseline_path, candidate_path=candidate_path
    )
    outputs: list[tuple[str, str]] = []
    if json_path:
        outputs.append((json_path, json.dumps(comparison_json(comparison), indent=2, allow_nan=False) + "\n"))
    if markdown:
        outputs.append((markdown, render_comparison_markdown(comparison)))
    table_stream = sys.stderr if any(path == "-" for path, _ in outputs) else sys.stdout
    print(render_comparison_table(comparison, color=use_color(table_stream)), file=table_stream, flush=True)
    for path, text in outputs:
        if path == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        try:
            write_text_file(path, text)
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
        print(f"tswarm: wrote {path}", file=sys.stderr)
    if comparison.regression:
        breached = sum(not v.passed for v in comparison.verdicts)
        print(
            f"tswarm: regression: {breached} of {len(comparison.verdicts)} checks breached", file=sys.stderr
        )
        return EXIT_REGRESSION
    return 0
