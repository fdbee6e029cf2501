"""Shared helpers of the layer benchmarks: bodies, interleaved timing, tables, JSON.

Every benchmark compares the product with alternatives measured in the same run.
Candidates are interleaved (each round runs every candidate once, in an order
rotated from round to round), each figure is the median over the rounds with the
spread shown as min..max, and a ratio is the median of the per-round ratios, so
that a noisy moment of a shared machine hits both sides of a ratio alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from insider_wa_async.sandbox._data import DROP_KEYS, UNDELIVERED_KEYS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DAY = 86_400
FIRST_DAY = 1_735_689_600  # 2025-01-01T00:00:00Z

# ----------------------------------------------------------------------------
# Bodies


# The API's breakdown keys, as the sandbox serves them.
_DROP_KEYS = list(DROP_KEYS)
_UNDELIVERED_KEYS = list(UNDELIVERED_KEYS)
_CHART_KEYS = [
    "sent",
    "delivered",
    "open",
    "click",
    "conversion",
    "verified",
    "responses",
    "clickFromResponses",
    "conversionFromResponses",
]
_STATUSES = [
    "active",
    "test",
    "passive",
    "completed",
    "failed",
    "scheduled",
    "draft",
    "stop",
]
_TYPES = ["standard", "ab_test", "split", "transactional", "other"]
_TAGS = [
    (i, name)
    for i, name in enumerate(
        [
            "flash-sale",
            "spring",
            "summer",
            "autumn",
            "winter",
            "vip",
            "loyalty",
            "cart-abandon",
            "welcome",
            "re-engage",
            "black-friday",
            "new-arrivals",
            "clearance",
            "app-users",
            "web-users",
            "newsletter",
            "b2b",
            "b2c",
            "istanbul",
            "ankara",
            "izmir",
            "promo-a",
            "promo-b",
            "birthday",
            "survey",
            "win-back",
            "premium",
            "trial",
            "onboarding",
            "holiday",
        ],
        start=1,
    )
]
_WORDS = [
    "Spring",
    "Summer",
    "Flash",
    "Weekend",
    "Loyalty",
    "Welcome",
    "Cart",
    "Holiday",
    "VIP",
    "Promo",
]
_BUTTONS = ["Yes, show me", "Not now", "Talk to us", "Unsubscribe", "More"]


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split ``total`` into ``parts`` non-negative integers that add up to it."""
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _counters(rng: random.Random, scale: int) -> dict[str, Any]:
    sent = rng.randint(scale // 10, scale)
    drop = rng.randint(0, sent // 15 + 12)
    undelivered = rng.randint(0, sent // 20 + 9)
    pending = rng.randint(0, sent // 100 + 1)
    delivered = max(0, sent - undelivered - pending)
    sent = delivered + undelivered + pending
    opened = rng.randint(0, delivered)
    click = rng.randint(0, opened // 3 + 1)
    conversion = rng.randint(0, click // 4 + 1)
    return {
        "sent": sent,
        "delivered": delivered,
        "open": opened,
        "click": click,
        "conversion": conversion,
        "revenue": round(conversion * rng.uniform(10, 90), 2),
        "drop": drop,
        "targeted": sent + drop,
        "unsubscribe": rng.randint(0, sent // 300 + 1),
        "undelivered": undelivered,
        "deliveryPending": pending,
        "dropDetails": dict(zip(_DROP_KEYS, _split(drop, 12, rng), strict=True)),
        "undeliveredDetails": dict(
            zip(_UNDELIVERED_KEYS, _split(undelivered, 9, rng), strict=True)
        ),
    }


def _buttons(rng: random.Random, card: int) -> list[dict[str, Any]]:
    buttons = []
    for name in rng.sample(_BUTTONS, 3):
        sent = rng.randint(0, 5000)
        conversion = rng.randint(0, sent // 20 + 1)
        buttons.append(
            {
                "cardId": card,
                "buttonName": name,
                "sent": sent,
                "delivered": sent - rng.randint(0, sent // 30 + 1),
                "open": rng.randint(0, sent),
                "click": rng.randint(0, sent // 3 + 1),
                "conversion": conversion,
                "revenue": round(conversion * rng.uniform(10, 90), 2),
                "isNoReplyMessage": name == "Not now",
            }
        )
    return buttons


def _campaign(rng: random.Random, cid: int, first: int, days: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": cid,
        "status": rng.choice(_STATUSES),
        "campName": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {cid % 997}",
        "isConversational": cid % 4 == 0,
        "campaignType": rng.choice(_TYPES),
        "startsOn": first - rng.randint(0, 90) * DAY,
        "endsOn": first + (days + rng.randint(0, 90)) * DAY,
        "campaignLastDeliveryDate": first + rng.randint(0, days - 1) * DAY,
        "tags": [{"id": i, "name": n} for i, n in rng.sample(_TAGS, rng.randint(0, 3))],
        "phoneNumber": f"+90532{rng.randint(1_000_000, 9_999_999)}",
        "phoneNumberName": rng.choice(["Main Number", "Support", "Campaigns"]),
        **_counters(rng, 60_000),
    }
    if item["isConversational"]:
        item["responses"] = _buttons(rng, cid * 10 + 1)
        item["responseSummary"] = {
            "sent": rng.randint(0, 9000),
            "open": rng.randint(0, 6000),
            "click": rng.randint(0, 2000),
            "conversion": rng.randint(0, 400),
            "buttonClick": rng.randint(0, 3000),
        }
    return item


def make_document(
    campaigns: int, *, days: int = 365, first: int = FIRST_DAY, first_id: int = 1
) -> dict[str, Any]:
    """Build a deterministic, realistic ``statistics/overall`` answer as dicts.

    Args:
        campaigns: How many items ``details`` holds; a quarter of them are
            conversational, with three buttons and a response summary.
        days: Chart days, one entry per UTC day from ``first``.
        first: Unix seconds of the first chart day (a UTC midnight).
        first_id: The first campaign id; ids are consecutive.
    """
    rng = random.Random(f"{campaigns}/{days}/{first}/{first_id}")
    stamps = [first + i * DAY for i in range(days)]
    chart: dict[str, Any] = {
        "dates": [time.strftime("%Y-%m-%d", time.gmtime(s)) for s in stamps],
        "datesAsTimestamp": stamps,
    }
    for key in _CHART_KEYS:
        chart[key] = [rng.randint(0, 400_000) for _ in stamps]
    details = [
        _campaign(rng, cid, first, days)
        for cid in range(first_id, first_id + campaigns)
    ]
    return {"chart": chart, "summary": _counters(rng, 9_000_000), "details": details}


def make_body(campaigns: int, **options: Any) -> bytes:
    """Return :func:`make_document` encoded as the API's JSON bytes."""
    return msgspec.json.encode(make_document(campaigns, **options))


# ----------------------------------------------------------------------------
# Timing


@dataclass
class Row:
    """One line of a result table."""

    candidate: str
    median: float
    low: float
    high: float
    unit: str
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    ratio_unit: str = "x"
    digits: int = 2


def interleave(
    candidates: dict[str, Callable[[], object]],
    *,
    rounds: int,
    repeat: int = 1,
    collect: bool = True,
) -> dict[str, list[float]]:
    """Time every candidate once per round, rotating the order; seconds per call.

    Each sample runs a candidate ``repeat`` times (results are dropped at once,
    so freeing them is timed too) after a full collection, with the collector
    left on as in real use.
    """
    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            run = candidates[name]
            if collect:
                gc.collect()
            started = time.perf_counter()
            for _ in range(repeat):
                run()
            times[name].append((time.perf_counter() - started) / repeat)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Return the median of the per-round ratios ``numerator / denominator``."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def row(
    candidate: str,
    samples: list[float],
    unit: str = "ms",
    *,
    scale: float = 1e3,
    ratio: float | None = None,
    target: str = "",
    ratio_unit: str = "x",
) -> Row:
    """Summarise samples (in base units) into a row; ``target`` is ``">= 3x"``."""
    passed = None
    if target and ratio is not None:
        op, _, bound = target.partition(" ")
        limit = float(bound.rstrip("xs"))
        passed = ratio >= limit if op == ">=" else ratio <= limit
    return Row(
        candidate,
        statistics.median(samples) * scale,
        min(samples) * scale,
        max(samples) * scale,
        unit,
        ratio,
        target,
        passed,
        ratio_unit,
    )


def print_table(title: str, rows: list[Row]) -> None:
    """Print rows as an aligned table under ``title``."""
    width = max(len(r.candidate) for r in rows) + 2
    print(f"\n## {title}")
    print(
        f"{'candidate':<{width}}{'median':>11} {'min..max':>21} "
        f"{'ratio':>8} {'target':>9} result"
    )
    for r in rows:
        spread = f"{_num(r.low)}..{_num(r.high)}"
        ratio = "" if r.ratio is None else f"{r.ratio:.{r.digits}f}{r.ratio_unit}"
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        print(
            f"{r.candidate:<{width}}{_num(r.median):>8} {r.unit:<2}"
            f"{spread:>21} {ratio:>8} {r.target:>9} {verdict}"
        )
    sys.stdout.flush()


def _num(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def write_results(layer: str, tables: dict[str, list[Row]], **extra: Any) -> bool:
    """Write ``benchmarks/results/<layer>.json``; return whether every row passed."""
    passed = all(r.passed is not False for rows in tables.values() for r in rows)
    payload = {
        "benchmark": layer,
        "passed": passed,
        "tables": {title: [asdict(r) for r in rows] for title, rows in tables.items()},
        **extra,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{layer}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return passed


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run a block with the cyclic collector off (setup work only)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ----------------------------------------------------------------------------
# Servers in their own processes (loopback only)


class ServerProcess:
    """A server running in a child process, driven through a pipe.

    The child answers ``"stats"``, ``"reset"`` and ``"stop"`` commands; its
    first message is its base URL. It stops by itself when the pipe closes.
    """

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(child, *args))
        self._process.start()
        child.close()
        if not self._conn.poll(60):
            self._process.kill()
            raise RuntimeError("the server process did not start")
        self.url: str = self._conn.recv()

    def ask(self, command: str) -> Any:
        """Send a command and return the child's answer."""
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        """Stop the child and wait for it."""
        with contextlib.suppress(OSError, EOFError):
            self.ask("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve_commands(conn: Connection, answer: Callable[[str], Any]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            command = await loop.run_in_executor(None, conn.recv)
        except EOFError:
            return
        if command == "stop":
            conn.send(None)
            return
        conn.send(answer(command))


def sandbox_child(conn: Connection, options: dict[str, Any]) -> None:
    """Run a `Sandbox` with ``options`` on 127.0.0.1 (child process entry)."""
    from insider_wa_async.sandbox import Sandbox

    async def run() -> None:
        async with Sandbox(host="127.0.0.1", port=0, **options) as sandbox:
            conn.send(sandbox.url)

            def answer(command: str) -> Any:
                if command == "reset":
                    sandbox.reset_stats()
                    return None
                stats = sandbox.stats
                return {
                    "accepted": sum(stats.accepted.values()),
                    "refused_429": sum(stats.refused_429.values()),
                    "max_in_window": stats.max_in_window(),
                }

            await _serve_commands(conn, answer)

    asyncio.run(run())


def fixed_body_child(conn: Connection, bodies: dict[str, bytes]) -> None:
    """Serve ``bodies[name]`` to any POST below ``/<name>/`` (child entry)."""
    from aiohttp import web

    responses = {name: body for name, body in bodies.items()}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        body = responses[request.match_info["name"]]
        return web.Response(body=body, content_type="application/json")

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/{name}/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        conn.send(f"http://{host}:{port}")
        try:
            await _serve_commands(conn, lambda command: None)
        finally:
            await runner.cleanup()

    asyncio.run(run())
