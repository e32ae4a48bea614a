"""Container health check: exit 0 if a socket in this network namespace listens on TCP port PORT.

Usage: ``python listening.py PORT``. Copied into the image by deploy/Dockerfile; imports the standard
library only. It reads the kernel's socket tables instead of connecting, because a probe that
connects to the master's port and hangs up is a peer that never says hello: the master would count
and log it as a failed handshake every time the probe runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: the kernel's TCP socket tables (IPv4, IPv6); the second is absent where IPv6 is off
SOCKET_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
#: the state column's value for a listening socket (include/net/tcp_states.h)
TCP_LISTEN = "0A"


def listening_ports(tables: tuple[Path, ...] = SOCKET_TABLES) -> set[int]:
    """The TCP ports that a socket of this network namespace listens on."""
    ports: set[int] = set()
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]  # the first line names the columns
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def main(argv: list[str]) -> int:
    """Exit code 0 when the port in ``argv`` is listened on, 1 when not, 2 for a wrong command line."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python listening.py PORT", file=sys.stderr)
        return 2
    port = int(argv[0])
    if port in listening_ports():
        return 0
    print(f"nothing listens on TCP port {port} yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
