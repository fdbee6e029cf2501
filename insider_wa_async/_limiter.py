"""Client-side rate limiting: one bucket per credential, shared process-wide.

The API accepts at most ``rate`` requests of one credential in any sliding
second. A plain token bucket of that rate lets ``burst + rate * W`` requests
through in a window of W seconds, so it must run a little slower than the
limit to leave room for the jitter between taking a token and the request
reaching the server. :class:`CredentialLimiter` paces with an aiolimiter
bucket at ``headroom * rate`` (a small burst absorbs late timers, so the
pace is kept), and a sliding-window guard makes sure that no window of
``1 s + margin`` ever holds more than ``rate`` grants, whatever the bucket
allowed. A strict server then refuses nothing as long as the send jitter
stays under the margin, while the long-run pace stays at ``headroom``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import weakref
from collections import deque
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

__all__ = [
    "CredentialLimiter",
    "RateLimiter",
    "SlidingWindowLimiter",
    "limiter_for",
]


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs of a limiter: one call per HTTP attempt."""

    async def acquire(self) -> None:
        """Wait until one more request may be sent, and count it."""


class SlidingWindowLimiter:
    """At most ``limit`` grants in any window of ``window`` seconds.

    Slots are reserved before sleeping, so concurrent callers never share
    one; a caller cancelled while it waits leaves its slot unused (the
    limiter errs on the safe side). Grants come in order of arrival.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._grants: deque[float] = deque(maxlen=limit)

    def reserve(self, now: float) -> float:
        """Reserve the earliest slot at or after ``now``; return its time."""
        due = now
        if len(self._grants) == self.limit:
            due = max(now, self._grants[0] + self.window)
        self._grants.append(due)
        return due

    async def acquire(self) -> None:
        """Wait for a slot in the window."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self.reserve(now)
        if due > now:
            await asyncio.sleep(due - now)


class CredentialLimiter:
    """Pace requests under a per-second limit that a strict server enforces.

    Args:
        rate: The server's limit, in requests per sliding second.
        headroom: The share of ``rate`` to pace at in the long run.
        burst: The bucket's capacity, in requests; above 1 it lets a late
            timer be made up for, so the pace does not drift down.
        margin: Seconds added to the guard's window: the send jitter the
            server may see without ever counting more than ``rate``.
    """

    def __init__(
        self,
        rate: float,
        *,
        headroom: float = 0.99,
        burst: float = 1.5,
        margin: float = 0.005,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive, finite number")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        pace = rate * headroom
        self._bucket = AsyncLimiter(burst, burst / pace)
        self._guard = SlidingWindowLimiter(max(1, math.floor(rate)), 1.0 + margin)

    async def acquire(self) -> None:
        """Wait for a token of the bucket, then for room in the sliding second."""
        await self._bucket.acquire()
        await self._guard.acquire()


_registry: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, CredentialLimiter]
] = weakref.WeakKeyDictionary()


def credential_key(secret: str) -> str:
    """Name a credential without revealing it: a short SHA-256 digest."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def limiter_for(key: str, rate: float) -> CredentialLimiter:
    """Return the running loop's shared limiter for a credential.

    Every client of the process that uses the same credential on this loop
    gets the same limiter. A limiter belongs to one event loop, so each loop
    has its own set.

    Raises:
        ValueError: The credential already has a limiter at another rate.
    """
    loop = asyncio.get_running_loop()
    limiters = _registry.setdefault(loop, {})
    limiter = limiters.get(key)
    if limiter is None:
        limiter = limiters[key] = CredentialLimiter(rate)
    elif limiter.rate != rate:
        raise ValueError(
            f"this credential is already limited to {limiter.rate:g} requests/s "
            f"in this process; clients sharing it must use the same rate_limit"
        )
    return limiter
