"""Cutting a range into calendar windows: days, Monday weeks, months, N days.

Everything here is pure. Windows follow the API's conventions: bounds are
Unix seconds, both inclusive, and each window ends one second before the next
one starts, so together they cover the range exactly, with no second counted
twice. Every boundary between two windows is a UTC midnight (the API counts
whole UTC days), and the first and last windows are cut to the range.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, NamedTuple

from ._request import DAY, TimeBound, to_unix_seconds, validate_range

__all__ = ["Step", "Window", "step_name", "window_bounds", "windows"]

Step = Literal["day", "week", "month"] | timedelta
"""A window length: a calendar unit, or a whole number of days."""

_EPOCH = date(1970, 1, 1)
_MONDAY_OFFSET = 4  # 1970-01-01 was a Thursday; day 4 (01-05) a Monday


class Window(NamedTuple):
    """One window of a range: Unix seconds, both bounds inclusive."""

    start: int
    end: int


def normalize_step(step: Step | str) -> Step:
    """Read a step: ``day``, ``week``, ``month``, ``"<N>d"`` or a timedelta.

    Raises:
        ValueError: Not a known unit, or not a positive whole number of days.
        TypeError: Neither a string nor a timedelta.
    """
    if isinstance(step, timedelta):
        _step_days(step)
        return step
    if not isinstance(step, str):
        raise TypeError(f"step must be a str or timedelta, not {type(step).__name__}")
    name = step.strip().lower()
    if name in ("day", "week", "month"):
        return name  # type: ignore[return-value]
    count = name.removesuffix("d")
    if name.endswith("d") and count.isdigit() and int(count) > 0:
        return timedelta(days=int(count))
    raise ValueError(
        f"unknown step {step!r}: use day, week, month, N days as e.g. '10d', "
        "or a timedelta of whole days"
    )


def step_name(step: Step | str) -> str:
    """Name a step: ``day``, ``week``, ``month`` or ``<N>d`` for N days.

    Raises:
        ValueError: Not a known unit, or a timedelta that is not a positive
            whole number of days.
        TypeError: Neither a string nor a timedelta.
    """
    step = normalize_step(step)
    if isinstance(step, timedelta):
        return f"{_step_days(step)}d"
    return step


def _step_days(step: timedelta) -> int:
    days, rest = divmod(step, timedelta(days=1))
    if rest or days < 1:
        raise ValueError(
            "a timedelta step must be a positive whole number of days "
            "(the API counts whole UTC days, so shorter windows would overlap)"
        )
    return int(days)


def _day_starts(start: int, end: int, first: int, every: int) -> list[int]:
    """Midnights ``first + k * every`` days that lie in ``start < m <= end``."""
    low = start // DAY + 1
    if low > first:
        first += -(-(low - first) // every) * every
    return list(range(first * DAY, end + 1, every * DAY))


def _month_starts(start: int, end: int) -> list[int]:
    """Midnights of the 1st of each month in ``start < m <= end``."""
    day = _EPOCH + timedelta(days=start // DAY)
    year, month = (day.year, day.month + 1) if day.month < 12 else (day.year + 1, 1)
    moments: list[int] = []
    while True:
        moment = (date(year, month, 1) - _EPOCH).days * DAY
        if moment > end:
            return moments
        moments.append(moment)
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)


def window_bounds(start: int, end: int, step: Step) -> list[Window]:
    """Cut ``start..end`` (Unix seconds, both inclusive) into windows of ``step``.

    Days run from midnight to midnight UTC, weeks from Monday, months from
    the 1st; a timedelta of N days counts from the UTC midnight of ``start``.
    The windows are contiguous and disjoint, cover the range exactly, and
    each has ``end > start`` as the API requires: an edge piece of a single
    second (a range that starts at 23:59:59 or ends at 00:00:00) joins its
    neighbour rather than becoming a window of its own.

    Raises:
        ValueError: ``end <= start`` or a step that is not allowed.
        TypeError: A step of the wrong type.
    """
    step = normalize_step(step)
    if end <= start:
        raise ValueError("end must be greater than start")
    if isinstance(step, timedelta):
        starts = _day_starts(start, end, start // DAY, _step_days(step))
    elif step == "day":
        starts = _day_starts(start, end, start // DAY, 1)
    elif step == "week":
        starts = _day_starts(start, end, _MONDAY_OFFSET, 7)
    else:
        starts = _month_starts(start, end)
    # A boundary right after start or at end would leave a one-second window.
    starts = [moment for moment in starts if start + 1 < moment < end]
    edges = [start, *starts, end + 1]
    return [Window(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def windows(start: TimeBound, end: TimeBound, step: Step = "day") -> list[Window]:
    """Cut a range given as the client takes it into windows of ``step``.

    ``start`` and ``end`` are read like ``overall_statistics`` reads them: a
    ``date`` end means the whole of that day. See :func:`window_bounds`.

    Raises:
        RequestValidationError: A bound the API would refuse.
        ValueError: A step that is not allowed.
        TypeError: A bound or step of the wrong type.
    """
    start_time = to_unix_seconds(start, end=False)
    end_time = to_unix_seconds(end, end=True)
    validate_range(start_time, end_time)
    return window_bounds(start_time, end_time, step)
