"""Run a sandbox as a long-lived server, for the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from insider_wa_async.sandbox._server import Sandbox


async def serve_forever(
    sandbox: Sandbox, *, ready: Callable[[Sandbox], None] | None = None
) -> None:
    """Run ``sandbox`` until the calling task is cancelled, then close it.

    Args:
        sandbox: The sandbox to run; started here unless it is already running.
        ready: Called once the sandbox listens (for example to show `Sandbox.url`
            and the credentials from `Sandbox.describe`).

    Raises:
        OSError: The address cannot be bound.
    """
    started_here = not sandbox.running
    if started_here:
        await sandbox.start()
    try:
        if ready is not None:
            ready(sandbox)
        await asyncio.Event().wait()
    finally:
        if started_here:
            await sandbox.close()


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    ready: Callable[[Sandbox], None] | None = None,
    **options: Any,
) -> None:
    """Serve a new sandbox in a fresh event loop until interrupted (Ctrl-C).

    Args:
        host: Interface to listen on.
        port: Port to listen on.
        ready: Called with the running sandbox, for example to show its URL.
        **options: Further `Sandbox` options (``rate_limit``, ``faults``, ...).

    Raises:
        OSError: The address cannot be bound.
    """
    sandbox = Sandbox(host=host, port=port, **options)
    try:
        asyncio.run(serve_forever(sandbox, ready=ready))
    except KeyboardInterrupt:
        return
