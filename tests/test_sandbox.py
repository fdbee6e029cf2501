"""Tests of the embedded sandbox server, over real loopback HTTP where it matters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import insider_wa_async.sandbox as sandbox_module
from insider_wa_async.sandbox import FAULT_KINDS, FaultPlan, Sandbox, serve_forever
from insider_wa_async.sandbox._data import (
    CAMPAIGN_TYPES,
    DAY,
    DROP_KEYS,
    PHONES,
    STATUSES,
    TAG_NAMES,
    UNDELIVERED_KEYS,
    build_dataset,
)
from insider_wa_async.sandbox._stats import SlidingWindow

BEARER = "/api/wa/v2/statistics/overall"
API_KEY = "/v1/statistics/overall"
TOKEN = "/auth/token"
MAR_1_2025 = 1_740_787_200
JAN_1_2025 = 1_735_689_600
JAN_1_2020 = 1_577_836_800
YEAR = 31_536_000
RATE_LIMITED = {
    "message": "rate limited",
    "error": {"message": "rate limited", "code": 2021},
}
COUNTERS = (
    "sent",
    "delivered",
    "open",
    "click",
    "conversion",
    "revenue",
    "drop",
    "targeted",
    "unsubscribe",
    "undelivered",
    "deliveryPending",
)
OFFLINE = Sandbox()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession,
    sandbox: Sandbox,
    body: Any = None,
    *,
    path: str = BEARER,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    """Post to the sandbox with its static token and return status and JSON."""
    sent = {"Authorization": f"Bearer {sandbox.token}"} if headers is None else headers
    if body is None and data is None:
        body = {"start_time": MAR_1_2025, "end_time": MAR_1_2025 + 30 * DAY}
    async with session.post(
        sandbox.url + path, json=body if data is None else None, data=data, headers=sent
    ) as response:
        return response.status, await response.json(content_type=None)


def window(days: int, start: int = MAR_1_2025) -> dict[str, int]:
    """Build a request body covering ``days`` whole days from ``start``."""
    return {"start_time": start, "end_time": start + days * DAY - 1}


def check_identities(counters: dict[str, Any]) -> None:
    """Assert the counter identities of one summary or details item."""
    assert counters["targeted"] == counters["sent"] + counters["drop"]
    parts = counters["delivered"] + counters["undelivered"]
    assert counters["sent"] == parts + counters["deliveryPending"]
    assert counters["drop"] == sum(counters["dropDetails"].values())
    assert counters["undelivered"] == sum(counters["undeliveredDetails"].values())
    assert list(counters["dropDetails"]) == list(DROP_KEYS)
    assert list(counters["undeliveredDetails"]) == list(UNDELIVERED_KEYS)
    assert counters["revenue"] * 4 == int(counters["revenue"] * 4)


def check_body(body: dict[str, Any], start: int, end: int) -> None:
    """Assert every rule of the contract on one 200 body."""
    chart, summary, details = body["chart"], body["summary"], body["details"]
    first, last = start // DAY, end // DAY
    assert chart["datesAsTimestamp"] == [d * DAY for d in range(first, last + 1)]
    assert len(chart["dates"]) == last - first + 1
    for key in ("sent", "delivered", "open", "click", "conversion"):
        assert sum(chart[key]) == summary[key]
    check_identities(summary)
    for key in COUNTERS:
        assert sum(item[key] for item in details) == summary[key]
    for group in ("dropDetails", "undeliveredDetails"):
        for key in summary[group]:
            assert sum(item[group][key] for item in details) == summary[group][key]
    answered = [item["responseSummary"] for item in details if "responses" in item]
    assert sum(chart["responses"]) == sum(r["sent"] for r in answered)
    assert sum(chart["clickFromResponses"]) == sum(r["click"] for r in answered)
    assert sum(chart["conversionFromResponses"]) == sum(
        r["conversion"] for r in answered
    )
    for item in details:
        check_identities(item)
        assert item["targeted"] > 0
        assert item["conversion"] <= item["click"] <= item["open"] <= item["delivered"]
        assert ("responses" in item) == item["isConversational"]
        assert ("responseSummary" in item) == item["isConversational"]
        delivered_on = item["campaignLastDeliveryDate"]
        assert (delivered_on == 0) == (item["delivered"] == 0)
        assert delivered_on == 0 or first * DAY <= delivered_on <= last * DAY


def test_public_names_are_sorted() -> None:
    """The package's ``__all__`` is sorted (constants, classes, functions)."""
    names = sandbox_module.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n.islower(), n))
    assert all(hasattr(sandbox_module, name) for name in sandbox_module.__all__)


