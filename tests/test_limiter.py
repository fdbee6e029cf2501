"""The per-credential limiter, on a virtual clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insider_wa_async._limiter import (
    CredentialLimiter,
    SlidingWindowLimiter,
    limiter_for,
)

from .virtual_clock import run_virtual


def max_in_window(times: list[float], window: float) -> int:
    """Return the most grant times that fit in any half-open window."""
    times = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def grant_times(
    limiter: CredentialLimiter, calls: int, tasks: int
) -> list[float]:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    queue = list(range(calls))

    async def worker() -> None:
        while queue:
            queue.pop()
            await limiter.acquire()
            times.append(loop.time())

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return times


def test_no_second_holds_more_than_the_rate() -> None:
    """Saturating callers never get more than `rate` grants in any 1 s window."""
    times = run_virtual(grant_times(CredentialLimiter(100), 1000, 300))
    assert len(times) == 1000
    assert max_in_window(times, 1.0) <= 100


def test_guard_leaves_the_margin_free() -> None:
    """Even a window of 1 s plus the margin holds at most `rate` grants."""
    limiter = CredentialLimiter(100, margin=0.005)
    times = run_virtual(grant_times(limiter, 600, 50))
    assert max_in_window(times, 1.005) <= 100


def test_pace_uses_the_allowance() -> None:
    """2,000 saturating calls at rate 100 take at most 1/0.99 of 20 s."""
    times = run_virtual(grant_times(CredentialLimiter(100), 2000, 300))
    elapsed = max(times) - min(times)
    achieved = (len(times) - 1) / elapsed
    assert achieved >= 0.985 * 100
    assert achieved <= 100


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from([5.0, 10.0, 37.5, 100.0, 250.0]),
    tasks=st.integers(min_value=1, max_value=64),
)
def test_guarantee_for_any_rate(rate: float, tasks: int) -> None:
    """For any rate and concurrency, no 1 s window exceeds floor(rate) grants."""
    calls = int(rate * 3) + 5
    times = run_virtual(grant_times(CredentialLimiter(rate), calls, tasks))
    assert max_in_window(times, 1.0) <= int(rate)


def test_sliding_window_reserves_distinct_places() -> None:
    """Each caller waits for the one `limit` places before it, none shared."""
    window = SlidingWindowLimiter(3, 10.0)
    taken = [window.reserve(float(i)) for i in range(7)]
    permits = [permit for permit, _ in taken]
    aheads = [ahead for _, ahead in taken]
    assert aheads[:3] == [None, None, None]
    assert aheads[3:] == permits[:4]


def test_a_late_send_pushes_back_the_request_a_window_later() -> None:
    """A request that left late delays the one `limit` places after it."""

    async def scenario() -> list[float]:
        window = SlidingWindowLimiter(2, 1.0)
        loop = asyncio.get_running_loop()
        first = await window.acquire()
        await window.acquire()
        granted_at = loop.time()
        first.sent(granted_at + 0.3)  # its headers left 300 ms after the grant
        third = await window.acquire()
        return [granted_at, third.at]

    granted_at, third_at = run_virtual(scenario())
    assert third_at >= granted_at + 1.3


def test_reported_send_times_keep_the_server_side_guarantee() -> None:
    """With random send delays reported, sends never exceed the rate per second."""

    async def scenario() -> list[float]:
        limiter = CredentialLimiter(50)
        loop = asyncio.get_running_loop()
        sends: list[float] = []
        delays = iter([0.0, 0.12, 0.003, 0.05, 0.2, 0.0, 0.01] * 100)

        async def one() -> None:
            permit = await limiter.acquire()
            await asyncio.sleep(next(delays))
            permit.sent(loop.time())
            sends.append(loop.time())

        await asyncio.gather(*(one() for _ in range(400)))
        return sends

    sends = run_virtual(scenario())
    assert max_in_window(sends, 1.0) <= 50


def test_cancelled_waiter_does_not_break_the_guarantee() -> None:
    """A caller cancelled while waiting leaves no extra grant behind."""

    async def scenario() -> list[float]:
        limiter = CredentialLimiter(10)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            times.append(loop.time())

        tasks = [asyncio.ensure_future(one()) for _ in range(40)]
        await asyncio.sleep(0.5)
        for task in tasks[20:30]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return times

    times = run_virtual(scenario())
    assert len(times) == 30
    assert max_in_window(times, 1.0) <= 10


async def test_one_limiter_per_credential_and_loop() -> None:
    """Clients of one credential on one loop share a limiter; others do not."""
    first = limiter_for("key-a", 100.0)
    assert limiter_for("key-a", 100.0) is first
    assert limiter_for("key-b", 100.0) is not first
    with pytest.raises(ValueError, match="same rate_limit"):
        limiter_for("key-a", 50.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"rate": 10, "headroom": 0}, "headroom"),
        ({"rate": 10, "burst": 0.5}, "burst"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Nonsense limiter settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=message):
        CredentialLimiter(**kwargs)  # type: ignore[arg-type]
