"""Fuzzing: hostile bodies and arguments end only in the package's own errors."""

from __future__ import annotations

import decimal
import fractions
from datetime import date, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from insider_wa_async import (
    APIError,
    CampaignFilter,
    CampaignType,
    InsiderWAClient,
    InsiderWAError,
    OverallStatistics,
    RequestValidationError,
    ResponseShapeError,
)
from insider_wa_async._decode import decode_statistics, error_from_response
from insider_wa_async._models import Chart, Summary

from .conftest import Canned

SECRETS = ("fuzz-secret-token",)
DAY_RANGE = (1_740_787_200, 1_740_873_599)
CHART_KEYS = ["dates", "datesAsTimestamp", "sent", "delivered", "open", "click"]
SUMMARY_KEYS = ["sent", "delivered", "revenue", "drop", "dropDetails", "targeted"]
DETAIL_KEYS = ["id", "status", "campName", "tags", "responses", "responseSummary"]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
NETWORK = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
    ],
)
assert set(CHART_KEYS) <= {f.encode_name for f in msgspec.structs.fields(Chart)}
assert set(SUMMARY_KEYS) <= {f.encode_name for f in msgspec.structs.fields(Summary)}

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=25,
)
int_lists = st.lists(numbers, max_size=6)


def keyed(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draw objects holding some of ``keys`` (and maybe extra ones)."""
    return st.dictionaries(
        st.one_of(st.sampled_from(keys), st.text(max_size=6)), values, max_size=8
    )


statistics_like = st.fixed_dictionaries(
    {},
    optional={
        "chart": keyed(CHART_KEYS, st.one_of(int_lists, json_values)),
        "summary": keyed(SUMMARY_KEYS, st.one_of(numbers, json_values)),
        "details": st.lists(keyed(DETAIL_KEYS, json_values), max_size=3),
        "extra": json_values,
    },
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Draw a response body: JSON of any shape, cut, corrupted, nested or raw."""
    kind = draw(st.sampled_from(["stats", "json", "raw", "cut", "bad", "deep"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=20_000))
        opener = draw(st.sampled_from([b"[", b'{"chart":', b'{"a":[']))
        return opener * depth + draw(st.sampled_from([b"", b"1", b"]" * depth]))
    value = draw(statistics_like if kind in ("stats", "cut", "bad") else json_values)
    body = msgspec.json.encode(value)
    if kind == "cut":
        return body[: draw(st.integers(min_value=0, max_value=len(body)))]
    if kind == "bad":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"]))
        return body[:at] + junk + body[at:]
    return body


@FUZZ
@given(bodies())
@example(b'{"\xffchart":{}}')
@example(b"[" * 50_000)
def test_decoding_any_body_gives_a_result_or_a_shape_error(body: bytes) -> None:
    """A 200 body either decodes to statistics or raises ResponseShapeError."""
    outcome = outcome_of(decode_statistics, body)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, ResponseShapeError), repr(outcome)
        return
    assert isinstance(outcome, OverallStatistics)
    assert len(outcome.chart.sent) == len(outcome.chart.dates)
    msgspec.json.encode(outcome)


def outcome_of(function: Any, *args: Any) -> Any:
    """Return what ``function(*args)`` returns, or the exception it raises."""
    try:
        return function(*args)
    except Exception as exc:  # every kind is inspected by the caller
        return exc


@FUZZ
@given(st.integers(min_value=100, max_value=599), bodies())
def test_error_bodies_always_become_an_api_error(status: int, body: bytes) -> None:
    """Any status with any body builds an APIError that prints and hides secrets."""
    error = error_from_response(status, body, SECRETS)
    assert isinstance(error, APIError)
    assert error.status == status
    assert str(error)
    assert len(error.body) <= 201


@NETWORK
@given(
    st.sampled_from([200, 200, 400, 401, 403, 404, 422, 429, 500, 502, 503]),
    bodies(),
)
async def test_fuzzed_bodies_over_http_end_in_typed_errors(
    canned: Canned, status: int, body: bytes
) -> None:
    """Through a real loopback server, a fuzzed answer is a result or our error."""
    canned.queue.append((status, body, {}))
    client = InsiderWAClient(token=SECRETS[0], base_url=canned.url, max_retries=0)
    async with client:
        try:
            result: object = await client.overall_statistics(*DAY_RANGE)
        except Exception as exc:  # every kind is inspected below
            result = exc
    if isinstance(result, BaseException):
        assert isinstance(result, InsiderWAError), repr(result)
        assert SECRETS[0] not in str(result)
    else:
        assert status == 200
        assert isinstance(result, OverallStatistics)


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Draw datetimes with a fixed offset, or naive ones."""
    offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
        lambda m: timezone(timedelta(minutes=m))
    )
    return st.datetimes(timezones=st.one_of(st.none(), offsets))


anything = st.recursive(
    st.one_of(
        scalars,
        st.floats(),
        st.binary(max_size=8),
        st.sampled_from(["all", "\ud800", "a\udfff", "+905321000101", "promo"]),
        st.sampled_from(list(CampaignType)),
        st.sampled_from([decimal.Decimal("1.5"), fractions.Fraction(1, 3), 1j]),
        st.sampled_from([object(), range(3), Ellipsis, NotImplemented, int, len]),
        st.integers(min_value=1_000_000_000, max_value=9_999_999_999),
        aware_datetimes(),
        st.dates(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.sets(st.one_of(st.integers(), st.text(max_size=4)), max_size=4),
        st.frozensets(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)
FILTER_FIELDS = ["campaign_type_ids", "statuses", "accounts", "tags", "show_architect"]
filter_kwargs = st.dictionaries(
    st.one_of(st.sampled_from(FILTER_FIELDS), st.just("unknown_field")),
    anything,
    max_size=4,
)


@FUZZ
@given(filter_kwargs)
def test_any_filter_arguments_build_a_filter_or_raise_cleanly(
    kwargs: dict[str, Any],
) -> None:
    """CampaignFilter accepts its input or raises RequestValidationError/TypeError."""
    outcome = outcome_of(lambda: CampaignFilter(**kwargs))
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, (RequestValidationError, TypeError)), repr(outcome)
    else:
        assert isinstance(outcome, CampaignFilter)


def maybe_filter(kwargs: dict[str, Any]) -> Any:
    """Build a filter from ``kwargs`` when they make one, else return them raw."""
    try:
        return CampaignFilter(**kwargs)
    except (RequestValidationError, TypeError):
        return kwargs


bounds = st.one_of(
    anything,
    st.integers(min_value=1_700_000_000, max_value=1_760_000_000),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)),
)


@NETWORK
@given(
    bounds,
    bounds,
    st.one_of(st.none(), anything, filter_kwargs.map(maybe_filter)),
    st.one_of(st.none(), anything, st.just(lambda done, total: None)),
)
async def test_any_call_arguments_give_a_result_or_a_clean_refusal(
    canned: Canned, start: Any, end: Any, flt: Any, progress: Any
) -> None:
    """overall_statistics returns or raises RequestValidationError or TypeError."""
    client = InsiderWAClient(
        token=SECRETS[0], base_url=canned.url, max_retries=0, rate_limit=1e6
    )
    async with client:
        try:
            result: object = await client.overall_statistics(
                start, end, campaign_filter=flt, progress=progress
            )
        except Exception as exc:  # every kind is inspected below
            result = exc
    allowed = (OverallStatistics, RequestValidationError, TypeError)
    assert isinstance(result, allowed), repr(result)


@pytest.mark.parametrize("text", ["\ud800", "ok\udfff"])
async def test_filters_that_cannot_be_sent_are_refused_before_sending(
    canned: Canned, text: str
) -> None:
    """A filter holding text that is not valid Unicode is refused when made."""

    async def call(client: InsiderWAClient) -> object:
        flt = CampaignFilter(tags=(text,))
        return await client.overall_statistics(
            1_740_787_200, 1_740_873_599, campaign_filter=flt
        )

    async with InsiderWAClient(token=SECRETS[0], base_url=canned.url) as client:
        with pytest.raises(RequestValidationError, match="cannot be sent as JSON"):
            await call(client)
    assert canned.hits == 0
