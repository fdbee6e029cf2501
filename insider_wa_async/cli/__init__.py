"""The ``insider-wa`` command: statistics from the terminal, and the sandbox.

``main(argv)`` returns the exit status: 0 on success, 1 for an API or input
error (one line ``Error: ...`` on stderr), 2 for a usage error. Data goes to
stdout, diagnostics to stderr; a traceback only with ``-v``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime

from .._client import InsiderWAClient
from .._errors import InsiderWAError
from .._models import OverallStatistics
from .._request import CampaignFilter, CampaignType, TimeBound
from ._output import render

__all__ = ["main", "run"]

ENV_PREFIX = "INSIDER_WA_"
_TYPE_NAMES = {t.name.lower(): int(t) for t in CampaignType}


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


def parse_bound(text: str) -> TimeBound:
    """Read a bound: ``YYYY-MM-DD``, an ISO datetime with offset, or Unix seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date, ISO datetime or Unix timestamp: {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"datetime needs a UTC offset (e.g. {text}Z): {text!r}"
        )
    return moment


def parse_type(text: str) -> str | int:
    """Read a campaign type: ``all``, its number, or its name (``ab_test``)."""
    name = text.strip().lower().replace("-", "_")
    if name == "all":
        return "all"
    if name in _TYPE_NAMES:
        return _TYPE_NAMES[name]
    try:
        return int(name)
    except ValueError:
        choices = ", ".join(["all", *_TYPE_NAMES])
        raise argparse.ArgumentTypeError(
            f"unknown campaign type {text!r} (one of {choices}, or its number)"
        ) from None


def parse_port(text: str) -> int:
    """Read a TCP port: 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return port


def parse_tag(text: str) -> int | str:
    """Read a tag: digits are a tag id, anything else a tag name."""
    return int(text) if text.strip().isdigit() else text


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    target = group.add_mutually_exclusive_group()
    target.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox in this process and query it over HTTP",
    )
    target.add_argument("--base-url", help="send to this scheme://host instead")
    group.add_argument("--token", help=f"bearer token (env {ENV_PREFIX}TOKEN)")
    group.add_argument(
        "--client-id", help=f"OAuth client id (env {ENV_PREFIX}CLIENT_ID)"
    )
    group.add_argument(
        "--client-secret", help=f"OAuth client secret (env {ENV_PREFIX}CLIENT_SECRET)"
    )
    group.add_argument("--api-key", help=f"API key (env {ENV_PREFIX}API_KEY)")
    group.add_argument(
        "--redis-url",
        default=os.environ.get(f"{ENV_PREFIX}REDIS_URL"),
        help="share the rate limit with other processes through this Redis "
        f"(env {ENV_PREFIX}REDIS_URL)",
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        default=100.0,
        help="the credential's allowance in requests/s (default 100)",
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per attempt (default 30)"
    )


def _filter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("campaign filter (each option repeatable)")
    group.add_argument("--status", action="append", help="campaign status")
    group.add_argument(
        "--type", action="append", type=parse_type, help="campaign type name or id"
    )
    group.add_argument("--tag", action="append", type=parse_tag, help="tag id or name")
    group.add_argument("--account", action="append", help="sender phone number")
    group.add_argument(
        "--show-architect", action="store_true", help="include Architect campaigns"
    )


def add_verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Add ``-v`` and ``-q``; subcommands pass ``argparse.SUPPRESS`` as default.

    With SUPPRESS, a subcommand that is not given the option leaves the
    top level's value alone, so both ``insider-wa -v stats`` and
    ``insider-wa stats -v`` work.
    """
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logs"
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="errors only"
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``insider-wa``."""
    parser = argparse.ArgumentParser(
        prog="insider-wa",
        description="Insider One WhatsApp campaign statistics, and a local sandbox.",
    )
    add_verbosity(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True)

    stats = commands.add_parser("stats", help="statistics for a date range")
    stats.add_argument("--start", required=True, type=parse_bound, help="first day")
    stats.add_argument(
        "--end", required=True, type=parse_bound, help="last day (inclusive)"
    )
    stats.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", dest="fmt"
    )
    _filter_options(stats)
    _connection_options(stats)
    add_verbosity(stats, default=argparse.SUPPRESS)

    sandbox = commands.add_parser("sandbox", help="run the embedded sandbox server")
    add_verbosity(sandbox, default=argparse.SUPPRESS)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=parse_port, default=8080)
    sandbox.add_argument("--rate-limit", type=float, default=100.0)
    sandbox.add_argument(
        "--no-year-limit", action="store_true", help="accept ranges over a year"
    )
    sandbox.add_argument(
        "--fault-probability",
        type=float,
        default=0.0,
        help="share of statistics requests answered with an injected fault",
    )
    sandbox.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to each answer"
    )

    from ._backfill import add_parser as add_backfill_parser

    add_backfill_parser(commands)
    return parser


def campaign_filter_from(args: argparse.Namespace) -> CampaignFilter | None:
    """Build the filter the options ask for, or None when they ask for none."""
    values = {
        "campaign_type_ids": args.type,
        "statuses": args.status,
        "accounts": args.account,
        "tags": args.tag,
        "show_architect": True if args.show_architect else None,
    }
    if all(value is None for value in values.values()):
        return None
    return CampaignFilter(**values)


def credentials_from(args: argparse.Namespace) -> dict[str, str | None]:
    """Collect the credential from the options, else from the environment."""
    names = ("token", "client_id", "client_secret", "api_key")
    given = {name: getattr(args, name) for name in names}
    if not any(given.values()):
        given = {
            name: os.environ.get(ENV_PREFIX + name.upper()) or None for name in names
        }
    if not any(given.values()):
        raise UsageError(
            "no credential: pass --token, --client-id with --client-secret, "
            f"--api-key (or set {ENV_PREFIX}TOKEN ...), or use --sandbox"
        )
    kinds = [given["token"], given["client_id"] or given["client_secret"]]
    if sum(1 for kind in [*kinds, given["api_key"]] if kind) > 1:
        raise UsageError(
            "more than one credential given (options or "
            f"{ENV_PREFIX}TOKEN / {ENV_PREFIX}CLIENT_ID / {ENV_PREFIX}API_KEY); "
            "keep one"
        )
    if bool(given["client_id"]) != bool(given["client_secret"]):
        raise UsageError(
            "--client-id and --client-secret (or their variables) go together"
        )
    return given


class _Progress:
    """Pieces done, on one stderr line, when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.enabled and total > 1:
            end = "\n" if done == total else ""
            print(f"\rfetched {done}/{total} pieces", end=end, file=sys.stderr)


