"""Window arithmetic: calendar alignment, edges, and exact cover (properties)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insider_wa_async._errors import RequestValidationError
from insider_wa_async._windows import Window, step_name, window_bounds, windows

DAY = 86_400


def ts(day: date, hms: tuple[int, int, int] = (0, 0, 0)) -> int:
    moment = datetime(day.year, day.month, day.day, *hms, tzinfo=timezone.utc)
    return int(moment.timestamp())


def days_of(result: list[Window]) -> list[tuple[date, date]]:
    def as_date(moment: int) -> date:
        return datetime.fromtimestamp(moment, timezone.utc).date()

    return [(as_date(w.start), as_date(w.end)) for w in result]


def test_months_have_their_own_lengths() -> None:
    """Monthly windows run from the 1st to the last day, 28 to 31 days long."""
    result = windows(date(2023, 1, 1), date(2024, 12, 31), "month")
    lengths = [(w.end + 1 - w.start) // DAY for w in result]
    assert lengths[:12] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert lengths[12:] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert all(w.start % DAY == 0 and (w.end + 1) % DAY == 0 for w in result)


def test_leap_day_is_a_day_of_its_own() -> None:
    """2024-02-29 is a daily window, and February 2024 ends on it."""
    result = windows(date(2024, 2, 28), date(2024, 3, 1), "day")
    assert days_of(result) == [
        (date(2024, 2, 28), date(2024, 2, 28)),
        (date(2024, 2, 29), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 1)),
    ]
    (feb,) = windows(date(2024, 2, 1), date(2024, 2, 29), "month")
    assert feb == Window(ts(date(2024, 2, 1)), ts(date(2024, 2, 29), (23, 59, 59)))


def test_weeks_start_on_monday_across_a_year_end() -> None:
    """Weeks are cut at Mondays, also when one straddles New Year; edges are cut."""
    result = windows(date(2020, 12, 30), date(2021, 1, 12), "week")
    assert days_of(result) == [
        (date(2020, 12, 30), date(2021, 1, 3)),
        (date(2021, 1, 4), date(2021, 1, 10)),
        (date(2021, 1, 11), date(2021, 1, 12)),
    ]
    assert all(
        datetime.fromtimestamp(w.start, timezone.utc).weekday() == 0 for w in result[1:]
    )


@pytest.mark.parametrize("step", ["day", "week", "month", timedelta(days=10)])
def test_range_shorter_than_one_step_is_one_window(step: str | timedelta) -> None:
    """A range inside one step gives that range back as the only window."""
    start = ts(date(2022, 6, 14), (10, 30, 0))
    end = ts(date(2022, 6, 14), (18, 0, 0))
    assert window_bounds(start, end, step) == [Window(start, end)]  # type: ignore[arg-type]


def test_one_second_edges_join_their_neighbour() -> None:
    """A range starting at 23:59:59 or ending at 00:00:00 makes no 1-second window."""
    start = ts(date(2022, 1, 1), (23, 59, 59))
    end = ts(date(2022, 1, 3), (12, 0, 0))
    assert window_bounds(start, end, "day") == [
        Window(start, ts(date(2022, 1, 2), (23, 59, 59))),
        Window(ts(date(2022, 1, 3)), end),
    ]
    start = ts(date(2022, 1, 1), (12, 0, 0))
    end = ts(date(2022, 1, 3))
    assert window_bounds(start, end, "day") == [
        Window(start, ts(date(2022, 1, 1), (23, 59, 59))),
        Window(ts(date(2022, 1, 2)), end),
    ]
    assert window_bounds(start, start + 1, "day") == [Window(start, start + 1)]


def test_long_timedelta_windows_count_from_the_start_day() -> None:
    """Windows of 400 days are allowed and counted from the start's midnight."""
    result = windows(date(2019, 3, 5), date(2021, 1, 1), timedelta(days=400))
    assert days_of(result) == [
        (date(2019, 3, 5), date(2020, 4, 7)),
        (date(2020, 4, 8), date(2021, 1, 1)),
    ]


def test_bounds_are_read_like_the_client_reads_them() -> None:
    """A date end is the whole day; naive datetimes and bad steps are refused."""
    assert windows(date(2024, 1, 1), date(2024, 1, 1)) == [
        Window(ts(date(2024, 1, 1)), ts(date(2024, 1, 1), (23, 59, 59)))
    ]
    with pytest.raises(RequestValidationError):
        windows(datetime(2024, 1, 1), date(2024, 1, 2))
    with pytest.raises(ValueError, match="whole number of days"):
        windows(date(2024, 1, 1), date(2024, 1, 2), timedelta(hours=12))
    with pytest.raises(ValueError, match="unknown step"):
        windows(date(2024, 1, 1), date(2024, 1, 2), "year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="greater"):
        window_bounds(10, 10, "day")
    assert step_name(timedelta(days=7)) == "7d"


moments = st.integers(min_value=1_000_000_000, max_value=2_500_000_000)
steps = st.one_of(
    st.sampled_from(["day", "week", "month"]),
    st.integers(min_value=1, max_value=800).map(lambda n: timedelta(days=n)),
)


@given(a=moments, length=st.integers(min_value=1, max_value=3 * 366 * DAY), step=steps)
def test_windows_cover_the_range_exactly(
    a: int, length: int, step: str | timedelta
) -> None:
    """Windows are contiguous, disjoint, non-empty, exact, and cut at midnights."""
    result = window_bounds(a, a + length, step)  # type: ignore[arg-type]
    assert result[0].start == a
    assert result[-1].end == a + length
    for before, after in itertools.pairwise(result):
        assert after.start == before.end + 1
        assert after.start % DAY == 0
    assert all(w.end > w.start for w in result)


@given(a=moments, length=st.integers(min_value=2 * DAY, max_value=2 * 366 * DAY))
def test_calendar_windows_are_aligned(a: int, length: int) -> None:
    """Inner window starts are midnights, Mondays and 1sts for day, week, month."""
    for step, check in (
        ("day", lambda d: True),
        ("week", lambda d: d.weekday() == 0),
        ("month", lambda d: d.day == 1),
    ):
        result = window_bounds(a, a + length, step)  # type: ignore[arg-type]
        for window in result[1:]:
            assert check(datetime.fromtimestamp(window.start, timezone.utc))
        # Only an edge piece of one second may be merged into a neighbour.
        if step == "day":
            assert all(w.end - w.start == DAY - 1 for w in result[1:-1])


def test_n_day_steps_read_the_same_everywhere() -> None:
    """'10d', ' 10D ' and timedelta(days=10) cut the same windows."""
    from datetime import date, timedelta

    from insider_wa_async._windows import windows

    by_text = windows(date(2024, 1, 1), date(2024, 3, 1), "10d")
    assert by_text == windows(date(2024, 1, 1), date(2024, 3, 1), " 10D ")
    assert by_text == windows(date(2024, 1, 1), date(2024, 3, 1), timedelta(days=10))
    with pytest.raises(ValueError, match="10d"):
        windows(date(2024, 1, 1), date(2024, 3, 1), "10 days")
