"""Regenerate screenshots/report.png: the HTML report of a REAL demo run, rendered by headless chromium.

Runs ``tswarm demo --headless`` (bounded by -t, against its built-in target on 127.0.0.1) with --html
into a temporary folder, then takes a screenshot of the page with Debian's chromium.

    apt-get install -y chromium
    python screenshots/make_report_screenshot.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "report.png"
#: the browser's window: wide enough for the tables, tall enough for the whole page
WINDOW = "1280,2500"


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium: apt-get install -y chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        run = [sys.executable, "-m", "tswarm", "demo", "--headless", "--only-summary"]
        run += ["-u", "20", "-r", "2", "-t", "20s", "--html", str(page)]
        subprocess.run(run, check=False, timeout=120, stdin=subprocess.DEVNULL)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
        flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
        flags += [f"--user-data-dir={tmp}/profile", f"--window-size={WINDOW}", "--hide-scrollbars"]
        subprocess.run(
            [browser, *flags, f"--screenshot={OUT}", page.as_uri()],
            check=True,
            timeout=120,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
