#!/usr/bin/env python3
"""Run a folder of real-world locustfiles under tswarm (and optionally Locust) and classify the outcome.

Each ``*.py`` file in the folder runs once, unchanged, as

    tswarm run -f FILE --headless -H http://127.0.0.1:PORT -u 5 -r 5 -t 3s --json OUT --only-summary

against tswarm's built-in target server (started here on a free port), in an empty temporary working
directory, each run bounded by ``--timeout`` seconds. The file's own options (wait times, hosts, tags,
shapes) are left at their defaults. Each run is classified as:

  ran           exit 0 or 1, requests measured, no exception from user code
  load-error    the file did not load (exit code other than 0/1 and no results); the error line
  run-error     user code raised (the results' ``exceptions`` or a traceback in the log): the
                exception type, and where its innermost frame was: ``tswarm`` (tswarm's own code),
                ``file`` (the locustfile's logic, e.g. it expects a JSON body the target does not serve)
                or ``lib`` (another library, e.g. requests)
  no-requests   ran without errors but made no request (e.g. a plain ``User`` that only sleeps)
  timeout       did not stop by itself within ``--timeout``

With ``--locust-python PATH`` (the Python of a virtualenv with Locust installed) every file also runs
under Locust with the same command line (``--csv`` instead of ``--json``), classified the same way, so
"fails in Locust too, against this target" can be told apart from a tswarm gap.

Prints a tally table and one line per file, and writes a TSV (``--out``).

The corpus itself is not in this repository: it was collected by hand with a code-search tool (public
repositories' ``locustfile.py``, ``locust/locustfile.py``, ``tests/locustfile.py``, ...; kept: files whose
imports only need ``locust``, ``requests`` and the standard library, using Locust's API from 1.0 on),
saved with a ``MANIFEST.tsv`` (repository, path, commit, local name) next to the files. See
benchmarks/README.md for the last tally.

Usage:  python benchmarks/locustfile_corpus.py FOLDER [--out results.tsv] [--timeout 40]
            [--locust-python PATH] [--only NAME_SUBSTRING]

Run it with the Python of tswarm's environment. Only 127.0.0.1 is used; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN_ARGS = ["--headless", "-u", "5", "-r", "5", "-t", "3s"]
TRACEBACK_START = "Traceback (most recent call last):"
#: frames of the runner itself, never the cause of an exception the user code raised
_FRAME_RE = re.compile(r'^\s*File "([^"]+)", line (\d+), in (.+)$')
_EXC_LINE_RE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure|[A-Z]\w*)):?(.*)$"
)


@dataclass
class Outcome:
    """How one file fared under one tool."""

    category: str
    detail: str = ""
    requests: int = 0
    failures: int = 0
    exit_code: int | None = None
    seconds: float = 0.0
    exceptions: list[str] = field(default_factory=list)


class TargetServer:
    """tswarm's built-in target in a child process on a free loopback port."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "tswarm target listening on http://H:P"
        if not line.startswith("tswarm target listening on "):
            self.stop()
            raise RuntimeError(f"the target did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()

    def stop(self) -> None:
        """Stop the server by its PID and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_bounded(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, float]:
    """Run ``cmd`` in its own session; kill its process group after ``timeout`` s. Returns (rc, log, s)."""
    log_path = cwd / "run.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", HOME=str(cwd))  # no ~/.locust.conf of this machine
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            rc: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            os.killpg(proc.pid, signal.SIGKILL)  # the group this run started, and nothing else
            proc.wait()
    return rc, log_path.read_text(errors="replace"), time.monotonic() - started


def tracebacks_in(text: str) -> list[str]:
    """Every ``Traceback ...`` block in a log, up to and including its exception line."""
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip().endswith(TRACEBACK_START):
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            blocks.append("\n".join(lines[i : j + 1]))
            i = j + 1
        else:
            i += 1
    return blocks


_STDLIB_DIR = os.path.dirname(os.__file__)


def describe_traceback(tb: str, locustfile: Path, message: str = "") -> str:
    """``ExcType [origin] message`` for one exception.

    The origin is where it was raised, skipping the standard library (a ``json.loads`` of a body that
    is not JSON is raised by whoever called it): ``file`` (the locustfile), ``tswarm:<module>``,
    ``locust:<module>`` or ``lib:<package>/<module>``; ``, via file`` is added when the locustfile
    called into that code.
    """
    frames = [m.group(1) for line in tb.splitlines() if (m := _FRAME_RE.match(line))]
    lines = [ln for ln in tb.strip().splitlines() if ln and not ln.startswith((" ", "\t"))]
    last = lines[-1].strip() if lines else message
    m = _EXC_LINE_RE.match(last)
    exc_type = m.group(1).rsplit(".", 1)[-1] if m else (message.split("(", 1)[0] or last[:60])
    text = (m.group(2).strip() if m else message)[:120]
    own = [f for f in frames if not (f.startswith(_STDLIB_DIR) and "site-packages" not in f)]
    origin = "?"
    if own:
        innermost = own[-1]
        if Path(innermost).name == locustfile.name:
            origin = "file"
        elif "/tswarm/" in innermost:
            origin = "tswarm:" + innermost.split("/tswarm/", 1)[1]
        elif "/locust/" in innermost:
            origin = "locust:" + innermost.split("/locust/", 1)[1]
        else:
            origin = "lib:" + "/".join(Path(innermost).parts[-2:])
        if origin != "file" and any(Path(f).name == locustfile.name for f in own):
            origin += ", via file"
    return f"{exc_type} [{origin}] {text}".strip()


def load_error_line(log: str) -> str:
    """The most telling line of a failed start: the last exception or error line of the log."""
    blocks = tracebacks_in(log)
    if blocks:
        return blocks[-1].strip().splitlines()[-1].strip()[:200]
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "rror" in ln or "not supported" in ln or "no " in ln.lower():
            return ln[:200]
    return lines[-1][:200] if lines else "(empty log)"


def classify(
    rc: int | None,
    log: str,
    seconds: float,
    requests: int | None,
    failures: int,
    excs: list[tuple[str, str]],
    file: Path,
) -> Outcome:
    """Sort one run into the categories of this module's docstring."""
    if rc is None:
        return Outcome("timeout", f"still running after {seconds:.0f}s", requests or 0, failures, rc, seconds)
    if requests is None:
        return Outcome("load-error", load_error_line(log), 0, 0, rc, seconds)
    pairs = excs or [("", tb) for tb in tracebacks_in(log)]
    described = sorted({describe_traceback(tb, file, message) for message, tb in pairs})
    if described:
        return Outcome("run-error", "; ".join(described)[:300], requests, failures, rc, seconds, described)
    if requests == 0:
        return Outcome("no-requests", f"exit {rc}", 0, 0, rc, seconds)
    return Outcome("ran", f"exit {rc}", requests, failures, rc, seconds)


def run_tswarm(file: Path, url: str, timeout: float) -> Outcome:
    """One bounded tswarm run of ``file``; results read from its JSON."""
    with tempfile.TemporaryDirectory(prefix="tswarm-corpus-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [
            sys.executable,
            "-m",
            "tswarm",
            "run",
            "-f",
            str(file),
            "-H",
            url,
            *RUN_ARGS,
            "--json",
            str(out),
        ]
        rc, log, seconds = run_bounded([*cmd, "--only-summary"], Path(tmp), timeout)
        requests: int | None = None
        failures = 0
        excs: list[tuple[str, str]] = []
        # exit code 4: the run worked but no request completed (tswarm's own code for "nothing measured")
        if out.exists() and rc in (0, 1, 4):
            data = json.loads(out.read_text())
            requests = int(data["total"]["num_requests"])
            failures = int(data["total"]["num_failures"])
            excs = [
                (str(e.get("message", "")), str(e.get("traceback", ""))) for e in data.get("exceptions", [])
            ]
        return classify(rc, log, seconds, requests, failures, excs, file)


def run_locust(file: Path, url: str, timeout: float, locust_python: str) -> Outcome:
    """The same run under Locust; results read from its CSV files."""
    with tempfile.TemporaryDirectory(prefix="locust-corpus-") as tmp:
        prefix = Path(tmp) / "res"
        cmd = [locust_python, "-m", "locust", "-f", str(file), "-H", url, *RUN_ARGS, "--csv", str(prefix)]
        rc, log, seconds = run_bounded([*cmd, "--only-summary"], Path(tmp), timeout)
        requests: int | None = None
        failures = 0
        excs: list[tuple[str, str]] = []
        stats = Path(f"{prefix}_stats.csv")
        if stats.exists() and rc in (0, 1):
            with open(stats, newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("Name") == "Aggregated":
                        requests = int(row["Request Count"])
                        failures = int(row["Failure Count"])
            exc_file = Path(f"{prefix}_exceptions.csv")
            if exc_file.exists():
                with open(exc_file, newline="") as f:
                    excs = [(row.get("Message", ""), row.get("Traceback", "")) for row in csv.DictReader(f)]
        return classify(rc, log, seconds, requests, failures, excs, file)


def read_locust_outcomes(tsv: Path) -> dict[str, Outcome]:
    """The Locust columns of a TSV this script wrote: file name -> outcome (with the exceptions' origins)."""
    outcomes: dict[str, Outcome] = {}
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("locust"):
                exit_code = int(row["locust_exit"]) if row["locust_exit"] not in ("", "None") else None
                detail = row["locust_detail"]
                excs = detail.split("; ") if row["locust"] == "run-error" else []
                outcomes[row["file"]] = Outcome(
                    row["locust"], detail, int(row["locust_requests"] or 0), 0, exit_code, 0.0, excs
                )
    return outcomes


def tally_key(o: Outcome) -> str:
    """The tally groups run errors by where they came from, and load errors by their first words."""
    if o.category == "run-error":
        origins = sorted({m.group(1) if (m := re.search(r"\[(\w+)", e)) else "?" for e in o.exceptions})
        return "run-error (" + ",".join(origins) + ")"
    return o.category


def main(argv: list[str] | None = None) -> int:
    """Run the corpus and print/write the tally."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("locustfile_corpus.tsv"))
    parser.add_argument("--timeout", type=float, default=40.0, help="seconds before a run is killed (40)")
    parser.add_argument(
        "--locust-python", help="Python of a virtualenv with Locust: also run every file under it"
    )
    parser.add_argument("--only", help="only files whose name contains this")
    parser.add_argument(
        "--locust-results",
        type=Path,
        action="append",
        default=[],
        help="a TSV of an earlier run with Locust: reuse its Locust outcomes instead of running Locust (repeatable)",
    )
    parser.add_argument(
        "--locust-only",
        action="store_true",
        help="with --locust-python: run Locust alone (its outcomes do not change)",
    )
    args = parser.parse_args(argv)

    files = sorted(p for p in args.folder.glob("*.py") if not args.only or args.only in p.name)
    earlier = {
        name: outcome for tsv in args.locust_results for name, outcome in read_locust_outcomes(tsv).items()
    }
    compare = bool(args.locust_python or earlier)
    target = TargetServer()
    rows: list[tuple[Path, Outcome, Outcome | None]] = []
    try:
        for file in files:
            if args.locust_only:
                ts = Outcome("skipped")
            else:
                ts = run_tswarm(file.resolve(), target.url, args.timeout)
            lo = earlier.get(file.name)
            if lo is None and args.locust_python:
                lo = run_locust(file.resolve(), target.url, args.timeout, args.locust_python)
            rows.append((file, ts, lo))
            extra = f"  | locust: {lo.category} {lo.detail[:60]}" if lo else ""
            print(
                f"{file.name[:48]:48} {ts.category:12} {ts.requests:>7} {ts.detail[:110]}{extra}", flush=True
            )
    finally:
        target.stop()

    with open(args.out, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        head = ["file", "tswarm", "tswarm_requests", "tswarm_failures", "tswarm_exit", "tswarm_detail"]
        w.writerow(head + (["locust", "locust_requests", "locust_exit", "locust_detail"] if compare else []))
        for file, ts, lo in rows:
            row = [file.name, ts.category, ts.requests, ts.failures, ts.exit_code, ts.detail]
            if lo is not None:
                row += [lo.category, lo.requests, lo.exit_code, lo.detail]
            w.writerow(row)

    print(f"\n{len(rows)} files")
    tally = collections.Counter(tally_key(ts) for _, ts, _ in rows)
    locust_tally = collections.Counter((tally_key(ts), tally_key(lo)) for _, ts, lo in rows if lo is not None)
    print(f"{'tswarm':40} {'files':>5}" + ("   locust outcome of the same files" if compare else ""))
    for key, n in tally.most_common():
        same = ", ".join(f"{lk} {c}" for (tk, lk), c in sorted(locust_tally.items()) if tk == key)
        print(f"{key:40} {n:>5}   {same}")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
