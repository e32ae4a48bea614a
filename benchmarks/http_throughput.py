#!/usr/bin/env python3
"""tswarm vs Locust: HTTP requests per CPU-second of the load generator.

Runs, in alternating rounds so that a noisy shared machine hurts every contender alike:

  tswarm-fast   tswarm ``FastHttpUser``                 (``python -m tswarm run --headless``)
  locust-fast   Locust ``FastHttpUser``                 (``locust --headless``, in its own virtualenv)
  tswarm-http   tswarm ``HttpUser``
  locust-http   Locust ``HttpUser`` (python-requests)   (skip with ``--no-locust-http``)
  bare          gevent + geventhttpclient loop, no framework: the ceiling

Every run is one headless, single-process load generator with ``--users`` users, ``constant(0)`` wait,
``--duration`` seconds, ``GET /fast`` against the same local server (nginx-light, else tswarm's built-in
target). The generator is pinned to one core and the server to the other.

Two CPU figures per run:

* **whole**: requests reported by the tool / user+system CPU of the whole generator process, start-up
  and shutdown included (``os.wait4`` rusage of the child, which also holds its reaped children).
* **steady**: requests the *server* counted (nginx ``stub_status`` or the target's ``/__counts``)
  / CPU the generator's process tree used (psutil) over the same window, from 1 s after the load starts
  to 1 s before it should end. Independent of each tool's own bookkeeping and of import time.

Usage:  python benchmarks/http_throughput.py [--duration 10] [--rounds 3] [--users 50]
            [--target auto|nginx|builtin] [--locust-python PATH] [--out results.json]

Run it with the Python of tswarm's environment (it needs psutil, gevent and geventhttpclient). Locust
is installed into ``benchmarks/.venv-locust`` on first use unless ``--locust-python`` is given.
Only 127.0.0.1 is used; every load is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
DEFAULT_LOCUST_VENV = HERE / ".venv-locust"
PATH_UNDER_TEST = "/fast"
WARMUP_S = 1.0  # steady window starts this long after the server sees the load start
TAIL_S = 1.0  # ... and ends this long before the run should end

LOCUSTFILE = """\
from locust import {cls}, constant, task


class Bench({cls}):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("{path}")
"""

BARE_LOOP = """\
from gevent import monkey

monkey.patch_all()

import json
import sys
import time

import gevent
from geventhttpclient import HTTPClient, URL

url, users, duration = URL(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
counts = {"requests": 0, "failures": 0}


def user(deadline):
    client = HTTPClient.from_url(url, concurrency=1, connection_timeout=10, network_timeout=10)
    path = url.request_uri
    while time.time() < deadline:
        try:
            response = client.get(path)
            response.read()
            if response.status_code != 200:
                counts["failures"] += 1
        except Exception:
            counts["failures"] += 1
        counts["requests"] += 1
    client.close()


deadline = time.time() + duration
gevent.joinall([gevent.spawn(user, deadline) for _ in range(users)])
print(json.dumps(counts))
"""

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /__status {{ stub_status; }}
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpus: set[int] | None):
    """A preexec_fn that pins the child (and whatever it forks) to ``cpus``."""
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop a child we started (by PID; its own session, so also its group), then reap it."""
    if proc.returncode is not None or proc.poll() is not None:
        return
    for s, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, s)  # each child runs in its own session: pgid == pid
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------- targets


class Target:
    kind = ""
    url = ""
    proc: subprocess.Popen | None = None

    def counter(self) -> int:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGQUIT if self.kind == "nginx" else signal.SIGTERM)


class NginxTarget(Target):
    kind = "nginx"

    def __init__(self, nginx: str, tmp: Path, cpus: set[int] | None) -> None:
        self.tmp = tmp
        for _attempt in range(3):
            port = free_port()
            conf = tmp / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
            self.proc = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "nginx-stderr.log", "wb"),  # noqa: SIM115 - the server process holds it
                preexec_fn=pinned(cpus),
                start_new_session=True,
            )
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
                self.version = version.rpartition("/")[2]
                return
            self.stop()
        raise BenchError(f"nginx did not start; see {tmp}/nginx-stderr.log and nginx-error.log")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                self.counter()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def counter(self) -> int:
        # "Active connections: N \nserver accepts handled requests\n A H R \n..."; R counts this request
        with urllib.request.urlopen(self.url + "/__status", timeout=5) as response:
            lines = response.read().decode().splitlines()
        return int(lines[2].split()[2]) - 1


