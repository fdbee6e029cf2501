"""Splitting a range into pieces the API accepts.

The API refuses a span ``end - start`` over 365 days and counts every UTC day
a range touches as a whole day. So a longer range is cut at UTC midnights: a
piece ends at 23:59:59 and the next starts at 00:00:00, no day is counted
twice, and none is lost.
"""

from __future__ import annotations

from ._request import DAY, ONE_YEAR

__all__ = ["split_range"]


def split_range(
    start: int, end: int, *, max_span: int = ONE_YEAR
) -> list[tuple[int, int]]:
    """Cut ``start..end`` (Unix seconds, both inclusive) into the fewest pieces.

    Every piece spans at most ``max_span`` seconds and has ``end > start``;
    the pieces are contiguous and disjoint (each starts one second after the
    previous one ends) and every inner boundary is a UTC midnight. A range of
    at most ``max_span`` is returned whole.

    Args:
        start: First second of the range.
        end: Last second of the range; greater than ``start``.
        max_span: The longest span ``end - start`` of one piece, two days or more.

    Raises:
        ValueError: ``end <= start`` or ``max_span`` under two days.
    """
    if end <= start:
        raise ValueError("end must be greater than start")
    if max_span < 2 * DAY:
        raise ValueError("max_span must be at least two days")
    pieces: list[tuple[int, int]] = []
    while end - start > max_span:
        # The furthest midnight m with (m - 1) - start <= max_span.
        midnight = (start + max_span + 1) // DAY * DAY
        if midnight == end:
            # The last piece would be the single second end..end, which the
            # API refuses (end must exceed start): cut a day earlier.
            midnight -= DAY
        pieces.append((start, midnight - 1))
        start = midnight
    pieces.append((start, end))
    return pieces