def test_data_set_covers_every_type_and_status() -> None:
    """The data hold every type, status, several phones, tags, Architect and gaps."""
    campaigns = build_dataset(2026).campaigns
    assert {c.type_id for c in campaigns} == set(CAMPAIGN_TYPES)
    assert {c.status for c in campaigns} == set(STATUSES)
    assert {c.phone for c in campaigns} == {phone for phone, _ in PHONES}
    assert 0.1 < sum(c.conversational for c in campaigns) / len(campaigns) < 0.3
    assert any(c.architect for c in campaigns)
    assert all(1 <= len(c.days) <= 60 and len(c.tags) <= 3 for c in campaigns)
    year = OFFLINE.truth(JAN_1_2025, JAN_1_2025 + YEAR - 1)
    assert 0 in year["chart"]["sent"]


def test_same_seed_gives_same_truth() -> None:
    """Two sandboxes with one seed agree, and another seed differs."""
    body = window(200)
    twin = Sandbox(seed=2026).truth(body["start_time"], body["end_time"])
    assert OFFLINE.truth(body["start_time"], body["end_time"]) == twin
    other = Sandbox(seed=7).truth(body["start_time"], body["end_time"])
    assert other != twin


def test_year_is_answered_in_milliseconds() -> None:
    """An uncached one-year request without filter takes a few milliseconds."""
    fresh = Sandbox(seed=2026)
    started = time.perf_counter()
    fresh.truth(JAN_1_2025 + 17, JAN_1_2025 + YEAR)
    assert time.perf_counter() - started < 0.05


