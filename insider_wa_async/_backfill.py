"""Fetch a long range window by window: many requests in flight, results in order.

Each window is one ``client.overall_statistics`` call, so every request
takes a token of the client's shared limiter. Up to ``concurrency`` calls run
at once; enough to keep the limiter busy, since a waiting call costs nothing
but a task. Results are handed out in window order by default: a result that
arrives early waits in a buffer, and new windows keep being started, from
the tasks' own completion callbacks, until ``lookahead`` windows are started
but not yet handed out. So a slow window (a retry, a backoff) holds the
iterator back only once it is ``lookahead`` windows behind the newest one.
With ``ordered=False`` results come in the order they arrive.

Closing the iterator (``break``, ``aclose``, leaving ``async with``, or the
consumer being cancelled) cancels every call in flight.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Iterable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ._errors import InsiderWAError
from ._models import OverallStatistics
from ._request import CampaignFilter, TimeBound
from ._windows import Step, Window, windows

if TYPE_CHECKING:
    from ._client import InsiderWAClient

__all__ = ["WindowResult", "WindowStream", "fetch_windows", "iter_windows"]


class WindowResult(NamedTuple):
    """One window's answer: its bounds (Unix seconds, inclusive) and statistics.

    ``statistics`` is an :class:`InsiderWAError` instead when the stream was
    made with ``return_exceptions=True`` and the window failed for good.
    """

    start: int
    end: int
    statistics: OverallStatistics | InsiderWAError


class WindowStream:
    """An async iterator of :class:`WindowResult`; see :func:`fetch_windows`."""

    def __init__(
        self,
        client: InsiderWAClient,
        windows: Iterable[tuple[int, int]],
        *,
        campaign_filter: CampaignFilter | None,
        concurrency: int,
        lookahead: int | None,
        ordered: bool,
        return_exceptions: bool,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._client = client
        self._windows = [Window(int(s), int(e)) for s, e in windows]
        self._filter = campaign_filter
        self._concurrency = concurrency
        self._lookahead = max(concurrency, lookahead or 8 * concurrency)
        self._ordered = ordered
        self._return_exceptions = return_exceptions
        self._tasks: dict[int, asyncio.Task[WindowResult]] = {}
        self._ready: dict[int, WindowResult] = {}
        self._arrived: deque[int] = deque()
        self._failure: BaseException | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._launched = 0
        self._handed = 0
        self._next = 0
        self._closed = False

    def __len__(self) -> int:
        return len(self._windows)

    def __aiter__(self) -> WindowStream:
        return self

    async def __aenter__(self) -> WindowStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def __anext__(self) -> WindowResult:
        if self._closed:
            raise StopAsyncIteration
        try:
            result = await self._next_result()
        except BaseException:
            await self.aclose()
            raise
        error = result.statistics
        if isinstance(error, InsiderWAError) and not self._return_exceptions:
            await self.aclose()
            raise error
        return result

    async def aclose(self) -> None:
        """Stop: cancel the calls in flight and wait until they have ended."""
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _next_result(self) -> WindowResult:
        self._fill()
        while True:
            if self._failure is not None:
                raise self._failure
            result = self._take()
            if result is not None:
                self._handed += 1
                self._fill()
                return result
            if self._handed == len(self._windows):
                self._closed = True
                raise StopAsyncIteration
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup

    def _take(self) -> WindowResult | None:
        if self._ordered:
            result = self._ready.pop(self._next, None)
            if result is not None:
                self._next += 1
            return result
        if self._arrived:
            return self._ready.pop(self._arrived.popleft())
        return None

    def _fill(self) -> None:
        """Start windows while there is room in flight and in the look-ahead."""
        while (
            not self._closed
            and self._launched < len(self._windows)
            and len(self._tasks) < self._concurrency
            and self._launched - self._handed < self._lookahead
        ):
            index = self._launched
            self._launched += 1
            work = _fetch(self._client, self._windows[index], self._filter)
            task = asyncio.get_running_loop().create_task(work)
            self._tasks[index] = task
            # Tasks refer to the stream only weakly: a stream dropped after
            # ``break`` is collected at once, and cancels them in __del__.
            task.add_done_callback(partial(_arrive, weakref.ref(self), index))

    def _arrive(self, index: int, task: asyncio.Task[WindowResult]) -> None:
        if self._tasks.pop(index, None) is None or task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            self._failure = self._failure or failure
        else:
            self._ready[index] = task.result()
            self._arrived.append(index)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        self._fill()


async def _fetch(
    client: InsiderWAClient, window: Window, flt: CampaignFilter | None
) -> WindowResult:
    try:
        statistics = await client.overall_statistics(
            window.start, window.end, campaign_filter=flt
        )
    except InsiderWAError as exc:
        return WindowResult(*window, exc.with_time_range(*window))
    return WindowResult(*window, statistics)


def _arrive(
    ref: weakref.ReferenceType[WindowStream],
    index: int,
    task: asyncio.Task[WindowResult],
) -> None:
    stream = ref()
    if stream is not None:
        stream._arrive(index, task)


def fetch_windows(
    client: InsiderWAClient,
    windows: Iterable[tuple[int, int]],
    *,
    campaign_filter: CampaignFilter | None = None,
    concurrency: int = 32,
    lookahead: int | None = None,
    ordered: bool = True,
    return_exceptions: bool = False,
) -> WindowStream:
    """Fetch the statistics of given windows, many at once; see :func:`iter_windows`.

    ``windows`` are ``(start, end)`` pairs of Unix seconds (inclusive), as
    :func:`~insider_wa_async._windows.windows` makes them; any pairs will do,
    for example the windows a resumed backfill still lacks.
    """
    return WindowStream(
        client,
        windows,
        campaign_filter=campaign_filter,
        concurrency=concurrency,
        lookahead=lookahead,
        ordered=ordered,
        return_exceptions=return_exceptions,
    )


def iter_windows(
    client: InsiderWAClient,
    start: TimeBound,
    end: TimeBound,
    *,
    step: Step = "day",
    campaign_filter: CampaignFilter | None = None,
    concurrency: int = 32,
    lookahead: int | None = None,
    ordered: bool = True,
    return_exceptions: bool = False,
) -> WindowStream:
    """Fetch ``start..end`` window by window, yielding each window's statistics.

    The range is cut as :func:`~insider_wa_async._windows.windows` cuts it:
    UTC days, weeks from Monday, months from the 1st, or a whole number of
    days; the first and last windows are cut to the range, both bounds are
    inclusive, and a ``date`` end means the whole day. Windows longer than a
    year are fine: the client splits them. Use it as::

        async for window in iter_windows(client, date(2019, 1, 1), date(2026, 12, 31)):
            print(window.start, window.end, window.statistics.summary.sent)

    Each item is a :class:`WindowResult` ``(start, end, statistics)``.

    Args:
        client: An open client; its rate limiter paces every request.
        start: First moment of the range (inclusive).
        end: Last moment of the range (inclusive).
        step: ``"day"``, ``"week"``, ``"month"`` or a ``timedelta`` of whole days.
        campaign_filter: Which campaigns to count; None for all but Architect ones.
        concurrency: Most calls in flight. At 100 requests/s and a few ms of
            latency, 32 keeps the limiter busy with room to spare.
        lookahead: In order, most windows started but not yet yielded
            (default ``8 * concurrency``); bounds the results held in memory.
        ordered: Yield in window order (default) or in order of arrival.
        return_exceptions: Yield a window that failed for good with its error
            as ``statistics`` instead of raising, and go on with the others.

    Raises:
        RequestValidationError: A bound the API would refuse (at once).
        ValueError: A step or concurrency that is not allowed (at once).
        TypeError: A bound or step of the wrong type (at once).
        InsiderWAError: While iterating, the first window that failed for
            good (in order: after every earlier window), unless
            ``return_exceptions``; the calls still in flight are cancelled.
    """
    return fetch_windows(
        client,
        windows(start, end, step),
        campaign_filter=campaign_filter,
        concurrency=concurrency,
        lookahead=lookahead,
        ordered=ordered,
        return_exceptions=return_exceptions,
    )
