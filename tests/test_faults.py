"""Whole calls under faults: deadlines, failing pieces, cancellation, misuse."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timezone

import pytest

from insider_wa_async import (
    ClientStateError,
    InsiderWAClient,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TransportError,
    split_range,
)
from insider_wa_async.sandbox import FaultPlan, Sandbox

from .conftest import (
    DAY,
    MAR_1_2025,
    as_json,
    client_for,
    connections_in_use,
    truth_of,
)
from .virtual_clock import run_virtual

JAN_1_2021 = 1_609_459_200
THREE_YEARS = (JAN_1_2021, JAN_1_2021 + 3 * 365 * DAY - 1)
HANGING = FaultPlan(sequence=("timeout",) * 20, timeout=60.0)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def client_tasks() -> list[asyncio.Task[object]]:
    """Return the running tasks whose coroutine is the client's own code."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "insider_wa_async" in code.co_filename:
            found.append(task)
    return found


async def test_a_failed_piece_fails_the_call_and_names_its_range() -> None:
    """One piece failing for good raises at once, naming that piece's range."""
    pieces = split_range(*THREE_YEARS)
    assert len(pieces) == 3
    plan = FaultPlan(sequence=("timeout", "timeout", "500"), timeout=60.0)
    async with Sandbox(faults=plan) as sb, client_for(sb, max_retries=0) as client:
        started = time.perf_counter()
        with pytest.raises(ServerError) as caught:
            await client.overall_statistics(*THREE_YEARS)
        assert time.perf_counter() - started < 1.5
        assert connections_in_use(client) == 0
        assert not client_tasks()
    error = caught.value
    assert error.time_range in pieces
    start, end = error.time_range
    assert f"range {_iso(start)}..{_iso(end)}" in str(error)


async def test_split_calls_survive_faults_in_every_piece() -> None:
    """Each piece retries on its own, and the merged answer is still true."""
    plan = FaultPlan(sequence=("html_502", "reset", "truncate", "empty_503"))
    async with Sandbox(faults=plan) as sb, client_for(sb, max_retries=3) as client:
        result = await client.overall_statistics(*THREE_YEARS)
        assert as_json(result) == truth_of(sb, *THREE_YEARS)
        assert sum(sb.stats.faults.values()) == 4


async def test_the_deadline_bounds_attempts_times_timeouts() -> None:
    """Ten 0.3 s attempts never stretch a call past its 0.8 s deadline."""
    async with Sandbox(faults=HANGING) as sb:
        client = client_for(sb, timeout=0.3, max_retries=10, deadline=0.8)
        async with client:
            started = time.perf_counter()
            with pytest.raises(RequestTimeoutError) as caught:
                await client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
            elapsed = time.perf_counter() - started
            assert connections_in_use(client) == 0
    assert 0.7 <= elapsed < 1.2
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, TransportError)
    assert "deadline" in str(caught.value)


async def test_no_backoff_waits_past_the_deadline() -> None:
    """A Retry-After longer than the time left raises the last error at once."""
    plan = FaultPlan(sequence=("429_retry_after",), retry_after="5")
    policy = RetryPolicy(retry_after_cap=60.0)
    sandbox = Sandbox(faults=plan)
    async with sandbox as sb, client_for(sb, retry=policy, deadline=1.0) as client:
        started = time.perf_counter()
        with pytest.raises(RateLimitError):
            await client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
        assert time.perf_counter() - started < 0.5


def test_the_deadline_fires_on_time_on_a_virtual_clock() -> None:
    """A call stuck for 100 s ends as RequestTimeoutError exactly at its deadline."""

    async def scenario() -> float:
        client = client_for_offline(deadline=30.0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RequestTimeoutError):
            await client._within_deadline(asyncio.sleep(100.0))
        return loop.time() - began

    assert run_virtual(scenario()) == pytest.approx(30.0, abs=0.01)


def client_for_offline(deadline: float) -> InsiderWAClient:
    """Build an unopened client aimed at nothing; only pure logic is used."""
    return InsiderWAClient(token="offline-token", deadline=deadline)


async def test_cancelling_a_call_cancels_its_pieces_and_leaks_nothing() -> None:
    """A cancelled split call leaves no task of its own and no busy connection."""
    async with Sandbox(faults=HANGING) as sb, client_for(sb, timeout=30.0) as client:
        call = asyncio.create_task(client.overall_statistics(*THREE_YEARS))
        await asyncio.sleep(0.3)
        assert sb.stats.faults["timeout"] == 3
        assert connections_in_use(client) == 3
        # The call and its three pieces (and wait_for's own task on 3.10).
        assert len(client_tasks()) == (4 if sys.version_info >= (3, 11) else 5)
        call.cancel()
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert time.perf_counter() - started < 0.2
        await asyncio.sleep(0)
        assert connections_in_use(client) == 0
        assert not client_tasks()


async def test_cancelling_during_backoff_is_prompt() -> None:
    """A call cancelled while it waits out a Retry-After stops at once."""
    plan = FaultPlan(sequence=("429_retry_after",), retry_after="30")
    policy = RetryPolicy(retry_after_cap=60.0)
    async with Sandbox(faults=plan) as sb, client_for(sb, retry=policy) as client:
        call = asyncio.create_task(
            client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
        )
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert connections_in_use(client) == 0


async def test_a_deadline_cancels_every_piece() -> None:
    """When the deadline ends a split call, none of its requests stays open."""
    sandbox = Sandbox(faults=HANGING)
    async with sandbox as sb, client_for(sb, timeout=30.0, deadline=0.3) as client:
        with pytest.raises(RequestTimeoutError):
            await client.overall_statistics(*THREE_YEARS)
        assert connections_in_use(client) == 0


async def test_misused_clients_raise_client_state_error(sandbox: Sandbox) -> None:
    """Unopened, closed, reopened and foreign-loop clients are refused."""
    client = client_for(sandbox)
    with pytest.raises(ClientStateError):
        await client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
    async with client:
        with pytest.raises(ClientStateError):
            await client.open()
        coro = client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
        with pytest.raises(ClientStateError, match="another event loop"):
            await asyncio.to_thread(asyncio.run, coro)
    with pytest.raises(ClientStateError):
        await client.overall_statistics(MAR_1_2025, MAR_1_2025 + DAY)
    assert sandbox.stats.requests == 0
    assert isinstance(ClientStateError("x"), RuntimeError)
