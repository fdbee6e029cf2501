"""Measure the Redis-backed limiter against the in-process one and the allowance.

What is measured, and against what:

1. The cost of one ``acquire()`` when no waiting is needed (a rate so high
   that every slot is due at once): ``RedisLimiter`` (one Lua round trip to a
   redis-server on loopback) against ``CredentialLimiter`` (in-process), and
   a bare ``PING`` round trip for reference. Median and p99, in microseconds,
   over sequential acquires.
2. The rate a group of worker processes achieves when they share one
   credential through Redis against the embedded sandbox enforcing 100
   requests per sliding second: requests accepted, 429s, the most accepted
   in any sliding second, and the achieved rate as a share of the allowance.

Everything runs on loopback: the script starts its own redis-server (it
must be installed) and sandbox, and stops both. Results are printed as a
table and written to ``benchmarks/results/redis_limiter.json``.

Run from the repository root::

    python benchmarks/bench_redis_limiter.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as redis_asyncio  # noqa: E402

from insider_wa_async._limiter import CredentialLimiter  # noqa: E402
from insider_wa_async._redis_limiter import RedisLimiter  # noqa: E402
from insider_wa_async.sandbox import Sandbox  # noqa: E402
from tests.redis_server import RedisServer, run_workers, worker_command  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "redis_limiter.json"
FAST_RATE = 1e6  # requests per second: no acquire ever has to wait


def summarize(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
        "samples": len(ordered),
    }


async def time_calls(call: Any, count: int) -> list[float]:
    """Await ``call()`` ``count`` times in a row; return each duration in us."""
    for _ in range(min(100, count)):
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def acquire_costs(url: str, count: int) -> dict[str, Any]:
    in_process = CredentialLimiter(FAST_RATE)
    local = await time_calls(in_process.acquire, count)
    async with RedisLimiter(
        url, key=uuid.uuid4().hex, rate=FAST_RATE, prefix="bench:"
    ) as shared:
        await shared.check()
        remote = await time_calls(shared.acquire, count)
    client = redis_asyncio.Redis.from_url(url)
    try:
        ping = await time_calls(client.ping, count)
    finally:
        await client.aclose()
    return {
        "CredentialLimiter.acquire": summarize(local),
        "RedisLimiter.acquire": summarize(remote),
        "redis PING round trip": summarize(ping),
    }


async def group_rate(
    url: str, processes: int, calls: int, timeout: float
) -> dict[str, Any]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    async with Sandbox(rate_limit=100) as sandbox:
        start_at = time.time() + 2.0
        commands = [
            worker_command(
                base_url=sandbox.url,
                redis_url=url,
                prefix=prefix,
                calls=calls,
                start_at=start_at,
                token=Sandbox.token,
            )
            for _ in range(processes)
        ]
        reports = await run_workers(commands, timeout)
    key = sandbox.credential_key("token", Sandbox.token)
    times = sandbox.stats.accepted_times.get(key, [])
    span = max(times) - min(times) if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span
    errors: dict[str, int] = {}
    for report in reports:
        for result in report["results"]:
            for name, number in result["errors"].items():
                errors[name] = errors.get(name, 0) + number
    return {
        "processes": processes,
        "calls_per_process": calls,
        "allowance_per_s": 100,
        "accepted": sandbox.stats.accepted[key],
        "refused_429": sum(sandbox.stats.refused_429.values()),
        "client_errors": errors,
        "max_in_any_second": sandbox.stats.max_in_window(key, 1.0),
        "achieved_per_s": round(achieved, 2),
        "share_of_allowance": round(achieved / 100, 4),
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"{'acquire cost':<28}{'median us':>12}{'p99 us':>12}")
    for name, row in results["acquire"].items():
        print(f"{name:<28}{row['median_us']:>12}{row['p99_us']:>12}")
    group = results["group"]
    print()
    print(
        f"group of {group['processes']} processes x "
        f"{group['calls_per_process']} calls, allowance 100/s:"
    )
    for name in (
        "accepted",
        "refused_429",
        "max_in_any_second",
        "achieved_per_s",
        "share_of_allowance",
    ):
        print(f"  {name:<24}{group[name]}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = RedisServer()
    server.start()
    try:
        acquire = await acquire_costs(server.url, args.acquires)
        group = await group_rate(server.url, args.processes, args.calls, args.timeout)
    finally:
        server.close()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "acquire": acquire,
        "group": group,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquires", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--timeout", type=float, default=60.0)
    arguments = parser.parse_args()
    results = asyncio.run(asyncio.wait_for(main(arguments), 180))
    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
