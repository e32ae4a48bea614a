"""What does the TUI cost? (a benchmark, not a test)

1. TUI process CPU: one process holds a MasterRunner (its own thread and loop, as ``tswarm master``
   runs it) with, or without, a TswarmApp in front in a headless Textual run at 120x40 (Pilot's
   ``run_test``: it composes and renders every frame, only nothing is written to a terminal).
   10 simulated workers (benchmarks/master_scale.py's, speaking the real protocol) send a 50-endpoint
   stats delta and a heartbeat each a second. The process's CPU (all threads) is measured over a
   fixed window, once with each view shown that matters (Statistics, Charts), and once without the app.
   Goal: at most 10% of one core.
2. Worker throughput: one real ``tswarm worker`` (FastHttpUsers, no wait) against the built-in target,
   behind a master with the TUI and behind one without it, in alternating rounds; req/s is what the
   target server itself counted over each window. Goal: the same with and without the TUI.
3. In a real terminal: ``tswarm master`` itself, in tmux at 120x40 (a private tmux server), with the same
   10 simulated workers. Part 1 renders every frame but writes nothing; here the driver writes escape
   codes to a pty, as over SSH. Reports the master's CPU per view and the bytes per second it writes
   to the terminal (tmux ``pipe-pane``), which is the bandwidth an SSH session carries. Needs tmux;
   ``--no-tmux`` skips it.

    python benchmarks/tui_cost.py [--window 15] [--rounds 3] [--users 20] [--no-tmux]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from master_scale import ENDPOINTS, SimUser, run_workers  # noqa: E402

SIZE = (120, 40)
SIM_WORKERS = 10

WORKER_FILE = """
from tswarm import FastHttpUser, task


class Hammer(FastHttpUser):
    @task
    def fast(self):
        self.client.get("/fast")
"""


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _hold_app(app: Any, view: str, warm_up: float, window: float) -> float:
    """Run ``app`` headless at 120x40 showing ``view``; returns this process's CPU % over ``window``."""
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(view)
        await asyncio.sleep(warm_up)
        me = psutil.Process()
        before, t0 = _cpu_seconds(me), time.monotonic()
        await asyncio.sleep(window)
        cpu = 100.0 * (_cpu_seconds(me) - before) / (time.monotonic() - t0)
        app.exit()
    return cpu


def tui_cpu_child(mode: str, window: float, out: Any) -> None:
    """One process: a master, the app in front (mode "1", "2": the view shown) or none ("none")."""
    import logging

    from tswarm.env import Environment
    from tswarm.tui.app import TswarmApp

    logging.basicConfig(level=logging.WARNING)
    env = Environment(user_classes=[SimUser])
    master = env.create_master_runner("127.0.0.1", 0, heartbeat_interval=1.0, heartbeat_timeout=10.0)
    master.start_in_thread()
    ctx = mp.get_context("fork")
    connected = ctx.Value("i", 0)
    results = ctx.Queue()
    ids = [f"sim{i}" for i in range(SIM_WORKERS)]
    sims = ctx.Process(target=run_workers, args=(master.bind_port, ids, connected, results, 1), daemon=True)
    sims.start()
    deadline = time.monotonic() + 30
    while master.worker_count < SIM_WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
    master.start(SIM_WORKERS, float(SIM_WORKERS))
    warm_up = 4.0
    if mode == "none":
        time.sleep(warm_up)
        me = psutil.Process()
        before, t0 = _cpu_seconds(me), time.monotonic()
        time.sleep(window)
        cpu = 100.0 * (_cpu_seconds(me) - before) / (time.monotonic() - t0)
    else:
        cpu = asyncio.run(_hold_app(TswarmApp(master, title="tswarm master"), mode, warm_up, window))
    entries = len(master.snapshot().entries)
    workers = master.worker_count
    master.shutdown()
    sims.join(timeout=15)
    if sims.is_alive():
        sims.kill()
    out.put({"cpu": cpu, "entries": entries, "workers": workers})


