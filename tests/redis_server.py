"""Start a real redis-server on a free loopback port, and load it from workers.

Tests and benchmarks use :class:`RedisServer` (a child ``redis-server`` in
a temporary directory, nothing saved to disk) through the fixtures below,
which skip the test with a reason when the binary is not installed. Run as
``python -m tests.redis_server worker ...`` (from the repository root), the
module is one worker process: an ``InsiderWAClient`` per credential, each
paced by a ``RedisLimiter``, making a fixed number of calls against a
sandbox and printing a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_BIN = shutil.which("redis-server")
START_TIMEOUT = 10.0


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` child process on 127.0.0.1, restartable on its port."""

    def __init__(self) -> None:
        if REDIS_BIN is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="insider-wa-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        assert REDIS_BIN is not None
        command = [
            REDIS_BIN,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir.name,
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def running_redis() -> Iterator[RedisServer]:
    """Yield a started server and close it afterwards; skip if not installed."""
    if REDIS_BIN is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[RedisServer]:
    """A redis-server shared by the tests of a module; do not stop it."""
    yield from running_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for one test, which may stop, pause or restart it."""
    yield from running_redis()


async def _run_calls(
    args: argparse.Namespace, credential: dict[str, str]
) -> dict[str, Any]:
    """Make ``args.calls`` calls with one client; count outcomes by error name.

    The limiter and the client are opened before ``args.start_at``, as in a
    long-running process, so that every worker starts sending at once.
    """
    from insider_wa_async import InsiderWAClient, InsiderWAError
    from insider_wa_async._limiter import credential_key
    from insider_wa_async._redis_limiter import RedisLimiter

    limiter = RedisLimiter(
        args.redis_url,
        key=credential_key(next(iter(credential.values()))),
        rate=args.rate,
        prefix=args.prefix,
        on_unavailable=args.on_unavailable,
    )
    errors: dict[str, int] = {}
    async with (
        limiter,
        InsiderWAClient(
            token=credential.get("token"),
            api_key=credential.get("api_key"),
            base_url=args.base_url,
            max_retries=0,
            limiter=limiter,
        ) as client,
    ):
        await limiter.check()

        async def one() -> None:
            try:
                await client.overall_statistics(1735689600, 1735775999)
            except InsiderWAError as exc:
                name = type(exc).__name__
                errors[name] = errors.get(name, 0) + 1

        await asyncio.sleep(max(0.0, args.start_at - time.time()))
        await asyncio.gather(*(one() for _ in range(args.calls)))
    return {"ok": args.calls - sum(errors.values()), "errors": errors}


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    credentials = []
    if args.token:
        credentials.append({"token": args.token})
    if args.api_key:
        credentials.append({"api_key": args.api_key})
    results = await asyncio.gather(*(_run_calls(args, c) for c in credentials))
    return {"results": results}


def worker_main(argv: list[str]) -> int:
    """Run one worker process and print its JSON summary on stdout."""
    parser = argparse.ArgumentParser(prog="python -m tests.redis_server worker")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--token")
    parser.add_argument("--api-key")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--on-unavailable", default="fail")
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_worker(args))))
    return 0


def worker_command(**options: str | float) -> list[str]:
    """Return the command line of one worker process with these options."""
    command = [sys.executable, "-m", "tests.redis_server", "worker"]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def repo_root() -> str:
    """Return the repository's root directory (the workers' working directory)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def run_workers(commands: list[list[str]], timeout: float) -> list[Any]:
    """Run worker processes at once; return their JSON summaries.

    Every worker is killed if the group is not done within ``timeout`` s.
    """
    processes = [
        await asyncio.create_subprocess_exec(
            *command,
            cwd=repo_root(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for command in commands
    ]
    try:
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in processes)), timeout
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"worker failed: {err.decode()[-2000:]}")
    return [json.loads(out) for out, _ in outputs]


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    sys.exit(worker_main(sys.argv[2:]))
