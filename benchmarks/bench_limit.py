"""Measure the throughput the default limiter gets out of a strict server.

What is measured: ``InsiderWAClient.overall_statistics`` with the default
limiter (``rate_limit=100``; ``max_retries=0`` so that a refusal can never be
hidden by a retry) against the sandbox's strict limit of 100 accepted requests
per credential in any sliding second. The sandbox runs in a child process
(``multiprocessing``, the same ``Sandbox`` class the ``insider-wa sandbox``
command serves), so its work does not share the client's event loop, and it
reports its own counts: accepted requests, 429 refusals and the most
acceptances seen in any sliding second. Every scenario starts cold: a fresh
event loop (so a fresh limiter and fresh connections) and reset sandbox counts.

Scenarios, each repeated ``--runs`` times:

- one client: 2,000 one-day calls made by 400 concurrent callers;
- four clients sharing the credential (one process, so one shared limiter):
  2,000 calls, 100 concurrent callers per client;
- cold start: 300 calls at once, one credential.

Against what: the allowance itself, 100 requests/s. The achieved rate is
calls / (time of the last response - time the first call started), measured in
the client. Targets: at least 0.99 of the allowance in every run and zero 429
in every run; the cold start finishes within 3.2 s with zero 429. Prints a table
and writes ``benchmarks/results/limit.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    FIRST_DAY,
    Row,
    ServerProcess,
    print_table,
    row,
    sandbox_child,
    write_results,
)
from insider_wa_async import InsiderWAClient, RateLimitError

RATE = 100.0
CALLS = 2_000
CALLERS = 400
COLD_CALLS = 300
COLD_LIMIT_S = 3.2
RATE_TARGET = 0.99
TOKEN = "sandbox-token"


async def drive(url: str, clients: int, calls: int, callers: int) -> dict[str, Any]:
    """Make ``calls`` calls over ``clients`` clients; return times and failures."""
    opened = [
        InsiderWAClient(token=TOKEN, base_url=url, rate_limit=RATE, max_retries=0)
        for _ in range(clients)
    ]
    for client in opened:
        await client.open()
    remaining = [calls]
    refused = [0]

    async def caller(client: InsiderWAClient) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            try:
                await client.overall_statistics(FIRST_DAY, FIRST_DAY + 3600)
            except RateLimitError:
                refused[0] += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(
            *(caller(opened[i % clients]) for i in range(callers * clients))
        )
        elapsed = time.perf_counter() - started
    finally:
        for client in opened:
            await client.close()
    return {"elapsed": elapsed, "client_429": refused[0]}


def scenario(
    server: ServerProcess, clients: int, calls: int, callers: int
) -> dict[str, Any]:
    """Run one cold scenario and merge the client's and the server's counts."""
    server.ask("reset")
    time.sleep(1.1)  # nothing of the last run left in any window
    result = asyncio.run(drive(server.url, clients, calls, callers))
    result.update(server.ask("stats"))
    result["rate"] = calls / result["elapsed"]
    return result


def summarise(name: str, runs: list[dict[str, Any]], cold: bool) -> list[Row]:
    """Turn a scenario's runs into rows: rate or time, 429s, busiest second."""
    refusals = [float(r["refused_429"]) for r in runs]
    busiest = [float(r["max_in_window"]) for r in runs]
    if cold:
        times = [r["elapsed"] for r in runs]
        first = row(
            f"{name}: wall time",
            times,
            "s",
            scale=1,
            ratio=max(times),
            target=f"<= {COLD_LIMIT_S}s",
            ratio_unit="s",
        )
    else:
        rates = [r["rate"] for r in runs]
        first = row(
            f"{name}: achieved rate",
            rates,
            "/s",
            scale=1,
            ratio=min(rates) / RATE,
            target=f">= {RATE_TARGET}x",
            ratio_unit="x",
        )
        first.digits = 4
    return [
        first,
        row(
            f"{name}: 429 (server)",
            refusals,
            "",
            scale=1,
            ratio=max(refusals),
            target="<= 0",
            ratio_unit="",
        ),
        row(
            f"{name}: most in 1 s",
            busiest,
            "",
            scale=1,
            ratio=max(busiest),
            target=f"<= {RATE:.0f}",
            ratio_unit="",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=5)
    options = parser.parse_args(argv)

    plans = {
        f"1 client, {CALLS:,} calls, {CALLERS} callers": (1, CALLS, CALLERS, False),
        f"4 clients, {CALLS:,} calls, 4 x 100 callers": (4, CALLS, 100, False),
        f"cold start, {COLD_CALLS} calls at once": (1, COLD_CALLS, COLD_CALLS, True),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plans}
    with ServerProcess(sandbox_child, {"rate_limit": RATE}) as server:
        for index in range(max(options.runs, options.cold_runs)):
            for name, (clients, calls, callers, cold) in plans.items():
                if index < (options.cold_runs if cold else options.runs):
                    runs[name].append(scenario(server, clients, calls, callers))
                    print(f"  {name}: {_brief(runs[name][-1])}", flush=True)
    rows = [
        r
        for name, (*_, cold) in plans.items()
        for r in summarise(name, runs[name], cold)
    ]
    print_table(
        "at the limit: default limiter vs a strict 100/s server "
        "(rates: calls / (last response - first call))",
        rows,
    )
    passed = write_results("limit", {"limit": rows}, runs=runs)
    return 0 if passed else 1


def _brief(result: dict[str, Any]) -> str:
    return (
        f"{result['elapsed']:.3f} s, {result['rate']:.2f}/s, "
        f"429: {result['refused_429']}, most in 1 s: {result['max_in_window']}"
    )


if __name__ == "__main__":
    sys.exit(main())
