"""How many workers can one master keep up with?

Runs a real MasterRunner (headless) in one process and N simulated workers in a few other processes.
Each simulated worker speaks the real protocol (docs/protocol.md): hello, a heartbeat a second from its
``NODEID#hb`` socket, and a stats delta a second with 50 endpoints (built with RequestStats.take_delta
from freshly logged requests), answering spawn/stop/quit as a worker does. Its reports are numbered
(``seq``, ``kept_from``) and flow-controlled as a real worker's are: it reads ``stats_acked`` in the
master's heartbeats, and while STATS_IN_FLIGHT of its reports are unacknowledged it holds the next
(counted as "held"). The report that goes after held seconds says in its ``extra`` how many seconds it
covers, but carries one second's delta (a real worker's carries all of them: the same 50 entries, a few
more histogram buckets and per-second slots, so the master's merge costs about the same); the master's
totals then count fewer requests than were simulated. The simulated workers never lose a report, so
they send none again.

The simulated workers must not be the bottleneck: each generator process builds one delta a second and
packs it once; each worker's frame is that packed delta spliced between its own few fields (its node id,
the time it was sent), so a generator costs little more than ZeroMQ's (and CURVE's) work per frame.

For each N it measures, over a fixed window once all workers run:
  * the master process's CPU (psutil cpu_times; 100% = one core), and its threads' shares: the Python
    main thread (decoding, checks, merging, the loop), libzmq's I/O thread (TCP, and CURVE's
    encryption with a secret) and the others (the socket monitor, the secret's ZAP handler);
  * the generators' CPU and the machine's (2 cores shared with other work: the load is printed);
  * whether every report sent was merged, and how late reports were merged (lag: max and p99 in the
    window; "start lag", the largest over the whole run, start-up included: thousands of CURVE
    handshakes and the ramp make a backlog that the master then works off);
  * how many reports the simulated workers held back (``held``, over the whole run) because STATS_IN_FLIGHT
    of theirs were unacknowledged: 0 while the master keeps up;
  * whether any worker was falsely marked missing while the test ran (heartbeat timeout 5 s here);
  * the master's CPU per report merged (us/rep: one report and one heartbeat per worker-second), the
    figure that least depends on how busy the machine is.

With ``--replay N`` it measures the master's own Python work for N workers in one process, without
sockets (decoding and checks, the handlers and merging, the once-a-second work), part by part.

N goes 50, 100, 200 and then doubles while the master keeps up (bounded by --max-workers), or takes
the sizes given with --workers.

    python benchmarks/master_scale.py [--window 8] [--max-workers 800] [--processes 2]
    python benchmarks/master_scale.py --workers 2000 --secret          # the target of issue 10
    python benchmarks/master_scale.py --workers 2000 --secret --profile /tmp/master.prof

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
import queue
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


def run_master(
    info: Any,
    results: Any,
    n: int,
    secret: str | None = None,
    profile: str | None = None,
    merged_counter: Any = None,
    measuring: Any = None,
) -> None:
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
        if merged_counter is not None:
            merged_counter.value = merged  # only this process writes it
        lag = time.time() - data["extra"]["sent"]
        max_lag = max(max_lag, lag)
        # the lag while the CPU is measured: the start (thousands of CURVE handshakes, the ramp) has
        # its own, shown as "start lag"
        if measuring is None or measuring.value:
            lags.append(lag)

    env.events.worker_report.add_listener(on_report)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, runner.request_stop)

        async def watch_missing() -> None:
            while True:
                await asyncio.sleep(0.5)
                # while the test runs (a worker that quits and closes after the stop is not missing;
                # the master reads its queued quit before acting on the close)
                if runner.test_is_active():
                    missing.update(w.node_id for w in runner.workers.values() if w.missing)

        watcher = asyncio.create_task(watch_missing())
        code = await runner.run_headless(n, float(n), expect_workers=n, expect_workers_max_wait=120)
        watcher.cancel()
        return code

    info.put((os.getpid(), runner.bind_port))
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        code = profiler.runcall(asyncio.run, main())
        profiler.dump_stats(profile)
    else:
        code = asyncio.run(main())
    lags.sort()
    results.put(
        {
            "code": code,
            "merged": merged,
            "max_lag_all": max_lag,
            "max_lag": lags[-1] if lags else 0.0,
            "p99_lag": lags[int(len(lags) * 0.99)] if lags else 0.0,
            "missing": len(missing),
            "requests": env.stats.total.num_requests,
            "protocol_errors": runner.protocol_errors,
        }
    )


def _map_header(size: int) -> bytes:
    assert size < 16
    return bytes([0x80 | size])


def run_workers(
    port: int,
    ids: list[str],
    connected: Any,
    results: Any,
    seed: int,
    secret: str | None = None,
    requests_per_endpoint: int = 4,
    finished: Any = None,
) -> None:
    import msgpack
    import zmq

    from tswarm.protocol import PROTOCOL_VERSION, decode, encode
    from tswarm.secret import CurveKeys
    from tswarm.stats import RequestStats

    keys = CurveKeys.from_secret(secret) if secret else None
    pack = msgpack.Packer(use_bin_type=True).pack

    from tswarm.runner.worker import STATS_IN_FLIGHT

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
    # flow control, as a real worker's (tswarm.runner.worker.UnackedReports): a simulated worker never
    # loses a report, so what it has not had acknowledged is the numbers after stats_acked
    last_seq: dict[str, int] = dict.fromkeys(ids, 0)
    stats_acked: dict[str, int] = dict.fromkeys(ids, 0)
    seconds_held: dict[str, int] = dict.fromkeys(ids, 0)
    held = 0
    stats = RequestStats()
    names = [f"/api/endpoint/{i}" for i in range(ENDPOINTS)]
    sent = 0
    next_tick = time.monotonic()
    deadline = time.monotonic() + 900
    # the parts of a frame that are the same for every worker: [type, data, node_id], data a map
    stats_head = b"\x93" + pack("stats") + _map_header(6)
    beat_head = b"\x93" + pack("heartbeat") + _map_header(5)
    beat_body = (
        pack("state")
        + pack("running")
        + pack("user_count")
        + pack(1)
        + pack("cpu")
        + pack(10.0)
        + pack("memory")
        + pack(50_000_000)
        + pack("timestamp")
    )

    def stats_frame(node_id: str, packed_delta: bytes, seq: int, covers: int) -> bytes:
        counts = users.get(node_id, {})
        return b"".join(
            (
                stats_head,
                pack("stats"),
                packed_delta,
                pack("user_count"),
                pack(sum(counts.values())),
                pack("user_classes_count"),
                pack(counts),
                pack("extra"),
                pack({"sent": time.time(), "covers": covers}),
                pack("seq"),
                pack(seq),
                pack("kept_from"),
                pack(stats_acked[node_id] + 1),  # the oldest unacknowledged: this one if none is
                pack(node_id),
            )
        )

    def send_stats(node_id: str, packed_delta: bytes, final: bool = False) -> None:
        """This second's report, unless STATS_IN_FLIGHT wait for the acknowledgement (a final one goes)."""
        nonlocal sent, held
        if not final and last_seq[node_id] - stats_acked[node_id] >= STATS_IN_FLIGHT:
            held += 1
            seconds_held[node_id] += 1
            return
        last_seq[node_id] += 1
        covers = 1 + seconds_held[node_id]
        seconds_held[node_id] = 0
        main[node_id].send(stats_frame(node_id, packed_delta, last_seq[node_id], covers), copy=False)
        sent += 1

    empty = pack(RequestStats().take_delta())
    while len(done) < len(ids) and time.monotonic() < deadline:
        if finished is not None and finished.value:
            # the master has ended (its result is in): what is left (workers it never acknowledged)
            # stops within a few seconds
            deadline = min(deadline, time.monotonic() + 5)
        timeout = max(0, int((next_tick - time.monotonic()) * 1000))
        for sock, _ in poller.poll(timeout):
            node_id = owner[sock]
            msg = decode(sock.recv())
            if msg.type == "heartbeat":
                number = msg.data.get("stats_acked")
                if isinstance(number, int):
                    stats_acked[node_id] = max(stats_acked[node_id], number)
            elif msg.type == "ack" and node_id not in acked:
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
                send_stats(node_id, empty, final=True)
                main[node_id].send(encode("stopped", {}, node_id))
            elif msg.type == "quit" and node_id not in done:
                send_stats(node_id, empty, final=True)
                main[node_id].send(encode("quit", {}, node_id))
                done.add(node_id)
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1.0
            # one fresh delta a second for all of this process's workers: 50 endpoints, a few errors
            for name in names:
                for _ in range(requests_per_endpoint):
                    stats.log_request("GET", name, rng.lognormvariate(4, 0.8), 1200)
                if rng.random() < 0.1:
                    stats.log_error("GET", name, "HTTPError('500 Server Error')")
            packed_delta = pack(stats.take_delta())
            for node_id in ids:
                if node_id in done:
                    continue
                if node_id not in acked:
                    main[node_id].send(encode("hello", hello, node_id))
                    continue
                beat[node_id].send(b"".join((beat_head, beat_body, pack(time.time()), pack(node_id))))
                send_stats(node_id, packed_delta)
    for sock in owner:
        sock.close()
    context.term()
    results.put({"sent": sent, "held": held})


