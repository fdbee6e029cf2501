"""Turn a valid request into the response body, with a small cache of results.

A request covers every UTC day that intersects its range, counted whole. Totals of
a campaign come from its prefix sums; the chart adds the day vectors of the matching
campaigns. Encoded bodies are cached by (first day, last day, selection).
"""

from __future__ import annotations

import datetime
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from operator import add, sub
from typing import Any

import msgspec

from insider_wa_async.sandbox._data import (
    BASE_KEYS,
    BUTTON_KEYS,
    BUTTONS_START,
    CAMPAIGN_TYPES,
    CHART_INDICES,
    CHART_KEYS,
    DAY,
    DROP_KEYS,
    DROP_SLICE,
    IDX_REVENUE,
    IDX_TARGETED,
    RESPONSE_SUMMARY_KEYS,
    RESPONSE_SUMMARY_SLICE,
    UNDELIVERED_KEYS,
    UNDELIVERED_SLICE,
    Campaign,
    Dataset,
)
from insider_wa_async.sandbox._rules import Query, RawFilter, RequestError

_EPOCH = datetime.date(1970, 1, 1).toordinal()
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Selection:
    """Hold a filter resolved against the catalogs; ``None`` means no filtering."""

    type_ids: frozenset[int] | None = None
    statuses: frozenset[str] | None = None
    accounts: frozenset[str] | None = None
    tag_ids: frozenset[int] | None = None
    show_architect: bool = False

    def matches(self, campaign: Campaign) -> bool:
        """Tell whether ``campaign`` passes every dimension of the filter."""
        if campaign.architect and not self.show_architect:
            return False
        if self.type_ids is not None and campaign.type_id not in self.type_ids:
            return False
        if self.statuses is not None and campaign.status not in self.statuses:
            return False
        if self.accounts is not None and campaign.phone not in self.accounts:
            return False
        return self.tag_ids is None or not self.tag_ids.isdisjoint(campaign.tag_ids)


def resolve(raw: RawFilter, dataset: Dataset) -> Selection:
    """Resolve tag names to ids, refusing names missing from the catalog.

    Args:
        raw: The decoded filter.
        dataset: The data set whose tag catalog names are looked up in.

    Returns:
        The selection to match campaigns with.

    Raises:
        RequestError: A tag name is unknown (422, the downstream service's body).
    """
    tag_ids: frozenset[int] | None = None
    if raw.tags is not None:
        names = [tag for tag in raw.tags if isinstance(tag, str)]
        missing = [name for name in names if name not in dataset.tag_ids_by_name]
        if missing:
            raise _unknown_tags(missing)
        ids = {dataset.tag_ids_by_name[name] for name in names}
        tag_ids = frozenset(ids | {tag for tag in raw.tags if isinstance(tag, int)})
    return Selection(
        type_ids=raw.type_ids,
        statuses=raw.statuses,
        accounts=raw.accounts,
        tag_ids=tag_ids,
        show_architect=raw.show_architect,
    )


def _unknown_tags(names: list[str]) -> RequestError:
    """Build the 422 error listing the tag names that could not be found."""
    text = "The following tag names could not be found: " + ", ".join(names)
    body = {
        "message": "The given data was invalid.",
        "errors": {"campaign_filter": {"tags": [text]}},
    }
    return RequestError(422, body)


def _counters(sums: tuple[int, ...]) -> dict[str, Any]:
    """Lay out the summary counters of a vector as in the response."""
    counters: dict[str, Any] = dict(zip(BASE_KEYS, sums, strict=False))
    counters["revenue"] = sums[IDX_REVENUE] / 4
    counters["dropDetails"] = dict(zip(DROP_KEYS, sums[DROP_SLICE], strict=True))
    failures = sums[UNDELIVERED_SLICE]
    counters["undeliveredDetails"] = dict(zip(UNDELIVERED_KEYS, failures, strict=True))
    return counters


def _responses(campaign: Campaign, sums: tuple[int, ...]) -> dict[str, Any]:
    """Lay out the button statistics and response summary of a campaign."""
    width = len(BUTTON_KEYS)
    items = []
    for number, button in enumerate(campaign.buttons):
        start = BUTTONS_START + number * width
        stats: dict[str, Any] = dict(
            zip(BUTTON_KEYS, sums[start : start + width], strict=True)
        )
        stats["revenue"] = stats["revenue"] / 4
        item = {"cardId": button.card_id, "buttonName": button.name, **stats}
        item["isNoReplyMessage"] = button.no_reply
        items.append(item)
    summary = dict(
        zip(RESPONSE_SUMMARY_KEYS, sums[RESPONSE_SUMMARY_SLICE], strict=True)
    )
    return {"responses": items, "responseSummary": summary}


