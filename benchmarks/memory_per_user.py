#!/usr/bin/env python3
"""Memory per simulated user: what one idle FastHttpUser with its keep-alive connection costs in RSS.

For each count N in ``--users`` (200 and 5,200), one headless ``tswarm run`` starts N ``FastHttpUser``s
that each make one ``GET /fast`` and then wait (``constant(3600)``), holding their keep-alive
connection open. Once the server has answered N requests and the generator's RSS has stopped moving,
the RSS of its process tree is read and the run is stopped. The figure is
(RSS(N2) - RSS(N1)) / (N2 - N1): what each additional user costs, without the interpreter and the
imports every run pays once. With ``--locust``, Locust runs the same test file beside it, alternating.

Usage:  python benchmarks/memory_per_user.py [--users 200 5200] [--rounds 2] [--locust]
            [--target auto|nginx|builtin] [--locust-python PATH] [--out FILE]

The server is nginx when installed (``apt-get install -y nginx-light``), else tswarm's built-in target,
as in ``http_throughput.py``, whose server and Locust virtualenv it reuses. Only 127.0.0.1 is used;
every run is bounded by ``--timeout`` and stopped by its PID; Ctrl-C or SIGTERM stops what it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_throughput import (  # noqa: E402 - the sibling script
    BenchError,
    Target,
    ensure_locust,
    start_target,
    stop_process,
    version_of,
)

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class IdleUser(FastHttpUser):
    wait_time = constant(3600)

    @task
    def once(self):
        self.client.get("/fast")
"""

#: the RSS is read once it moved less than this over SETTLE_S seconds
SETTLE_BYTES = 256 * 1024
SETTLE_S = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, nargs=2, default=[200, 5200], metavar=("N1", "N2"))
    parser.add_argument("--rounds", type=int, default=2, help="runs of each count per tool (2)")
    parser.add_argument("--spawn-rate", type=float, default=1000.0, help="users started per second (1000)")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest a run may take (120 s)")
    parser.add_argument("--target", choices=("auto", "nginx", "builtin"), default="auto")
    parser.add_argument("--locust", action="store_true", help="measure Locust beside tswarm")
    parser.add_argument("--locust-python", help="the Python of a Locust virtualenv")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.users[1] <= args.users[0]:
        parser.error("--users N1 N2 needs N2 > N1")
    return args


def tree_rss(pid: int) -> int:
    """RSS of a process and its children, in bytes."""
    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        proc = psutil.Process(pid)
        for p in (proc, *proc.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
    return total


def command(tool: str, args: argparse.Namespace, locustfile: Path, url: str, users: int) -> list[str]:
    common = ["-f", str(locustfile), "-H", url, "--headless", "--only-summary", "-u", str(users)]
    common += ["-r", str(args.spawn_rate), "-t", f"{int(args.timeout)}s", "--loglevel", "WARNING"]
    if tool == "tswarm":
        return [sys.executable, "-m", "tswarm", "run", *common]
    return [args.locust_python, "-m", "locust", *common]


def measure(
    tool: str, users: int, args: argparse.Namespace, locustfile: Path, target: Target, tmp: Path
) -> int:
    """RSS of one generator holding ``users`` idle users, each after its one request."""
    before = target.counter()
    log = tmp / f"{tool}-{users}.log"
    proc = subprocess.Popen(
        command(tool, args, locustfile, target.url, users),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child holds it
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + args.timeout
        while target.counter() - before < users:
            if proc.poll() is not None:
                raise BenchError(f"{tool} exited ({proc.returncode}) before {users} requests; see {log}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{tool}: fewer than {users} requests within {args.timeout:.0f} s; see {log}"
                )
            time.sleep(0.2)
        rss = tree_rss(proc.pid)
        while True:
            time.sleep(SETTLE_S)
            now = tree_rss(proc.pid)
            if abs(now - rss) < SETTLE_BYTES or time.monotonic() > deadline:
                return now
            rss = now
    finally:
        stop_process(proc, signal.SIGTERM)


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tswarm-mem-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools = ["tswarm"]
    if args.locust:
        args.locust_python = ensure_locust(args)
        tools.append("locust")
    locustfile = tmp / "idlefile.py"
    locustfile.write_text(LOCUSTFILE)
    target = start_target(args.target, tmp, None)
    n1, n2 = args.users
    rss: dict[str, dict[int, list[int]]] = {tool: {n1: [], n2: []} for tool in tools}
    try:
        print(f"server: {target.kind}; users {n1} and {n2}; {args.rounds} rounds", flush=True)
        for rnd in range(args.rounds):
            for tool in tools:
                for n in (n1, n2):
                    value = measure(tool, n, args, locustfile, target, tmp)
                    rss[tool][n].append(value)
                    print(f"  round {rnd + 1} {tool:>6} {n:>6} users: RSS {value / 1e6:7.1f} MB", flush=True)
    finally:
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{'generator':<10}{'RSS at ' + str(n1):>14}{'RSS at ' + str(n2):>14}{'per user':>12}")
    summary: dict[str, dict[str, float]] = {}
    for tool in tools:
        low, high = statistics.median(rss[tool][n1]), statistics.median(rss[tool][n2])
        per_user = (high - low) / (n2 - n1)
        summary[tool] = {"rss_n1_mb": low / 1e6, "rss_n2_mb": high / 1e6, "bytes_per_user": per_user}
        print(f"{tool:<10}{low / 1e6:>11.1f} MB{high / 1e6:>11.1f} MB{per_user:>10,.0f} B")
    if args.out:
        meta = {"python": sys.version.split()[0], "server": target.kind, "users": [n1, n2]}
        if args.locust:
            meta["locust"] = version_of([args.locust_python, "-m", "locust", "--version"])
        args.out.write_text(json.dumps({"meta": meta, "rss": rss, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
