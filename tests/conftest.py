"""Shared fixtures: a fresh sandbox per test, a canned loopback server, helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from insider_wa_async import InsiderWAClient, OverallStatistics, RetryPolicy
from insider_wa_async.sandbox import Sandbox

MAR_1_2025 = 1_740_787_200
DAY = 86_400
FAST_RETRY = RetryPolicy(backoff_base=0.002, backoff_cap=0.02, retry_after_cap=0.05)
EMPTY_ANSWER = b'{"chart":{},"summary":{},"details":[]}'


@pytest.fixture(autouse=True)
def _restore_package_logging() -> Iterator[None]:
    """Undo the handlers and level the command installs on the package logger."""
    package = logging.getLogger("insider_wa_async")
    handlers, level = package.handlers[:], package.level
    yield
    package.handlers[:] = handlers
    package.setLevel(level)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """Start a fresh sandbox (default settings) on loopback for one test."""
    async with Sandbox() as running:
        yield running


def client_for(sb: Sandbox, **options: Any) -> InsiderWAClient:
    """Build a static-token client of ``sb`` with fast retries unless overridden."""
    settings: dict[str, Any] = {
        "token": sb.token,
        "base_url": sb.url,
        "retry": FAST_RETRY,
        "timeout": 5.0,
    }
    settings.update(options)
    return InsiderWAClient(**settings)


def as_json(result: OverallStatistics) -> Any:
    """Return a result as builtins, with details sorted by campaign id."""
    data: dict[str, Any] = msgspec.to_builtins(result)
    data["details"] = sorted(data.get("details", []), key=lambda d: d["id"])
    return data


def truth_of(sb: Sandbox, start: int, end: int, flt: Any = None) -> Any:
    """Return the sandbox's own answer, shaped like :func:`as_json`."""
    data = sb.truth(start, end, flt)
    data["details"] = sorted(data.get("details", []), key=lambda d: d["id"])
    return data


def connections_in_use(client: InsiderWAClient) -> int:
    """Count the connections of the client's pool that are taken by a request."""
    session = client._session
    assert session is not None
    connector = session.connector
    assert connector is not None
    return len(connector._acquired)


def http_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the WARNING lines of the ``insider_wa_async.http`` logger."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "insider_wa_async.http" and r.levelno == logging.WARNING
    ]


@dataclass
class Canned:
    """A loopback server answering from a queue of ``(status, body, headers)``.

    When the queue is empty it answers ``default``. ``hits`` counts requests.
    """

    url: str = ""
    default: tuple[int, bytes, dict[str, str]] = (200, EMPTY_ANSWER, {})
    queue: deque[tuple[int, bytes, dict[str, str]]] = field(default_factory=deque)
    hits: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one request with the next canned response."""
        await request.read()
        self.hits += 1
        status, body, headers = self.queue.popleft() if self.queue else self.default
        return web.Response(status=status, body=body, headers=headers)


@contextlib.asynccontextmanager
async def canned_server() -> AsyncIterator[Canned]:
    """Run a :class:`Canned` server on 127.0.0.1 for the duration of the block."""
    canned = Canned()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", canned.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    canned.url = f"http://{host}:{port}"
    try:
        yield canned
    finally:
        await runner.cleanup()


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    """Run a canned loopback server for one test."""
    async with canned_server() as server:
        yield server


@contextlib.contextmanager
def threaded_sandbox(**options: Any) -> Iterator[Sandbox]:
    """Run a sandbox on its own loop in a thread, for code that calls asyncio.run."""
    loop = asyncio.new_event_loop()
    sb = Sandbox(**options)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sb.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30), "the sandbox did not start"
    try:
        yield sb
    finally:
        asyncio.run_coroutine_threadsafe(sb.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


async def post_raw(url: str, body: bytes = b"{}") -> int:
    """Post to ``url`` with a throwaway session; return the status."""
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as r:
        await r.read()
        return r.status
