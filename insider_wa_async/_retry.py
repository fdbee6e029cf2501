"""When to retry, and how long to wait before the next attempt.

=======================================  ========  ============================
What came back                           Retried?  Wait
=======================================  ========  ============================
429 (rate limited; also from the token   yes       ``Retry-After`` if sent,
endpoint)                                          else backoff
408, 500-599 (JSON, HTML or empty body)  yes       ``Retry-After`` if sent,
                                                   else backoff
connection refused, reset or dropped     yes       backoff
a body cut short                         yes       backoff
attempt timeout                          yes       backoff
401 with OAuth client credentials        once      none: new token, replay once
401 (static token, API key, or replayed) no        -
400 (3001, 3002), 403 (3007), 404, 422,  no        -
other 4xx
a 200 body of the wrong shape            no        -
=======================================  ========  ============================

``max_retries`` counts retries after the first attempt (0: one attempt
only); the OAuth replay is not counted. No wait runs past the call's
``deadline``: a retry that could not start in time is not made, and the
last error is raised instead.

Backoff is "full jitter": a uniform draw in ``[0, min(cap, base * 2**n))``
for the n-th retry (n from 0), so that many clients refused at once do not
come back at once. ``Retry-After`` is read in seconds, as an HTTP date, or as
``retry-after-ms``, and capped at ``retry_after_cap``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ._errors import APIError, InsiderWAError, TransportError

__all__ = [
    "RETRY_STATUSES",
    "RetryPolicy",
    "describe",
    "is_retryable",
    "retry_after_seconds",
]

RETRY_STATUSES = frozenset({408, 429} | set(range(500, 600)))


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries what can be retried.

    Args:
        max_retries: Retries after the first attempt; 0 means one attempt.
        backoff_base: Seconds; the first retry waits up to this long.
        backoff_cap: Seconds; no backoff wait is longer.
        retry_after_cap: Seconds; a longer ``Retry-After`` is cut to this.
    """

    max_retries: int = 3
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError("max_retries must be an int")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        for name in ("backoff_base", "backoff_cap", "retry_after_cap"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a finite number >= 0")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Return the jittered wait before retry number ``retry`` (from 0)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(retry, 62))
        return (rng or random).uniform(0.0, ceiling)

    def delay(
        self, retry: int, hint: float | None, rng: random.Random | None = None
    ) -> float:
        """Return the wait before retry ``retry``, given the server's hint.

        A hint (seconds, from ``Retry-After``) wins over backoff and is cut to
        ``retry_after_cap``; without one the wait is :meth:`backoff`.
        """
        if hint is not None:
            return min(hint, self.retry_after_cap)
        return self.backoff(retry, rng)

    def wait(
        self,
        retry: int,
        headers: Mapping[str, str] | None,
        now: float,
        rng: random.Random | None = None,
    ) -> float:
        """Return how long to wait before retry ``retry``.

        ``now`` is the current Unix time, for an HTTP-date ``Retry-After``.
        """
        hinted = retry_after_seconds(headers, now) if headers else None
        return self.delay(retry, hinted, rng)


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Read a server's wait hint; None when absent or unreadable.

    Accepts ``retry-after-ms`` (milliseconds), and ``Retry-After`` as
    seconds or as an HTTP date (a past date means no wait).
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = _number(millis)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def is_retryable(exc: InsiderWAError) -> bool:
    """Say whether the table above retries this error."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, APIError) and exc.status in RETRY_STATUSES


def describe(exc: InsiderWAError) -> str:
    """Name an error in a few words, for the retry log line."""
    if isinstance(exc, APIError) and exc.status:
        if exc.message.startswith("unexpected HTTP status"):
            return f"HTTP {exc.status}"
        return f"HTTP {exc.status} {exc.message}"
    return f"{type(exc).__name__}: {exc.message}"
