"""Soak the client: thousands of calls through one client while a fifth are faulted.

What is measured: one ``InsiderWAClient`` runs ``--calls`` short-range calls
(random 1-10 day ranges from 2019 to 2026, random small filters) with
``--concurrency`` in flight against the embedded sandbox, which faults each
request with ``--probability`` (transient kinds only: 5xx with JSON, HTML or
empty bodies, 429 with and without ``Retry-After``, resets, cut bodies, extra
latency). Every answer is compared with the sandbox's own truth for the same
request.

Against what: zero wrong answers (an answer that differs from the truth, or an
exception outside the package's errors); typed errors allowed only where every
attempt of a call was faulted; no client task or busy connection left at the
end; resident memory flat (growth reported after a warm-up). The run stops by
itself after ``--calls`` calls or ``--seconds`` seconds, whichever comes first.

Prints a table and the same figures as JSON. ``tests/test_soak.py`` runs the
short form of this same driver.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from insider_wa_async import (  # noqa: E402 - after sys.path
    CampaignFilter,
    InsiderWAClient,
    InsiderWAError,
    RetryPolicy,
)
from insider_wa_async.sandbox import TRANSIENT_KINDS, FaultPlan, Sandbox  # noqa: E402

DAY = 86_400
FIRST_DAY = 17_897  # 2019-01-01, in days since the epoch
LAST_DAY = 20_808  # ten days before 2026-12-31
STATUSES = ("active", "test", "passive", "completed", "failed", "scheduled", "stop")
TAGS = (1, 2, 3, 4, 5, 7, 9, "promo", "vip", "welcome", "survey", "loyalty")
PHONES = ("+905321000101", "+905321000202", "+905321000303", "+905321000404")
WARM_UP = 200


def rss_bytes() -> int:
    """Return this process's resident set size, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def random_filter(rng: random.Random) -> CampaignFilter | None:
    """Draw a small campaign filter, or none."""
    if rng.random() < 0.3:
        return None
    fields: dict[str, Any] = {}
    if rng.random() < 0.4:
        fields["statuses"] = rng.sample(STATUSES, rng.randint(1, 3))
    if rng.random() < 0.4:
        fields["campaign_type_ids"] = rng.sample([1, 2, 3, 5, 6], rng.randint(1, 2))
    if rng.random() < 0.3:
        fields["tags"] = rng.sample(TAGS, rng.randint(1, 3))
    if rng.random() < 0.3:
        fields["accounts"] = rng.sample(PHONES, rng.randint(1, 2))
    if rng.random() < 0.2:
        fields["show_architect"] = True
    return CampaignFilter(**fields)


def random_range(rng: random.Random) -> tuple[int, int]:
    """Draw a range of 1 to 10 days, starting at any second of a day."""
    start = rng.randint(FIRST_DAY, LAST_DAY) * DAY + rng.randrange(DAY)
    return start, start + rng.randint(1, 10 * DAY)


def sorted_details(data: dict[str, Any]) -> dict[str, Any]:
    """Sort ``details`` by campaign id, whose order carries no meaning."""
    data["details"] = sorted(data.get("details", []), key=lambda d: d["id"])
    return data


def client_tasks() -> int:
    """Count running tasks whose coroutine is the client's own code."""
    found = 0
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        name = "" if code is None else code.co_filename
        found += "insider_wa_async" in name and "sandbox" not in name
    return found


class RetryCount(logging.Handler):
    """Count the retry WARNING lines of the client, instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one retry."""
        self.count += 1


class Tally:
    """What the calls ended in."""

    def __init__(self) -> None:
        self.calls = 0
        self.right = 0
        self.wrong = 0
        self.typed: Counter[str] = Counter()
        self.rss_start = 0


