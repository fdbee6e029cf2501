"""Count what the sandbox accepted, refused and injected, and enforce windows.

Times are `time.monotonic` seconds. A sliding window of ``W`` seconds ending at
``t`` is the half-open interval ``(t - W, t]``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field


class SlidingWindow:
    """Admit at most ``limit`` events in any sliding window of ``period`` seconds."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._times: deque[float] = deque()

    def admit(self, now: float, limit: int | None) -> bool:
        """Record an event at ``now`` if fewer than ``limit`` lie in the window.

        Args:
            now: The current time, in seconds.
            limit: The most events allowed in one window; ``None`` admits all.

        Returns:
            Whether the event was admitted (and recorded).
        """
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if limit is not None and len(self._times) >= limit:
            return False
        self._times.append(now)
        return True


def _max_in_window(times: list[float], window: float) -> int:
    """Return the most entries of sorted ``times`` within any window."""
    best = 0
    low = 0
    for high, now in enumerate(times):
        while times[low] <= now - window:
            low += 1
        best = max(best, high - low + 1)
    return best


@dataclass
class SandboxStats:
    """Hold the sandbox's counters; keys are credential keys (see `Sandbox`).

    Attributes:
        requests: Statistics requests that passed authentication.
        accepted: Requests admitted by the rate limiter, per credential key
            (whatever their answer: a request that then fails validation counts).
        refused_429: Requests refused by the rate limiter, per credential key.
        accepted_times: `time.monotonic` times of acceptance, per credential key.
        faults: Faults injected, per fault kind.
        token_requests: Requests to the token endpoint, whatever their answer.
        tokens_issued: Tokens issued by the token endpoint, per client id.
        tokens_refused_429: Token requests refused by the token rate limit.
    """

    requests: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    refused_429: Counter[str] = field(default_factory=Counter)
    accepted_times: dict[str, list[float]] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    token_requests: int = 0
    tokens_issued: Counter[str] = field(default_factory=Counter)
    tokens_refused_429: int = 0

    def record_accepted(self, key: str, now: float) -> None:
        """Count one accepted request of credential ``key`` at time ``now``."""
        self.accepted[key] += 1
        self.accepted_times.setdefault(key, []).append(now)

    def max_in_window(
        self, credential_key: str | None = None, window: float = 1.0
    ) -> int:
        """Return the most accepted requests in any sliding window.

        Args:
            credential_key: The credential to look at; ``None`` merges them all.
            window: The window's length, in seconds.

        Returns:
            The largest count of acceptances in any window ``(t - window, t]``.
        """
        if credential_key is None:
            times = sorted(t for series in self.accepted_times.values() for t in series)
        else:
            times = sorted(self.accepted_times.get(credential_key, ()))
        return _max_in_window(times, window)

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.requests = 0
        self.accepted.clear()
        self.refused_429.clear()
        self.accepted_times.clear()
        self.faults.clear()
        self.token_requests = 0
        self.tokens_issued.clear()
        self.tokens_refused_429 = 0
