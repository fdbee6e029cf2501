"""Merging the pieces of a split range into the answer one request would give."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insider_wa_async import (
    ButtonStats,
    CampaignDetail,
    CampaignFilter,
    Chart,
    InsiderWAClient,
    OverallStatistics,
    ResponseSummary,
    Summary,
    merge_statistics,
)
from insider_wa_async.sandbox import Sandbox

DAY = 86_400
FIRST = 1_546_300_800  # 2019-01-01
LAST = 1_798_761_599  # 2026-12-31T23:59:59


def normalised(body: Any) -> Any:
    """Return a JSON-shaped answer with order-free lists sorted."""
    body = msgspec.json.decode(msgspec.json.encode(body))
    body["details"].sort(key=lambda d: d["id"])
    for item in body["details"]:
        item.get("responses", []).sort(key=lambda b: (b["cardId"], b["buttonName"]))
        item["tags"].sort(key=lambda t: t["id"])
    return body


async def split_and_single(
    start: int, end: int, flt: dict[str, Any] | None
) -> tuple[Any, Any, int]:
    """Fetch through the client (split), then once with the year limit lifted."""
    async with Sandbox(rate_limit=None) as sandbox:
        async with InsiderWAClient(
            token=sandbox.token, base_url=sandbox.url, rate_limit=10_000
        ) as client:
            merged = await client.overall_statistics(
                start,
                end,
                campaign_filter=None if flt is None else CampaignFilter(**flt),
            )
        pieces = sandbox.stats.requests
        sandbox.year_limit = False
        body: dict[str, Any] = {"start_time": start, "end_time": end}
        if flt is not None:
            body["campaign_filter"] = flt
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                sandbox.url + "/api/wa/v2/statistics/overall",
                json=body,
                headers={"Authorization": f"Bearer {sandbox.token}"},
            )
            assert response.status == 200
            single = await response.json()
    return normalised(merged), normalised(single), pieces


filters = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "campaign_type_ids": st.lists(st.sampled_from([1, 2, 3, 5, 6]), max_size=2),
            "statuses": st.lists(
                st.sampled_from(["active", "completed", "stop", "all"]), max_size=2
            ),
            "tags": st.lists(st.integers(min_value=1, max_value=12), max_size=2),
            "show_architect": st.booleans(),
        },
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    start=st.integers(min_value=FIRST - 30 * DAY, max_value=LAST - DAY),
    days=st.integers(min_value=1, max_value=8 * 366),
    seconds=st.integers(min_value=0, max_value=DAY - 1),
    flt=filters,
)
def test_split_and_merge_equals_one_unlimited_request(
    start: int, days: int, seconds: int, flt: dict[str, Any] | None
) -> None:
    """For any range and filter, the merged pieces equal one unlimited request."""
    end = min(start + days * DAY + seconds, 9_999_999_999)
    merged, single, pieces = asyncio.run(split_and_single(start, end, flt))
    assert pieces >= 1
    assert merged == single


def make_detail(cid: int, day: int, **counts: Any) -> CampaignDetail:
    """Build a campaign item as one piece would report it."""
    return CampaignDetail(
        id=cid,
        status=counts.pop("status", "active"),
        camp_name=counts.pop("camp_name", f"c{cid}"),
        campaign_last_delivery_date=day,
        **counts,
    )


def make_part(days: list[int], details: list[CampaignDetail]) -> OverallStatistics:
    """Build one piece's answer with one sent per day."""
    chart = Chart(
        dates=[f"d{d}" for d in days],
        dates_as_timestamp=[d * DAY for d in days],
        sent=[1] * len(days),
    )
    for name in Chart.__struct_fields__[2:]:
        if name != "sent":
            setattr(chart, name, [0] * len(days))
    summary = Summary(sent=len(days), revenue=0.5)
    return OverallStatistics(chart=chart, summary=summary, details=details)


def test_a_day_seen_twice_is_summed_once() -> None:
    """Overlapping charts sum the shared day and list it once, in order."""
    merged = merge_statistics([make_part([3, 4], []), make_part([1, 2, 3], [])])
    assert merged.chart.dates_as_timestamp == [d * DAY for d in (1, 2, 3, 4)]
    assert merged.chart.sent == [1, 1, 2, 1]
    assert merged.summary.sent == 5
    assert merged.summary.revenue == 1.0


def test_campaigns_merge_by_id_with_the_newest_description() -> None:
    """Counters add up; status and name come from the newest piece; dates max."""
    old = make_detail(7, 10, sent=5, revenue=1.25, status="active", camp_name="Old")
    new = make_detail(7, 20, sent=2, revenue=0.5, status="completed", camp_name="New")
    other = make_detail(8, 5, sent=1)
    merged = merge_statistics([make_part([1], [old, other]), make_part([2], [new])])
    by_id = {d.id: d for d in merged.details}
    assert set(by_id) == {7, 8}
    assert (by_id[7].sent, by_id[7].revenue) == (7, 1.75)
    assert (by_id[7].status, by_id[7].camp_name) == ("completed", "New")
    assert by_id[7].campaign_last_delivery_date == 20
    assert isinstance(by_id[7].sent, int)


def test_breakdowns_and_buttons_merge() -> None:
    """Drop details, buttons (by card and name) and response summaries add up."""
    a = make_detail(1, 0, drop=3)
    a.drop_details.duplicates = 3
    a.responses = [ButtonStats(card_id=1, button_name="Yes", sent=4)]
    a.response_summary = ResponseSummary(sent=4, button_click=1)
    b = make_detail(1, 0, drop=2)
    b.drop_details.duplicates = 2
    b.responses = [
        ButtonStats(card_id=1, button_name="Yes", sent=1),
        ButtonStats(card_id=1, button_name="No", sent=6),
    ]
    b.response_summary = ResponseSummary(sent=7, button_click=2)
    (merged,) = merge_statistics([make_part([1], [a]), make_part([2], [b])]).details
    assert merged.drop == 5
    assert merged.drop_details.duplicates == 5
    assert merged.response_summary == ResponseSummary(sent=11, button_click=3)
    assert merged.responses
    buttons = {(x.card_id, x.button_name): x.sent for x in merged.responses}
    assert buttons == {(1, "Yes"): 5, (1, "No"): 6}


def test_a_campaign_conversational_in_one_piece_only_keeps_its_buttons() -> None:
    """Buttons present in only the older piece are kept."""
    a = make_detail(1, 0)
    a.responses = [ButtonStats(card_id=2, button_name="Go", sent=3)]
    a.response_summary = ResponseSummary(sent=3)
    b = make_detail(1, 0)
    (merged,) = merge_statistics([make_part([1], [a]), make_part([2], [b])]).details
    assert merged.responses == [ButtonStats(card_id=2, button_name="Go", sent=3)]
    assert merged.response_summary == ResponseSummary(sent=3)