async def one_call(
    client: InsiderWAClient, sb: Sandbox, rng: random.Random, tally: Tally
) -> None:
    """Make one random call and score it against the sandbox's truth."""
    start, end = random_range(rng)
    flt = random_filter(rng)
    try:
        result = await client.overall_statistics(start, end, campaign_filter=flt)
    except InsiderWAError as exc:
        tally.typed[type(exc).__name__] += 1
        return
    except Exception:  # anything else is a wrong answer
        tally.wrong += 1
        return
    got = sorted_details(msgspec.to_builtins(result))
    want = sorted_details(sb.truth(start, end, msgspec.to_builtins(flt)))
    if got == want:
        tally.right += 1
    else:
        tally.wrong += 1


async def drive(
    client: InsiderWAClient,
    sb: Sandbox,
    *,
    calls: int,
    seconds: float,
    concurrency: int,
    seed: int,
) -> Tally:
    """Run up to ``calls`` calls, ``concurrency`` at a time, for at most ``seconds``."""
    rng = random.Random(seed)
    tally = Tally()
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        while tally.calls < calls and time.monotonic() < stop_at:
            tally.calls += 1
            if tally.calls == WARM_UP:
                gc.collect()
                tally.rss_start = rss_bytes()
            await one_call(client, sb, rng, tally)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def soak(
    *,
    calls: int = 2_000,
    seconds: float = 30.0,
    probability: float = 0.2,
    concurrency: int = 64,
    rate: float = 5_000.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Run the soak and return its figures."""
    plan = FaultPlan(
        probability=probability,
        kinds=TRANSIENT_KINDS,
        seed=seed,
        retry_after="0",
        latency=0.01,
    )
    policy = RetryPolicy(
        max_retries=6, backoff_base=0.002, backoff_cap=0.02, retry_after_cap=0.05
    )
    began = time.perf_counter()
    retries = RetryCount()
    http_log = logging.getLogger("insider_wa_async.http")
    http_log.addHandler(retries)
    http_log.propagate = False
    try:
        figures = await _run(plan, policy, calls, seconds, concurrency, rate, seed)
    finally:
        http_log.removeHandler(retries)
        http_log.propagate = True
    figures["retries_logged"] = retries.count
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return figures


async def _run(
    plan: FaultPlan,
    policy: RetryPolicy,
    calls: int,
    seconds: float,
    concurrency: int,
    rate: float,
    seed: int,
) -> dict[str, Any]:
    async with Sandbox(rate_limit=rate, faults=plan) as sb:
        client = InsiderWAClient(
            token=sb.token,
            base_url=sb.url,
            rate_limit=rate,
            retry=policy,
            timeout=5.0,
            deadline=30.0,
        )
        async with client:
            tally = await drive(
                client,
                sb,
                calls=calls,
                seconds=seconds,
                concurrency=concurrency,
                seed=seed,
            )
            connector = client._session.connector if client._session else None
            busy = len(connector._acquired) if connector else -1
            leftover_tasks = client_tasks()
        gc.collect()
        rss_end = rss_bytes()
        faults = dict(sb.stats.faults)
        requests = sb.stats.requests
    return {
        "calls": tally.calls,
        "right": tally.right,
        "wrong": tally.wrong,
        "typed_errors": dict(tally.typed),
        "requests": requests,
        "faults_injected": sum(faults.values()),
        "faults_by_kind": faults,
        "connections_busy_at_end": busy,
        "client_tasks_left": leftover_tasks,
        "rss_start_mib": round(tally.rss_start / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
        "rss_growth_mib": round((rss_end - tally.rss_start) / 2**20, 1),
        "probability": plan.probability,
        "concurrency": concurrency,
    }


def print_table(figures: dict[str, Any]) -> None:
    """Print the figures as a two-column table."""
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Run the soak from the command line; exit 1 on any wrong answer or leak."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--probability", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    figures = asyncio.run(
        soak(
            calls=args.calls,
            seconds=args.seconds,
            probability=args.probability,
            concurrency=args.concurrency,
            seed=args.seed,
        )
    )
    print_table(figures)
    print(json.dumps(figures, sort_keys=True))
    clean = figures["connections_busy_at_end"] == 0 and not figures["client_tasks_left"]
    return 0 if figures["wrong"] == 0 and clean else 1


if __name__ == "__main__":
    sys.exit(main())
