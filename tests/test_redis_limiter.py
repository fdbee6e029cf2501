"""The Redis-backed limiter, against a real redis-server on loopback."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insider_wa_async import InsiderWAClient
from insider_wa_async._errors import TransportError
from insider_wa_async._redis_limiter import (
    LimiterUnavailableError,
    RedisLimiter,
    redis_limiter_for,
)
from insider_wa_async.sandbox import Sandbox

from .redis_server import (
    RedisServer,
    own_redis,  # noqa: F401
    run_workers,
    shared_redis,  # noqa: F401
    worker_command,
)

LOGGER = "insider_wa_async.limiter"


def max_in_window(times: list[float], window: float) -> int:
    """Return the most of ``times`` that fit in any half-open window."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def fresh_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(
    shared_redis: RedisServer,  # noqa: F811
) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(shared_redis.url)
    yield client
    await client.aclose()


async def reserve_many(
    limiter: RedisLimiter, count: int, batch: int = 1
) -> list[float]:
    """Reserve ``count`` slots without sleeping; return their Redis times in s."""
    slots: list[int] = []
    while len(slots) < count:
        _, granted = await limiter._reserve_raw(min(batch, count - len(slots)))
        slots += granted
    return [slot / 1e6 for slot in slots]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rate=st.floats(min_value=1, max_value=400),
    headroom=st.floats(min_value=0.5, max_value=1.0),
    margin=st.sampled_from([0.0, 0.005, 0.01]),
    groups=st.integers(min_value=1, max_value=5),
    batch=st.integers(min_value=1, max_value=150),
)
async def test_script_never_puts_more_than_rate_slots_in_a_window(
    shared_redis: RedisServer,  # noqa: F811
    rate: float,
    headroom: float,
    margin: float,
    groups: int,
    batch: int,
) -> None:
    """Concurrent reservers never get more than floor(rate) slots per 1 s + margin."""
    key, prefix = uuid.uuid4().hex, fresh_prefix()
    per_group = max(3, int(rate * 1.5) // groups)
    limiters = [
        RedisLimiter(
            shared_redis.url,
            key=key,
            rate=rate,
            prefix=prefix,
            headroom=headroom,
            margin=margin,
        )
        for _ in range(groups)
    ]
    try:
        batches = await asyncio.gather(
            *(reserve_many(lim, per_group, batch) for lim in limiters)
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    slots = sorted(slot for batch in batches for slot in batch)
    assert max_in_window(slots, 1.0 + margin - 2e-6) <= max(1, int(rate))
    span = slots[-1] - slots[0]
    pace = (len(slots) - 1) / span
    assert pace >= 0.97 * min(headroom * rate, int(max(1, rate)) / (1 + margin))


async def test_concurrent_acquirers_keep_the_pace_and_the_window(
    shared_redis: RedisServer,  # noqa: F811
) -> None:
    """Tasks of three limiters sharing a key send at most rate per second, near it."""
    key, prefix, rate = uuid.uuid4().hex, fresh_prefix(), 300.0
    limiters = [
        RedisLimiter(shared_redis.url, key=key, rate=rate, prefix=prefix)
        for _ in range(3)
    ]
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def send(limiter: RedisLimiter) -> None:
        await limiter.acquire()
        sent.append(loop.time())

    try:
        await asyncio.wait_for(
            asyncio.gather(*(send(lim) for lim in limiters for _ in range(150))), 10
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    assert max_in_window(sent, 1.0) <= rate
    assert (len(sent) - 1) / (max(sent) - min(sent)) >= 0.97 * rate


async def test_key_is_prefixed_hashed_name_and_expires(
    shared_redis: RedisServer,  # noqa: F811
    redis_client: redis_asyncio.Redis,
) -> None:
    """The Redis key is prefix + key, holds at most floor(rate) slots and expires."""
    prefix = fresh_prefix()
    async with RedisLimiter(
        shared_redis.url, key="abc123", rate=5.5, prefix=prefix, margin=0.01
    ) as limiter:
        await reserve_many(limiter, 11)
        now, (last,) = await limiter._reserve_raw(1)
        delay = (last - now) / 1e6
    name = prefix + "abc123"
    assert await redis_client.llen(name) == 5
    ttl = await redis_client.pttl(name)
    assert delay * 1000 + 1000 < ttl <= delay * 1000 + 2011


async def test_idle_key_vanishes(
    shared_redis: RedisServer,  # noqa: F811
    redis_client: redis_asyncio.Redis,
) -> None:
    """A key left idle disappears about a second after its last slot."""
    prefix = fresh_prefix()
    async with RedisLimiter(shared_redis.url, key="k", prefix=prefix) as limiter:
        await limiter.acquire()
    await asyncio.sleep(2.2)
    assert await redis_client.exists(prefix + "k") == 0


async def test_caller_client_is_not_closed(
    shared_redis: RedisServer,  # noqa: F811
    redis_client: redis_asyncio.Redis,
) -> None:
    """A limiter given a client works through it and leaves it open on aclose."""
    limiter = RedisLimiter(redis_client, key="k", prefix=fresh_prefix())
    await limiter.acquire()
    await limiter.aclose()
    assert await redis_client.ping()


async def test_factory_checks_redis_and_loads_the_script(
    shared_redis: RedisServer,  # noqa: F811
    redis_client: redis_asyncio.Redis,
) -> None:
    """redis_limiter_for loads the script, so the first acquire is one EVALSHA."""
    await redis_client.script_flush()
    limiter = await redis_limiter_for(shared_redis.url, "k", 50.0)
    async with limiter:
        assert (await redis_client.script_exists(limiter._script.sha)) == [True]
        await limiter.acquire()


async def test_factory_fails_fast_on_a_dead_url() -> None:
    """redis_limiter_for raises the typed error promptly when nothing listens."""
    from .redis_server import free_port

    started = time.monotonic()
    with pytest.raises(LimiterUnavailableError) as caught:
        await asyncio.wait_for(
            redis_limiter_for(f"redis://127.0.0.1:{free_port()}", "k", 100.0), 5
        )
    assert time.monotonic() - started < 2.5
    assert isinstance(caught.value, TransportError)


@pytest.mark.parametrize(
    "options",
    [
        {"rate": 0},
        {"rate": float("inf")},
        {"headroom": 1.5},
        {"margin": -0.1},
        {"local_share": 0},
        {"timeout": 0},
        {"on_unavailable": "ignore"},
        {"key": ""},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    """Out-of-range options raise ValueError before any connection is made."""
    arguments: dict[str, object] = {"key": "k", **options}
    with pytest.raises(ValueError):  # noqa: PT011
        RedisLimiter("redis://127.0.0.1:1", **arguments)  # type: ignore[arg-type]


def test_missing_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py, the ImportError says which extra to install."""
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"insider-wa-async\[redis\]"):
        RedisLimiter("redis://127.0.0.1:1", key="k")


async def test_fail_mode_raises_promptly_when_redis_stops(
    own_redis: RedisServer,  # noqa: F811
) -> None:
    """With "fail", acquires raise LimiterUnavailableError within the timeout."""
    async with RedisLimiter(
        own_redis.url, key="k", prefix=fresh_prefix(), timeout=0.5
    ) as limiter:
        await limiter.acquire()
        own_redis.stop()
        started = time.monotonic()
        with pytest.raises(LimiterUnavailableError, match="unavailable"):
            await asyncio.wait_for(limiter.acquire(), 5)
        assert time.monotonic() - started < 1.5


async def test_fail_mode_does_not_hang_on_a_frozen_redis(
    own_redis: RedisServer,  # noqa: F811
) -> None:
    """A Redis that accepts but never answers still fails within the timeout."""
    async with RedisLimiter(
        own_redis.url, key="k", prefix=fresh_prefix(), timeout=0.3
    ) as limiter:
        await limiter.acquire()
        own_redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(LimiterUnavailableError):
                await asyncio.wait_for(limiter.acquire(), 5)
            assert time.monotonic() - started < 1.0
        finally:
            own_redis.resume()


async def test_local_mode_keeps_going_warns_once_and_returns(
    own_redis: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With "local", acquires continue at local_share, warn once, then use Redis."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with RedisLimiter(
        own_redis.url,
        key="k",
        prefix=fresh_prefix(),
        rate=100,
        on_unavailable="local",
        local_share=0.5,
        cooldown=0.3,
        timeout=0.3,
    ) as limiter:
        await limiter.acquire()
        own_redis.stop()
        started = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(limiter.acquire() for _ in range(40))), 5
        )
        assert limiter.using_local
        assert time.monotonic() - started >= 38 / 50 * 0.9
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert warnings[0].name == LOGGER

        own_redis.start()
        await asyncio.sleep(0.35)
        await asyncio.wait_for(limiter.acquire(), 5)
        assert not limiter.using_local


async def run_client_calls(client: InsiderWAClient, count: int) -> None:
    for _ in range(count):
        await client.overall_statistics(1735689600, 1735775999)


async def test_client_surfaces_the_typed_error_mid_run(
    own_redis: RedisServer,  # noqa: F811
) -> None:
    """A client paced by a "fail" limiter raises LimiterUnavailableError, no hang."""
    async with Sandbox(rate_limit=100) as sandbox:
        limiter = RedisLimiter(
            own_redis.url, key="k", prefix=fresh_prefix(), timeout=0.3
        )
        async with (
            limiter,
            InsiderWAClient(
                token=sandbox.token,
                base_url=sandbox.url,
                limiter=limiter,
                max_retries=1,
            ) as client,
        ):
            calls = asyncio.ensure_future(run_client_calls(client, 500))
            await asyncio.sleep(0.3)
            own_redis.stop()
            started = time.monotonic()
            with pytest.raises(LimiterUnavailableError):
                await asyncio.wait_for(calls, 10)
            assert time.monotonic() - started < 5
        assert sum(sandbox.stats.refused_429.values()) == 0


async def test_client_continues_locally_mid_run(
    own_redis: RedisServer,  # noqa: F811
) -> None:
    """A client paced by a "local" limiter finishes its calls when Redis stops."""
    async with Sandbox(rate_limit=100) as sandbox:
        limiter = RedisLimiter(
            own_redis.url, key="k", prefix=fresh_prefix(), on_unavailable="local"
        )
        async with (
            limiter,
            InsiderWAClient(
                token=sandbox.token,
                base_url=sandbox.url,
                limiter=limiter,
                max_retries=0,
            ) as client,
        ):
            calls = asyncio.ensure_future(run_client_calls(client, 40))
            await asyncio.sleep(0.2)
            own_redis.stop()
            await asyncio.wait_for(calls, 10)
        assert sum(sandbox.stats.accepted.values()) == 40
        assert sum(sandbox.stats.refused_429.values()) == 0


async def run_group(
    server: RedisServer,
    credentials: list[dict[str, str]],
    calls: int,
    rate: float = 100.0,
) -> Sandbox:
    """Run one worker process per credential given against a strict sandbox."""
    prefix = fresh_prefix()
    async with Sandbox(rate_limit=rate) as sandbox:
        start_at = time.time() + 2.0
        commands = [
            worker_command(
                base_url=sandbox.url,
                redis_url=server.url,
                prefix=prefix,
                calls=calls,
                start_at=start_at,
                rate=rate,
                **credential,
            )
            for credential in credentials
        ]
        reports = await run_workers(commands, timeout=30)
    for report in reports:
        for result in report["results"]:
            assert result == {"ok": calls, "errors": {}}
    return sandbox


def group_rate(times: list[float]) -> float:
    return (len(times) - 1) / (max(times) - min(times))


async def test_four_processes_share_one_allowance(
    shared_redis: RedisServer,  # noqa: F811
) -> None:
    """4 processes x 150 calls: no 429, <= 100 in any second, >= 97% of 100/s."""
    sandbox = await run_group(shared_redis, [{"token": Sandbox.token}] * 4, 150)
    key = sandbox.credential_key("token", Sandbox.token)
    assert sum(sandbox.stats.refused_429.values()) == 0
    assert sandbox.stats.accepted[key] == 600
    assert sandbox.stats.max_in_window(key, 1.0) <= 100
    assert group_rate(sandbox.stats.accepted_times[key]) >= 97


async def test_two_credentials_get_two_allowances(
    shared_redis: RedisServer,  # noqa: F811
) -> None:
    """4 processes, 2 per credential, at 50/s per key: each key gets its own 50/s.

    The allowance is 50/s here so that the server, the Redis and the four
    workers on two cores carry the same load as the one-credential test.
    """
    credentials = [{"token": Sandbox.token}] * 2 + [{"api_key": Sandbox.api_key}] * 2
    sandbox = await run_group(shared_redis, credentials, 150, rate=50.0)
    keys = [
        sandbox.credential_key("token", Sandbox.token),
        sandbox.credential_key("api_key", Sandbox.api_key),
    ]
    assert sum(sandbox.stats.refused_429.values()) == 0
    for key in keys:
        assert sandbox.stats.accepted[key] == 300
        assert sandbox.stats.max_in_window(key, 1.0) <= 50
        assert group_rate(sandbox.stats.accepted_times[key]) >= 48.5
    combined = [t for key in keys for t in sandbox.stats.accepted_times[key]]
    assert group_rate(combined) >= 97
