"""Asyncio client for Insider One's WhatsApp Campaign Analytics API.

One endpoint, ``statistics/overall``: a daily chart, a summary with drop and
undelivered breakdowns, and per-campaign details for a date range. Ranges over
the API's one-year limit are split and merged; one rate limiter per credential
is shared by the whole process; every failure is one of this package's errors.

Example::

    async with InsiderWAClient(token="...") as client:
        stats = await client.overall_statistics(date(2021, 1, 1), date(2025, 12, 31))
"""

from ._backfill import WindowResult, WindowStream, fetch_windows, iter_windows
from ._client import InsiderWAClient
from ._errors import (
    APIError,
    AuthenticationError,
    ClientStateError,
    InsiderWAError,
    ProductNotActiveError,
    RateLimitError,
    RequestParseError,
    RequestTimeoutError,
    RequestValidationError,
    ResponseShapeError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from ._limiter import CredentialLimiter, RateLimiter, SlidingWindowLimiter
from ._merge import merge_statistics
from ._models import (
    ButtonStats,
    CampaignDetail,
    Chart,
    DropDetails,
    OverallStatistics,
    ResponseSummary,
    Summary,
    Tag,
    UndeliveredDetails,
)
from ._ranges import split_range
from ._redis_limiter import LimiterUnavailableError, RedisLimiter, redis_limiter_for
from ._request import STATUSES, CampaignFilter, CampaignType, TimeBound
from ._retry import RetryPolicy
from ._windows import Step, Window, windows

__version__ = "0.1.0"

__all__ = [
    "STATUSES",
    "APIError",
    "AuthenticationError",
    "ButtonStats",
    "CampaignDetail",
    "CampaignFilter",
    "CampaignType",
    "Chart",
    "ClientStateError",
    "CredentialLimiter",
    "DropDetails",
    "InsiderWAClient",
    "InsiderWAError",
    "LimiterUnavailableError",
    "OverallStatistics",
    "ProductNotActiveError",
    "RateLimitError",
    "RateLimiter",
    "RedisLimiter",
    "RequestParseError",
    "RequestTimeoutError",
    "RequestValidationError",
    "ResponseShapeError",
    "ResponseSummary",
    "RetryPolicy",
    "ServerError",
    "SlidingWindowLimiter",
    "Step",
    "Summary",
    "Tag",
    "TimeBound",
    "TransportError",
    "UndeliveredDetails",
    "UnprocessableEntityError",
    "Window",
    "WindowResult",
    "WindowStream",
    "fetch_windows",
    "iter_windows",
    "merge_statistics",
    "redis_limiter_for",
    "split_range",
    "windows",
]