def _thread_times(process: psutil.Process) -> dict[str, float]:
    """CPU seconds of a process's threads, grouped: the main thread, libzmq's I/O threads, the others."""
    groups = {"main": 0.0, "zmq_io": 0.0, "other": 0.0}
    for thread in process.threads():
        try:
            name = Path(f"/proc/{process.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = ""
        group = "main" if thread.id == process.pid else "zmq_io" if name.startswith("ZMQbg/IO") else "other"
        groups[group] += thread.user_time + thread.system_time
    return groups


def measure(
    n: int,
    window: float,
    processes: int,
    secret: str | None = None,
    requests_per_endpoint: int = 4,
    profile: str | None = None,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    info, results, worker_results = ctx.Queue(), ctx.Queue(), ctx.Queue()
    connected = ctx.Value("i", 0)
    finished = ctx.Value("i", 0)
    merged_counter = ctx.Value("q", 0, lock=False)
    measuring = ctx.Value("i", 0, lock=False)
    master = ctx.Process(
        target=run_master,
        args=(info, results, n, secret, profile, merged_counter, measuring),
        daemon=True,
    )
    master.start()
    master_pid, port = info.get(timeout=30)
    ids = [f"sim{n}_{i}" for i in range(n)]
    procs = [
        ctx.Process(
            target=run_workers,
            args=(
                port,
                ids[p::processes],
                connected,
                worker_results,
                p,
                secret,
                requests_per_endpoint,
                finished,
            ),
            daemon=True,
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    started = time.monotonic()
    while connected.value < n and time.monotonic() - started < 120:
        time.sleep(0.1)
    time.sleep(3.0)  # let the spawn settle and the first reports flow
    process = psutil.Process(master_pid)
    generators = [psutil.Process(p.pid) for p in procs]
    before = process.cpu_times()
    threads_before = _thread_times(process)
    generators_before = sum(g.cpu_times().user + g.cpu_times().system for g in generators)
    psutil.cpu_percent()
    merged_before = merged_counter.value
    t0 = time.monotonic()
    measuring.value = 1
    time.sleep(window)
    measuring.value = 0
    merged_in_window = merged_counter.value - merged_before
    after = process.cpu_times()
    threads_after = _thread_times(process)
    generators_after = sum(g.cpu_times().user + g.cpu_times().system for g in generators)
    machine = psutil.cpu_percent() * (os.cpu_count() or 1)
    load = os.getloadavg()[0]
    elapsed = time.monotonic() - t0
    cpu = 100.0 * ((after.user - before.user) + (after.system - before.system)) / elapsed
    threads = {k: 100.0 * (threads_after[k] - threads_before[k]) / elapsed for k in threads_after}
    os.kill(master_pid, signal.SIGTERM)
    try:
        result = results.get(timeout=120)
    except queue.Empty:
        master.join(timeout=1)
        raise RuntimeError(f"the master gave no result (exit code {master.exitcode})") from None
    finished.value = 1
    generated = [worker_results.get(timeout=60) for _ in procs]
    sent = sum(g["sent"] for g in generated)
    for proc in [*procs, master]:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    result.update(
        n=n,
        cpu=cpu,
        threads=threads,
        generators=100.0 * (generators_after - generators_before) / elapsed,
        # the master's CPU per report merged in the window (a report and a heartbeat per worker-second)
        cpu_per_report=cpu / 100.0 * elapsed / merged_in_window if merged_in_window else float("nan"),
        machine=machine,
        load=load,
        sent=sent,
        # report-seconds the simulated workers held back because their master was behind (flow control)
        held=sum(g["held"] for g in generated),
        connected=connected.value,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=8.0, help="seconds of CPU measurement per N")
    parser.add_argument("--max-workers", type=int, default=800)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        metavar="N",
        help="measure these N (default: 50, 100, 200, ... doubling)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="processes playing the workers (default: 2, and 1 per 500 beyond)",
    )
    parser.add_argument("--secret", action="store_true", help="master and workers share a secret (CURVE)")
    parser.add_argument(
        "--requests-per-endpoint",
        type=int,
        default=4,
        metavar="R",
        help="requests each worker logs per endpoint and second (4: 200 req/s per worker)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the master into FILE (one N only)")
    parser.add_argument(
        "--secret-cost",
        type=int,
        metavar="N",
        help="compare the master's CPU at N workers with and without a secret",
    )
    parser.add_argument(
        "--replay",
        type=int,
        metavar="N",
        help="measure the master's Python work for N workers in one process, without sockets",
    )
    args = parser.parse_args()
    if args.replay:
        seconds = max(3, int(args.window))
        r = replay(args.replay, seconds, args.requests_per_endpoint, args.profile)
        parts = ", ".join(f"{k} {100 * v:.1f}%" for k, v in r.items() if k != "total")
        print(
            f"{args.replay} workers x {ENDPOINTS} endpoints, {args.requests_per_endpoint} requests per endpoint "
            f"and second: the master's Python work takes {100 * r['total']:.1f}% of a core ({parts}); "
            f"{1e6 * r['total'] / args.replay:.0f} us per worker-second"
        )
        return
    if args.secret_cost:
        secret_cost(args.secret_cost, args.window, args.processes or _processes(args.secret_cost))
        return
    from tswarm.secret import new_secret

    print(
        f"{'workers':>7} {'master CPU':>10} {'main':>6} {'zmq io':>6} {'other':>6} {'sent':>7} {'merged':>7} "
        f"{'held':>6} "
        f"{'start lag':>9} {'max lag':>8} {'p99 lag':>8} {'missing':>7} {'bad':>4} {'us/rep':>6} {'gen CPU':>7} {'machine':>7} "
        f"{'load':>5}  "
        "keeps up"
    )
    sizes = list(args.workers or [50, 100, 200])
    best = 0
    while sizes:
        n = sizes.pop(0)
        r = measure(
            n,
            args.window,
            args.processes or _processes(n),
            new_secret() if args.secret else None,
            args.requests_per_endpoint,
            args.profile,
        )
        keeps_up = (
            r["merged"] == r["sent"]
            and r["max_lag"] < 1.0
            and r["missing"] == 0
            and r["cpu"] < 100.0
            and r["connected"] == n
        )
        t = r["threads"]
        print(
            f"{n:>7} {r['cpu']:>9.1f}% {t['main']:>5.1f}% {t['zmq_io']:>5.1f}% {t['other']:>5.1f}% "
            f"{r['sent']:>7} {r['merged']:>7} {r['held']:>6} {r['max_lag_all']:>8.3f}s {r['max_lag']:>7.3f}s {r['p99_lag']:>7.3f}s "
            f"{r['missing']:>7} {r['protocol_errors']:>4} {1e6 * r['cpu_per_report']:>6.0f} "
            f"{r['generators']:>6.0f}% {r['machine']:>6.0f}% "
            f"{r['load']:>5.2f}  {'yes' if keeps_up else 'NO'}",
            flush=True,
        )
        if not keeps_up and not args.workers:
            break
        if keeps_up:
            best = max(best, n)
        if not args.workers and not sizes and n * 2 <= args.max_workers:
            sizes.append(n * 2)
    print(
        f"largest N kept up with: {best} ({'with' if args.secret else 'without'} a secret; "
        f"{os.cpu_count()} CPUs shared by the master, the simulated workers and other work; "
        "CPU 100% = one core, machine = all cores)"
    )


def replay(n: int, seconds: int, requests_per_endpoint: int, profile: str | None) -> dict[str, float]:
    """The master's own Python work for ``n`` workers, without sockets: every second, each worker's
    heartbeat and stats frame go through the link's checks and the message handlers (decode, shape
    checks, merge), then the master's once-a-second work (heartbeat tick, snapshot, history).

    Returns CPU seconds per simulated second, in total and per part; libzmq's own work (TCP, CURVE) is
    not in it (the socket runs measure it).
    """
    import msgpack

    from tswarm.controller.link import Incoming
    from tswarm.env import Environment
    from tswarm.protocol import PROTOCOL_VERSION, decode, split_identity
    from tswarm.stats import RequestStats

    env = Environment(user_classes=[SimUser])
    runner = env.create_master_runner("127.0.0.1", 0, heartbeat_interval=1.0, heartbeat_timeout=3600)
    link, messages = runner.link, runner._messages
    pack = msgpack.Packer(use_bin_type=True).pack
    ids = [f"sim{i}" for i in range(n)]
    for node_id in ids:
        hello = {"protocol": PROTOCOL_VERSION, "version": "bench", "host": "h", "pid": 1, "cpu_count": 1}
        messages.on_message(
            Incoming(node_id.encode(), node_id, node_id, False, decode(pack(["hello", hello, node_id])))
        )
    rng = random.Random(1)
    stats = RequestStats()
    names = [f"/api/endpoint/{i}" for i in range(ENDPOINTS)]
    cpu = {"decode+check": 0.0, "handle (merge)": 0.0, "per second": 0.0}
    clock = time.process_time
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    for _ in range(seconds):
        for name in names:
            for _ in range(requests_per_endpoint):
                stats.log_request("GET", name, rng.lognormvariate(4, 0.8), 1200)
            if rng.random() < 0.1:
                stats.log_error("GET", name, "HTTPError('500 Server Error')")
        delta = stats.take_delta()
        frames = []
        for node_id in ids:
            beat = {"state": "running", "user_count": 1, "cpu": 10.0, "memory": 1, "timestamp": time.time()}
            data = {"stats": delta, "user_count": 1, "user_classes_count": {}, "extra": {"sent": 0.0}}
            frames.append([(node_id + "#hb").encode(), pack(["heartbeat", beat, node_id])])
            frames.append([node_id.encode(), pack(["stats", data, node_id])])
        for frame in frames:
            # one at a time, as the link does: each message is freed before the next is decoded
            t0 = clock()
            incoming = link._check(frame)
            t1 = clock()
            assert incoming is not None
            messages.on_message(incoming)
            cpu["decode+check"] += t1 - t0
            cpu["handle (merge)"] += clock() - t1
        t2 = clock()
        messages.heartbeat_tick()
        runner.history.record(env.stats, runner.user_count)
        runner._refresh_snapshot()
        cpu["per second"] += clock() - t2
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    runner.close()
    assert split_identity(ids[0] + "#hb") == (ids[0], True)
    result = {k: v / seconds for k, v in cpu.items()}
    result["total"] = sum(result.values())
    return result


def _processes(n: int) -> int:
    return max(2, (n + 499) // 500)


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
                f"{n} workers, {'with' if with_secret else 'without'} a secret: master CPU {r['cpu']:.1f}% "
                f"(libzmq I/O thread {r['threads']['zmq_io']:.1f}%)",
                flush=True,
            )
    plain, secured = (sum(cpu[k]) / len(cpu[k]) for k in (False, True))
    print(f"mean master CPU: {plain:.1f}% without, {secured:.1f}% with a secret: x{secured / plain:.2f}")


if __name__ == "__main__":
    main()
