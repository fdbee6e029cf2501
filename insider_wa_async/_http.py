"""One HTTP exchange with aiohttp, its errors turned into the package's own.

Also the request class that tells a rate-limit permit when its headers
left, and the gathering of a split range's pieces.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from typing import TypeVar

import aiohttp
from aiohttp.connector import Connection

from ._errors import RequestTimeoutError, TransportError
from ._limiter import Permit
from ._retry import RETRY_STATUSES, retry_after_seconds

__all__ = [
    "DeadlinePassed",
    "MarkingRequest",
    "gather_or_cancel",
    "post",
    "run_within",
]

_T = TypeVar("_T")


_sending: ContextVar[Permit | None] = ContextVar("insider_wa_permit", default=None)


class MarkingRequest(aiohttp.ClientRequest):
    """A request that tells its rate-limit permit when its headers went out.

    The permit travels in a context variable set around the call, which
    costs far less than aiohttp's tracing signals.
    """

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        """Send as aiohttp does, then mark the permit with the time."""
        response = await super().send(conn)
        permit = _sending.get()
        if permit is not None:
            permit.sent(asyncio.get_running_loop().time())
        return response


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: aiohttp.ClientTimeout,
    permit: Permit | None = None,
) -> tuple[int, bytes, float | None]:
    """Send one POST; return the status, the whole body and any wait hint.

    Raises:
        RequestTimeoutError: No whole answer within ``timeout``.
        TransportError: The connection failed, reset, or the body was cut.
    """
    marker = _sending.set(permit)
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=timeout
        ) as response:
            payload = await response.read()
            hint = None
            if response.status in RETRY_STATUSES:
                hint = retry_after_seconds(response.headers, time.time())
            return response.status, payload, hint
    except asyncio.TimeoutError as exc:
        raise RequestTimeoutError(f"no answer within {timeout.total:g} s") from exc
    except aiohttp.ClientPayloadError as exc:
        raise TransportError("response body was cut short") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"request failed: {type(exc).__name__}: {exc}") from exc
    finally:
        _sending.reset(marker)


async def gather_or_cancel(work: Sequence[Awaitable[_T]]) -> list[_T]:
    """Run ``work`` concurrently; on the first failure cancel the rest and raise.

    Cancelling the caller cancels every task and waits for them, so nothing
    is left running.
    """
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    # Read every failure, not just the first: an unread one would be logged
    # as "Task exception was never retrieved".
    failures = [task.exception() for task in tasks if not task.cancelled()]
    first = next((failure for failure in failures if failure is not None), None)
    if first is not None:
        raise first
    return [task.result() for task in tasks]


class DeadlinePassed(Exception):
    """The whole call ran out of time (internal)."""


if sys.version_info >= (3, 11):

    async def run_within(work: Awaitable[_T], seconds: float) -> _T:
        # A timeout scope, not wait_for: no extra task per call, so large
        # results are freed as soon as the call returns.
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await work
        except TimeoutError as exc:
            if scope.expired():
                raise DeadlinePassed from exc
            raise

else:  # pragma: no cover - Python 3.10

    async def run_within(work: Awaitable[_T], seconds: float) -> _T:
        # On 3.10 asyncio.TimeoutError is not the builtin TimeoutError, so
        # RequestTimeoutError from inside passes through untouched.
        try:
            return await asyncio.wait_for(work, seconds)
        except asyncio.TimeoutError as exc:
            raise DeadlinePassed from exc
