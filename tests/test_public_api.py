"""The public surface: what the package exports and what importing it loads."""

from __future__ import annotations

import pickle
import subprocess
import sys

import msgspec
import pytest

import insider_wa_async
from insider_wa_async import (
    APIError,
    CampaignDetail,
    ClientStateError,
    InsiderWAError,
    OverallStatistics,
    RequestTimeoutError,
    RequestValidationError,
    TransportError,
)

EXPECTED = {
    "APIError", "AuthenticationError", "ButtonStats", "CampaignDetail",
    "CampaignFilter", "CampaignType", "Chart", "ClientStateError",
    "CredentialLimiter", "DropDetails", "InsiderWAClient", "InsiderWAError",
    "LimiterUnavailableError", "RedisLimiter", "redis_limiter_for",
    "OverallStatistics", "ProductNotActiveError", "RateLimitError", "RateLimiter",
    "RequestParseError", "RequestTimeoutError", "RequestValidationError",
    "ResponseShapeError", "ResponseSummary", "RetryPolicy", "STATUSES",
    "ServerError", "SlidingWindowLimiter", "Step", "Summary", "Tag", "TimeBound",
    "TransportError", "UndeliveredDetails", "UnprocessableEntityError", "Window",
    "WindowResult", "WindowStream", "fetch_windows", "iter_windows",
    "merge_statistics", "split_range", "windows",
}  # fmt: skip


def test_all_is_sorted_and_complete() -> None:
    """__all__ holds exactly the public names, sorted, and each one resolves."""
    names = insider_wa_async.__all__
    # Sorted as isort does: constants, then classes, then functions.
    assert names == sorted(names, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert set(names) == EXPECTED
    for name in names:
        assert getattr(insider_wa_async, name) is not None


def test_every_exported_error_descends_from_the_root() -> None:
    """Each exported exception class is an InsiderWAError."""
    for name in insider_wa_async.__all__:
        value = getattr(insider_wa_async, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, InsiderWAError), name
            assert name.endswith("Error")


def test_errors_are_also_the_builtins_users_expect() -> None:
    """Validation is a ValueError, timeouts a TimeoutError, state a RuntimeError."""
    assert issubclass(RequestValidationError, ValueError)
    assert issubclass(RequestTimeoutError, TransportError)
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(ClientStateError, RuntimeError)


def test_errors_pickle_with_their_fields() -> None:
    """An API error survives pickling with status, code, errors and range."""
    error = APIError("validation failed", status=400, code="3002", errors="x")
    error.with_time_range(1_700_000_000, 1_700_086_399)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is APIError
    assert (copy.status, copy.code, copy.errors) == (400, "3002", "x")
    assert copy.time_range == (1_700_000_000, 1_700_086_399)
    assert str(copy) == str(error)


def test_importing_the_sdk_loads_neither_cli_nor_sandbox() -> None:
    """The cli and sandbox subpackages load only when asked for."""
    code = (
        "import sys, insider_wa_async; "
        "print(any(m.startswith(('insider_wa_async.cli', 'insider_wa_async.sandbox'))"
        " for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_results_encode_back_to_the_apis_camel_case() -> None:
    """Encoding a result gives the API's field names; unset response keys vanish."""
    detail = CampaignDetail(id=5, camp_name="A", delivery_pending=2)
    body = msgspec.json.decode(msgspec.json.encode(OverallStatistics(details=[detail])))
    item = body["details"][0]
    assert item["campName"] == "A"
    assert item["deliveryPending"] == 2
    assert "dropDetails" in item
    assert "responses" not in item
    assert "responseSummary" not in item
    assert "datesAsTimestamp" in body["chart"]


def test_unknown_fields_are_ignored_and_missing_counters_are_zero() -> None:
    """Decoding skips unknown keys and fills missing counters with 0."""
    decoded = msgspec.json.decode(
        b'{"summary": {"sent": 3, "brandNew": {"x": 1}}, "details": [{"id": 9}]}',
        type=OverallStatistics,
    )
    assert decoded.summary.sent == 3
    assert decoded.summary.drop_details.duplicates == 0
    assert decoded.details[0].revenue == 0.0


@pytest.mark.parametrize("name", ["py.typed"])
def test_the_package_ships_type_information(name: str) -> None:
    """The package marks itself as typed."""
    from importlib import resources

    assert resources.files("insider_wa_async").joinpath(name).is_file()
