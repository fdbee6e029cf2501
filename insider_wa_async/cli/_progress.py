"""The progress display of ``insider-wa backfill``, on stderr.

On a terminal a bar is redrawn in place at most every ``TTY_INTERVAL``
seconds; anywhere else (a log file, a pipe, CI) a plain line is printed at
most every ``PROGRESS_INTERVAL`` seconds, so that logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

__all__ = ["PROGRESS_INTERVAL", "TTY_INTERVAL", "Progress"]

PROGRESS_INTERVAL = 5.0
TTY_INTERVAL = 0.1
_BAR_WIDTH = 30


class Progress:
    """Windows done on stderr: a bar on a terminal, else a line every 5 s.

    Args:
        total: How many windows the run covers.
        done: How many of them were done before this run.
        enabled: Whether to show anything at all (off with ``-q``).
        stream: Where to write; ``sys.stderr`` when None.
        clock: Seconds from a monotonic clock (a fake one in tests).
    """

    def __init__(
        self,
        total: int,
        done: int,
        *,
        enabled: bool,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = done
        self.failed = 0
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty()
        self._clock = clock
        self._first = done
        self._started = self._shown = clock()

    def update(self, *, failed: bool = False) -> None:
        """Count one window more, done or failed, and show it when due."""
        self.failed += failed
        self.done += not failed
        now = self._clock()
        interval = TTY_INTERVAL if self.tty else PROGRESS_INTERVAL
        if self.enabled and now - self._shown >= interval:
            self._shown = now
            self._show(now)

    def finish(self) -> None:
        """Show the final state (and end the bar's line on a terminal)."""
        if self.enabled:
            self._show(self._clock())
            if self.tty:
                print(file=self.stream)

    def _show(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = (self.done + self.failed - self._first) / elapsed
        left = self.total - self.done - self.failed
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        text = f"{self.done}/{self.total} windows, {rate:.1f}/s, ETA {eta}"
        if self.failed:
            text += f", {self.failed} failed"

        if self.tty:
            filled = _BAR_WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            print(f"\r[{bar}] {text}  ", end="", file=self.stream, flush=True)
        else:
            print(f"backfill: {text}", file=self.stream, flush=True)
