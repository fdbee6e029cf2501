"""One credential's rate limit shared by processes and hosts, kept in Redis.

:class:`RedisLimiter` gives the same guarantee as the in-process
:class:`~insider_wa_async.CredentialLimiter`, but for every process that
shares a Redis key: at most ``rate`` requests in any sliding second, while
the group keeps a long-run pace of ``headroom * rate``.

Each :meth:`RedisLimiter.acquire` is one round trip: a Lua script reserves
the group's next send slot on Redis's own clock (``TIME``), so the clocks of
the hosts never matter, and the caller sleeps until that slot. The script
keeps the last ``floor(rate)`` slot times in a list under the key; a new
slot is at least one pace interval after the previous one and at least
``1 s + margin`` after the slot ``floor(rate)`` places back, so no window of
that length ever holds more than ``rate`` slots. The key expires about a
second after its last slot, so idle keys vanish.

When Redis cannot be reached, ``on_unavailable`` decides: ``"fail"`` (the
default) raises :class:`LimiterUnavailableError` within ``timeout`` seconds;
``"local"`` paces with an in-process limiter at ``local_share * rate``, logs
one WARNING on ``insider_wa_async.limiter`` and tries Redis again after
``cooldown`` seconds.

redis-py is an optional dependency: ``pip install 'insider-wa-async[redis]'``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Literal

from ._errors import TransportError
from ._limiter import CredentialLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["LimiterUnavailableError", "RedisLimiter", "redis_limiter_for"]

logger = logging.getLogger("insider_wa_async.limiter")

OnUnavailable = Literal["fail", "local"]

_POOL_SIZE = 16  # connections per limiter created from a URL
_BATCH = 100  # most slots reserved in one round trip
_CLOCK_ERROR = 0.0005  # seconds of clock uncertainty that call for a probe
_PROBES = 3  # most TIME round trips to take when probing
_RETAKES = 3  # most slots a caller gives up for waking too late

# KEYS[1]: the list of recent slot times (microseconds, Redis clock).
# ARGV: pace interval (us), window (us), most slots per window, idle TTL (ms),
# slots wanted. Returns the script's time, then the slots granted, oldest first.
# Slot i must follow slot i - 1 by the interval and slot i - limit by the
# window; only those list entries are read, so a call costs O(slots wanted).
_RESERVE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local count = tonumber(ARGV[5])
local n = redis.call('LLEN', key)
local first = math.max(0, n - limit)
local stop = math.min(n, n - limit + count) - 1
local old = {}
if stop >= first then old = redis.call('LRANGE', key, first, stop) end
local prev = nil
if n > 0 then prev = tonumber(redis.call('LINDEX', key, -1)) end
local slots, granted = {}, {}
for i = 1, count do
  local slot = now
  if prev then slot = math.max(slot, prev + interval) end
  local back = n + i - 1 - limit
  if back >= n then
    slot = math.max(slot, slots[back - n + 1] + window)
  elseif back >= 0 then
    slot = math.max(slot, tonumber(old[back - first + 1]) + window)
  end
  slot = math.ceil(slot)
  prev = slot
  slots[i] = slot
  granted[i] = string.format('%.0f', slot)
end
redis.call('RPUSH', key, unpack(granted))
redis.call('LTRIM', key, -limit, -1)
local ttl = math.ceil((prev - now + window) / 1000) + tonumber(ARGV[4])
redis.call('PEXPIRE', key, ttl)
return {string.format('%.0f', now), unpack(granted)}
"""


class LimiterUnavailableError(TransportError):
    """The shared limiter's Redis did not answer in time, so nothing was sent."""


def _import_redis() -> ModuleType:
    """Import ``redis.asyncio``, or say which extra provides it."""
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:
        raise ImportError(
            "RedisLimiter needs redis-py; install it with "
            "pip install 'insider-wa-async[redis]'"
        ) from exc
    return redis_asyncio


