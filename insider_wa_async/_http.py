"""One HTTP exchange with aiohttp, its errors turned into the package's own.

Also the trace that tells a request's rate-limit permit when its headers
left, and the gathering of a split range's pieces.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from types import SimpleNamespace
from typing import TypeVar

import aiohttp

from ._errors import RequestTimeoutError, TransportError
from ._limiter import Permit
from ._retry import RETRY_STATUSES, retry_after_seconds

__all__ = ["SEND_TRACE", "gather_or_cancel", "post"]

_T = TypeVar("_T")


async def _mark_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    """Tell the request's permit that its headers have just gone out."""
    permit = context.trace_request_ctx
    if isinstance(permit, Permit):
        permit.sent(asyncio.get_running_loop().time())


SEND_TRACE = aiohttp.TraceConfig()
SEND_TRACE.on_request_headers_sent.append(_mark_sent)


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
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=timeout,
            trace_request_ctx=permit,
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
