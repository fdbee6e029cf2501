"""An event loop whose clock jumps to the next timer instead of waiting.

Time-based logic (limiters, backoff) then runs deterministically and at once:
``loop.time()`` only moves when every ready callback has run and the next
thing to happen is a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
LATE = 1e-6


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector loop with a virtual clock, for tests without real sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 1000.0

    def time(self) -> float:
        """Return the virtual time, in seconds."""
        return self._virtual_now

    def _run_once(self) -> None:
        ready = self._ready  # type: ignore[attr-defined]
        scheduled = self._scheduled  # type: ignore[attr-defined]
        pending = [h.when() for h in scheduled if not h.cancelled()]
        if not ready and pending:
            # Fire a hair late, as a real loop does: a timer due "now" that
            # finds float rounding against it would otherwise re-arm forever.
            self._virtual_now = max(self._virtual_now, min(pending) + LATE)
        super()._run_once()  # type: ignore[misc]


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh virtual-clock loop."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
