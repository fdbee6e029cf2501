"""Serve the statistics API, its token endpoint and its API-key route on loopback.

A request to a statistics route goes through these steps, in order:
authentication (401 / 403), fault injection, the per-credential rate limit (429),
the optional fixed latency, decoding (400 / 3001), validation (400 / 3002), tag
resolution (422) and finally the cached report (200).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import web

from insider_wa_async.sandbox._auth import TokenStore, read_token_request
from insider_wa_async.sandbox._data import build_dataset
from insider_wa_async.sandbox._faults import (
    FAULT_KINDS,
    RATE_LIMITED_BODY,
    FaultPicker,
    FaultPlan,
    inject,
)
from insider_wa_async.sandbox._report import Reporter
from insider_wa_async.sandbox._rules import RequestError, read_request
from insider_wa_async.sandbox._stats import SandboxStats, SlidingWindow

BEARER_PATH = "/api/wa/v2/statistics/overall"
API_KEY_PATH = "/v1/statistics/overall"
TOKEN_PATH = "/auth/token"
FAULT_HEADER = "X-Sandbox-Fault"

_JSON = "application/json"
_INACTIVE = {"message": "WhatsApp product is not active", "errorCode": "3007"}


def _json(status: int, body: dict[str, Any]) -> web.Response:
    """Build a JSON response."""
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type=_JSON
    )


def _rate_limited() -> web.Response:
    """Build the 429 answer of the rate limiter."""
    return web.Response(status=429, body=RATE_LIMITED_BODY, content_type=_JSON)


@web.middleware
async def _json_errors(
    request: web.Request,
    handler: Callable[[web.Request], Any],
) -> web.StreamResponse:
    """Answer unknown paths and wrong methods with small JSON bodies."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPNotFound:
        return _json(404, {"message": "not found"})
    except web.HTTPMethodNotAllowed as exc:
        response = _json(405, {"message": "method not allowed"})
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
    return response


