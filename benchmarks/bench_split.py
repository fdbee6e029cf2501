"""Measure a ten-year query, split into yearly pieces, against one yearly request.

What is measured: the wall time of ``overall_statistics`` over ten years
(2016-01-01 .. 2025-12-31, 3,653 days: the client splits it into 11 pieces of
at most 365 days, fetches them concurrently through the default limiter at
100 requests/s, and merges them), against a sandbox that adds 200 ms of
latency to every request and refuses spans over a year (``latency=0.2``,
``year_limit=True``). The sandbox runs in a child process (``multiprocessing``).

Against what: one request for one year (2025-01-01 .. 2025-12-31) through the
same client, interleaved round by round. Target: the ten-year call takes at
most 1.3x the one-year call, which holds only if the pieces really run in
parallel (one after the other would be about 11x). The limiter's spacing
(the 11 pieces leave over ~0.1 s at 100/s) is part of what is measured. Prints
a table and writes ``benchmarks/results/split.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    ServerProcess,
    paired_ratio,
    print_table,
    row,
    sandbox_child,
    write_results,
)
from insider_wa_async import InsiderWAClient, split_range

TARGET = 1.3
LATENCY = 0.2
TEN_YEARS = (date(2016, 1, 1), date(2025, 12, 31))
ONE_YEAR = (date(2025, 1, 1), date(2025, 12, 31))


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    """Time both calls once per round (order alternating); seconds."""
    times: dict[str, list[float]] = {"one year": [], "ten years": []}
    spans = {"one year": ONE_YEAR, "ten years": TEN_YEARS}
    async with InsiderWAClient(token="sandbox-token", base_url=url) as client:
        for span in spans.values():  # warm the sandbox's report cache
            await client.overall_statistics(*span)
        for index in range(rounds):
            names = list(spans) if index % 2 == 0 else list(spans)[::-1]
            for name in names:
                await asyncio.sleep(0.3)  # let the limiter's bucket refill
                started = time.perf_counter()
                await client.overall_statistics(*spans[name])
                times[name].append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(argv)

    options_ = {"rate_limit": 100, "year_limit": True, "latency": LATENCY}
    with ServerProcess(sandbox_child, options_) as server:
        times = asyncio.run(measure(server.url, options.rounds))
        stats = server.ask("stats")
    start = int(time.mktime(TEN_YEARS[0].timetuple()))
    pieces = len(split_range(start, start + 3_653 * 86_400 - 1))
    ratio = paired_ratio(times["ten years"], times["one year"])
    rows = [
        row("one year, 1 request (reference)", times["one year"]),
        row(
            f"ten years, {pieces} pieces",
            times["ten years"],
            ratio=ratio,
            target=f"<= {TARGET}x",
        ),
    ]
    print_table(
        f"splitting, sandbox latency {LATENCY * 1000:.0f} ms, {options.rounds} "
        f"rounds, 429 seen by the sandbox: {stats['refused_429']}",
        rows,
    )
    passed = write_results("split", {"split": rows}, rounds=options.rounds)
    return 0 if passed and stats["refused_429"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