def throughput_child(with_tui: bool, testfile: str, url: str, users: int, window: float, out: Any) -> None:
    """One process: a master (with or without the app) and one real ``tswarm worker`` process; the
    target's own request rate over ``window``."""
    from tswarm.cli.distributed import start_local_workers, stop_processes
    from tswarm.cli.options import RunOptions
    from tswarm.cli.session import load_session
    from tswarm.tui.app import TswarmApp

    options = RunOptions(command="master", locustfile=testfile, host=url, loglevel="WARNING")
    env = load_session(options).environment
    master = env.create_master_runner("127.0.0.1", 0, heartbeat_interval=1.0, heartbeat_timeout=10.0)
    master.start_in_thread()
    log_dir = Path(tempfile.mkdtemp(prefix="tswarm-bench-"))
    worker = start_local_workers(options, master.bind_port, 1, log_dir)
    deadline = time.monotonic() + 30
    while master.worker_count < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    master.start(users, float(users))

    def measure() -> float:
        time.sleep(3.0)  # spawned and warm
        before, t0 = _served(url), time.monotonic()
        time.sleep(window)
        return (_served(url) - before) / (time.monotonic() - t0)

    if with_tui:

        async def hold() -> float:
            app = TswarmApp(master, title="tswarm master")
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                rps = await asyncio.get_running_loop().run_in_executor(None, measure)
                app.exit()
            return rps

        rps = asyncio.run(hold())
    else:
        rps = measure()
    master.shutdown()
    stop_processes(worker)
    out.put({"rps": rps})


def _served(url: str) -> int:
    with urllib.request.urlopen(url + "/__counts", timeout=10) as response:
        return int(json.load(response)["total"])


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get(timeout=300)
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
    return dict(result)


SIM_FILE = """
from tswarm import User, task


class SimUser(User):
    @task
    def nothing(self):
        pass
"""


