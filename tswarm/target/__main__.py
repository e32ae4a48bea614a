"""``python -m tswarm.target --host 127.0.0.1 --port 0``: run the target server until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys

from tswarm.target.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tswarm.target", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    args = parser.parse_args(argv)

    def announce(host: str, port: int) -> None:
        # the test fixtures and `tswarm demo` wait for exactly this line
        print(f"tswarm target listening on http://{host}:{port}", flush=True)

    try:
        serve(args.host, args.port, ready=announce)
    except OSError as e:  # the port is taken, or the address is not this machine's
        print(
            f"tswarm target: error: cannot listen on {args.host}:{args.port}: {e.strerror or e}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
