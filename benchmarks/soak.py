#!/usr/bin/env python3
"""Soak: a master and 2 workers run 2,000 users for 10 minutes against the built-in target; does memory stay flat?

One headless ``tswarm master`` and ``--workers`` (2) ``tswarm worker`` processes on 127.0.0.1,
``--users`` (2,000) ``FastHttpUser``s waiting ``between(--wait-min, --wait-max)`` seconds (1-3) between
``GET /fast`` requests, for ``--duration`` seconds (600), against tswarm's built-in target
(``python -m tswarm.target``). Every ``--interval`` seconds (10) it samples the RSS of the master, of each
worker and of the target (psutil). At the end it reports, for each tswarm process, the RSS growth from
the first sample after ``--warmup`` seconds (60: spawning done, pools and caches warm) to the last
sample, and whether the master's request total equals the count of the target itself.

Usage:  python benchmarks/soak.py [--duration 600] [--users 2000] [--workers 2] [--spawn-rate 200]
            [--interval 10] [--warmup 60] [--stop-timeout 5] [--out FILE]

Exit status 1 when the growth of a tswarm process is 5% or more, when the totals differ, or when a
run failed. Only 127.0.0.1 is used; the load is bounded by ``--duration`` and stops by itself; Ctrl-C
or SIGTERM stops the processes it started (by PID) and removes the temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_throughput import BuiltinTarget, free_port, stop_process  # noqa: E402 - the sibling script

LOCUSTFILE = """\
from tswarm import FastHttpUser, between, task


class SoakUser(FastHttpUser):
    wait_time = between({wait_min}, {wait_max})

    @task
    def soak(self):
        self.client.get("/fast")
"""

GROWTH_LIMIT = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--users", type=int, default=2000, help="users in all (2000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--spawn-rate", type=float, default=200.0, help="users started per second (200)")
    parser.add_argument("--wait-min", type=float, default=1.0, help="shortest wait between requests (1 s)")
    parser.add_argument("--wait-max", type=float, default=3.0, help="longest wait between requests (3 s)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between RSS samples (10)")
    parser.add_argument("--warmup", type=float, default=60.0, help="growth is measured from here (60 s)")
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=5.0,
        help="seconds a user may finish its request when the run ends (5): a user killed mid-request "
        "made a request the target counted and the master never heard of",
    )
    parser.add_argument("--out", type=Path, help="write the samples and the verdict as JSON")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the logs and outputs")
    args = parser.parse_args()
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    return args


def rss_mb(pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).memory_info().rss / 1e6
    return None


def tswarm(*argv: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tswarm", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child holds it
        start_new_session=True,
    )


def growth(
    samples: list[tuple[float, float | None]], warmup: float, end: float
) -> tuple[float, float, float] | None:
    """(RSS at the first sample from ``warmup`` on, RSS at the last sample before ``end``, growth).

    Samples after the run time are left out: stopping (users ended, the summary and JSON built) is
    not what a long run grows by.
    """
    after = [(t, mb) for t, mb in samples if warmup <= t <= end and mb is not None]
    if len(after) < 2:
        return None
    base, last = after[0][1], after[-1][1]
    return base, last, last / base - 1.0


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tswarm-soak-"))
    locustfile = tmp / "soakfile.py"
    locustfile.write_text(LOCUSTFILE.format(wait_min=args.wait_min, wait_max=args.wait_max))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    target = BuiltinTarget(tmp, None)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ok = True
    try:
        port = free_port()
        json_out = tmp / "result.json"
        run_time = f"{int(round(args.duration))}s"
        procs["master"] = tswarm(
            "master", "-f", str(locustfile), "-H", target.url, "--headless", "--only-summary",
            "-u", str(args.users), "-r", str(args.spawn_rate), "-t", run_time,
            "--expect-workers", str(args.workers), "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(port), "--json", str(json_out),
            "--stop-timeout", f"{args.stop_timeout:g}s",
            log=tmp / "master.log",
        )  # fmt: skip
        for i in range(args.workers):
            procs[f"worker{i + 1}"] = tswarm(
                "worker", "-f", str(locustfile), "--master-host", "127.0.0.1",
                "--master-port", str(port), log=tmp / f"worker{i + 1}.log",
            )  # fmt: skip
        pids = {name: proc.pid for name, proc in procs.items()}
        pids["target"] = target.proc.pid if target.proc is not None else 0
        samples: dict[str, list[tuple[float, float | None]]] = {name: [] for name in pids}
        names = list(pids)
        print(f"{args.users} users, {args.workers} workers, {args.duration:.0f} s; temp {tmp}", flush=True)
        print("     t  " + "".join(f"{name:>10}" for name in names) + "   (RSS, MB)", flush=True)
        # t = 0 when the first request reaches the target: the workers have connected and spawning began
        deadline = time.monotonic() + 60
        while target.counter() == 0:
            if procs["master"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no request reached the target; see {tmp}/master.log")
            time.sleep(0.2)
        start = time.monotonic()
        next_sample = start
        while procs["master"].poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                t = now - start
                row = {name: rss_mb(pid) for name, pid in pids.items()}
                for name, mb in row.items():
                    samples[name].append((t, mb))
                cells = "".join(f"{mb:10.1f}" if mb is not None else f"{'-':>10}" for mb in row.values())
                print(f"{t:6.0f}  {cells}", flush=True)
                next_sample += args.interval
            if now - start > args.duration + 120:
                raise RuntimeError(f"the master did not stop 120 s after the run time; see {tmp}")
            time.sleep(min(1.0, max(0.05, next_sample - time.monotonic())))
        for name, proc in procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                print(f"{name} did not exit 30 s after the master; stopping it", flush=True)
                stop_process(proc)
                ok = False
        served = target.counter()
        result = json.loads(json_out.read_text())["total"]
        reported, failures = int(result["num_requests"]), int(result["num_failures"])

        print()
        verdicts: dict[str, dict[str, float | bool]] = {}
        for name in names:
            measured = growth(samples[name], args.warmup, args.duration)
            if measured is None:
                print(f"{name:>8}: too few samples after {args.warmup:.0f} s")
                ok = ok and name == "target"
                continue
            base, last, rel = measured
            within = rel < GROWTH_LIMIT
            peak = max(mb for _, mb in samples[name] if mb is not None)
            if name != "target":
                ok = ok and within
            verdicts[name] = {"rss_at_warmup_mb": base, "rss_last_mb": last, "growth": rel, "peak_mb": peak}
            note = "" if name == "target" else ("  ok" if within else f"  >= {GROWTH_LIMIT:.0%}")
            print(
                f"{name:>8}: {base:7.1f} MB at {args.warmup:.0f} s -> {last:7.1f} MB at the run time's end "
                f"({rel:+.1%}), peak {peak:.1f} MB{note}"
            )
        same = reported == served
        ok = ok and same and failures == 0
        codes = {name: proc.returncode for name, proc in procs.items()}
        print(
            f"requests: master {reported:,}, target {served:,} ({'equal' if same else 'DIFFERENT'}); "
            f"failures {failures}; exit codes {codes}"
        )
        if args.out:
            args.out.write_text(
                json.dumps(
                    {
                        "args": {k: str(v) for k, v in vars(args).items()},
                        "samples": samples,
                        "growth": verdicts,
                        "requests": {"master": reported, "target": served, "failures": failures},
                        "exit_codes": codes,
                        "ok": ok,
                    },
                    indent=2,
                )
                + "\n"
            )
    finally:
        for proc in procs.values():
            stop_process(proc)
        target.stop()
        if args.keep_tmp or not ok:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