class RedisLimiter:
    """Pace one credential's requests across processes through a Redis key.

    Every process (on any host) that uses the same Redis, ``prefix`` and
    ``key`` shares one allowance. They must all use the same ``rate``,
    ``headroom`` and ``margin``. The defaults leave the group about 20 ms of
    spread in send delay between its members (timers, stalls, network) and
    keep 98% of the allowance; the in-process limiter needs less.

    Args:
        redis: A ``redis://`` (or ``rediss://``, ``unix://``) URL, for which
            the limiter creates and later closes its own connection pool (16
            connections; more callers wait their turn); or
            a ``redis.asyncio.Redis`` client, which is never closed here.
        key: The credential's key, such as the client's hashed credential
            key; never the credential itself.
        rate: The server's limit, in requests per sliding second.
        prefix: Put before ``key`` to name the Redis key.
        headroom: The share of ``rate`` to pace at in the long run.
        margin: Seconds added to the one-second window: the difference in
            send delay between two processes (network, timers) that the
            server may see without ever counting more than ``rate``.
        timeout: Seconds allowed for one reservation, connecting included.
        on_unavailable: ``"fail"`` to raise when Redis does not answer;
            ``"local"`` to pace in-process meanwhile.
        local_share: With ``"local"``, the share of ``rate`` this process
            may use alone: at most 1 / the number of processes sharing it.
        cooldown: With ``"local"``, seconds before Redis is tried again.

    Note:
        Slots live in Redis memory only: if Redis restarts or fails over,
        the group may send up to ``rate`` requests at once in the first
        second after. A step of the Redis host's clock delays or bunches the
        slots reserved around it.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        key: str,
        rate: float = 100.0,
        prefix: str = "insider-wa:rl:",
        headroom: float = 0.98,
        margin: float = 0.02,
        timeout: float = 1.0,
        on_unavailable: OnUnavailable = "fail",
        local_share: float = 0.25,
        cooldown: float = 5.0,
    ) -> None:
        _check_options(rate, headroom, margin, timeout, local_share, cooldown)
        if on_unavailable not in ("fail", "local"):
            raise ValueError("on_unavailable must be 'fail' or 'local'")
        if not key:
            raise ValueError("key must not be empty")
        redis_asyncio = _import_redis()
        self._owns_client = isinstance(redis, str)
        self._redis: Redis = (
            _client_from_url(redis_asyncio, redis, timeout)
            if isinstance(redis, str)
            else redis
        )
        self._script = self._redis.register_script(_RESERVE_SCRIPT)
        self._errors = (redis_asyncio.RedisError, OSError, asyncio.TimeoutError)

        self.rate = float(rate)
        self.redis_key = prefix + key
        self.timeout = timeout
        self.on_unavailable: OnUnavailable = on_unavailable
        self.local_share = local_share
        self.cooldown = cooldown
        window_us = math.ceil((1.0 + margin) * 1_000_000)
        self._args = (
            repr(1_000_000 / (rate * headroom)),
            str(window_us),
            str(max(1, math.floor(rate))),
            "1000",
        )
        self._late = margin / 2
        self._clock = _ClockOffset()
        self._queue: list[asyncio.Future[float]] = []
        self._runner: asyncio.Task[None] | None = None
        self._local: CredentialLimiter | None = None
        self._retry_at: float | None = None

    def __repr__(self) -> str:
        state = "local" if self._retry_at is not None else "redis"
        return f"<RedisLimiter {self.redis_key!r} rate={self.rate:g} using={state}>"

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def using_local(self) -> bool:
        """Whether acquires are paced in-process because Redis is unreachable."""
        return self._retry_at is not None

    async def acquire(self) -> None:
        """Reserve the group's next send slot in Redis and sleep until it.

        A caller that wakes more than ``margin / 2`` after its slot (its loop
        stalled) gives the slot up and takes a new one, up to three times,
        so that a pause does not turn into a burst at the server.

        Raises:
            LimiterUnavailableError: Redis did not answer within ``timeout``
                and ``on_unavailable`` is ``"fail"``.
        """
        if self._local_for_now():
            await self._local_limiter().acquire()
            return
        loop = asyncio.get_running_loop()
        for _ in range(_RETAKES + 1):
            try:
                send_at = await self._slot()
            except self._errors as exc:
                await self._unavailable(exc)
                return
            self._back_on_redis()
            delay = send_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() - send_at <= self._late:
                return

    async def check(self) -> None:
        """Make sure Redis answers, and load the script so acquires take one trip.

        Raises:
            LimiterUnavailableError: Redis did not answer within ``timeout``
                and ``on_unavailable`` is ``"fail"``.
        """
        try:
            await asyncio.wait_for(
                self._redis.script_load(_RESERVE_SCRIPT), self.timeout
            )
        except self._errors as exc:
            if self.on_unavailable == "fail":
                raise _unavailable_error(exc) from exc
            self._fall_back(exc)
            return
        self._back_on_redis()

    async def aclose(self) -> None:
        """Close the connection pool if the limiter created it from a URL."""
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()

    async def _slot(self) -> float:
        """Queue for a slot; return the loop time at which to send.

        Callers queue while a reservation is in flight, and the next round
        trip reserves slots for all of them (up to ``_BATCH``). One round
        trip in flight at a time keeps the clock estimate tight and the
        number of connections low; a failed trip fails every queued caller,
        so none waits longer than about two timeouts.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[float] = loop.create_future()
        self._queue.append(waiter)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_batches())
        return await waiter

    async def _run_batches(self) -> None:
        """Reserve slots for the queued callers, a batch per round trip."""
        while self._queue:
            batch = [w for w in self._queue[:_BATCH] if not w.done()]
            del self._queue[:_BATCH]
            try:
                times = await self._reserve(len(batch)) if batch else []
            except asyncio.CancelledError:
                self._fail_queued(batch, LimiterUnavailableError("limiter closed"))
                raise
            except Exception as exc:
                self._fail_queued(batch, exc)
                return
            for waiter, send_at in zip(batch, times, strict=True):
                if not waiter.done():
                    waiter.set_result(send_at)

    def _fail_queued(self, batch: list[asyncio.Future[float]], exc: Exception) -> None:
        waiting, self._queue = batch + self._queue, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(exc)

    async def _reserve(self, count: int) -> list[float]:
        """Reserve ``count`` slots; return their times on this loop's clock.

        A slot's Redis time is turned into loop time with the estimated
        clock offset, so that a reply read late (a busy loop) does not make
        the send late.
        """
        loop = asyncio.get_running_loop()
        sent = loop.time()
        now_us, slots_us = await self._reserve_raw(count)
        offset = self._clock.update(sent, loop.time(), now_us / 1_000_000)
        if self._clock.error > _CLOCK_ERROR:
            offset = await asyncio.wait_for(self._probe_clock(), self.timeout)
        return [slot / 1_000_000 - offset for slot in slots_us]

    async def _probe_clock(self) -> float:
        """Refine the clock offset with a few quick TIME round trips."""
        loop = asyncio.get_running_loop()
        for _ in range(_PROBES):
            sent = loop.time()
            seconds, micros = await self._redis.time()
            offset = self._clock.update(sent, loop.time(), seconds + micros / 1e6)
            if self._clock.error <= _CLOCK_ERROR:
                break
        return offset

    async def _reserve_raw(self, count: int) -> tuple[int, list[int]]:
        """Run the script once; return Redis's time and the slots, in us."""
        call = self._script(keys=[self.redis_key], args=[*self._args, count])
        reply = await asyncio.wait_for(call, self.timeout)
        now_us, *slots_us = (int(item) for item in reply)
        return now_us, slots_us

    def _local_for_now(self) -> bool:
        """Whether to pace locally; let one caller probe Redis per cool-down."""
        if self._retry_at is None:
            return False
        now = asyncio.get_running_loop().time()
        if now < self._retry_at:
            return True
        self._retry_at = now + self.cooldown
        return False

    async def _unavailable(self, exc: BaseException) -> None:
        """Raise, or pace locally, after Redis failed to answer."""
        if self.on_unavailable == "fail":
            raise _unavailable_error(exc) from exc
        self._fall_back(exc)
        await self._local_limiter().acquire()

    def _fall_back(self, exc: BaseException) -> None:
        """Switch to local pacing until the cool-down ends; warn once per outage."""
        if self._retry_at is None:
            logger.warning(
                "shared rate limiter unavailable (%s: %s); pacing this process "
                "alone at %g requests/s, retrying Redis every %g s",
                type(exc).__name__,
                exc,
                self.rate * self.local_share,
                self.cooldown,
            )
        self._retry_at = asyncio.get_running_loop().time() + self.cooldown

    def _back_on_redis(self) -> None:
        if self._retry_at is not None:
            self._retry_at = None
            logger.info("shared rate limiter reachable again; pacing through Redis")

    def _local_limiter(self) -> CredentialLimiter:
        if self._local is None:
            self._local = CredentialLimiter(self.rate * self.local_share)
        return self._local