class Sandbox:
    """Run a local imitation of the WhatsApp Campaign Analytics API.

    The sandbox serves three ``POST`` routes below `url`: the OAuth statistics
    route ``/api/wa/v2/statistics/overall`` (``Authorization: Bearer ...``), the
    token endpoint ``/auth/token`` and the API-key route ``/v1/statistics/overall``
    (``X-INS-AUTH-KEY: INS.<key>``). Its data are deterministic for a seed.

    Rate limits and `stats` count per credential key (see `credential_key`): the
    static `token` is ``"token:<token>"``, an API key is ``"key:<key>"``, and every
    token issued to one client id shares the key ``<client_id>``.

    Args:
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        rate_limit: Most accepted statistics requests per credential in any sliding
            second; ``None`` disables the limit.
        year_limit: Whether spans over 365 days are refused.
        latency: Seconds added to every accepted statistics request.
        token_ttl: Lifetime of issued tokens, in seconds.
        token_rate_limit: Most tokens issued per client id in any sliding 60
            seconds; ``None`` disables the limit.
        faults: The faults to inject; ``None`` injects none.
        seed: Seed of the data set; equal seeds serve equal data.
    """

    token = "sandbox-token"
    client_id = "sandbox-client"
    client_secret = "sandbox-secret"
    api_key = "sandbox-key"
    inactive_token = "sandbox-inactive-token"
    inactive_api_key = "sandbox-inactive-key"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = 100,
        year_limit: bool = True,
        latency: float = 0.0,
        token_ttl: float = 3600.0,
        token_rate_limit: int | None = 10,
        faults: FaultPlan | None = None,
        seed: int = 2026,
    ) -> None:
        self.host = host
        self.port = port
        self.rate_limit = rate_limit
        self.year_limit = year_limit
        self.latency = latency
        self.token_ttl = token_ttl
        self.token_rate_limit = token_rate_limit
        self.seed = seed
        self.stats = SandboxStats()
        self._picker = FaultPicker(faults)
        self._limiters: dict[str, SlidingWindow] = {}
        self._tokens = TokenStore()
        self._reporter: Reporter | None = None
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force; setting one starts it from its beginning."""
        return self._picker.plan

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        self._picker = FaultPicker(plan)

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:43123``, once started."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the sandbox is not running")
        host, port = self._runner.addresses[0][:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    def describe(self) -> dict[str, str]:
        """Return the URL and the credentials, for a caller to show to a user."""
        return {
            "url": self.url,
            "token": self.token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "api_key": self.api_key,
        }

    def credential_key(self, kind: str, value: str) -> str:
        """Return the key that `stats` and the rate limit use for a credential.

        Args:
            kind: ``"token"`` (a bearer token), ``"client"`` (a client id) or
                ``"api_key"``.
            value: The credential itself.

        Returns:
            The key: a token issued to a client maps to its client id.

        Raises:
            ValueError: ``kind`` is none of the above.
        """
        if kind == "token":
            return self._tokens.owner(value) or f"token:{value}"
        if kind == "client":
            return value
        if kind == "api_key":
            return f"key:{value}"
        raise ValueError(f"unknown credential kind: {kind}")

    def reset_stats(self) -> None:
        """Zero the counters and forget the rate-limit windows."""
        self.stats.reset()
        self._limiters.clear()
        self._tokens.forget_windows()

    @property
    def reporter(self) -> Reporter:
        """The report builder over this sandbox's data set, made on first use."""
        if self._reporter is None:
            self._reporter = Reporter(build_dataset(self.seed))
        return self._reporter

    def truth(
        self,
        start_time: int,
        end_time: int,
        campaign_filter: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return the body one request would get, ignoring the year limit.

        Args:
            start_time: Start of the range, Unix seconds (inclusive).
            end_time: End of the range, Unix seconds (inclusive).
            campaign_filter: The request's ``campaign_filter``, if any.

        Returns:
            The decoded JSON body the statistics routes answer with.

        Raises:
            ValueError: The request would be refused; the message holds its body.
        """
        request: dict[str, Any] = {"start_time": start_time, "end_time": end_time}
        if campaign_filter is not None:
            request["campaign_filter"] = campaign_filter
        try:
            query = read_request(msgspec.json.encode(request), year_limit=False)
            body = self.reporter.encoded(query)
        except RequestError as exc:
            raise ValueError(f"{exc.status} {exc.body}") from exc
        result: dict[str, Any] = msgspec.json.decode(body)
        return result

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving this sandbox's routes."""
        app = web.Application(middlewares=[_json_errors])
        app.router.add_post(BEARER_PATH, self._bearer_route)
        app.router.add_post(API_KEY_PATH, self._api_key_route)
        app.router.add_post(TOKEN_PATH, self._token_route)
        return app

    async def start(self) -> None:
        """Start listening on `host` and `port`.

        Raises:
            RuntimeError: The sandbox is already running.
            OSError: The address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        if self._reporter is None:
            dataset = await asyncio.to_thread(build_dataset, self.seed)
            self._reporter = Reporter(dataset)
        self._closing = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        """Stop listening, cutting short pending faults and latency; idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; return True at once if the sandbox starts closing."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        return True

    def _bearer_key(self, request: web.Request) -> str | web.Response:
        """Authenticate a bearer token into a credential key, or refuse it."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _json(401, {"message": "missing bearer token"})
        if token == self.inactive_token:
            return _json(403, _INACTIVE)
        if token == self.token:
            return f"token:{token}"
        owner = self._tokens.owner(token, time.monotonic())
        if owner is None:
            return _json(401, {"message": "invalid or expired token"})
        return owner

    def _api_key(self, request: web.Request) -> str | web.Response:
        """Authenticate an ``INS.<key>`` header into a credential key, or refuse it."""
        prefix, _, key = request.headers.get("X-INS-AUTH-KEY", "").partition(".")
        if prefix != "INS" or not key:
            return _json(401, {"message": "missing or malformed X-INS-AUTH-KEY"})
        if key == self.inactive_api_key:
            return _json(403, _INACTIVE)
        if key != self.api_key:
            return _json(401, {"message": "invalid API key"})
        return f"key:{key}"

    async def _bearer_route(self, request: web.Request) -> web.Response:
        """Answer the OAuth statistics route."""
        return await self._statistics(request, self._bearer_key(request))

    async def _api_key_route(self, request: web.Request) -> web.Response:
        """Answer the API-key statistics route."""
        return await self._statistics(request, self._api_key(request))

    def _choose_fault(self, request: web.Request) -> str | web.Response | None:
        """Pick this request's fault: the header's, else the plan's next."""
        forced = request.headers.get(FAULT_HEADER)
        if forced is None:
            return self._picker.pick()
        if forced == "none":
            return None
        if forced not in FAULT_KINDS:
            return _json(400, {"message": f"unknown fault kind: {forced}"})
        return forced

    async def _statistics(
        self, request: web.Request, credential: str | web.Response
    ) -> web.Response:
        """Run a statistics request through the server's steps."""
        if isinstance(credential, web.Response):
            return credential
        self.stats.requests += 1

        fault = self._choose_fault(request)
        if isinstance(fault, web.Response):
            return fault
        if fault is not None:
            self.stats.faults[fault] += 1
            faulted = await inject(fault, request, self._picker.plan, self._pause)
            if faulted is not None:
                return faulted

        if not self._admit(credential):
            self.stats.refused_429[credential] += 1
            return _rate_limited()
        if self.latency and await self._pause(self.latency):
            return _json(503, {"message": "sandbox is shutting down"})

        return self._answer(await request.read())

    def _admit(self, key: str) -> bool:
        """Apply the per-credential sliding one-second limit, counting acceptances."""
        now = time.monotonic()
        window = self._limiters.setdefault(key, SlidingWindow(1.0))
        limit = None if self.rate_limit is None else math.ceil(self.rate_limit)
        if not window.admit(now, limit):
            return False
        self.stats.record_accepted(key, now)
        return True

    def _answer(self, raw: bytes) -> web.Response:
        """Decode, validate and answer an accepted request body."""
        try:
            query = read_request(raw, year_limit=self.year_limit)
            body = self.reporter.encoded(query)
        except RequestError as exc:
            return _json(exc.status, exc.body)
        return web.Response(body=body, content_type=_JSON)

    async def _token_route(self, request: web.Request) -> web.Response:
        """Issue an access token for valid client credentials."""
        self.stats.token_requests += 1
        raw = await request.read()
        try:
            client_id = read_token_request(raw, self.client_id, self.client_secret)
        except RequestError as exc:
            return _json(exc.status, exc.body)

        token = self._tokens.issue(
            client_id,
            time.monotonic(),
            ttl=self.token_ttl,
            limit=self.token_rate_limit,
        )
        if token is None:
            self.stats.tokens_refused_429 += 1
            return _rate_limited()
        self.stats.tokens_issued[client_id] += 1
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": math.ceil(self.token_ttl),
        }
        return _json(200, body)
