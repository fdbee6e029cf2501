"""Client-side rate limiting: one bucket per credential, shared process-wide.

The API accepts at most ``rate`` requests of one credential in any sliding
second, counted when they arrive. A plain token bucket of that rate lets
``burst + rate * W`` requests through in a window of W seconds, and what the
server sees is further blurred by the time between taking a token and the
request leaving: on a cold start, with hundreds of tasks starting at once,
the first request can leave 100 ms after its token.

:class:`CredentialLimiter` therefore does two things. It paces with an
aiolimiter bucket at ``headroom * rate``, whose burst lets the pieces of a
split range leave together and absorbs late timers, so the pace holds. And
a sliding-window guard keeps every request at least
``1 s + margin`` after the request ``rate`` places before it *left*: the
client reports when each request's headers went out, so the delay between
token and send cannot bunch requests up at the server. What is left to
cover is the variation of the network's one-way delay, which is what
``margin`` is for.
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
    "BURST_SECONDS",
    "CredentialLimiter",
    "Permit",
    "RateLimiter",
    "SlidingWindowLimiter",
    "limiter_for",
]

BURST_SECONDS = 0.12
"""The default burst, in seconds of the pace: 12 requests at 100/s.

Enough for the eleven pieces of a ten-year range to leave together, and at
high rates enough that concurrent callers rarely have to queue for a token.
"""


class Permit:
    """One granted request; tell it when the request actually left.

    Attributes:
        at: The loop time of the grant, later moved to the time of sending.
    """

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def sent(self, at: float) -> None:
        """Record that the request left at loop time ``at``."""
        if at > self.at:
            self.at = at


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs of a limiter: one call per HTTP attempt."""

    async def acquire(self) -> Permit | None:
        """Wait until one more request may be sent, and count it.

        Returns:
            A :class:`Permit` the client marks when the request leaves, or
            None when the limiter has no use for that.
        """


class SlidingWindowLimiter:
    """At most ``limit`` requests in any window of ``window`` seconds.

    Each request waits until the one ``limit`` places before it is a window
    old; its time is the moment it was granted, or the moment it left when
    the caller reports that through :meth:`Permit.sent`. Places are taken
    in order of arrival before waiting, so concurrent callers never share
    one; a caller cancelled while it waits leaves its place unused (the
    limiter errs on the safe side).

    Args:
        limit: Requests allowed in one window.
        window: The window's length, in seconds.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._permits: deque[Permit] = deque(maxlen=limit)

    def reserve(self, now: float) -> tuple[Permit, Permit | None]:
        """Take the next place; return it and the permit it must wait for."""
        ahead = self._permits[0] if len(self._permits) == self.limit else None
        permit = Permit(now)
        self._permits.append(permit)
        return permit, ahead

    async def acquire(self) -> Permit:
        """Wait for room in the window; return the permit to mark when sent."""
        loop = asyncio.get_running_loop()
        permit, ahead = self.reserve(loop.time())
        if ahead is not None:
            # The request ahead may report a later send time while we wait,
            # so the deadline can move: there is no event to wait on.
            while (wait := ahead.at + self.window - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
        permit.at = loop.time()
        return permit


class CredentialLimiter:
    """Pace requests under a per-second limit that a strict server enforces.

    Args:
        rate: The server's limit, in requests per sliding second.
        headroom: The share of ``rate`` to pace at in the long run.
        burst: The bucket's capacity, in requests: how many may leave at
            once after an idle spell (the pieces of a split range, say), and
            the slack that lets late timers be made up for. None means
            ``BURST_SECONDS`` of the pace, at least 1.5 (12 at 100/s). The
            guard, not the bucket, keeps the server's count within
            ``rate``, so a burst costs no refusals.
        margin: Seconds added to the guard's window, for the variation of
            the one-way delay to the server (and of its own pauses). Past
            ``1 / headroom - 1`` (10 ms at 0.99) it slows the long-run pace;
            below, it only holds back what a burst got ahead.
    """

    def __init__(
        self,
        rate: float,
        *,
        headroom: float = 0.99,
        burst: float | None = None,
        margin: float = 0.008,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive, finite number")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        pace = rate * headroom
        if burst is None:
            burst = max(1.5, BURST_SECONDS * pace)
        self._bucket = AsyncLimiter(burst, burst / pace)
        self._guard = SlidingWindowLimiter(max(1, math.floor(rate)), 1.0 + margin)

    async def acquire(self) -> Permit:
        """Wait for a token of the bucket, then for room in the sliding second.

        Returns:
            The permit to mark with :meth:`Permit.sent` when the request
            leaves; unmarked, it counts from the moment it was granted.
        """
        await self._bucket.acquire()
        return await self._guard.acquire()


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
