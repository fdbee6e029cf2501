"""The asyncio client of ``statistics/overall``.

A call runs as small steps: check the input, split the range, then for each
piece take a token of the shared limiter, send, decode, and retry what the
retry policy allows; the pieces run concurrently and are merged at the end.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import aiohttp
import msgspec

from ._auth import OAuthAuth, make_auth
from ._backfill import WindowStream
from ._backfill import iter_windows as _iter_windows
from ._decode import decode_statistics, error_from_response
from ._errors import (
    APIError,
    AuthenticationError,
    ClientStateError,
    InsiderWAError,
    RequestTimeoutError,
)
from ._http import DeadlinePassed, MarkingRequest, gather_or_cancel, post, run_within
from ._limiter import RateLimiter, limiter_for
from ._merge import merge_statistics
from ._models import OverallStatistics
from ._options import MAX_RATE, check_filter, check_options, check_positive, policy
from ._ranges import split_range
from ._redis_limiter import RedisLimiter, redis_limiter_for
from ._request import CampaignFilter, TimeBound, to_unix_seconds, validate_range
from ._retry import RetryPolicy, describe, is_retryable
from ._windows import Step

__all__ = ["InsiderWAClient"]

logger = logging.getLogger("insider_wa_async.http")
_T = TypeVar("_T")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class _Body(msgspec.Struct, omit_defaults=True):
    start_time: int
    end_time: int
    campaign_filter: CampaignFilter | None = None


_encode = msgspec.json.Encoder().encode
_TOKEN_HEADERS = {"Content-Type": "application/json"}


class _StaleToken(Exception):
    """A 401 for a token that a fresh one may replace (internal)."""

    def __init__(self, error: APIError, sent: dict[str, str]) -> None:
        self.error = error
        self.sent = sent


class InsiderWAClient:
    """Asyncio client of Insider One's WhatsApp ``statistics/overall`` endpoint.

    Give exactly one credential: a static bearer ``token``; OAuth
    ``client_id`` + ``client_secret`` (tokens are fetched, cached and
    renewed); or an ``api_key`` (sent as ``X-INS-AUTH-KEY`` on the API-key
    route). Use it as ``async with InsiderWAClient(...) as client:``; the
    session is opened inside the running loop and closed on exit, unless
    the caller passed its own ``session``, which is never closed here.

    Args:
        token: A bearer token.
        client_id: OAuth client id, with ``client_secret``.
        client_secret: OAuth client secret, with ``client_id``.
        api_key: An API key, with or without its ``INS.`` prefix.
        base_url: Scheme and host to send to instead of the credential
            kind's default (e.g. a sandbox's URL); paths stay the same.
        rate_limit: The credential's allowance in requests per second. One
            limiter per credential is shared by every client of the process.
        max_retries: Retries after the first attempt (0: one attempt only);
            None takes the count of ``retry`` (3 without one).
        timeout: Seconds allowed for one attempt.
        deadline: Seconds allowed for a whole call, retries and pieces
            included; None for no limit.
        session: An ``aiohttp.ClientSession`` to use instead of our own.
        limiter: A limiter to use instead of the process-wide one (e.g. one
            shared across processes).
        redis_url: A Redis URL: the credential's allowance is then shared by
            every process and host using it (needs the ``redis`` extra).
            Not with ``limiter``.
        retry: Retry count and backoff settings; see :class:`RetryPolicy`.
        max_connections: Size of the connection pool we create.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        rate_limit: float = 100.0,
        max_retries: int | None = None,
        timeout: float = 30.0,
        deadline: float | None = 600.0,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
        redis_url: str | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
    ) -> None:
        self._auth = make_auth(
            token=token,
            client_id=client_id,
            client_secret=client_secret,
            api_key=api_key,
        )
        check_options(base_url, session, limiter, max_connections)
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, not {base_url!r}"
            )
        self._base_url = (base_url or self._auth.default_base_url).rstrip("/")
        self._url = self._base_url + self._auth.path
        check_positive("rate_limit", rate_limit)
        if rate_limit > MAX_RATE:
            raise ValueError(f"rate_limit must be at most {MAX_RATE:g} requests/s")
        check_positive("timeout", timeout)
        if deadline is not None:
            check_positive("deadline", deadline)
        self.rate_limit = float(rate_limit)
        self._retry = policy(retry, max_retries)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._deadline = deadline
        self._given_session = session
        self._session: aiohttp.ClientSession | None = None
        if limiter is not None and redis_url is not None:
            raise ValueError("give limiter or redis_url, not both")
        self._given_limiter = limiter
        self._redis_url = redis_url
        self._owned_limiter: RedisLimiter | None = None
        self._limiter: RateLimiter | None = None
        self._max_connections = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state = _State.UNOPENED

    def __repr__(self) -> str:
        kind = type(self._auth).__name__.removesuffix("Auth")
        return (
            f"<InsiderWAClient {self._state.value} url={self._url!r} credential={kind}>"
        )

    async def __aenter__(self) -> InsiderWAClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the HTTP session and bind the client to the running loop.

        Raises:
            ClientStateError: The client was opened or closed before.
            LimiterUnavailableError: ``redis_url`` was given and Redis did
                not answer.
        """
        if self._state is not _State.UNOPENED:
            raise ClientStateError(f"client is {self._state.value}; open it once")
        self._loop = asyncio.get_running_loop()
        if self._given_limiter is None and self._redis_url is not None:
            self._owned_limiter = await redis_limiter_for(
                self._redis_url, self._auth.key, self.rate_limit
            )
        self._limiter = (
            self._given_limiter
            or self._owned_limiter
            or limiter_for(self._auth.key, self.rate_limit)
        )
        self._session = self._given_session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            timeout=self._timeout,
            raise_for_status=False,
            request_class=MarkingRequest,
        )
        self._state = _State.OPEN

    async def close(self) -> None:
        """Close the session and limiter we opened (never ones passed in)."""
        if self._state is _State.OPEN and self._given_session is None:
            assert self._session is not None
            await self._session.close()
        if self._owned_limiter is not None:
            await self._owned_limiter.aclose()
            self._owned_limiter = None
        self._state = _State.CLOSED

    async def overall_statistics(
        self,
        start: TimeBound,
        end: TimeBound,
        *,
        campaign_filter: CampaignFilter | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> OverallStatistics:
        """Fetch campaign statistics for every UTC day that ``start..end`` touches.

        Both bounds are inclusive. A ``date`` as ``start`` means 00:00:00 UTC
        of that day, as ``end`` 23:59:59 UTC (the whole day); a ``datetime``
        must be timezone-aware; an int is Unix seconds. A range over 365 days
        is split at UTC midnights into the fewest pieces the API accepts,
        fetched concurrently and merged into the answer one request would
        have given.

        Args:
            start: First moment of the range (inclusive).
            end: Last moment of the range (inclusive).
            campaign_filter: Which campaigns to count; None for all but
                Architect ones.
            progress: Called as ``progress(done, total)`` each time a piece
                of the range has arrived.

        Raises:
            RequestValidationError: The input breaks an API rule (checked
                before sending) or the API refused it as invalid.
            TypeError: A bound or filter of the wrong type.
            AuthenticationError: The credential was refused.
            ProductNotActiveError: WhatsApp is not enabled for the partner.
            UnprocessableEntityError: E.g. an unknown tag name.
            RateLimitError: Still rate limited after every retry.
            ServerError: Still failing with 5xx after every retry.
            ResponseShapeError: A 200 body that is not the documented shape.
            TransportError: No usable answer after every retry;
                ``RequestTimeoutError`` when time ran out.
            ClientStateError: The client is not open, or on another loop.
        """
        start_time = to_unix_seconds(start, end=False)
        end_time = to_unix_seconds(end, end=True)
        validate_range(start_time, end_time)
        check_filter(campaign_filter)
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable or None")
        self._check_usable()
        pieces = split_range(start_time, end_time)
        work = self._fetch_pieces(pieces, campaign_filter, progress)
        return await self._within_deadline(work)

    def iter_windows(
        self,
        start: TimeBound,
        end: TimeBound,
        *,
        step: Step = "day",
        campaign_filter: CampaignFilter | None = None,
        concurrency: int = 32,
        lookahead: int | None = None,
        ordered: bool = True,
        return_exceptions: bool = False,
    ) -> WindowStream:
        """Fetch ``start..end`` one window at a time, as a stream of results.

        Windows are UTC-aligned, contiguous and disjoint: days, weeks from
        Monday, months from the 1st, or a whole number of days; the first and
        last are cut to the range. Each window is one
        :meth:`overall_statistics` call through the shared limiter, with at
        most ``concurrency`` in flight. See :func:`insider_wa_async.iter_windows`.

        Returns:
            An async iterator (and async context manager) of
            :class:`~insider_wa_async.WindowResult`, in window order unless
            ``ordered`` is false.
        """
        return _iter_windows(
            self,
            start,
            end,
            step=step,
            campaign_filter=campaign_filter,
            concurrency=concurrency,
            lookahead=lookahead,
            ordered=ordered,
            return_exceptions=return_exceptions,
        )

    def _check_usable(self) -> None:
        if self._state is not _State.OPEN:
            raise ClientStateError(
                f"client is {self._state.value}; use it inside 'async with'"
            )
        if asyncio.get_running_loop() is not self._loop:
            raise ClientStateError("client belongs to another event loop")

    async def _within_deadline(self, work: Awaitable[_T]) -> _T:
        if self._deadline is None:
            return await work
        try:
            return await run_within(work, self._deadline)
        except DeadlinePassed as exc:
            raise RequestTimeoutError(
                f"call did not finish within its deadline of {self._deadline:g} s"
            ) from exc.__cause__

    async def _fetch_pieces(
        self,
        pieces: list[tuple[int, int]],
        flt: CampaignFilter | None,
        progress: Callable[[int, int], object] | None,
    ) -> OverallStatistics:
        if len(pieces) == 1:
            result = await self._fetch(*pieces[0], flt)
            if progress is not None:
                progress(1, 1)
            return result
        done = [0]

        async def piece(start: int, end: int) -> OverallStatistics:
            try:
                result = await self._fetch(start, end, flt)
            except InsiderWAError as exc:
                raise exc.with_time_range(start, end) from exc.__cause__
            done[0] += 1
            if progress is not None:
                progress(done[0], len(pieces))
            return result

        results = await gather_or_cancel([piece(s, e) for s, e in pieces])
        return merge_statistics(results)

    async def _fetch(
        self, start: int, end: int, flt: CampaignFilter | None
    ) -> OverallStatistics:
        body = _encode(_Body(start, end, flt))
        loop = asyncio.get_running_loop()
        ends_at = None if self._deadline is None else loop.time() + self._deadline
        retry = 0
        replayed = False
        while True:
            try:
                return await self._attempt(body, retry + 1)
            except _StaleToken as stale:
                if replayed or not isinstance(self._auth, OAuthAuth):
                    raise stale.error from None
                self._auth.forget(stale.sent, self._base_url)
                replayed = True
            except InsiderWAError as exc:
                if retry >= self._retry.max_retries or not is_retryable(exc):
                    raise
                await self._back_off(exc, retry, ends_at)
                retry += 1

    async def _back_off(
        self, exc: InsiderWAError, retry: int, ends_at: float | None
    ) -> None:
        hint = exc.retry_after if isinstance(exc, APIError) else None
        wait = self._retry.delay(retry, hint)
        loop = asyncio.get_running_loop()
        if ends_at is not None and loop.time() + wait >= ends_at:
            raise exc
        logger.warning(
            "%s; retrying in %.2f s (attempt %d of %d)",
            describe(exc),
            wait,
            retry + 2,
            self._retry.max_retries + 1,
        )
        await asyncio.sleep(wait)

    async def _attempt(self, body: bytes, attempt: int) -> OverallStatistics:
        assert self._session is not None
        assert self._limiter is not None
        permit = await self._limiter.acquire()
        headers = await self._auth.headers(self._post_token, self._base_url)
        if permit is not None and self._given_session is not None:
            # A caller's session does not mark permits: count from now.
            permit.sent(asyncio.get_running_loop().time())
        started = time.perf_counter()
        status, payload, retry_after = await post(
            self._session, self._url, body, headers, self._timeout, permit
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s -> %d in %.1f ms (attempt %d)",
                self._auth.path,
                status,
                (time.perf_counter() - started) * 1000,
                attempt,
            )
        if status == 200:
            return decode_statistics(payload, self._auth.secrets)
        error = error_from_response(status, payload, self._auth.secrets, retry_after)
        if status == 401 and self._auth.may_replay(headers):
            raise _StaleToken(error, headers)
        raise error

    async def _post_token(self, url: str, body: bytes) -> bytes:
        """Post to the token endpoint; return the 200 body or raise."""
        assert self._session is not None
        status, payload, hint = await post(
            self._session, url, body, _TOKEN_HEADERS, self._timeout
        )
        logger.debug("POST token endpoint -> %d", status)
        if status == 200:
            return payload
        error = error_from_response(status, payload, self._auth.secrets, hint)
        if status == 401:
            raise AuthenticationError(
                "token endpoint refused the client credentials",
                status=401,
                code=error.code,
                body=error.body,
            )
        raise error