filters = st.fixed_dictionaries(
    {},
    optional={
        "campaign_type_ids": st.lists(st.sampled_from([1, 2, 3, 5, 6, "all"])),
        "statuses": st.lists(st.sampled_from(["all", *STATUSES]), max_size=3),
        "accounts": st.lists(st.sampled_from([p for p, _ in PHONES]), max_size=2),
        "tags": st.lists(
            st.one_of(st.integers(1, 14), st.sampled_from(TAG_NAMES)), max_size=3
        ),
        "show_architect": st.booleans(),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(17_850 * DAY, 20_900 * DAY),
    span=st.integers(1, 400 * DAY),
    campaign_filter=filters,
)
def test_truth_obeys_identities(
    start: int, span: int, campaign_filter: dict[str, Any]
) -> None:
    """Any range and filter gives a body obeying the identities and sums."""
    body = OFFLINE.truth(start, start + span, campaign_filter)
    check_body(body, start, start + span)


def test_partial_day_counts_whole() -> None:
    """A range starting at 10:30 counts that whole day, like one from midnight."""
    day = MAR_1_2025 + 5 * DAY
    part = OFFLINE.truth(day + 37_800, day + DAY + 60)
    whole = OFFLINE.truth(day, day + 2 * DAY - 1)
    assert part == whole
    assert part["chart"]["dates"] == ["2025-03-06", "2025-03-07"]


def test_empty_period_has_zero_days() -> None:
    """A range before any data has one zero entry per day and no details."""
    body = OFFLINE.truth(1_500_000_000, 1_500_000_000 + 3 * DAY)
    assert body["chart"]["sent"] == [0, 0, 0, 0]
    assert body["details"] == []
    assert body["summary"]["targeted"] == 0


def test_all_and_empty_lists_mean_no_filter() -> None:
    """``"all"`` anywhere in a list, or an empty list, is the same as no filter."""
    body = window(365, JAN_1_2025)
    plain = OFFLINE.truth(body["start_time"], body["end_time"])
    same: list[dict[str, Any]] = [
        {"campaign_type_ids": [1, "all"], "statuses": ["all"]},
        {"campaign_type_ids": [], "statuses": [], "accounts": [], "tags": []},
        {"accounts": ["all"], "tags": ["all"]},
    ]
    for flt in same:
        assert OFFLINE.truth(body["start_time"], body["end_time"], flt) == plain


def ids(body: dict[str, Any]) -> set[int]:
    """Return the campaign ids of a body's details."""
    return {item["id"] for item in body["details"]}


def test_filters_select_campaigns() -> None:
    """Types, statuses, accounts and tags keep only matching campaigns."""
    start, end = JAN_1_2025, JAN_1_2025 + YEAR - 1
    typed = OFFLINE.truth(start, end, {"campaign_type_ids": [2, 5]})
    assert {d["campaignType"] for d in typed["details"]} == {"ab_test", "transactional"}
    status = OFFLINE.truth(start, end, {"statuses": ["draft", "stop"]})
    assert {d["status"] for d in status["details"]} == {"draft", "stop"}
    phone = PHONES[1][0]
    account = OFFLINE.truth(start, end, {"accounts": [phone]})
    assert {d["phoneNumber"] for d in account["details"]} == {phone}
    by_id = OFFLINE.truth(start, end, {"tags": [3]})
    by_name = OFFLINE.truth(start, end, {"tags": [TAG_NAMES[2]]})
    assert by_id == by_name
    assert all(3 in [t["id"] for t in d["tags"]] for d in by_id["details"])
    assert OFFLINE.truth(start, end, {"tags": [999]})["details"] == []


def test_architect_campaigns_need_show_architect() -> None:
    """Architect campaigns appear only when ``show_architect`` is true."""
    architect = {c.id for c in build_dataset(2026).campaigns if c.architect}
    start, end = JAN_1_2020, JAN_1_2020 + YEAR - 1
    hidden = ids(OFFLINE.truth(start, end))
    shown = ids(OFFLINE.truth(start, end, {"show_architect": True}))
    assert not hidden & architect
    assert shown - hidden
    assert shown - hidden <= architect


def test_truth_refuses_invalid_filters() -> None:
    """``truth`` raises ValueError for bodies the server would refuse."""
    with pytest.raises(ValueError, match="422"):
        OFFLINE.truth(MAR_1_2025, MAR_1_2025 + DAY, {"tags": ["nope"]})
    with pytest.raises(ValueError, match="3002"):
        OFFLINE.truth(MAR_1_2025, MAR_1_2025 + DAY, {"statuses": ["x"]})


def test_sliding_window_admits_after_period() -> None:
    """A sliding window refuses the 11th event and admits it a period later."""
    limiter = SlidingWindow(60.0)
    assert all(limiter.admit(float(i), 10) for i in range(10))
    assert not limiter.admit(59.9, 10)
    assert limiter.admit(60.0, 10)
    assert not limiter.admit(60.5, 10)
    assert limiter.admit(61.0, 10)


DIGITS = "must be a 10-digit unix timestamp"
VALIDATION = [
    ({}, "start_time is required"),
    ({"start_time": MAR_1_2025}, "end_time is required"),
    ({"start_time": 123, "end_time": MAR_1_2025}, f"start_time {DIGITS}"),
    ({"start_time": MAR_1_2025, "end_time": 10**10}, f"end_time {DIGITS}"),
    ({"start_time": -MAR_1_2025, "end_time": MAR_1_2025}, f"start_time {DIGITS}"),
    (
        {"start_time": MAR_1_2025, "end_time": MAR_1_2025},
        "end_time must be greater than start_time",
    ),
    (
        {"start_time": JAN_1_2025, "end_time": JAN_1_2025 + YEAR + 1},
        "date range cannot exceed 1 year",
    ),
]
TYPES_TEXT = "allowed values are: all, 1, 2, 3, 5, 6"
STATUS_TEXT = (
    "allowed values are: all, active, test, passive, completed, failed, scheduled, "
    "draft, stop"
)
FILTER_VALIDATION = [
    ({"campaign_type_ids": [1, 4]}, f"invalid campaign_type_id: 4, {TYPES_TEXT}"),
    ({"campaign_type_ids": ["x"]}, f"invalid campaign_type_id: x, {TYPES_TEXT}"),
    ({"statuses": ["open"]}, f"invalid status: open, {STATUS_TEXT}"),
    ({"tags": [1, 2.5]}, "tag at index 1 must be a string or integer"),
    ({"tags": [None]}, "tag at index 0 must be a string or integer"),
    ({"tags": ["a", True]}, "tag at index 1 must be a string or integer"),
    ({"tags": [{}]}, "tag at index 0 must be a string or integer"),
    ({"tags": [[1]]}, "tag at index 0 must be a string or integer"),
    (
        {"campaign_type_ids": [4], "statuses": ["x"], "tags": [None]},
        f"invalid campaign_type_id: 4, {TYPES_TEXT}",
    ),
    ({"statuses": ["x"], "tags": [None]}, f"invalid status: x, {STATUS_TEXT}"),
]
TOP = "OverallRequest."
NESTED = "CampaignFilter.campaign_filter."
ANY_LIST = "[]interface {}"
PARSE = [
    ({"start_time": "1740787200"}, "string", TOP + "start_time", "int64"),
    ({"start_time": 1740787200.5}, "number 1740787200.5", TOP + "start_time", "int64"),
    ({"end_time": True}, "bool", TOP + "end_time", "int64"),
    ({"end_time": 2**64}, f"number {2**64}", TOP + "end_time", "int64"),
    (
        {"campaign_filter": "x"},
        "string",
        TOP + "campaign_filter",
        "request.CampaignFilter",
    ),
    ({"statuses": "active"}, "string", NESTED + "statuses", "[]string"),
    ({"statuses": [1]}, "number", NESTED + "statuses", "string"),
    ({"accounts": [5]}, "number", NESTED + "accounts", "string"),
    ({"show_architect": "yes"}, "string", NESTED + "show_architect", "bool"),
    ({"tags": {}}, "object", NESTED + "tags", ANY_LIST),
    ({"campaign_type_ids": 1}, "number", NESTED + "campaign_type_ids", ANY_LIST),
]


@pytest.mark.parametrize(("body", "message"), VALIDATION)
async def test_range_validation_messages(
    sandbox: Sandbox, session: aiohttp.ClientSession, body: Any, message: str
) -> None:
    """Each range rule answers 400 / 3002 with the page's words."""
    status, answer = await post(session, sandbox, body)
    assert status == 400
    assert answer == {
        "message": "validation failed",
        "errorCode": "3002",
        "errors": message,
    }


@pytest.mark.parametrize(("campaign_filter", "message"), FILTER_VALIDATION)
async def test_filter_validation_messages(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    campaign_filter: dict[str, Any],
    message: str,
) -> None:
    """Each filter rule answers 3002, the first failing one in the page's order."""
    body = {**window(2), "campaign_filter": campaign_filter}
    status, answer = await post(session, sandbox, body)
    assert (status, answer["errorCode"], answer["errors"]) == (400, "3002", message)


async def test_range_rules_come_before_filter_rules(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """A too-long range is reported before an invalid filter value."""
    body = {
        "start_time": JAN_1_2025,
        "end_time": JAN_1_2025 + 2 * YEAR,
        "campaign_filter": {"statuses": ["x"]},
    }
    _, answer = await post(session, sandbox, body)
    assert answer["errors"] == "date range cannot exceed 1 year"
    _, answer = await post(session, sandbox, {"start_time": 5, "end_time": 0})
    assert answer["errors"] == "end_time is required"


@pytest.mark.parametrize(("body", "kind", "field", "go_type"), PARSE)
async def test_wrong_types_are_parse_failures(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    body: dict[str, Any],
    kind: str,
    field: str,
    go_type: str,
) -> None:
    """A value of the wrong JSON type answers 400 / 3001 with Go's wording."""
    if field.startswith(NESTED):
        body = {**window(2), "campaign_filter": body}
    status, answer = await post(session, sandbox, body)
    assert status == 400
    assert answer["message"] == "failed to parse request"
    assert answer["errorCode"] == "3001"
    text = (
        f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}"
    )
    assert answer["errors"] == text


async def test_non_object_body_is_parse_failure(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """A JSON array as the body answers 3001 naming the request type."""
    status, answer = await post(session, sandbox, [1])
    text = "json: cannot unmarshal array into Go value of type request.OverallRequest"
    assert (status, answer["errorCode"], answer["errors"]) == (400, "3001", text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b"{", "unexpected end of JSON input"),
        (b"hello", "invalid character 'h' looking for beginning of value"),
        (b"{} x", "invalid character 'x' after top-level value"),
    ],
)
async def test_malformed_json_is_parse_failure(
    sandbox: Sandbox, session: aiohttp.ClientSession, data: bytes, message: str
) -> None:
    """A body that is not JSON answers 3001 with a Go syntax message."""
    status, answer = await post(session, sandbox, data=data)
    assert (status, answer["errorCode"], answer["errors"]) == (400, "3001", message)


