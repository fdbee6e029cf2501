"""Describe and inject the faults a real gateway and server show now and then.

Kinds (the values of `FAULT_KINDS`):

- ``html_502``: 502 with an HTML gateway page (``text/html``).
- ``empty_503``: 503 with an empty body.
- ``500``: 500 with ``{"message": "internal error"}``.
- ``429``: the rate-limit body, without ``Retry-After``.
- ``429_retry_after``: the rate-limit body with ``Retry-After``
  (`FaultPlan.retry_after`, seconds).
- ``reset``: the connection is aborted without any response.
- ``truncate``: a 200 whose ``Content-Length`` exceeds the bytes sent, then a close.
- ``latency``: a pause of `FaultPlan.latency` seconds, then the normal answer.
- ``wrong_shape``: a 200 with the page's ``{"data": {"statistics": ...}}`` example.
- ``timeout``: no answer for `FaultPlan.timeout` seconds (cut short when the
  sandbox closes, which then aborts the connection).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

FAULT_KINDS = (
    "html_502",
    "empty_503",
    "500",
    "429",
    "429_retry_after",
    "reset",
    "truncate",
    "latency",
    "wrong_shape",
    "timeout",
)
TRANSIENT_KINDS = FAULT_KINDS[:8]

RATE_LIMITED_BODY = (
    b'{"message":"rate limited","error":{"message":"rate limited","code":2021}}'
)
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_WRONG_SHAPE = b'{"data":{"statistics":{"sent":120,"delivered":118,"read":94}}}'
_PARTIAL_BODY = b'{"chart":{"dates":["2025-03-01","2025-03-02"],"datesAsTimestamp":[17'
_TRUNCATED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 4096\r\nConnection: close\r\n\r\n"
)

Pause = Callable[[float], Awaitable[bool]]


@dataclass(frozen=True)
class FaultPlan:
    """Script the faults the sandbox injects into statistics requests.

    The kinds in ``sequence`` are injected one per statistics request, in order.
    After the sequence is used up, each request is faulted with ``probability``,
    with a kind drawn from ``kinds`` by a generator seeded with ``seed``. A request
    header ``X-Sandbox-Fault: <kind>`` (or ``none``) overrides the plan for that
    request without consuming it.

    Attributes:
        sequence: Kinds to inject first, one per request.
        probability: Chance (0 to 1) that a later request is faulted.
        kinds: Kinds drawn from at random; by default every kind that a client
            should retry (all but ``wrong_shape`` and ``timeout``).
        seed: Seed of the random draws.
        retry_after: Value of the ``Retry-After`` header of ``429_retry_after``.
        latency: Pause of the ``latency`` kind, in seconds.
        timeout: Pause of the ``timeout`` kind, in seconds.
    """

    sequence: Sequence[str] = ()
    probability: float = 0.0
    kinds: Sequence[str] = TRANSIENT_KINDS
    seed: int = 0
    retry_after: str = "1"
    latency: float = 0.5
    timeout: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sequence", tuple(self.sequence))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        unknown = sorted({*self.sequence, *self.kinds} - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(unknown)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must lie between 0 and 1")
        if self.probability and not self.kinds:
            raise ValueError("kinds must not be empty when probability is set")


class FaultPicker:
    """Walk through one `FaultPlan`: first its sequence, then random draws."""

    def __init__(self, plan: FaultPlan | None) -> None:
        self.plan = plan or FaultPlan()
        self._position = 0
        self._rng = random.Random(self.plan.seed)

    def pick(self) -> str | None:
        """Return the kind of fault for the next request, or ``None``."""
        plan = self.plan
        if self._position < len(plan.sequence):
            self._position += 1
            return plan.sequence[self._position - 1]
        if plan.probability and self._rng.random() < plan.probability:
            return self._rng.choice(plan.kinds)
        return None


def _drop_connection(request: web.Request) -> web.Response:
    """Abort the connection; the response returned is never written."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=499)


def _truncated(request: web.Request) -> web.Response:
    """Send a 200 head and part of its body, then close the connection."""
    if request.transport is not None:
        request.transport.write(_TRUNCATED_HEAD + _PARTIAL_BODY)
        request.transport.close()
    return web.Response(status=499)


def _rate_limited(retry_after: str | None) -> web.Response:
    """Build the rate-limit answer, with ``Retry-After`` when one is given."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return web.Response(
        status=429,
        body=RATE_LIMITED_BODY,
        content_type="application/json",
        headers=headers,
    )


async def inject(
    kind: str, request: web.Request, plan: FaultPlan, pause: Pause
) -> web.Response | None:
    """Answer ``request`` with the fault ``kind``.

    Args:
        kind: One of `FAULT_KINDS`.
        request: The request being answered.
        plan: The plan, for the fault's settings.
        pause: Sleeps for the given seconds; returns True if the sandbox is closing.

    Returns:
        The response to send, or ``None`` when the request must then be answered
        normally (``latency``, and ``timeout`` once its pause ends).
    """
    if kind in ("latency", "timeout"):
        closing = await pause(plan.latency if kind == "latency" else plan.timeout)
        return _drop_connection(request) if closing else None
    if kind == "truncate":
        return _truncated(request)
    if kind == "reset":
        return _drop_connection(request)
    return _canned(kind, plan)


def _canned(kind: str, plan: FaultPlan) -> web.Response:
    """Build the fixed answer of a fault kind that sends a whole response."""
    if kind == "html_502":
        return web.Response(status=502, text=_GATEWAY_PAGE, content_type="text/html")
    if kind == "empty_503":
        return web.Response(status=503)
    if kind == "500":
        body = b'{"message":"internal error"}'
        return web.Response(status=500, body=body, content_type="application/json")
    if kind == "wrong_shape":
        return web.Response(body=_WRONG_SHAPE, content_type="application/json")
    return _rate_limited(plan.retry_after if kind == "429_retry_after" else None)