class BuiltinTarget(Target):
    kind = "builtin"

    def __init__(self, tmp: Path, cpus: set[int] | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=open(tmp / "target-stderr.log", "wb"),  # noqa: SIM115 - the server process holds it
            text=True,
            preexec_fn=pinned(cpus),
            start_new_session=True,
        )
        line = self.proc.stdout.readline()  # "tswarm target listening on http://H:P"
        if "http://" not in line:
            self.stop()
            raise BenchError(f"tswarm target did not start: {line!r}; see {tmp}/target-stderr.log")
        self.url = line[line.index("http://") :].strip().rstrip("/")
        self.version = "tswarm.target"

    def counter(self) -> int:
        with urllib.request.urlopen(self.url + "/__counts", timeout=5) as response:
            return int(json.loads(response.read())["total"])  # /__counts is not counted itself


def start_target(kind: str, tmp: Path, cpus: set[int] | None) -> Target:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if kind == "nginx" and not nginx:
        raise BenchError("--target nginx: no nginx binary (apt-get install -y nginx-light)")
    if kind in ("nginx", "auto") and nginx:
        return NginxTarget(nginx, tmp, cpus)
    return BuiltinTarget(tmp, cpus)


# ---------------------------------------------------------------- contenders


@dataclass
class Case:
    name: str
    tool: str  # tswarm | locust | bare
    user_class: str  # FastHttpUser | HttpUser | -


@dataclass
class RunResult:
    case: str
    round: int
    requests: int = 0
    failures: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_sys_s: float = 0.0  # the kernel's share of cpu_s (loopback TCP is charged to the sender)
    steady_requests: int | None = None
    steady_cpu_s: float | None = None
    steady_wall_s: float | None = None
    exit_code: int | None = None
    error: str | None = None

    @property
    def per_cpu(self) -> float | None:
        return self.requests / self.cpu_s if self.requests and self.cpu_s > 0 else None

    @property
    def steady_per_cpu(self) -> float | None:
        if self.steady_requests and self.steady_cpu_s and self.steady_cpu_s > 0:
            return self.steady_requests / self.steady_cpu_s
        return None