def _last_delivery(campaign: Campaign, first: int, last: int) -> int:
    """Return the start of the last covered day with a delivery, or 0."""
    index = bisect_right(campaign.delivery_days, last) - 1
    if index < 0 or campaign.delivery_days[index] < first:
        return 0
    return campaign.delivery_days[index] * DAY


def _detail(
    campaign: Campaign, sums: tuple[int, ...], first: int, last: int
) -> dict[str, Any]:
    """Build one ``details`` item from a campaign's totals over the covered days."""
    item: dict[str, Any] = {
        "id": campaign.id,
        "status": campaign.status,
        "campName": campaign.name,
        "isConversational": campaign.conversational,
        "campaignType": CAMPAIGN_TYPES[campaign.type_id],
        "startsOn": campaign.starts_on,
        "endsOn": campaign.ends_on,
        "campaignLastDeliveryDate": _last_delivery(campaign, first, last),
        "tags": [{"id": tag_id, "name": name} for tag_id, name in campaign.tags],
        "phoneNumber": campaign.phone,
        "phoneNumberName": campaign.phone_name,
        **_counters(sums),
    }
    if campaign.conversational:
        item.update(_responses(campaign, sums))
    return item


def _add_chart(
    series: list[list[int]], campaign: Campaign, lo: int, hi: int, first: int
) -> None:
    """Add a campaign's days ``lo`` (inclusive) to ``hi`` (exclusive) to the chart."""
    offset = campaign.first_day - first
    for index in range(lo, hi):
        vector = campaign.days[index]
        if not vector[IDX_TARGETED]:
            continue
        for values, position in zip(series, CHART_INDICES, strict=True):
            values[offset + index] += vector[position]


def _chart(first: int, last: int, series: list[list[int]]) -> dict[str, Any]:
    """Lay out the chart: one entry per covered day, ascending."""
    days = range(first, last + 1)
    chart: dict[str, Any] = {
        "dates": [datetime.date.fromordinal(_EPOCH + day).isoformat() for day in days],
        "datesAsTimestamp": [day * DAY for day in days],
    }
    chart.update(zip(CHART_KEYS, series, strict=True))
    return chart


def _covered(
    dataset: Dataset, first: int, last: int, selection: Selection
) -> Iterator[tuple[Campaign, int, int, tuple[int, ...]]]:
    """Yield each selected campaign with events in the days, its day span and sums.

    The span ``lo`` (inclusive) to ``hi`` (exclusive) indexes ``Campaign.days``.
    """
    for campaign in dataset.campaigns:
        if campaign.last_day < first or campaign.first_day > last:
            continue
        if not selection.matches(campaign):
            continue
        lo = max(first, campaign.first_day) - campaign.first_day
        hi = min(last, campaign.last_day) - campaign.first_day + 1
        sums = tuple(map(sub, campaign.prefix[hi], campaign.prefix[lo]))
        if sums[IDX_TARGETED]:
            yield campaign, lo, hi, sums


def build_report(
    dataset: Dataset, first: int, last: int, selection: Selection
) -> dict[str, Any]:
    """Build the response body for the UTC days ``first`` to ``last`` inclusive.

    Args:
        dataset: The data set to count.
        first: The first covered day, in days since the Unix epoch.
        last: The last covered day, in days since the Unix epoch.
        selection: The campaigns to count.

    Returns:
        The JSON-ready body with ``chart``, ``summary`` and ``details``.
    """
    series = [[0] * (last - first + 1) for _ in CHART_KEYS]
    totals = (0,) * BUTTONS_START
    details = []
    for campaign, lo, hi, sums in _covered(dataset, first, last, selection):
        _add_chart(series, campaign, lo, hi, first)
        totals = tuple(map(add, totals, sums[:BUTTONS_START]))
        details.append(_detail(campaign, sums, first, last))
    return {
        "chart": _chart(first, last, series),
        "summary": _counters(totals),
        "details": details,
    }


class Reporter:
    """Answer valid requests from one data set, caching encoded bodies (LRU)."""

    def __init__(self, dataset: Dataset, *, cache_size: int = 256) -> None:
        self.dataset = dataset
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[int, int, Selection], bytes] = OrderedDict()

    def encoded(self, query: Query) -> bytes:
        """Return the encoded response body for a valid request.

        Args:
            query: The validated request.

        Returns:
            The JSON body.

        Raises:
            RequestError: A tag name is unknown (422).
        """
        selection = resolve(query.filter, self.dataset)
        key = (query.start_time // DAY, query.end_time // DAY, selection)
        body = self._cache.get(key)
        if body is not None:
            self._cache.move_to_end(key)
            return body
        body = _ENCODER.encode(build_report(self.dataset, *key))
        self._cache[key] = body
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return body