async def test_valid_request_returns_the_truth(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """A valid request over HTTP gets exactly what ``truth`` says."""
    flt = {"campaign_type_ids": [1, 3], "tags": ["promo", 4], "show_architect": True}
    start, end = JAN_1_2025, JAN_1_2025 + YEAR - 1
    body = {"start_time": start, "end_time": end, "campaign_filter": flt}
    status, answer = await post(session, sandbox, body)
    assert status == 200
    assert answer == sandbox.truth(start, end, flt)


async def test_year_limit_can_be_lifted(session: aiohttp.ClientSession) -> None:
    """A span of exactly 365 days passes; longer ones pass only without the limit."""
    async with Sandbox() as limited, Sandbox(year_limit=False) as free:
        exact = {"start_time": JAN_1_2025, "end_time": JAN_1_2025 + YEAR}
        assert (await post(session, limited, exact))[0] == 200
        longer = {"start_time": JAN_1_2025 - 400 * DAY, "end_time": JAN_1_2025 + YEAR}
        assert (await post(session, limited, longer))[0] == 400
        status, answer = await post(session, free, longer)
        assert status == 200
        assert len(answer["chart"]["dates"]) == 766


async def test_unknown_tag_name_is_422(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Unknown tag names get the downstream 422 body listing them."""
    body = {**window(3), "campaign_filter": {"tags": ["promo", "ghost", 77, "gone"]}}
    status, answer = await post(session, sandbox, body)
    assert status == 422
    text = "The following tag names could not be found: ghost, gone"
    assert answer == {
        "message": "The given data was invalid.",
        "errors": {"campaign_filter": {"tags": [text]}},
    }


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (BEARER, {}, 401),
        (BEARER, {"Authorization": "Bearer wrong"}, 401),
        (BEARER, {"Authorization": "Basic sandbox-token"}, 401),
        (API_KEY, {}, 401),
        (API_KEY, {"X-INS-AUTH-KEY": "sandbox-key"}, 401),
        (API_KEY, {"X-INS-AUTH-KEY": "INS.wrong"}, 401),
        (BEARER, {"Authorization": "Bearer sandbox-inactive-token"}, 403),
        (API_KEY, {"X-INS-AUTH-KEY": "INS.sandbox-inactive-key"}, 403),
    ],
)
async def test_refused_credentials(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    """Unknown credentials get 401 with a message; inactive ones 403 / 3007."""
    answer_status, answer = await post(session, sandbox, path=path, headers=headers)
    assert answer_status == status
    if status == 403:
        assert answer == {
            "message": "WhatsApp product is not active",
            "errorCode": "3007",
        }
    else:
        assert set(answer) == {"message"}
    assert not sandbox.stats.accepted


async def test_api_key_route(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """The API-key route answers like the bearer route and counts by key."""
    headers = {"X-INS-AUTH-KEY": f"INS.{sandbox.api_key}"}
    status, answer = await post(session, sandbox, path=API_KEY, headers=headers)
    assert status == 200
    assert answer == sandbox.truth(MAR_1_2025, MAR_1_2025 + 30 * DAY)
    key = sandbox.credential_key("api_key", sandbox.api_key)
    assert key == "key:sandbox-key"
    assert sandbox.stats.accepted == {key: 1}


async def test_unknown_path_and_wrong_method(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Unknown paths get a JSON 404 and wrong methods a 405."""
    status, answer = await post(session, sandbox, path="/v2/elsewhere")
    assert (status, answer) == (404, {"message": "not found"})
    async with session.get(sandbox.url + BEARER) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"


async def fetch_token(
    session: aiohttp.ClientSession, sandbox: Sandbox, secret: str | None = None
) -> tuple[int, Any]:
    """Ask the token endpoint for a token with the sandbox's client id."""
    body = {
        "client_id": sandbox.client_id,
        "client_secret": secret or sandbox.client_secret,
        "scopes": ["wa-stats-api"],
    }
    async with session.post(sandbox.url + TOKEN, json=body) as response:
        return response.status, await response.json()


async def test_token_endpoint_issues_distinct_tokens(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Valid credentials get distinct bearer tokens that share the client's key."""
    _, first = await fetch_token(session, sandbox)
    status, second = await fetch_token(session, sandbox)
    assert status == 200
    assert set(second) == {"access_token", "token_type", "expires_in"}
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == 3600
    assert first["access_token"] != second["access_token"]
    for token in (first["access_token"], second["access_token"]):
        headers = {"Authorization": f"Bearer {token}"}
        assert (await post(session, sandbox, headers=headers))[0] == 200
        assert sandbox.credential_key("token", token) == sandbox.client_id
    assert sandbox.stats.accepted == {sandbox.client_id: 2}
    assert sandbox.stats.tokens_issued == {sandbox.client_id: 2}


async def test_token_endpoint_refuses_bad_requests(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Wrong secrets get 401, a missing scope 400, and a non-JSON body 400."""
    status, answer = await fetch_token(session, sandbox, secret="wrong")
    assert status == 401
    assert "message" in answer
    body = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    async with session.post(sandbox.url + TOKEN, json=body) as response:
        assert response.status == 400
    async with session.post(sandbox.url + TOKEN, data=b"[") as response:
        assert response.status == 400
    assert sandbox.stats.token_requests == 3


async def test_token_rate_limit(session: aiohttp.ClientSession) -> None:
    """At most ten tokens per client per minute; the eleventh gets the 429 body."""
    async with Sandbox() as sandbox:
        for _ in range(10):
            assert (await fetch_token(session, sandbox))[0] == 200
        assert await fetch_token(session, sandbox) == (429, RATE_LIMITED)
        assert sandbox.stats.tokens_refused_429 == 1


async def test_tokens_expire(session: aiohttp.ClientSession) -> None:
    """An issued token stops working after ``token_ttl`` seconds."""
    async with Sandbox(token_ttl=0.2) as sandbox:
        _, answer = await fetch_token(session, sandbox)
        assert answer["expires_in"] == 1
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        assert (await post(session, sandbox, headers=headers))[0] == 200
        await asyncio.sleep(0.25)
        assert (await post(session, sandbox, headers=headers))[0] == 401


async def burst(
    session: aiohttp.ClientSession, sandbox: Sandbox, count: int, body: Any = None
) -> list[int]:
    """Send ``count`` concurrent requests and return their statuses."""
    answers = await asyncio.gather(
        *(post(session, sandbox, body) for _ in range(count))
    )
    return [status for status, _ in answers]


async def test_rate_limit_is_a_sliding_second(session: aiohttp.ClientSession) -> None:
    """150 concurrent requests: exactly 100 accepted, 50 refused with the 429 body."""
    async with Sandbox(rate_limit=100) as sandbox:
        statuses = await burst(session, sandbox, 150)
        assert statuses.count(200) == 100
        assert statuses.count(429) == 50
        key = sandbox.credential_key("token", sandbox.token)
        assert sandbox.stats.accepted == {key: 100}
        assert sandbox.stats.refused_429 == {key: 50}
        assert sandbox.stats.max_in_window(key) == 100
        assert sandbox.stats.max_in_window() == 100
        assert await post(session, sandbox) == (429, RATE_LIMITED)
        await asyncio.sleep(1.0)
        assert (await post(session, sandbox))[0] == 200


async def test_rate_limit_counts_invalid_requests(
    session: aiohttp.ClientSession,
) -> None:
    """Requests that pass the limiter count even when they then fail validation."""
    async with Sandbox(rate_limit=3) as sandbox:
        statuses = await burst(session, sandbox, 5, body={})
        assert sorted(statuses) == [400, 400, 400, 429, 429]
        sandbox.reset_stats()
        assert not sandbox.stats.accepted
        assert (await post(session, sandbox))[0] == 200


async def test_rate_limit_can_be_disabled(session: aiohttp.ClientSession) -> None:
    """With ``rate_limit=None`` every request is accepted."""
    async with Sandbox(rate_limit=None) as sandbox:
        statuses = await burst(session, sandbox, 120)
        assert statuses == [200] * 120
        assert sandbox.stats.max_in_window() == 120


async def request_fault(
    session: aiohttp.ClientSession, sandbox: Sandbox, kind: str | None = None
) -> tuple[int, str, bytes]:
    """Post one request, optionally forcing a fault, and return the raw answer."""
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    if kind is not None:
        headers["X-Sandbox-Fault"] = kind
    async with session.post(
        sandbox.url + BEARER, json=window(2), headers=headers
    ) as response:
        content_type = response.headers.get("Content-Type", "")
        return response.status, content_type, await response.read()


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "start"),
    [
        ("html_502", 502, "text/html", b"<html>"),
        ("empty_503", 503, "", b""),
        ("500", 500, "application/json", b'{"message":"internal error"}'),
        ("429", 429, "application/json", b'{"message":"rate limited"'),
        ("wrong_shape", 200, "application/json", b'{"data":{"statistics":'),
        ("latency", 200, "application/json", b'{"chart":'),
    ],
)
async def test_answering_faults(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    kind: str,
    status: int,
    content_type: str,
    start: bytes,
) -> None:
    """Each answering fault has its status, content type and body."""
    sandbox.faults = FaultPlan(latency=0.05)
    answer = await request_fault(session, sandbox, kind)
    assert answer[0] == status
    assert answer[1].startswith(content_type)
    assert answer[2].startswith(start)
    assert sandbox.stats.faults == {kind: 1}
    assert sum(sandbox.stats.accepted.values()) == (1 if kind == "latency" else 0)


async def test_retry_after_fault(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """``429_retry_after`` sends the set ``Retry-After``; plain ``429`` sends none."""
    sandbox.faults = FaultPlan(sequence=["429_retry_after", "429"], retry_after="3")
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    async with session.post(sandbox.url + BEARER, json={}, headers=headers) as first:
        assert first.status == 429
        assert first.headers["Retry-After"] == "3"
        assert await first.json() == RATE_LIMITED
    async with session.post(sandbox.url + BEARER, json={}, headers=headers) as second:
        assert second.status == 429
        assert "Retry-After" not in second.headers


async def test_reset_and_truncate_faults(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """``reset`` drops the connection and ``truncate`` cuts the body short."""
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await request_fault(session, sandbox, "reset")
    with pytest.raises(aiohttp.ClientPayloadError):
        await request_fault(session, sandbox, "truncate")
    assert (await request_fault(session, sandbox))[0] == 200


async def test_timeout_fault_ends_at_close(session: aiohttp.ClientSession) -> None:
    """A request held by ``timeout`` is cut when the sandbox closes, promptly."""
    sandbox = Sandbox(faults=FaultPlan(sequence=["timeout"]))
    await sandbox.start()
    pending = asyncio.create_task(request_fault(session, sandbox))
    await asyncio.sleep(0.1)
    assert not pending.done()
    started = time.perf_counter()
    await sandbox.close()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert time.perf_counter() - started < 1.0
    await sandbox.close()


async def test_fault_plan_sequence_then_probability(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """The sequence is used first, then faults come with the given probability."""
    sandbox.faults = FaultPlan(
        sequence=["500", "html_502"], probability=1.0, kinds=["empty_503"]
    )
    statuses = [(await request_fault(session, sandbox))[0] for _ in range(4)]
    assert statuses == [500, 502, 503, 503]
    assert (await request_fault(session, sandbox, "none"))[0] == 200
    sandbox.faults = None
    assert (await request_fault(session, sandbox))[0] == 200
    assert sandbox.stats.faults == {"500": 1, "html_502": 1, "empty_503": 2}


async def test_random_faults_are_seeded(session: aiohttp.ClientSession) -> None:
    """Equal plans draw the same faults in the same order."""
    plan = FaultPlan(probability=0.5, kinds=["500", "empty_503"], seed=3)
    runs = []
    for _ in range(2):
        async with Sandbox(faults=plan, rate_limit=None) as sandbox:
            runs.append([(await request_fault(session, sandbox))[0] for _ in range(12)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


async def test_unknown_fault_header(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """An unknown kind in the fault header is a 400, and plans refuse them too."""
    assert (await request_fault(session, sandbox, "meteor"))[0] == 400
    with pytest.raises(ValueError, match="meteor"):
        FaultPlan(sequence=["meteor"])
    assert len(FAULT_KINDS) == 10


async def test_latency_option_delays_answers(session: aiohttp.ClientSession) -> None:
    """The ``latency`` option adds its delay to every statistics request."""
    async with Sandbox(latency=0.2) as sandbox:
        started = time.perf_counter()
        assert (await request_fault(session, sandbox))[0] == 200
        assert time.perf_counter() - started >= 0.2


async def test_serve_forever_runs_until_cancelled(
    session: aiohttp.ClientSession,
) -> None:
    """``serve_forever`` starts the sandbox, reports it ready, and closes on cancel."""
    ready: asyncio.Queue[Sandbox] = asyncio.Queue()
    sandbox = Sandbox()
    task = asyncio.create_task(serve_forever(sandbox, ready=ready.put_nowait))
    running = await asyncio.wait_for(ready.get(), 5)
    assert running.describe()["url"] == sandbox.url
    assert (await request_fault(session, sandbox))[0] == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sandbox.running
