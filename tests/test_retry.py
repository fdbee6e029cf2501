"""The retry table, held against the sandbox's faults and a canned server."""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from insider_wa_async import (
    APIError,
    AuthenticationError,
    CampaignFilter,
    InsiderWAClient,
    ProductNotActiveError,
    RateLimitError,
    RequestParseError,
    RequestTimeoutError,
    RequestValidationError,
    ResponseShapeError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from insider_wa_async._retry import retry_after_seconds
from insider_wa_async.sandbox import FaultPlan, Sandbox

from .conftest import (
    DAY,
    EMPTY_ANSWER,
    FAST_RETRY,
    MAR_1_2025,
    Canned,
    as_json,
    client_for,
    http_warnings,
    truth_of,
)

TOKEN = "canned-token"
START, END = MAR_1_2025, MAR_1_2025 + 7 * DAY - 1
RETRIED = {
    "html_502": ServerError,
    "empty_503": ServerError,
    "500": ServerError,
    "429": RateLimitError,
    "429_retry_after": RateLimitError,
    "reset": TransportError,
    "truncate": TransportError,
}


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    """Each wait lies in [0, min(cap, base * 2**n)) and spreads across it."""
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0)
    rng = random.Random(7)
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 3.0, 3.0, 3.0]):
        waits = [policy.backoff(retry, rng) for _ in range(400)]
        assert all(0.0 <= w < ceiling for w in waits)
        assert max(waits) > 0.9 * ceiling
        assert min(waits) < 0.1 * ceiling
    assert policy.backoff(10_000, rng) < 3.0


def test_a_hint_wins_over_backoff_up_to_its_cap() -> None:
    """A server's wait hint is used as given, cut to retry_after_cap."""
    policy = RetryPolicy(backoff_base=100.0, retry_after_cap=5.0)
    assert policy.delay(0, 2.5) == 2.5
    assert policy.delay(3, 90.0) == 5.0
    assert policy.delay(0, 0.0) == 0.0
    now = 1_700_000_000.0
    assert policy.wait(0, {"retry-after": "30"}, now) == 5.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, 20.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:00 GMT"}, 0.0),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_every_form(
    headers: dict[str, str], expected: float | None
) -> None:
    """Seconds, milliseconds and HTTP dates are read; junk means no hint."""
    assert retry_after_seconds(headers, 1_700_000_000.0) == expected


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_a_bad_retry_count_is_refused(bad: object) -> None:
    """max_retries must be an int of 0 or more."""
    with pytest.raises((TypeError, ValueError)):
        RetryPolicy(max_retries=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(RETRIED))
async def test_transient_faults_are_retried_to_the_right_answer(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two faults in a row are retried, logged once each, and the answer is true."""
    plan = FaultPlan(sequence=(kind, kind), retry_after="0")
    caplog.set_level(logging.WARNING, "insider_wa_async.http")
    async with Sandbox(faults=plan) as sb, client_for(sb, max_retries=2) as client:
        result = await client.overall_statistics(START, END)
        assert as_json(result) == truth_of(sb, START, END)
        assert sb.stats.faults[kind] == 2
        assert sb.stats.requests == 3
    lines = http_warnings(caplog)
    assert len(lines) == 2
    assert "(attempt 2 of 3)" in lines[0]
    assert "(attempt 3 of 3)" in lines[1]
    assert all("retrying in" in line for line in lines)


@pytest.mark.parametrize("kind", sorted(RETRIED))
async def test_spent_retries_raise_the_typed_error(kind: str) -> None:
    """When every attempt is faulted the last fault's typed error is raised."""
    plan = FaultPlan(sequence=(kind,) * 3, retry_after="0")
    async with Sandbox(faults=plan) as sb, client_for(sb, max_retries=1) as client:
        with pytest.raises(RETRIED[kind]):
            await client.overall_statistics(START, END)
        assert sb.stats.requests == 2


async def test_zero_retries_means_exactly_one_attempt() -> None:
    """With max_retries=0 a retryable failure is raised after one request."""
    plan = FaultPlan(sequence=("500", "500"))
    async with Sandbox(faults=plan) as sb, client_for(sb, max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.overall_statistics(START, END)
        assert sb.stats.requests == 1


async def test_the_retry_count_comes_from_the_policy() -> None:
    """A RetryPolicy's max_retries is used when max_retries is not given."""
    plan = FaultPlan(sequence=("500",) * 5)
    policy = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_cap=0.001)
    async with Sandbox(faults=plan) as sb, client_for(sb, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.overall_statistics(START, END)
        assert sb.stats.requests == 5


async def test_attempt_timeouts_are_retried() -> None:
    """A request that gets no answer in time is abandoned and retried."""
    plan = FaultPlan(sequence=("timeout",), timeout=30.0)
    sandbox = Sandbox(faults=plan)
    async with sandbox as sb, client_for(sb, timeout=0.3, max_retries=1) as client:
        started = time.perf_counter()
        result = await client.overall_statistics(START, END)
        assert time.perf_counter() - started < 2.0
        assert as_json(result) == truth_of(sb, START, END)


async def test_a_last_timeout_is_a_timeout_error() -> None:
    """The timeout error is both a TransportError and a builtin TimeoutError."""
    plan = FaultPlan(sequence=("timeout",), timeout=30.0)
    sandbox = Sandbox(faults=plan)
    async with sandbox as sb, client_for(sb, timeout=0.2, max_retries=0) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.overall_statistics(START, END)
    assert isinstance(caught.value, TransportError)
    assert isinstance(caught.value, TimeoutError)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("not-a-token", AuthenticationError),
        (Sandbox.inactive_token, ProductNotActiveError),
    ],
)
async def test_credential_refusals_are_not_retried(
    token: str, error: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    """401 and 403 are raised after one request, with no retry."""
    caplog.set_level(logging.DEBUG, "insider_wa_async.http")
    async with Sandbox() as sb, client_for(sb, token=token) as client:
        with pytest.raises(error):
            await client.overall_statistics(START, END)
    attempts = [r for r in caplog.records if "(attempt" in r.getMessage()]
    assert len(attempts) == 1
    assert not http_warnings(caplog)


async def test_unknown_tag_names_are_not_retried(sandbox: Sandbox) -> None:
    """A 422 is raised after one request."""
    flt = CampaignFilter(tags=("no-such-tag",))
    async with client_for(sandbox) as client:
        with pytest.raises(UnprocessableEntityError):
            await client.overall_statistics(START, END, campaign_filter=flt)
    assert sandbox.stats.requests == 1


async def test_a_wrong_shape_is_not_retried() -> None:
    """A 200 of the wrong shape is raised after one request."""
    plan = FaultPlan(sequence=("wrong_shape",))
    async with Sandbox(faults=plan) as sb, client_for(sb) as client:
        with pytest.raises(ResponseShapeError):
            await client.overall_statistics(START, END)
        assert sb.stats.requests == 1


PARSE = b'{"errorCode":"3001","message":"parse","errors":"json: cannot unmarshal"}'
RULE = b'{"errorCode":"3002","message":"invalid","errors":"start_time must be ..."}'


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, PARSE, RequestParseError),
        (400, RULE, RequestValidationError),
        (404, b'{"message":"not found"}', APIError),
        (408, b"", APIError),
    ],
)
async def test_canned_statuses_follow_the_table(
    canned: Canned, status: int, body: bytes, error: type[Exception]
) -> None:
    """400s and 404 are raised at once; 408 is retried like a 5xx."""
    canned.queue.extend([(status, body, {})] * 2)
    client = InsiderWAClient(token=TOKEN, base_url=canned.url, retry=FAST_RETRY)
    async with client:
        if status == 408:
            await client.overall_statistics(START, END)
            assert canned.hits == 3
            return
        with pytest.raises(error):
            await client.overall_statistics(START, END)
    assert canned.hits == 1