def tree_cpu(pid: int) -> float:
    """user+system CPU seconds of a process and all its live descendants."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class Bench:
    def __init__(
        self, args: argparse.Namespace, target: Target, tmp: Path, gen_cpus: set[int] | None
    ) -> None:
        self.args = args
        self.target = target
        self.tmp = tmp
        self.gen_cpus = gen_cpus
        for cls in ("FastHttpUser", "HttpUser"):
            (tmp / f"bench_{cls}.py").write_text(LOCUSTFILE.format(cls=cls, path=PATH_UNDER_TEST))
        (tmp / "bare_loop.py").write_text(BARE_LOOP)

    def command(self, case: Case, out: Path) -> list[str]:
        a = self.args
        url, users, duration = self.target.url, str(a.users), f"{a.duration}s"
        spawn = str(max(a.users * 10, 100))
        if case.tool == "tswarm":
            return [
                sys.executable,
                "-m",
                "tswarm",
                "run",
                "-f",
                str(self.tmp / f"bench_{case.user_class}.py"),
                "-H",
                url,
                "--headless",
                "--only-summary",
                "-u",
                users,
                "-r",
                spawn,
                "-t",
                duration,
                "--loglevel",
                "WARNING",
                "--json",
                str(out),
            ]
        if case.tool == "locust":
            return [
                a.locust_python,
                "-m",
                "locust",
                "-f",
                str(self.tmp / f"bench_{case.user_class}.py"),
                "-H",
                url,
                "--headless",
                "--only-summary",
                "-u",
                users,
                "-r",
                spawn,
                "-t",
                duration,
                "--loglevel",
                "WARNING",
                "--json-file",
                str(out),  # Locust adds ".json"
            ]
        return [sys.executable, str(self.tmp / "bare_loop.py"), url + PATH_UNDER_TEST, users, str(a.duration)]

    def run(self, case: Case, rnd: int) -> RunResult:
        res = RunResult(case=case.name, round=rnd)
        out = self.tmp / f"{case.name}-r{rnd}"
        log = open(self.tmp / f"{case.name}-r{rnd}.log", "wb")  # noqa: SIM115 - closed after the run
        counter0 = self.target.counter()
        started = time.monotonic()
        proc = subprocess.Popen(
            self.command(case, out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self.tmp,
            preexec_fn=pinned(self.gen_cpus),
            start_new_session=True,
        )
        hard_deadline = started + self.args.duration + 60
        try:
            # 1. wait for the load to reach the server
            load_start = None
            while time.monotonic() < hard_deadline and proc.poll() is None:
                if self.target.counter() > counter0 + self.args.users:
                    load_start = time.monotonic()
                    break
                time.sleep(0.02)
            # 2. steady window, measured at the server and on the generator's process tree
            if load_start is not None:
                sleep_until(load_start + WARMUP_S, proc)
                a = (time.monotonic(), self.target.counter(), tree_cpu(proc.pid))
                sleep_until(load_start + self.args.duration - TAIL_S, proc)
                b = (time.monotonic(), self.target.counter(), tree_cpu(proc.pid))
                if proc.poll() is None and b[0] - a[0] > 1.0:
                    res.steady_wall_s = b[0] - a[0]
                    res.steady_requests = b[1] - a[1]
                    res.steady_cpu_s = b[2] - a[2]
            # 3. let it end by itself and collect its rusage
            stdout = self._reap(proc, hard_deadline, res)
        except psutil.NoSuchProcess:
            stdout = self._reap(proc, hard_deadline, res)
        finally:
            if proc.returncode is None:
                stop_process(proc)
            log.close()
        res.wall_s = time.monotonic() - started
        try:
            self._collect(case, out, stdout, res)
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            res.error = res.error or f"no results: {exc!r}"
        if res.error is None and res.exit_code not in (0,):
            res.error = f"exit code {res.exit_code}"
        if res.error:
            res.error += f" (log: {log.name})"
        return res

    @staticmethod
    def _reap(proc: subprocess.Popen, deadline: float, res: RunResult) -> str:
        stdout = proc.stdout.read() if proc.stdout else b""  # EOF when it exits (it only writes at the end)
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                res.exit_code = proc.returncode
                res.cpu_s = rusage.ru_utime + rusage.ru_stime
                res.cpu_sys_s = rusage.ru_stime
                return stdout.decode(errors="replace")
            if time.monotonic() > deadline:
                res.error = "timed out, killed"
                stop_process(proc)
                res.exit_code = proc.returncode
                return stdout.decode(errors="replace")
            time.sleep(0.02)

    def _collect(self, case: Case, out: Path, stdout: str, res: RunResult) -> None:
        if case.tool == "tswarm":
            total = json.loads(out.read_text())["total"]
            res.requests, res.failures = total["num_requests"], total["num_failures"]
        elif case.tool == "locust":
            # --json-file: one object per (method, name), final figures. (Its --csv _stats.csv can miss the
            # requests of the last second: it is not rewritten once more when the run ends.)
            entries = json.loads(Path(f"{out}.json").read_text())
            res.requests = sum(e["num_requests"] for e in entries)
            res.failures = sum(e["num_failures"] for e in entries)
        else:
            counts = json.loads(stdout.strip().splitlines()[-1])
            res.requests, res.failures = counts["requests"], counts["failures"]
        if case.tool == "locust" and res.exit_code == 1 and res.failures:
            res.error = f"{res.failures} failed requests"


# ---------------------------------------------------------------- setup and report


def ensure_locust(args: argparse.Namespace) -> str:
    if args.locust_python:
        return args.locust_python
    py = DEFAULT_LOCUST_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {DEFAULT_LOCUST_VENV} (pip install locust) ...", file=sys.stderr)
        # the system's python3, not tswarm's venv: Locust must not see (or pollute) tswarm's packages
        subprocess.run(
            [shutil.which("python3") or sys.executable, "-m", "venv", str(DEFAULT_LOCUST_VENV)], check=True
        )
    if subprocess.run([str(py), "-c", "import locust"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "locust"], check=True)
    return str(py)


def version_of(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except Exception as exc:  # noqa: BLE001
        return f"? ({exc})"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt(x: float | None, spec: str = ",.0f") -> str:
    return "-" if x is None else format(x, spec)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(cases: list[Case], results: list[RunResult]) -> dict:
    summary = {}
    for case in cases:
        ok = [r for r in results if r.case == case.name and r.error is None]
        whole = [r.per_cpu for r in ok if r.per_cpu]
        steady = [r.steady_per_cpu for r in ok if r.steady_per_cpu]
        summary[case.name] = {
            "runs_ok": len(ok),
            "runs_failed": sum(1 for r in results if r.case == case.name and r.error),
            "rps": median([r.steady_requests / r.steady_wall_s for r in ok if r.steady_wall_s]),
            "cpu_util": median([r.steady_cpu_s / r.steady_wall_s for r in ok if r.steady_wall_s]),
            "sys_share": median([r.cpu_sys_s / r.cpu_s for r in ok if r.cpu_s]),
            "whole_per_cpu": statistics.median(whole) if whole else None,
            "whole_min_max": [min(whole), max(whole)] if whole else None,
            "steady_per_cpu": statistics.median(steady) if steady else None,
            "steady_min_max": [min(steady), max(steady)] if steady else None,
            "failures": sum(r.failures for r in ok),
        }
    return summary


def ratio(summary: dict, a: str, b: str, key: str) -> float | None:
    x, y = summary.get(a, {}).get(key), summary.get(b, {}).get(key)
    return x / y if x and y else None


def sleep_until(when: float, proc: subprocess.Popen) -> None:
    """Sleep until the monotonic time ``when``, or until ``proc`` exits."""
    while proc.poll() is None:
        left = when - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


def describe_run(
    args: argparse.Namespace,
    target: Target,
    gen_cpus: set[int] | None,
    srv_cpus: set[int] | None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata of a benchmark run (machine, versions, target, settings), printed and saved."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tswarm": version_of([sys.executable, "-m", "tswarm", "--version"]),
        "locust": " ".join(version_of([args.locust_python, "-m", "locust", "--version"]).split()[:2]),
        "target": f"{target.kind} {target.version} {target.url}{PATH_UNDER_TEST}",
        "users": args.users,
        **extra,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "pinning": f"generators cpu {sorted(gen_cpus)}, server cpu {sorted(srv_cpus or ())}"
        if gen_cpus
        else "none",
    }


def run_rounds(bench: Any, cases: list[Case], rounds: int, results: list[RunResult]) -> None:
    """Every case once per round, alternating, each result appended to ``results`` and printed."""
    width = max(len(case.name) for case in cases)
    for rnd in range(1, rounds + 1):
        for case in cases:
            res = bench.run(case, rnd)
            results.append(res)
            print(
                f"round {rnd} {case.name:{width}s} requests={res.requests:>8,} failures={res.failures} "
                f"cpu={res.cpu_s:5.2f}s whole={fmt(res.per_cpu):>7} req/CPU-s "
                f"steady={fmt(res.steady_per_cpu):>7} req/CPU-s"
                + (f"  ERROR: {res.error}" if res.error else ""),
                file=sys.stderr,
                flush=True,
            )


def add_common_options(parser: argparse.ArgumentParser, rounds_help: str) -> None:
    """The options every side-by-side benchmark here takes."""
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help=rounds_help)
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument(
        "--target",
        choices=("auto", "nginx", "builtin"),
        default="auto",
        help="nginx (nginx-light), tswarm's built-in target, or auto: nginx when installed",
    )
    parser.add_argument(
        "--locust-python",
        help="Python of an environment with locust installed "
        f"(default: {DEFAULT_LOCUST_VENV.relative_to(HERE.parent)}, created when missing)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin generators and server to separate cores"
    )
    parser.add_argument("--out", help="write the results as JSON to this file")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary folder (logs, outputs)")


def prepare(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> tuple[argparse.Namespace, set[int] | None, set[int] | None]:
    """Parse and check the options, make SIGTERM/SIGHUP end the run like Ctrl-C, find (or create) Locust;
    returns the options and the CPUs of the generators and of the server (None: not pinned)."""
    args = parser.parse_args(argv)
    if args.duration < 2 * (WARMUP_S + TAIL_S):
        parser.error(f"--duration must be at least {int(2 * (WARMUP_S + TAIL_S))}")

    # A SIGTERM/SIGHUP ends the benchmark like Ctrl-C: through the finally blocks that stop our children.
    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    args.locust_python = ensure_locust(args)
    cpus = sorted(os.sched_getaffinity(0))
    if not args.no_pin and len(cpus) >= 2:
        return args, {cpus[0]}, set(cpus[1:])
    return args, None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_options(parser, "rounds; each runs every contender once (default 3)")
    parser.add_argument(
        "--no-locust-http", action="store_true", help="skip Locust's HttpUser (python-requests)"
    )
    args, gen_cpus, srv_cpus = prepare(parser, argv)

    cases = [
        Case("tswarm-fast", "tswarm", "FastHttpUser"),
        Case("locust-fast", "locust", "FastHttpUser"),
        Case("tswarm-http", "tswarm", "HttpUser"),
    ]
    if not args.no_locust_http:
        cases.append(Case("locust-http", "locust", "HttpUser"))
    cases.append(Case("bare", "bare", "-"))

    tmp = Path(tempfile.mkdtemp(prefix="tswarm-http-bench-"))
    target: Target | None = None
    results: list[RunResult] = []
    try:
        target = start_target(args.target, tmp, srv_cpus)
        if srv_cpus:  # keep our own polling off the generator's core
            os.sched_setaffinity(0, srv_cpus)
        meta = describe_run(args, target, gen_cpus, srv_cpus)
        print("  ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
        run_rounds(Bench(args, target, tmp, gen_cpus), cases, args.rounds, results)
    except KeyboardInterrupt:
        print("interrupted: stopping", file=sys.stderr)
        return 130
    finally:
        if target is not None:
            target.stop()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    summary = summarize(cases, results)
    print()
    print(
        f"{'generator':<13}{'req/s':>9}{'CPU':>6}{'req/CPU-s':>11}{'(min-max)':>17}{'whole-run':>11}{'sys':>5}{'fails':>7}"
    )
    for case in cases:
        s = summary[case.name]
        mm = s["steady_min_max"]
        print(
            f"{case.name:<13}{fmt(s['rps']):>9}{fmt(s['cpu_util'] and s['cpu_util'] * 100, '.0f') + '%':>6}"
            f"{fmt(s['steady_per_cpu']):>11}{(f'{mm[0]:,.0f}-{mm[1]:,.0f}' if mm else '-'):>17}"
            f"{fmt(s['whole_per_cpu']):>11}{fmt(s['sys_share'] and s['sys_share'] * 100, '.0f') + '%':>5}"
            f"{s['failures']:>7}"
        )
    ratios = {}
    for label, a, b in (
        ("tswarm/locust FastHttpUser", "tswarm-fast", "locust-fast"),
        ("tswarm/locust HttpUser", "tswarm-http", "locust-http"),
        ("tswarm FastHttpUser/bare", "tswarm-fast", "bare"),
        ("tswarm HttpUser/bare", "tswarm-http", "bare"),
    ):
        ratios[label] = {
            "steady": ratio(summary, a, b, "steady_per_cpu"),
            "whole": ratio(summary, a, b, "whole_per_cpu"),
        }
        r = ratios[label]
        if r["steady"] or r["whole"]:
            print(f"{label:<28} {fmt(r['steady'], '.2f')}x steady, {fmt(r['whole'], '.2f')}x whole-run")
    print(
        f"(req/CPU-s: median over {args.rounds} rounds of requests the server counted / generator CPU, "
        f"{WARMUP_S:.0f}s after the load starts to {TAIL_S:.0f}s before it ends; whole-run: requests the "
        "tool reported / CPU of the whole process incl. start-up; sys: kernel share of that CPU)"
    )
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "meta": meta,
                    "summary": summary,
                    "ratios": ratios,
                    "runs": [
                        asdict(r) | {"per_cpu": r.per_cpu, "steady_per_cpu": r.steady_per_cpu}
                        for r in results
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    failed = [r for r in results if r.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