async def _query(
    args: argparse.Namespace, **client_options: object
) -> OverallStatistics:
    flt = campaign_filter_from(args)
    client = InsiderWAClient(
        rate_limit=args.rate_limit,
        timeout=args.timeout,
        redis_url=args.redis_url,
        **client_options,  # type: ignore[arg-type]
    )
    async with client:
        return await client.overall_statistics(
            args.start, args.end, campaign_filter=flt, progress=_Progress()
        )


async def run_stats(args: argparse.Namespace) -> OverallStatistics:
    """Run ``stats``: against the sandbox with ``--sandbox``, else the API."""
    if args.sandbox:
        from ..sandbox import Sandbox

        async with Sandbox(rate_limit=args.rate_limit) as sandbox:
            return await _query(args, token=sandbox.token, base_url=sandbox.url)
    return await _query(args, base_url=args.base_url, **credentials_from(args))


async def run_sandbox(args: argparse.Namespace) -> None:
    """Run ``sandbox`` until interrupted, printing where and how to connect."""
    from ..sandbox import FaultPlan, Sandbox

    faults = FaultPlan(probability=args.fault_probability)
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        year_limit=not args.no_year_limit,
        latency=args.latency,
        faults=faults if args.fault_probability else None,
    )
    async with sandbox:
        print(f"sandbox listening on {sandbox.url}")
        print(f"  token:         {sandbox.token}")
        print(f"  client id:     {sandbox.client_id}")
        print(f"  client secret: {sandbox.client_secret}")
        print(f"  api key:       {sandbox.api_key}")
        print("press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def _configure_logging(args: argparse.Namespace) -> None:
    # By default a failed call ends in its one "Error:" line; -v shows the
    # retries before it and one line per request.
    level = (
        logging.DEBUG
        if args.verbose
        else logging.CRITICAL
        if args.quiet
        else logging.ERROR
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("insider_wa_async")
    package.handlers[:] = [handler]
    package.setLevel(level)


def run_parsed(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    command: Callable[[argparse.Namespace], int],
) -> int:
    """Parse ``argv``, set up logging, run ``command``; map errors to exit statuses.

    Returns:
        The command's status; 2 for a usage error, 1 for an API or input
        error (one ``Error: ...`` line on stderr), 130 when interrupted.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _configure_logging(args)
    try:
        return command(args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except (InsiderWAError, ValueError, TypeError, OSError, OverflowError) as exc:
        if args.verbose:
            logging.getLogger("insider_wa_async").exception("failed")
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "backfill":
        from ._backfill import run_backfill

        return asyncio.run(run_backfill(args))
    if args.command == "sandbox":
        asyncio.run(run_sandbox(args))
        return 0
    result = asyncio.run(run_stats(args))
    sys.stdout.write(render(result, args.fmt))
    if args.fmt == "json":
        sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``insider-wa`` on ``argv`` (default ``sys.argv[1:]``); return the status."""
    return run_parsed(build_parser(), argv, _dispatch)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
