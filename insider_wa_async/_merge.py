"""Merging the answers for the pieces of a range into one.

The result is what one request without the year limit would have returned:
chart days in order (a day seen twice is summed, never listed twice), the
summary summed field by field, and campaigns merged by id. Merging adds in
place into the Structs it is given, so the parts are consumed.

The adders are generated once from the models' field lists: plain attribute
arithmetic is several times faster than any generic walk over fields.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from ._models import (
    ButtonStats,
    CampaignDetail,
    Chart,
    OverallStatistics,
    ResponseSummary,
    Summary,
)

__all__ = ["merge_statistics"]

_Adder = Callable[[Any, Any], None]


def _counter_fields(cls: type[msgspec.Struct]) -> list[str]:
    return [
        f.name
        for f in msgspec.structs.fields(cls)
        if f.type in (int, float) and f.name not in ("id", "card_id")
    ]


def _make_adder(cls: type[msgspec.Struct], nested: Sequence[str] = ()) -> _Adder:
    """Build ``add(a, b)`` doing ``a.f += b.f`` for every counter of ``cls``."""
    skip = {"starts_on", "ends_on", "campaign_last_delivery_date"}
    lines = ["def add(a, b):"]
    lines += [f"    a.{n} += b.{n}" for n in _counter_fields(cls) if n not in skip]
    for name in nested:
        field_cls = next(f.type for f in msgspec.structs.fields(cls) if f.name == name)
        lines.append(f"    x = a.{name}; y = b.{name}")
        lines += [f"    x.{n} += y.{n}" for n in _counter_fields(field_cls)]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    adder: _Adder = namespace["add"]
    return adder


_BREAKDOWNS = ("drop_details", "undelivered_details")
_add_summary = _make_adder(Summary, _BREAKDOWNS)
_add_detail = _make_adder(CampaignDetail, _BREAKDOWNS)
_add_button = _make_adder(ButtonStats)
_add_response_summary = _make_adder(ResponseSummary)
_SERIES = tuple(
    f for f in Chart.__struct_fields__ if f not in ("dates", "dates_as_timestamp")
)


def merge_statistics(parts: Sequence[OverallStatistics]) -> OverallStatistics:
    """Merge the answers for pieces of one range, given in chronological order.

    Args:
        parts: One answer per piece, oldest first; they are consumed (the
            result shares and mutates their Structs).

    Returns:
        One answer, as an unlimited request would have given it.
    """
    if len(parts) == 1:
        return parts[0]
    summary = parts[0].summary
    for part in parts[1:]:
        _add_summary(summary, part.summary)
    return OverallStatistics(
        chart=_merge_charts([p.chart for p in parts]),
        summary=summary,
        details=_merge_details(p.details for p in reversed(parts)),
    )


def _merge_charts(charts: list[Chart]) -> Chart:
    charts = sorted(
        (c for c in charts if c.dates_as_timestamp),
        key=lambda c: c.dates_as_timestamp[0],
    )
    if not charts:
        return Chart()
    ordered = all(
        prev.dates_as_timestamp[-1] < nxt.dates_as_timestamp[0]
        for prev, nxt in itertools.pairwise(charts)
    )
    if ordered:
        merged = Chart()
        for name in ("dates", "dates_as_timestamp", *_SERIES):
            series: list[Any] = getattr(merged, name)
            for chart in charts:
                series += getattr(chart, name)
        return merged
    return _merge_overlapping_charts(charts)


def _merge_overlapping_charts(charts: list[Chart]) -> Chart:
    """Merge charts whose days overlap: a day seen twice is summed once."""
    days: dict[int, tuple[str, list[int]]] = {}
    for chart in charts:
        columns = [getattr(chart, name) for name in _SERIES]
        for i, (stamp, label) in enumerate(
            zip(chart.dates_as_timestamp, chart.dates, strict=True)
        ):
            row = days.get(stamp)
            if row is None:
                days[stamp] = (label, [column[i] for column in columns])
                continue
            values = row[1]
            for j, column in enumerate(columns):
                values[j] += column[i]
    merged = Chart()
    for stamp in sorted(days):
        label, values = days[stamp]
        merged.dates.append(label)
        merged.dates_as_timestamp.append(stamp)
        for name, value in zip(_SERIES, values, strict=True):
            getattr(merged, name).append(value)
    return merged


def _merge_details(parts: Iterable[list[CampaignDetail]]) -> list[CampaignDetail]:
    """Merge campaigns by id; ``parts`` come newest first.

    The newest piece's item is kept as the accumulator, so the fields that
    describe the campaign now (status, names, tags, phone) come from it.
    """
    merged: dict[int, CampaignDetail] = {}
    for details in parts:
        for item in details:
            kept = merged.get(item.id)
            if kept is None:
                merged[item.id] = item
                continue
            _add_detail(kept, item)
            if item.campaign_last_delivery_date > kept.campaign_last_delivery_date:
                kept.campaign_last_delivery_date = item.campaign_last_delivery_date
            if item.responses or item.response_summary:
                _merge_responses(kept, item)
    return list(merged.values())


def _merge_responses(kept: CampaignDetail, older: CampaignDetail) -> None:
    if older.response_summary:
        if kept.response_summary:
            _add_response_summary(kept.response_summary, older.response_summary)
        else:
            kept.response_summary = older.response_summary
    if not older.responses:
        return
    if not kept.responses:
        kept.responses = older.responses
        return
    buttons = {(b.card_id, b.button_name): b for b in kept.responses}
    for button in older.responses:
        same = buttons.get((button.card_id, button.button_name))
        if same is None:
            kept.responses.append(button)
            buttons[(button.card_id, button.button_name)] = button
        else:
            _add_button(same, button)
