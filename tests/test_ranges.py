"""Splitting a long range into pieces the API accepts."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insider_wa_async import split_range

DAY = 86_400
YEAR = 365 * DAY


def ts(text: str) -> int:
    """Return the Unix seconds of an ISO UTC moment."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def days_of(start: int, end: int) -> set[int]:
    """Return the UTC day numbers a range touches, as the API counts them."""
    return set(range(start // DAY, end // DAY + 1))


def check_pieces(start: int, end: int, pieces: list[tuple[int, int]]) -> None:
    """Assert every invariant a split must keep."""
    assert pieces[0][0] == start
    assert pieces[-1][1] == end
    for a, b in pieces:
        assert b > a
        assert b - a <= YEAR
    for (_, prev_end), (next_start, _) in itertools.pairwise(pieces):
        assert next_start == prev_end + 1
        assert next_start % DAY == 0
    covered = [days_of(a, b) for a, b in pieces]
    assert set().union(*covered) == days_of(start, end)
    assert sum(len(c) for c in covered) == len(days_of(start, end))


def test_exactly_365_days_is_one_request() -> None:
    """A span of exactly 365 days is not split."""
    start = ts("2023-01-01T00:00:00")
    assert split_range(start, start + YEAR) == [(start, start + YEAR)]


def test_one_second_over_365_days_is_two_requests() -> None:
    """365 days and 1 second is split in two at a UTC midnight."""
    start = ts("2023-01-01T00:00:00")
    pieces = split_range(start, start + YEAR + 1)
    assert pieces == [
        (start, ts("2023-12-31T23:59:59")),
        (ts("2024-01-01T00:00:00"), start + YEAR + 1),
    ]


def test_a_leap_year_is_too_long_for_one_request() -> None:
    """2024 (366 days) needs two requests; its 366th day is not lost."""
    start, end = ts("2024-01-01T00:00:00"), ts("2024-12-31T23:59:59")
    pieces = split_range(start, end)
    assert len(pieces) == 2
    check_pieces(start, end, pieces)


def test_a_start_at_1030_keeps_its_day() -> None:
    """A start at 10:30 stays the first piece's start; its whole day is counted."""
    start, end = ts("2021-05-05T10:30:00"), ts("2023-05-05T10:30:00")
    pieces = split_range(start, end)
    assert pieces[0] == (start, ts("2022-05-04T23:59:59"))
    check_pieces(start, end, pieces)


def test_an_end_at_midnight_never_leaves_a_one_second_piece() -> None:
    """An end on a midnight just past the limit moves the cut a day earlier."""
    start = ts("2022-03-01T23:59:59")
    end = start + YEAR + 1  # a UTC midnight
    assert end % DAY == 0
    pieces = split_range(start, end)
    assert len(pieces) == 2
    assert pieces[-1][1] - pieces[-1][0] == DAY
    check_pieces(start, end, pieces)


def test_ten_years_take_the_fewest_pieces() -> None:
    """2016-01-01 .. 2025-12-31 (3,653 days) takes the fewest pieces: eleven."""
    start, end = ts("2016-01-01T00:00:00"), ts("2025-12-31T23:59:59")
    pieces = split_range(start, end)
    assert len(pieces) == -(-3653 // 365)
    check_pieces(start, end, pieces)


def fewest_pieces(start: int, end: int) -> int:
    """Count pieces by a different route: whole days, at most 365 per piece."""
    first, last = start // DAY, end // DAY
    if end - start <= YEAR:
        return 1
    # The first piece reaches as many days as a 365-day span allows from start.
    first_reach = (start + YEAR + 1) // DAY - first
    rest = last - first + 1 - first_reach
    return 1 + -(-rest // 365) if rest > 0 else 1


@settings(max_examples=500, deadline=None)
@given(
    start=st.integers(min_value=1_000_000_000, max_value=9_000_000_000),
    span=st.one_of(
        st.integers(min_value=1, max_value=12 * YEAR),
        st.integers(min_value=YEAR - 2, max_value=YEAR + 2 * DAY),
    ),
)
def test_pieces_are_fewest_contiguous_and_aligned(start: int, span: int) -> None:
    """Any range splits into the fewest valid, contiguous, midnight-aligned pieces."""
    end = start + span
    pieces = split_range(start, end)
    check_pieces(start, end, pieces)
    assert len(pieces) == fewest_pieces(start, end)


def test_bad_ranges_are_refused() -> None:
    """An empty range or a piece length under two days raises ValueError."""
    with pytest.raises(ValueError, match="greater"):
        split_range(10, 10)
    with pytest.raises(ValueError, match="two days"):
        split_range(0, 10 * DAY, max_span=DAY)