async def redis_limiter_for(
    url: str,
    key: str,
    rate: float,
    *,
    prefix: str = "insider-wa:rl:",
    on_unavailable: OnUnavailable = "fail",
    local_share: float = 0.25,
    timeout: float = 1.0,
) -> RedisLimiter:
    """Build a limiter that owns its connection pool, and check Redis now.

    Meant for a client's ``open()``: a wrong URL or a Redis that is down
    shows at start-up rather than at the first request. Close the limiter
    with :meth:`RedisLimiter.aclose`.

    Args:
        url: The Redis URL, such as ``redis://localhost:6379/0``.
        key: The credential's hashed key (see ``credential_key``).
        rate: The credential's allowance, in requests per sliding second.
        prefix: Put before ``key`` to name the Redis key.
        on_unavailable: ``"fail"`` or ``"local"``, as for `RedisLimiter`.
        local_share: The share of ``rate`` one process uses without Redis.
        timeout: Seconds allowed for one reservation, connecting included.

    Returns:
        The limiter, with its script loaded into Redis.

    Raises:
        LimiterUnavailableError: Redis did not answer and ``on_unavailable``
            is ``"fail"``.
        ImportError: redis-py is not installed.
    """
    limiter = RedisLimiter(
        url,
        key=key,
        rate=rate,
        prefix=prefix,
        on_unavailable=on_unavailable,
        local_share=local_share,
        timeout=timeout,
    )
    try:
        await limiter.check()
    except BaseException:
        await limiter.aclose()
        raise
    return limiter