@pytest.mark.parametrize(
    ("headers", "low", "logged"),
    [
        ({"Retry-After": "1"}, 1.0, "retrying in 1.00 s"),
        ({"retry-after-ms": "150"}, 0.15, "retrying in 0.15 s"),
        ({"Retry-After": "3600"}, 0.3, "retrying in 0.30 s"),
    ],
)
async def test_retry_after_is_waited_for_up_to_its_cap(
    canned: Canned,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    low: float,
    logged: str,
) -> None:
    """The client waits the server's hint, cut to retry_after_cap, then retries."""
    canned.queue.append((429, b"", headers))
    policy = RetryPolicy(backoff_base=0.0, retry_after_cap=1.0)
    if headers.get("Retry-After") == "3600":
        policy = RetryPolicy(backoff_base=0.0, retry_after_cap=0.3)
    caplog.set_level(logging.WARNING, "insider_wa_async.http")
    async with InsiderWAClient(token=TOKEN, base_url=canned.url, retry=policy) as c:
        started = time.perf_counter()
        await c.overall_statistics(START, END)
        elapsed = time.perf_counter() - started
    assert low <= elapsed < low + 0.5
    assert logged in http_warnings(caplog)[0]


async def test_retry_after_as_an_http_date_is_honoured(
    canned: Canned, caplog: pytest.LogCaptureFixture
) -> None:
    """An HTTP-date Retry-After makes the client wait until about that moment."""
    moment = datetime.fromtimestamp(int(time.time()) + 2, timezone.utc)
    canned.queue.append((503, b"", {"Retry-After": format_datetime(moment, True)}))
    policy = RetryPolicy(backoff_base=0.0, retry_after_cap=5.0)
    caplog.set_level(logging.WARNING, "insider_wa_async.http")
    async with InsiderWAClient(token=TOKEN, base_url=canned.url, retry=policy) as c:
        await c.overall_statistics(START, END)
    assert time.time() >= moment.timestamp() - 0.05
    wait = float(http_warnings(caplog)[0].split("retrying in ")[1].split()[0])
    assert 0.9 <= wait <= 2.0


async def test_backoff_waits_grow_and_are_logged(
    canned: Canned, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a hint each retry waits a jittered backoff under its ceiling."""
    canned.queue.extend([(502, b"<html>bad gateway</html>", {})] * 4)
    policy = RetryPolicy(max_retries=4, backoff_base=0.01, backoff_cap=0.04)
    caplog.set_level(logging.WARNING, "insider_wa_async.http")
    async with InsiderWAClient(token=TOKEN, base_url=canned.url, retry=policy) as c:
        await c.overall_statistics(START, END)
    waits = [
        float(line.split("retrying in ")[1].split()[0])
        for line in http_warnings(caplog)
    ]
    assert len(waits) == 4
    for ceiling, wait in zip([0.01, 0.02, 0.04, 0.04], waits, strict=True):
        assert 0.0 <= wait <= ceiling + 0.005
    assert all(line.startswith("HTTP 502;") for line in http_warnings(caplog))


async def test_an_empty_200_answer_is_still_a_result(canned: Canned) -> None:
    """The canned server's empty statistics decode as a result, not an error."""
    canned.default = (200, EMPTY_ANSWER, {})
    async with InsiderWAClient(token=TOKEN, base_url=canned.url) as client:
        result = await client.overall_statistics(START, END)
    assert result.details == []
