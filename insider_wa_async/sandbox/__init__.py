"""Run a local imitation of the WhatsApp Campaign Analytics API for tests.

The sandbox is an independent implementation of the server side of the
``statistics/overall`` contract: deterministic data, the vendor's validation and
error bodies, a strict sliding-window rate limit, the token endpoint, the API-key
route and scripted faults. It never imports the client.

Example:
    async with Sandbox(rate_limit=100) as sandbox:
        ...  # point a client at sandbox.url with sandbox.token
"""

from insider_wa_async.sandbox._faults import FAULT_KINDS, TRANSIENT_KINDS, FaultPlan
from insider_wa_async.sandbox._run import run_sandbox, serve_forever
from insider_wa_async.sandbox._server import FAULT_HEADER, Sandbox
from insider_wa_async.sandbox._stats import SandboxStats

__all__ = [
    "FAULT_HEADER",
    "FAULT_KINDS",
    "TRANSIENT_KINDS",
    "FaultPlan",
    "Sandbox",
    "SandboxStats",
    "run_sandbox",
    "serve_forever",
]
