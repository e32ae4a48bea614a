#!/usr/bin/env python3
"""tswarm vs Locust, distributed: HTTP requests per CPU-second of master + 2 workers.

Each run is one master and ``--workers`` (2) worker processes on 127.0.0.1, ``--users`` (50) users of a
``FastHttpUser`` with ``constant(0)`` wait, ``--duration`` seconds, ``GET /fast`` against one local server
(nginx-light when installed, else tswarm's built-in target). Runs alternate (tswarm, Locust, tswarm, ...)
for ``--rounds`` rounds, so that a busy, shared machine penalises both alike. The load generators (the
master and its workers) are pinned to the first core and the server to the others.

* **steady**, the headline: requests the *server* counted / user+system CPU of all the generator
  processes (master + workers, psutil), from 1 s after the load reaches the server to 1 s before the run
  should end.
* **whole-run**: requests the master reported (tswarm ``--json``, Locust ``--json-file``) / CPU of the
  master and the workers over their whole lives (``os.wait4`` rusage), start-up included.

Usage:  python benchmarks/distributed_throughput.py [--duration 10] [--rounds 3]
            [--users 50] [--workers 2] [--target auto|nginx|builtin] [--locust-python PATH] [--out FILE]

It reuses the servers, Locust virtualenv (``benchmarks/.venv-locust``) and helpers of
``http_throughput.py``. Only 127.0.0.1 is used; every load is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_throughput import (  # noqa: E402 - the sibling script
    LOCUSTFILE,
    PATH_UNDER_TEST,
    TAIL_S,
    WARMUP_S,
    Case,
    RunResult,
    Target,
    add_common_options,
    describe_run,
    fmt,
    free_port,
    pinned,
    prepare,
    ratio,
    run_rounds,
    sleep_until,
    start_target,
    stop_process,
    summarize,
    tree_cpu,
)

CASES = [Case("tswarm", "tswarm", "FastHttpUser"), Case("locust", "locust", "FastHttpUser")]


def group_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += tree_cpu(pid)
    return total


class DistributedBench:
    def __init__(
        self, args: argparse.Namespace, target: Target, tmp: Path, gen_cpus: set[int] | None
    ) -> None:
        self.args = args
        self.target = target
        self.tmp = tmp
        self.gen_cpus = gen_cpus
        self.testfile = tmp / "bench_dist.py"
        self.testfile.write_text(LOCUSTFILE.format(cls="FastHttpUser", path=PATH_UNDER_TEST))

    def commands(self, case: Case, port: int, out: Path) -> tuple[list[str], list[str]]:
        a = self.args
        common = ["-f", str(self.testfile), "--loglevel", "WARNING"]
        load = [
            "-H",
            self.target.url,
            "--headless",
            "--only-summary",
            "-u",
            str(a.users),
            "-r",
            str(max(a.users * 10, 100)),
            "-t",
            f"{a.duration}s",
            "--expect-workers",
            str(a.workers),
        ]
        if case.tool == "tswarm":
            master = [
                sys.executable,
                "-m",
                "tswarm",
                "master",
                *common,
                *load,
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--json",
                str(out),
            ]
            worker = [
                sys.executable,
                "-m",
                "tswarm",
                "worker",
                *common,
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ]
        else:
            master = [
                a.locust_python,
                "-m",
                "locust",
                "--master",
                *common,
                *load,
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--json-file",
                str(out),
            ]  # Locust adds .json
            worker = [
                a.locust_python,
                "-m",
                "locust",
                "--worker",
                *common,
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ]
        return master, worker

    def _start(self, command: list[str], log_name: str) -> subprocess.Popen:
        with open(self.tmp / log_name, "wb") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.tmp,
                preexec_fn=pinned(self.gen_cpus),
                start_new_session=True,
            )

    def run(self, case: Case, rnd: int) -> RunResult:
        res = RunResult(case=case.name, round=rnd)
        out = self.tmp / f"{case.name}-r{rnd}"
        master_cmd, worker_cmd = self.commands(case, free_port(), out)
        counter0 = self.target.counter()
        started = time.monotonic()
        procs = [self._start(master_cmd, f"{case.name}-r{rnd}-master.log")]
        procs += [
            self._start(worker_cmd, f"{case.name}-r{rnd}-worker{i}.log") for i in range(self.args.workers)
        ]
        master = procs[0]
        pids = [p.pid for p in procs]
        hard_deadline = started + self.args.duration + 90
        try:
            load_start = None
            while time.monotonic() < hard_deadline and master.poll() is None:
                if self.target.counter() > counter0 + self.args.users:
                    load_start = time.monotonic()
                    break
                time.sleep(0.02)
            if load_start is not None:
                sleep_until(load_start + WARMUP_S, master)
                a = (time.monotonic(), self.target.counter(), group_cpu(pids))
                sleep_until(load_start + self.args.duration - TAIL_S, master)
                b = (time.monotonic(), self.target.counter(), group_cpu(pids))
                if master.poll() is None and b[0] - a[0] > 1.0:
                    res.steady_wall_s = b[0] - a[0]
                    res.steady_requests = b[1] - a[1]
                    res.steady_cpu_s = b[2] - a[2]
            for proc in procs:
                self._reap(proc, hard_deadline, res)
        finally:
            for proc in procs:
                if proc.returncode is None:
                    stop_process(proc)
        res.exit_code = master.returncode
        res.wall_s = time.monotonic() - started
        try:
            if case.tool == "tswarm":
                total = json.loads(out.read_text())["total"]
                res.requests, res.failures = total["num_requests"], total["num_failures"]
            else:
                entries = json.loads(Path(f"{out}.json").read_text())
                res.requests = sum(e["num_requests"] for e in entries)
                res.failures = sum(e["num_failures"] for e in entries)
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            res.error = res.error or f"no results: {exc!r}"
        if res.error is None and any(p.returncode != 0 for p in procs):
            res.error = f"exit codes {[p.returncode for p in procs]}"
        if res.error:
            res.error += f" (logs: {self.tmp}/{case.name}-r{rnd}-*.log)"
        return res

    @staticmethod
    def _reap(proc: subprocess.Popen, deadline: float, res: RunResult) -> None:
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                res.cpu_s += rusage.ru_utime + rusage.ru_stime
                res.cpu_sys_s += rusage.ru_stime
                return
            if time.monotonic() > deadline:
                res.error = "timed out, killed"
                stop_process(proc)
                return
            time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, "rounds; each runs both tools once (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per run (default 2)")
    args, gen_cpus, srv_cpus = prepare(parser, argv)

    tmp = Path(tempfile.mkdtemp(prefix="tswarm-dist-bench-"))
    target: Target | None = None
    results: list[RunResult] = []
    try:
        target = start_target(args.target, tmp, srv_cpus)
        if srv_cpus:
            os.sched_setaffinity(0, srv_cpus)
        meta = describe_run(args, target, gen_cpus, srv_cpus, workers=args.workers)
        print("  ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
        run_rounds(DistributedBench(args, target, tmp, gen_cpus), CASES, args.rounds, results)
    except KeyboardInterrupt:
        print("interrupted: stopping", file=sys.stderr)
        return 130
    finally:
        if target is not None:
            target.stop()
        if args.keep_tmp or any(r.error for r in results):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(CASES, results)
    print()
    print(
        f"{'master+' + str(args.workers) + ' workers':<18}{'req/s':>9}{'CPU':>6}{'req/CPU-s':>11}"
        f"{'(min-max)':>17}{'whole-run':>11}{'fails':>7}"
    )
    for case in CASES:
        s = summary[case.name]
        mm = s["steady_min_max"]
        print(
            f"{case.name:<18}{fmt(s['rps']):>9}{fmt(s['cpu_util'] and s['cpu_util'] * 100, '.0f') + '%':>6}"
            f"{fmt(s['steady_per_cpu']):>11}{(f'{mm[0]:,.0f}-{mm[1]:,.0f}' if mm else '-'):>17}"
            f"{fmt(s['whole_per_cpu']):>11}{s['failures']:>7}"
        )
    ratios = {
        "steady": ratio(summary, "tswarm", "locust", "steady_per_cpu"),
        "whole": ratio(summary, "tswarm", "locust", "whole_per_cpu"),
    }
    print(
        f"tswarm/locust distributed  {fmt(ratios['steady'], '.2f')}x steady, {fmt(ratios['whole'], '.2f')}x whole-run"
    )
    print(
        f"(req/CPU-s: median over {args.rounds} rounds of requests the server counted / CPU of master + workers, "
        f"{WARMUP_S:.0f}s after the load starts to {TAIL_S:.0f}s before it ends; whole-run: requests the master "
        "reported / CPU of all the generator processes over their lives)"
    )
    if args.out:
        runs = [asdict(r) | {"per_cpu": r.per_cpu, "steady_per_cpu": r.steady_per_cpu} for r in results]
        Path(args.out).write_text(
            json.dumps({"meta": meta, "summary": summary, "ratios": ratios, "runs": runs}, indent=2) + "\n"
        )
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