def _tmux(socket: str, *args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminal_round(window: float) -> dict[str, dict[str, float]]:
    """``tswarm master`` in tmux at 120x40 with 10 simulated workers: per view, the master's CPU % and the
    bytes/s it writes to the terminal."""
    folder = Path(tempfile.mkdtemp(prefix="tswarm-bench-"))
    (folder / "sim.py").write_text(SIM_FILE)
    pty_log = folder / "pty.bytes"
    port = _free_port()
    socket_name = f"tswarm-bench-{os.getpid()}"
    command = [
        sys.executable,
        "-m",
        "tswarm",
        "master",
        "-f",
        "sim.py",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "-u",
        str(SIM_WORKERS),
        "-r",
        str(SIM_WORKERS),
        "--autostart",
        "--loglevel",
        "WARNING",
    ]
    _tmux(
        socket_name,
        "new-session",
        "-d",
        "-s",
        "bench",
        "-x",
        str(SIZE[0]),
        "-y",
        str(SIZE[1]),
        "-c",
        str(folder),
        "env",
        "TERM=xterm-256color",
        "sh",
        "-c",
        "exec " + shlex.join(command),
    )
    ctx = mp.get_context("fork")
    sims = None
    try:
        master = psutil.Process(
            int(_tmux(socket_name, "display", "-p", "-t", "bench", "#{pane_pid}").strip())
        )
        _tmux(socket_name, "pipe-pane", "-o", "-t", "bench", f"cat >> {shlex.quote(str(pty_log))}")
        connected = ctx.Value("i", 0)
        ids = [f"sim{i}" for i in range(SIM_WORKERS)]
        sims = ctx.Process(target=run_workers, args=(port, ids, connected, ctx.Queue(), 2), daemon=True)
        sims.start()
        deadline = time.monotonic() + 30
        while connected.value < SIM_WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert connected.value == SIM_WORKERS, "the simulated workers did not connect"
        results: dict[str, dict[str, float]] = {}
        for key, view in (("1", "Statistics"), ("2", "Charts"), ("3", "Workers")):
            _tmux(socket_name, "send-keys", "-t", "bench", key)
            time.sleep(4.0)  # warm: every worker has reported, the view is drawn
            before, sent, t0 = (
                _cpu_seconds(master),
                pty_log.stat().st_size if pty_log.exists() else 0,
                time.monotonic(),
            )
            time.sleep(window)
            elapsed = time.monotonic() - t0
            results[view] = {
                "cpu": 100.0 * (_cpu_seconds(master) - before) / elapsed,
                "bytes_per_s": (pty_log.stat().st_size - sent) / elapsed,
            }
        screen = _tmux(socket_name, "capture-pane", "-p", "-t", "bench")
        assert "RUNNING" in screen and f"workers {SIM_WORKERS}/{SIM_WORKERS}" in screen, screen
        master.send_signal(signal.SIGTERM)  # ours, by its PID
        master.wait(30)
        return results
    finally:
        if sims is not None and sims.pid is not None and sims.is_alive():
            os.kill(sims.pid, signal.SIGKILL)
            sims.join(10)
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each measurement")
    parser.add_argument("--users", type=int, default=20, help="users of the real worker (part 2)")
    parser.add_argument("--no-tmux", action="store_true", help="skip part 3 (the TUI in a real terminal)")
    args = parser.parse_args()
    print(
        f"{psutil.cpu_count()} CPUs; {SIM_WORKERS} simulated workers x {ENDPOINTS} endpoints; {SIZE[0]}x{SIZE[1]}; "
        f"{args.window:.0f} s windows, {args.rounds} rounds",
        flush=True,
    )

    print("\n1. CPU of the master process (100% = one core)", flush=True)
    modes = {"none": "master alone (no app)", "1": "master + TUI, Statistics", "2": "master + TUI, Charts"}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode in modes:
            result = _in_child(tui_cpu_child, mode, args.window)
            assert result["workers"] == SIM_WORKERS and result["entries"] == ENDPOINTS, result
            cpu[mode].append(result["cpu"])
    base = statistics.median(cpu["none"])
    print(f"   {'':28} {'median':>7} {'rounds':>24} {'TUI share':>9}")
    for mode, label in modes.items():
        med = statistics.median(cpu[mode])
        share = "" if mode == "none" else f"{med - base:8.1f}%"
        print(f"   {label:28} {med:6.1f}% {' '.join(f'{c:5.1f}' for c in cpu[mode]):>24} {share:>9}")

    print(
        f"\n2. One real worker ({args.users} FastHttpUsers, no wait) against the built-in target, req/s",
        flush=True,
    )
    target = subprocess.Popen(
        [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert target.stdout is not None
        url = (
            next(line for line in target.stdout if line.startswith("tswarm target listening"))
            .strip()
            .rsplit(" ", 1)[1]
        )
        testfile = Path(tempfile.mkdtemp(prefix="tswarm-bench-")) / "hammer.py"
        testfile.write_text(WORKER_FILE)
        rps: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for with_tui in (False, True):
                rps[with_tui].append(
                    _in_child(throughput_child, with_tui, str(testfile), url, args.users, args.window)["rps"]
                )
    finally:
        target.terminate()
        target.wait(10)
    for with_tui, label in ((False, "headless master"), (True, "TUI master")):
        print(
            f"   {label:28} {statistics.median(rps[with_tui]):7.0f} {' '.join(f'{r:6.0f}' for r in rps[with_tui]):>24}"
        )
    ratio = statistics.median(rps[True]) / statistics.median(rps[False])
    print(f"   TUI / headless: {ratio:.3f}")

    if args.no_tmux or shutil.which("tmux") is None:
        print("\n3. skipped (--no-tmux, or tmux is not installed)")
        return
    print(
        f"\n3. tswarm master in tmux at {SIZE[0]}x{SIZE[1]}, {SIM_WORKERS} simulated workers x {ENDPOINTS} endpoints",
        flush=True,
    )
    rounds = [terminal_round(args.window) for _ in range(args.rounds)]
    print(f"   {'view':28} {'CPU':>7} {'rounds':>24} {'to the terminal':>16}")
    for view in rounds[0]:
        cpus = [r[view]["cpu"] for r in rounds]
        rate = statistics.median(r[view]["bytes_per_s"] for r in rounds)
        print(
            f"   {view:28} {statistics.median(cpus):6.1f}% {' '.join(f'{c:5.1f}' for c in cpus):>24} "
            f"{rate / 1024:10.1f} KiB/s"
        )


if __name__ == "__main__":
    main()
