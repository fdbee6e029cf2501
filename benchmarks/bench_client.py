"""Measure the client's cost per request over HTTP, against hand-written loops.

What is measured: ``InsiderWAClient.overall_statistics`` (the product, with its
validation, limiter, auth headers, error mapping and decoding into the
Structs) making 64 concurrent calls to a minimal aiohttp server that answers
every POST with a fixed body of about 5 KB or 500 KB (generated like the decode
benchmark's). The rate limit is raised out of the way (``rate_limit=1e6``).
The server runs in its own process, so ``time.process_time()`` in this process
is the client's CPU alone: figures are requests per second (wall) and client CPU
per request.

Against what, in the same run with rounds interleaved and the same concurrency:
a raw aiohttp + msgspec loop (one session: post, read, decode into the same
Structs with a decoder built once); aiohttp + ``json.loads``; and
``httpx.AsyncClient`` + pydantic v2 models. Every candidate keeps its session
open across rounds (warm pools); each round sends enough requests for ~0.4 s.

Targets: at 5 KB, client CPU per request at most 1.25x the raw aiohttp loop's
and at least 10x the requests/s of httpx + pydantic; at 500 KB, at least 3x the
requests/s of aiohttp + ``json.loads``. Prints tables and writes
``benchmarks/results/client.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    FIRST_DAY,
    Row,
    ServerProcess,
    fixed_body_child,
    make_body,
    paired_ratio,
    print_table,
    row,
    write_results,
)
from benchmarks.bench_decode import POverallStatistics
from insider_wa_async import InsiderWAClient, OverallStatistics

PRODUCT = "product InsiderWAClient"
RAW = "raw aiohttp + msgspec"
JSON = "aiohttp + json.loads"
HTTPX = "httpx + pydantic v2"
CONCURRENCY = 64
TOKEN = "bench-token"
PATH = "/api/wa/v2/statistics/overall"
REQUEST = msgspec.json.encode({"start_time": FIRST_DAY, "end_time": FIRST_DAY + 9})
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
BODIES = {"5k": make_body(3, days=12), "500k": make_body(416)}

Call = Callable[[], Awaitable[Any]]


class Candidates:
    """The four ways to make one call, each with its own open session."""

    def __init__(self, base: str, size: str) -> None:
        self.url = f"{base}/{size}{PATH}"
        self.base = f"{base}/{size}"
        self._decode = msgspec.json.Decoder(OverallStatistics).decode

    async def __aenter__(self) -> dict[str, Call]:
        self.client = InsiderWAClient(token=TOKEN, base_url=self.base, rate_limit=1e6)
        await self.client.open()
        connector = aiohttp.TCPConnector(limit=100)
        self.session = aiohttp.ClientSession(connector=connector)
        self.httpx = httpx.AsyncClient()
        return {
            PRODUCT: self.product,
            RAW: self.raw,
            JSON: self.json,
            HTTPX: self.httpx_pydantic,
        }

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self.session.close()
        await self.httpx.aclose()

    async def product(self) -> Any:
        """Call through the SDK."""
        return await self.client.overall_statistics(FIRST_DAY, FIRST_DAY + 9)

    async def raw(self) -> Any:
        """Post, read and decode into the same Structs, by hand."""
        async with self.session.post(self.url, data=REQUEST, headers=HEADERS) as resp:
            return self._decode(await resp.read())

    async def json(self) -> Any:
        """Post, read and parse to dicts with the standard library."""
        async with self.session.post(self.url, data=REQUEST, headers=HEADERS) as resp:
            return json.loads(await resp.read())

    async def httpx_pydantic(self) -> Any:
        """Post with httpx and validate into pydantic models."""
        resp = await self.httpx.post(self.url, content=REQUEST, headers=HEADERS)
        return POverallStatistics.model_validate_json(resp.content)


async def burst(call: Call, count: int) -> tuple[float, float]:
    """Make ``count`` calls, 64 at a time; return (wall, client CPU) seconds."""
    remaining = [count]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(base: str, size: str, rounds: int) -> list[Row]:
    """Interleave the candidates on one body size; return the table's rows."""
    async with Candidates(base, size) as calls:
        counts = {}
        for name, call in calls.items():  # warm pools, then size each sample
            await burst(call, CONCURRENCY)
            wall, _ = await burst(call, 2 * CONCURRENCY)
            counts[name] = max(2 * CONCURRENCY, int(0.4 / wall * 2 * CONCURRENCY))
        rate: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                wall, used = await burst(calls[name], counts[name])
                rate[name].append(counts[name] / wall)
                cpu[name].append(used / counts[name])
    return _rows(size, rate, cpu)


def _rows(
    size: str, rate: dict[str, list[float]], cpu: dict[str, list[float]]
) -> list[Row]:
    mine_rate, mine_cpu = rate[PRODUCT], cpu[PRODUCT]
    rows = []
    for name in rate:
        target = ""
        if (size, name) in (("5k", HTTPX), ("500k", JSON)):
            target = ">= 10x" if size == "5k" else ">= 3x"
        ratio = paired_ratio(mine_rate, rate[name])
        rows.append(
            row(f"{name}: req/s", rate[name], "/s", scale=1, ratio=ratio, target=target)
        )
    for name in cpu:
        target = "<= 1.25x" if size == "5k" and name == RAW else ""
        ratio = paired_ratio(mine_cpu, cpu[name])
        rows.append(
            row(
                f"{name}: CPU/req",
                cpu[name],
                "us",
                scale=1e6,
                ratio=ratio,
                target=target,
            )
        )
    return rows


async def run(base: str, rounds: int) -> dict[str, list[Row]]:
    tables = {}
    for size, body in BODIES.items():
        rows = await measure(base, size, rounds)
        title = (
            f"client, {len(body) / 1000:.1f} KB bodies, {CONCURRENCY} "
            f"concurrent, {rounds} rounds (ratio: product / candidate)"
        )
        print_table(title, rows)
        tables[size] = rows
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    with ServerProcess(fixed_body_child, BODIES) as server:
        tables = asyncio.run(run(server.url, options.rounds))
    sizes = {name: len(body) for name, body in BODIES.items()}
    passed = write_results("client", tables, rounds=options.rounds, body_bytes=sizes)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
