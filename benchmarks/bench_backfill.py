"""Measure a daily backfill of 2,920 days against the sandbox, at 100 requests/s.

What is measured: the wall time of ``insider-wa backfill`` (its ``main``, run
in this process: client start-up, 2,920 one-day requests, writing both tables,
fsyncs and checkpoint commits) for 2019-01-01 .. 2026-12-29, one window a day.

Against what: the floor that the rate limit sets, 2,920 requests / 100 per
second = 29.2 s; the target is at most 1.03 times that. The sandbox runs in a
separate process (``insider-wa sandbox``) on loopback, as a remote server
would, so that its work does not share this process's event loop.

Prints a table and writes ``benchmarks/results/backfill.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from insider_wa_async.cli import _backfill as command  # noqa: E402 - after sys.path

RESULTS = ROOT / "benchmarks" / "results" / "backfill.json"
DAYS = 2_920
RATE = 100.0
TARGET_RATIO = 1.03


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "insider_wa_async", "sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.startswith("sandbox listening on "):
            return process, line.split()[-1]
    process.kill()
    raise RuntimeError("the sandbox did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--format", choices=command.FORMATS, default="jsonl")
    options = parser.parse_args()

    sandbox, url = start_sandbox()
    try:
        with tempfile.TemporaryDirectory() as out:
            argv = ["-q", "--base-url", url, "--token", "sandbox-token"]
            argv += ["--start", "2019-01-01", "--end", "2026-12-29"]
            argv += ["--out", out, "--format", options.format]
            started = time.perf_counter()
            status = command.main(argv)
            elapsed = time.perf_counter() - started
            sizes = {p.name: p.stat().st_size for p in Path(out).glob("*.*")}
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    floor = DAYS / RATE
    result = {
        "benchmark": "backfill",
        "days": DAYS,
        "format": options.format,
        "exit_status": status,
        "elapsed_s": round(elapsed, 3),
        "floor_s": floor,
        "ratio": round(elapsed / floor, 4),
        "target_ratio": TARGET_RATIO,
        "passed": status == 0 and elapsed / floor <= TARGET_RATIO,
        "output_bytes": sizes,
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'days':>6} {'format':>7} {'elapsed':>9} {'floor':>7} {'ratio':>7}")
    print(
        f"{DAYS:>6} {options.format:>7} {elapsed:>8.2f}s {floor:>6.1f}s "
        f"{elapsed / floor:>7.4f}  {'PASS' if result['passed'] else 'FAIL'}"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
