"""Hosts of their own for the multi-host tests: Linux network namespaces joined by a bridge.

Each "host" is a network namespace with its own address on one veth pair, whose other end is a port of
a bridge in one more namespace (the switch). Nothing is added to the machine's own namespace, so a test
never touches its real interfaces, and every namespace starts empty (any port is free in it). Names
carry this process's pid and a counter, so that parallel runs never collide, and a :class:`Network`
removes only the namespaces it made. Cutting a host's link sets its switch port down, as a pulled
cable would. Each host also gets its own hostname (a UTS namespace per process), so that the workers'
node ids and the master's log say which host is which.

Needs Linux, root and iproute2 (``ip``); :func:`namespaces_unavailable` tells why not. Imports only the
standard library.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["Host", "HostProcess", "Network", "NetnsError", "namespaces_unavailable"]

#: the hosts' subnet: it exists only inside the namespaces a Network makes
SUBNET = "10.231.0"
#: every namespace a Network makes starts with this, then the pid and a counter
NAME_PREFIX = "tswarm-test"
#: an `ip` command that takes longer is taken for stuck
COMMAND_TIMEOUT = 15.0

_networks = itertools.count()

#: sets the hostname in the process's own UTS namespace, then runs the command (exec keeps the pid)
_WITH_HOSTNAME = 'hostname "$0" && exec "$@"'

#: reads a URL from inside a namespace and prints the body (the test process lives outside them)
_FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message holds the command and what it printed."""


def _ip(*args: str) -> None:
    try:
        result = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {e}") from None
    if result.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}")


class Host:
    """One namespace with one address: runs commands there, and can be cut off and reconnected."""

    def __init__(self, network: Network, name: str, namespace: str, number: int) -> None:
        self.network = network
        self.name = name
        self.namespace = namespace
        #: its IPv4 address on the bridge, and its interface's MAC address
        self.address = f"{SUBNET}.{number}"
        self.mac = f"02:74:73:00:00:{number:02x}"
        #: its port on the switch (the veth end in the switch's namespace)
        self.port = f"port{number}"

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` as a command line that runs on this host, under its own hostname (same pid)."""
        return [
            "ip",
            "netns",
            "exec",
            self.namespace,
            "unshare",
            "--uts",
            "sh",
            "-c",
            _WITH_HOSTNAME,
            self.name,
            *args,
        ]

    def fetch_json(self, url: str) -> object:
        """GET ``url`` from this host and decode the JSON it answers."""
        result = subprocess.run(
            self.command([sys.executable, "-c", _FETCH, url]),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise NetnsError(f"GET {url} from {self.name} failed: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def cut(self) -> None:
        """Set its switch port down: nothing goes in or out until :meth:`reconnect`."""
        _ip("-n", self.network.switch, "link", "set", self.port, "down")

    def reconnect(self) -> None:
        """Set its switch port up again."""
        _ip("-n", self.network.switch, "link", "set", self.port, "up")


class Network:
    """Hosts named ``names`` on one bridge, made on entering and removed on leaving (even on failure).

    The hosts get ``SUBNET.1``, ``SUBNET.2`` ... in the order of ``names`` (at most 254).
    """

    def __init__(self, names: Sequence[str]) -> None:
        base = f"{NAME_PREFIX}-{os.getpid()}-{next(_networks)}"
        self.switch = f"{base}-switch"
        self.hosts = {
            name: Host(self, name, f"{base}-{name}", number) for number, name in enumerate(names, start=1)
        }
        #: the namespaces this network made (and so removes)
        self._made: list[str] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Network:
        try:
            self._make()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def _add_namespace(self, namespace: str) -> None:
        _ip("netns", "add", namespace)
        self._made.append(namespace)
        _ip("-n", namespace, "link", "set", "lo", "up")

    def _make(self) -> None:
        self._add_namespace(self.switch)
        # no STP: a port forwards as soon as it is up, also after a cut
        _ip("-n", self.switch, "link", "add", "bridge0", "type", "bridge", "stp_state", "0")
        _ip("-n", self.switch, "link", "set", "bridge0", "up")
        for host in self.hosts.values():
            self._add_namespace(host.namespace)
            # made inside the switch's namespace, its peer moved to the host's at once: no name is ever
            # taken in the machine's own namespace
            _ip(
                *("-n", self.switch, "link", "add", host.port, "type", "veth"),
                *("peer", "name", "eth0", "address", host.mac, "netns", host.namespace),
            )
            _ip("-n", self.switch, "link", "set", host.port, "master", "bridge0")
            _ip("-n", self.switch, "link", "set", host.port, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
        # Static neighbours, as if every lookup had been answered for good: a host whose link comes back
        # reaches the others at once, instead of failing with "No route to host" until a lookup that
        # failed during the cut is tried again. These tests are about tswarm, not ARP's timers.
        for host in self.hosts.values():
            for other in self.hosts.values():
                if other is not host:
                    _ip(
                        *("-n", host.namespace, "neigh", "add", other.address),
                        *("lladdr", other.mac, "dev", "eth0", "nud", "permanent"),
                    )

    def remove(self) -> None:
        """Delete the namespaces this network made (their veths go with them); errors are collected."""
        errors = []
        while self._made:
            namespace = self._made.pop()
            try:
                _ip("netns", "del", namespace)
            except NetnsError as e:
                errors.append(str(e))
        if errors:
            raise NetnsError("; ".join(errors))


def namespaces_unavailable() -> str | None:
    """Why this machine cannot run the multi-host tests (None: it can). Makes and removes one host."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"no `{tool}` command (install {package})"
    try:
        with Network(["probe"]) as network:
            result = subprocess.run(
                network["probe"].command(["hostname"]),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
            if result.stdout.strip() != "probe":
                return f"cannot run a command in a network namespace: {result.stderr.strip()}"
    except NetnsError as e:
        return f"cannot make network namespaces here: {e}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run a command in a network namespace: {e}"
    return None


class HostProcess:
    """A process started on a host, whose output lines a thread collects, so that tests can wait on them."""

    def __init__(self, host: Host, args: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.host = host
        self.proc = subprocess.Popen(
            host.command(args),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def mark(self) -> int:
        """How many lines came so far: ``wait_for(..., after=mark)`` looks only at those to come."""
        return len(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0, after: int = 0) -> str:
        """The first output line from the ``after``-th on (seen so far or to come) for which
        ``predicate`` holds; fails after ``timeout`` seconds with the output so far."""
        deadline = time.monotonic() + timeout
        seen = after
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = max(seen, len(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        raise AssertionError(
            f"no matching line from {self.host.name} within {timeout}s; its output:\n{self.output[-4000:]}"
        )

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def interrupt(self) -> None:
        """Ctrl-C, as a user would stop it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """Kill it (by its pid) if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