class _ClockOffset:
    """Estimate Redis's clock minus the loop's clock, as NTP does.

    A reply's time lies between sending and reading, so each round trip
    gives the offset to within half its length. The tightest recent one is
    kept; a sample that contradicts it (the Redis host's clock stepped)
    replaces it, and so does any after ``max_age`` seconds, which keeps
    drift between the two clocks out.
    """

    def __init__(self, max_age: float = 2.0) -> None:
        self.max_age = max_age
        self._offset = 0.0
        self.error = math.inf
        self._taken = -math.inf

    def update(self, sent: float, received: float, remote: float) -> float:
        """Fold in one round trip (loop times) and Redis's time; return the offset."""
        error = (received - sent) / 2
        sample = remote - (sent + received) / 2
        if (
            error <= self.error
            or received - self._taken > self.max_age
            or abs(sample - self._offset) > error + self.error
        ):
            self._offset, self.error, self._taken = sample, error, received
        return self._offset


def _client_from_url(redis_asyncio: ModuleType, url: str, timeout: float) -> Redis:
    """Create a client whose every wait is bounded: one quick retry, no backoff.

    Callers beyond the pool's size wait for a free connection (a reservation
    holds one for a single round trip) instead of opening more.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = redis_asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=_POOL_SIZE,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )
    client: Redis = redis_asyncio.Redis.from_pool(pool)
    return client


def _unavailable_error(exc: BaseException) -> LimiterUnavailableError:
    detail = str(exc) or "no answer in time"
    return LimiterUnavailableError(
        f"shared rate limiter unavailable: {type(exc).__name__}: {detail}"
    )


def _check_options(
    rate: float,
    headroom: float,
    margin: float,
    timeout: float,
    local_share: float,
    cooldown: float,
) -> None:
    if not 0 < rate < math.inf:
        raise ValueError("rate must be a positive, finite number")
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    if not 0 <= margin < 1:
        raise ValueError("margin must be in [0, 1) seconds")
    if not 0 < local_share <= 1:
        raise ValueError("local_share must be in (0, 1]")
    for name, value in (("timeout", timeout), ("cooldown", cooldown)):
        if not 0 < value < math.inf:
            raise ValueError(f"{name} must be a positive, finite number")
