"""Checking the client's options and a filter before anything is sent."""

from __future__ import annotations

import dataclasses

import aiohttp

from ._limiter import RateLimiter
from ._request import CampaignFilter
from ._retry import RetryPolicy

__all__ = ["MAX_RATE", "check_filter", "check_options", "check_positive", "policy"]


def check_filter(flt: object) -> None:
    if flt is None:
        return
    if not isinstance(flt, CampaignFilter):
        raise TypeError("campaign_filter must be a CampaignFilter or None")


MAX_RATE = 1e7


def check_options(
    base_url: object, session: object, limiter: object, max_connections: object
) -> None:
    """Refuse option values of the wrong type or range at construction."""
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError("base_url must be a str")
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise TypeError("session must be an aiohttp.ClientSession")
    if limiter is not None and not isinstance(limiter, RateLimiter):
        raise TypeError("limiter must have an async acquire() method")
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise TypeError("max_connections must be an int")
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")


def check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive, finite number")


def policy(retry: RetryPolicy | None, max_retries: int | None) -> RetryPolicy:
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError("retry must be a RetryPolicy or None")
    policy = retry or RetryPolicy()
    if max_retries is None:
        return policy
    return dataclasses.replace(policy, max_retries=max_retries)
