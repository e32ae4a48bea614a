"""How many workers can one master keep up with?

Runs a real MasterRunner (headless) in one process and N simulated workers in a few other processes.
Each simulated worker speaks the real protocol (docs/protocol.md): hello, a heartbeat a second from its
``NODEID#hb`` socket, and a stats delta a second with 50 endpoints (built with RequestStats.take_delta
from freshly logged requests), answering spawn/stop/quit as a worker does.

For each N it measures, over a fixed window once all workers run:
  * the master process's CPU (psutil cpu_times; 100% = one core),
  * whether every report sent was merged, and how late the latest one was (lag),
  * whether any worker was falsely marked missing (heartbeat timeout 5 s here, 60 s by default).

N goes 50, 100, 200 and then doubles while the master keeps up (bounded by --max-workers).

    python benchmarks/master_scale.py [--window 8] [--max-workers 800] [--processes 2]

With ``--secret-cost N`` it measures instead what a shared secret (CURVE: authentication and encryption
of every frame) costs the master at N workers: with and without, alternating, twice each.

    python benchmarks/master_scale.py --secret-cost 200
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENDPOINTS = 50
HEARTBEAT_TIMEOUT = 5.0


class SimUser:
    """Stands for a user class: the master only needs its name and weight."""

    weight = 1
    fixed_count = 0


def run_master(info: Any, results: Any, n: int, secret: str | None = None) -> None:
    from tswarm.env import Environment
    from tswarm.secret import CurveKeys

    logging.basicConfig(level=logging.WARNING, format="master %(levelname)s %(message)s")
    env = Environment(user_classes=[SimUser])
    runner = env.create_master_runner(
        "127.0.0.1",
        0,
        heartbeat_interval=1.0,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        keys=CurveKeys.from_secret(secret) if secret else None,
    )
    merged = 0
    max_lag = 0.0
    lags: list[float] = []
    missing: set[str] = set()

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        nonlocal merged, max_lag
        merged += 1
        lag = time.time() - data["extra"]["sent"]
        lags.append(lag)
        max_lag = max(max_lag, lag)

    env.events.worker_report.add_listener(on_report)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, runner.request_stop)

        async def watch_missing() -> None:
            while True:
                await asyncio.sleep(0.5)
                missing.update(w.node_id for w in runner.workers.values() if w.missing)

        watcher = asyncio.create_task(watch_missing())
        code = await runner.run_headless(n, float(n), expect_workers=n, expect_workers_max_wait=60)
        watcher.cancel()
        return code

    info.put((os.getpid(), runner.bind_port))
    code = asyncio.run(main())
    lags.sort()
    results.put(
        {
            "code": code,
            "merged": merged,
            "max_lag": max_lag,
            "p99_lag": lags[int(len(lags) * 0.99)] if lags else 0.0,
            "missing": len(missing),
            "requests": env.stats.total.num_requests,
            "protocol_errors": runner.protocol_errors,
        }
    )


def run_workers(
    port: int, ids: list[str], connected: Any, results: Any, seed: int, secret: str | None = None
) -> None:
    import zmq

    from tswarm.protocol import PROTOCOL_VERSION, decode, encode
    from tswarm.secret import CurveKeys
    from tswarm.stats import RequestStats

    keys = CurveKeys.from_secret(secret) if secret else None

    rng = random.Random(seed)
    context = zmq.Context()
    context.set(zmq.MAX_SOCKETS, 2 * len(ids) + 64)  # libzmq's default allows 1023 sockets per context
    main: dict[str, Any] = {}
    beat: dict[str, Any] = {}
    owner: dict[Any, str] = {}
    poller = zmq.Poller()
    for node_id in ids:
        for table, identity in ((main, node_id), (beat, node_id + "#hb")):
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, identity.encode())
            sock.setsockopt(zmq.LINGER, 1000)
            if keys is not None:
                keys.secure_worker(sock)
            sock.connect(f"tcp://127.0.0.1:{port}")
            table[node_id] = sock
            owner[sock] = node_id
            poller.register(sock, zmq.POLLIN)
    hello = {
        "protocol": PROTOCOL_VERSION,
        "version": "bench",
        "host": f"host{seed}",
        "pid": os.getpid(),
        "cpu_count": 1,
    }
    acked: set[str] = set()
    done: set[str] = set()
    users: dict[str, dict[str, int]] = {}
    stats = RequestStats()
    names = [f"/api/endpoint/{i}" for i in range(ENDPOINTS)]
    sent = 0
    next_tick = time.monotonic()
    deadline = time.monotonic() + 600

    def send_stats(node_id: str, delta: dict[str, Any]) -> None:
        nonlocal sent
        counts = users.get(node_id, {})
        data = {
            "stats": delta,
            "user_count": sum(counts.values()),
            "user_classes_count": counts,
            "extra": {"sent": time.time()},
        }
        main[node_id].send(encode("stats", data, node_id))
        sent += 1

    empty = RequestStats().take_delta()
    while len(done) < len(ids) and time.monotonic() < deadline:
        timeout = max(0, int((next_tick - time.monotonic()) * 1000))
        for sock, _ in poller.poll(timeout):
            node_id = owner[sock]
            msg = decode(sock.recv())
            if msg.type == "ack" and node_id not in acked:
                acked.add(node_id)
                with connected.get_lock():
                    connected.value += 1
            elif msg.type == "spawn":
                users[node_id] = {k: v for k, v in msg.data["user_classes_count"].items() if v}
                counts = {"user_classes_count": users[node_id], "user_count": sum(users[node_id].values())}
                main[node_id].send(encode("spawning", counts, node_id))
                main[node_id].send(encode("spawning_complete", counts, node_id))
            elif msg.type == "stop":
                users[node_id] = {}
                send_stats(node_id, empty)
                main[node_id].send(encode("stopped", {}, node_id))
            elif msg.type == "quit" and node_id not in done:
                send_stats(node_id, empty)
                main[node_id].send(encode("quit", {}, node_id))
                done.add(node_id)
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1.0
            # one fresh delta a second for all of this process's workers: 50 endpoints, a few errors
            for name in names:
                for _ in range(4):
                    stats.log_request("GET", name, rng.lognormvariate(4, 0.8), 1200)
                if rng.random() < 0.1:
                    stats.log_error("GET", name, "HTTPError('500 Server Error')")
            delta = stats.take_delta()
            for node_id in ids:
                if node_id in done:
                    continue
                if node_id not in acked:
                    main[node_id].send(encode("hello", hello, node_id))
                    continue
                beat[node_id].send(
                    encode(
                        "heartbeat",
                        {
                            "state": "running",
                            "user_count": 1,
                            "cpu": 10.0,
                            "memory": 50_000_000,
                            "timestamp": time.time(),
                        },
                        node_id,
                    )
                )
                send_stats(node_id, delta)
    for sock in owner:
        sock.close()
    context.term()
    results.put({"sent": sent})


def measure(n: int, window: float, processes: int, secret: str | None = None) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    info, results, worker_results = ctx.Queue(), ctx.Queue(), ctx.Queue()
    connected = ctx.Value("i", 0)
    master = ctx.Process(target=run_master, args=(info, results, n, secret), daemon=True)
    master.start()
    master_pid, port = info.get(timeout=30)
    ids = [f"sim{n}_{i}" for i in range(n)]
    procs = [
        ctx.Process(
            target=run_workers,
            args=(port, ids[p::processes], connected, worker_results, p, secret),
            daemon=True,
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    started = time.monotonic()
    while connected.value < n and time.monotonic() - started < 60:
        time.sleep(0.1)
    time.sleep(2.0)  # let the spawn settle and the first reports flow
    process = psutil.Process(master_pid)
    before = process.cpu_times()
    t0 = time.monotonic()
    time.sleep(window)
    after = process.cpu_times()
    elapsed = time.monotonic() - t0
    cpu = 100.0 * ((after.user - before.user) + (after.system - before.system)) / elapsed
    os.kill(master_pid, signal.SIGTERM)
    result = results.get(timeout=60)
    sent = sum(worker_results.get(timeout=30)["sent"] for _ in procs)
    for proc in [*procs, master]:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    result.update(n=n, cpu=cpu, sent=sent, connected=connected.value)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=8.0, help="seconds of CPU measurement per N")
    parser.add_argument("--max-workers", type=int, default=800)
    parser.add_argument("--processes", type=int, default=2, help="processes playing the workers")
    parser.add_argument(
        "--secret-cost",
        type=int,
        metavar="N",
        help="compare the master's CPU at N workers with and without a secret",
    )
    args = parser.parse_args()
    if args.secret_cost:
        secret_cost(args.secret_cost, args.window, args.processes)
        return
    print(
        f"{'workers':>7} {'master CPU':>10} {'sent':>7} {'merged':>7} {'max lag':>8} {'p99 lag':>8} "
        f"{'missing':>7} {'bad':>4}  keeps up"
    )
    sizes = [50, 100, 200]
    best = 0
    while sizes:
        n = sizes.pop(0)
        r = measure(n, args.window, args.processes)
        keeps_up = r["merged"] == r["sent"] and r["max_lag"] < 1.0 and r["missing"] == 0 and r["cpu"] < 100.0
        print(
            f"{n:>7} {r['cpu']:>9.1f}% {r['sent']:>7} {r['merged']:>7} {r['max_lag']:>7.3f}s {r['p99_lag']:>7.3f}s "
            f"{r['missing']:>7} {r['protocol_errors']:>4}  {'yes' if keeps_up else 'NO'}",
            flush=True,
        )
        if not keeps_up:
            break
        best = n
        if not sizes and n * 2 <= args.max_workers:
            sizes.append(n * 2)
    print(
        f"largest N kept up with: {best} (bounded by --max-workers {args.max_workers}; "
        f"{os.cpu_count()} CPUs shared by the master and the simulated workers)"
    )


def secret_cost(n: int, window: float, processes: int) -> None:
    """The master's CPU at ``n`` workers without and with a secret, alternating (the machine is noisy)."""
    from tswarm.secret import new_secret

    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(2):
        for with_secret in (False, True):
            r = measure(n, window, processes, new_secret() if with_secret else None)
            assert r["connected"] == n and r["merged"] == r["sent"], r
            cpu[with_secret].append(r["cpu"])
            print(
                f"{n} workers, {'with' if with_secret else 'without'} a secret: master CPU {r['cpu']:.1f}%",
                flush=True,
            )
    plain, secured = (sum(cpu[k]) / len(cpu[k]) for k in (False, True))
    print(f"mean master CPU: {plain:.1f}% without, {secured:.1f}% with a secret: x{secured / plain:.2f}")


if __name__ == "__main__":
    main()
