"""OAuth tokens: one fetch for many callers, early refresh, replay, the minute guard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from insider_wa_async import (
    AuthenticationError,
    InsiderWAClient,
    RequestTimeoutError,
)
from insider_wa_async._auth import TOKENS_PER_MINUTE, _TokenSource
from insider_wa_async.sandbox import Sandbox

from .conftest import DAY, FAST_RETRY, MAR_1_2025, as_json, truth_of
from .virtual_clock import run_virtual

START, END = MAR_1_2025, MAR_1_2025 + 3 * DAY - 1


def oauth_client(sb: Sandbox, **options: object) -> InsiderWAClient:
    """Build a client-credentials client of ``sb`` with fast retries."""
    return InsiderWAClient(
        client_id=sb.client_id,
        client_secret=options.pop("client_secret", sb.client_secret),  # type: ignore[arg-type]
        base_url=sb.url,
        retry=FAST_RETRY,
        **options,  # type: ignore[arg-type]
    )


def refusals(caplog: pytest.LogCaptureFixture) -> int:
    """Count the 401 answers the client logged for the statistics route."""
    return sum("-> 401" in r.getMessage() for r in caplog.records)


def most_in_window(times: list[float], window: float) -> int:
    """Return the most of ``times`` that fall within any ``window`` seconds."""
    times = sorted(times)
    return max(
        (sum(1 for t in times if start <= t < start + window) for start in times),
        default=0,
    )


async def test_concurrent_callers_share_one_token_request() -> None:
    """Two hundred concurrent first calls cause exactly one token request."""
    async with Sandbox(rate_limit=1000) as sb:
        async with oauth_client(sb, rate_limit=1000.0) as client:
            calls = [client.overall_statistics(START, END) for _ in range(200)]
            results = await asyncio.gather(*calls)
        assert sb.stats.token_requests == 1
        assert as_json(results[-1]) == truth_of(sb, START, END)


async def test_tokens_are_renewed_before_they_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With one-second tokens, calls over two seconds never meet a 401."""
    caplog.set_level(logging.DEBUG, "insider_wa_async.http")
    async with Sandbox(token_ttl=1.0) as sb, oauth_client(sb) as client:
        for _ in range(21):
            await client.overall_statistics(START, END)
            await asyncio.sleep(0.1)
        assert refusals(caplog) == 0
        assert 3 <= sb.stats.token_requests <= 4


async def test_a_401_brings_one_new_token_and_one_replay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token expired server-side is replaced once and the call replayed."""
    caplog.set_level(logging.DEBUG, "insider_wa_async.http")
    async with Sandbox(token_ttl=0.3) as sb, oauth_client(sb) as client:
        await client.overall_statistics(START, END)
        await asyncio.sleep(0.4)
        result = await client.overall_statistics(START, END)
        assert as_json(result) == truth_of(sb, START, END)
        assert sb.stats.token_requests == 2
        assert refusals(caplog) == 1


async def test_a_second_401_is_raised_not_replayed_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the fresh token is refused too, the call raises after one replay."""
    caplog.set_level(logging.DEBUG, "insider_wa_async.http")
    async with Sandbox(token_ttl=0) as sb, oauth_client(sb) as client:
        with pytest.raises(AuthenticationError):
            await client.overall_statistics(START, END)
        assert sb.stats.token_requests == 2
        assert refusals(caplog) == 2


async def test_wrong_client_credentials_are_not_retried(sandbox: Sandbox) -> None:
    """A refused client secret raises after one token request."""
    async with oauth_client(sandbox, client_secret="wrong-secret") as client:
        with pytest.raises(AuthenticationError, match="client credentials"):
            await client.overall_statistics(START, END)
    assert sandbox.stats.token_requests == 1
    assert sandbox.stats.requests == 0


async def test_a_storm_of_401s_never_breaks_the_token_limit() -> None:
    """Two hundred calls whose every token is dead never ask for more than ten."""
    async with Sandbox(token_ttl=0, rate_limit=1000) as sb:
        client = oauth_client(sb, rate_limit=1000.0, deadline=0.5)
        async with client:
            outcomes: list[object] = []
            for _ in range(8):
                calls = [client.overall_statistics(START, END) for _ in range(25)]
                outcomes += await asyncio.gather(*calls, return_exceptions=True)
        assert sb.stats.token_requests == TOKENS_PER_MINUTE
        assert sb.stats.tokens_refused_429 == 0
        kinds = {type(outcome) for outcome in outcomes}
        assert kinds == {AuthenticationError, RequestTimeoutError}


async def test_tokens_expiring_under_load_are_refreshed_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A burst of 200 calls on a token dead server-side costs one new token."""
    caplog.set_level(logging.DEBUG, "insider_wa_async.http")
    async with Sandbox(token_ttl=0.3, rate_limit=None) as sb:
        async with oauth_client(sb, rate_limit=100_000.0) as client:
            await client.overall_statistics(START, END)
            for _ in range(3):
                await asyncio.sleep(0.4)
                calls = [client.overall_statistics(START, END) for _ in range(200)]
                await asyncio.gather(*calls)
        assert sb.stats.token_requests == 4
        assert refusals(caplog) >= 3 * 20


Poster = Callable[[str, bytes], Awaitable[bytes]]


def counting_poster(times: list[float], expires_in: int = 3600) -> Poster:
    """Return a token poster that records the loop time of each request."""

    async def post(url: str, body: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        times.append(loop.time())
        await asyncio.sleep(0.05)
        token = f"tok-{len(times)}"
        return f'{{"access_token":"{token}","expires_in":{expires_in}}}'.encode()

    return post


def test_the_minute_guard_holds_on_a_virtual_clock() -> None:
    """Forty forced renewals never put more than ten token requests in a minute."""

    async def scenario() -> list[float]:
        source = _TokenSource("client", "secret")
        times: list[float] = []
        post = counting_poster(times)
        for _ in range(40):
            source.invalidate(await source.get(post, "http://token"))
        return times

    times = run_virtual(scenario())
    assert len(times) == 40
    assert most_in_window(times, 60.0) <= TOKENS_PER_MINUTE
    assert times[-1] - times[0] >= 3 * 60.0


def test_single_flight_and_early_renewal_on_a_virtual_clock() -> None:
    """Concurrent getters share one request; a token is renewed at 90% of its life."""

    async def scenario() -> tuple[list[float], list[str]]:
        source = _TokenSource("client", "secret")
        times: list[float] = []
        post = counting_poster(times, expires_in=100)
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = await asyncio.gather(*[source.get(post, "u") for _ in range(100)])
        await asyncio.sleep(began + 89.0 - loop.time())
        still = await source.get(post, "u")
        await asyncio.sleep(2.0)
        renewed = await source.get(post, "u")
        return [t - began for t in times], [*set(first), still, renewed]

    times, tokens = run_virtual(scenario())
    assert len(times) == 2
    assert times[1] == pytest.approx(91.0, abs=0.1)
    assert tokens == ["tok-1", "tok-1", "tok-2"]
