"""``tswarm report RESULT.json``: render the HTML report, the Markdown summary and the JUnit XML later,
from the JSON report of any run (local or distributed); may import the controller's outputs and renderers.
"""

from __future__ import annotations

import sys

from tswarm.cli.options import check_output_path, expand_html_path
from tswarm.controller.html_report import render_html_report
from tswarm.controller.junit import render_junit_report
from tswarm.controller.markdown_report import render_markdown_report
from tswarm.controller.outputs import load_json_report, write_text_file
from tswarm.exceptions import ConfigError

__all__ = ["render_reports"]


def render_reports(
    json_path: str, *, html: str | None, markdown: str | None, junit: str | None = None
) -> list[str]:
    """Render the reports asked for from the JSON report at ``json_path``; returns the paths written
    (``-`` for a Markdown summary or JUnit XML on stdout).

    Everything is checked before anything is written: the JSON (one line naming what is wrong with
    it) and every output path (its folder exists and is writable). Each file is written atomically.

    Raises:
        ConfigError: no output was asked for, or an output path cannot be written.
        ReportFileError: the JSON cannot be read back (see ``load_json_report``).
    """
    if not html and not markdown and not junit:
        raise ConfigError(
            "tswarm report: nothing to write; give --html FILE, --markdown FILE or --junit FILE"
        )
    report = load_json_report(json_path)
    run = report["run"]
    outputs: list[tuple[str, str]] = []
    if html:
        path = expand_html_path(
            html, run.get("target_user_count"), run.get("spawn_rate"), run.get("run_time")
        )
        check_output_path(path, "--html")
        outputs.append((path, render_html_report(report)))
    if markdown:
        if markdown != "-":
            check_output_path(markdown, "--markdown")
        outputs.append((markdown, render_markdown_report(report)))
    if junit:
        if junit != "-":
            check_output_path(junit, "--junit")
        outputs.append((junit, render_junit_report(report)))
    for path, text in outputs:
        if path == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            try:
                write_text_file(path, text)
            except OSError as e:
                raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    return [path for path, _ in outputs]
