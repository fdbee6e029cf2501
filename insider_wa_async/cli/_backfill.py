"""``insider-wa backfill``: per-window statistics into files, resumable after a crash.

The command fetches ``--start..--end`` window by window (``--step``) and writes
two tables into ``--out DIR``: ``summaries`` (one row per window: every
summary counter and both breakdowns flattened into ``drop_*`` and
``undelivered_*`` columns) and ``details`` (one row per window and campaign,
in campaign id order). Windows are named by their first and last UTC day
(``window_start``, ``window_end``) and by their Unix-second bounds.

Rows enter the files in window order only, and a checkpoint records now and
then how much of them is complete, so a run killed at any moment (SIGKILL
included) and resumed writes the same bytes as one never interrupted; a
window that fails for good is reported, the run goes on and a rerun fetches
it (``_backfill_files`` tells how). Errors that would fail every window (the
credential, an unknown tag, a range the API refuses) stop the run at once.

A checkpoint is reused only by a run with the same range, step, format and
filter; another run refuses it (exit 2) unless ``--restart`` is given, which
deletes the checkpoint and this command's output files and starts over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from .._backfill import WindowResult, WindowStream, fetch_windows
from .._client import InsiderWAClient
from .._errors import (
    AuthenticationError,
    ClientStateError,
    InsiderWAError,
    ProductNotActiveError,
    RequestParseError,
    RequestValidationError,
    UnprocessableEntityError,
)
from .._windows import Window, normalize_step, step_name, windows
from . import (
    UsageError,
    _connection_options,
    _filter_options,
    add_verbosity,
    campaign_filter_from,
    credentials_from,
    parse_bound,
    run_parsed,
)
from . import _backfill_rows as rows
from ._backfill_files import (
    CHECKPOINT,
    FORMATS,
    STAGING,
    Checkpoint,
    Files,
    Pending,
    Writer,
    clear_outputs,
    existing_outputs,
    locked,
)
from ._progress import Progress

__all__ = ["add_arguments", "add_parser", "build_parser", "main", "run_backfill"]

_FATAL = (
    AuthenticationError,
    ProductNotActiveError,
    UnprocessableEntityError,
    RequestParseError,
    RequestValidationError,
    ClientStateError,
)


class _Plan(msgspec.Struct, frozen=True):
    """What a run is asked to do, checked before anything is touched."""

    out: Path
    fmt: str
    windows: list[Window]
    params: dict[str, Any]


def parse_step(text: str) -> str | timedelta:
    """Read a step: ``day``, ``week``, ``month`` or ``<N>d`` (N whole days)."""
    try:
        return normalize_step(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plan(args: argparse.Namespace) -> _Plan:
    if args.fmt == "parquet":
        rows.require_pyarrow()
    flt = campaign_filter_from(args)
    cut = windows(args.start, args.end, args.step)
    params = {
        "version": 1,
        "start_time": cut[0].start,
        "end_time": cut[-1].end,
        "step": step_name(args.step),
        "format": args.fmt,
        "filter": flt,
    }
    # As the checkpoint holds them: JSON values (lists, not tuples).
    params = msgspec.json.decode(msgspec.json.encode(params))
    return _Plan(Path(args.out), args.fmt, cut, params)


@contextlib.asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[InsiderWAClient]:
    options: dict[str, Any] = {
        "rate_limit": args.rate_limit,
        "timeout": args.timeout,
        "redis_url": args.redis_url,
    }
    if not args.sandbox:
        given = credentials_from(args)
        client = InsiderWAClient(
            token=given["token"],
            client_id=given["client_id"],
            client_secret=given["client_secret"],
            api_key=given["api_key"],
            base_url=args.base_url,
            **options,
        )
        async with client:
            yield client
        return
    from ..sandbox import Sandbox

    async with (
        Sandbox(rate_limit=args.rate_limit) as sandbox,
        InsiderWAClient(token=sandbox.token, base_url=sandbox.url, **options) as client,
    ):
        yield client


def _report(error: InsiderWAError, window: Window) -> None:
    error.time_range = None
    print(
        f"window {rows.day(window.start)}..{rows.day(window.end)} "
        f"({window.start}..{window.end}) failed: {error}",
        file=sys.stderr,
    )


def _take(plan: _Plan, writer: Writer, index: int, result: WindowResult) -> bool:
    """Write window ``index`` or report its failure; return whether it failed."""
    error = result.statistics
    if not isinstance(error, InsiderWAError):
        writer.add(index, rows.encode_window(plan.fmt, result))
        return False
    if isinstance(error, _FATAL):
        raise error
    _report(error, plan.windows[index])
    writer.fail()
    return True


async def _write_results(
    stream: WindowStream,
    plan: _Plan,
    writer: Writer,
    todo: list[int],
    progress: Progress,
) -> int:
    """Take the results as they come, committing now and then; count failures."""
    failed = 0
    position = 0
    async for result in stream:
        window_failed = _take(plan, writer, todo[position], result)
        position += 1
        failed += window_failed
        progress.update(failed=window_failed)
        if writer.due():
            await writer.commit()
    return failed


async def _fetch_into(
    args: argparse.Namespace, plan: _Plan, writer: Writer, todo: list[int]
) -> int:
    """Fetch the windows ``todo`` into the writer; return how many failed."""
    total = len(plan.windows)
    progress = Progress(total, total - len(todo), enabled=not args.quiet)
    async with _open_client(args) as client:
        stream = fetch_windows(
            client,
            [plan.windows[index] for index in todo],
            campaign_filter=campaign_filter_from(args),
            concurrency=args.concurrency,
            return_exceptions=True,
        )
        async with stream:
            failed = await _write_results(stream, plan, writer, todo, progress)
    progress.finish()
    return failed


async def run_backfill(args: argparse.Namespace) -> int:
    """Run ``backfill`` as parsed; return the exit status (0, or 1 if windows failed).

    Raises:
        UsageError: The checkpoint in ``--out`` belongs to another run, or
            no credential was given.
        InsiderWAError: An error that would fail every window (credential,
            unknown tag, refused range); completed windows are kept.
        ValueError: A bound or step the API would refuse.
    """
    plan = _plan(args)
    if not args.sandbox:
        credentials_from(args)
    plan.out.mkdir(parents=True, exist_ok=True)
    with locked(plan.out):
        if args.restart:
            clear_outputs(plan.out)
        elif not (plan.out / CHECKPOINT).exists() and existing_outputs(plan.out):
            raise UsageError(
                f"{plan.out} holds backfill output but no checkpoint: "
                "pass --restart to overwrite it, or choose another --out"
            )
        checkpoint = Checkpoint(plan.out, plan.params)
        checkpoint.open()
        try:
            return await _resume(args, plan, checkpoint)
        finally:
            checkpoint.close()


def _open_writer(plan: _Plan, checkpoint: Checkpoint) -> Writer:
    """Cut the files back to the last commit and pick up the pending windows."""
    files = Files(plan.out, plan.fmt, checkpoint.lengths, rows.headers(plan.fmt))
    pending = Pending(plan.out)
    pending.discard_below(checkpoint.next)
    return Writer(checkpoint, files, pending)


async def _resume(args: argparse.Namespace, plan: _Plan, checkpoint: Checkpoint) -> int:
    total = len(plan.windows)
    if checkpoint.finalized:
        _say(args, f"backfill in {plan.out} is already complete")
        return 0
    writer = _open_writer(plan, checkpoint)
    todo = [i for i in range(checkpoint.next, total) if i not in writer.pending.indexes]
    _say(args, f"backfill: {total - len(todo)} of {total} windows already done")

    # Import pyarrow in a thread while the windows come in, not after.
    parquet = plan.fmt == "parquet"
    preload = (
        asyncio.create_task(asyncio.to_thread(rows.import_pyarrow)) if parquet else None
    )
    try:
        failed = await _fetch_into(args, plan, writer, todo) if todo else 0
        writer.drain(total)
        await writer.commit()
    finally:
        writer.commit_now()
        writer.files.close()
        if preload is not None:
            await asyncio.wait([preload])

    return await _conclude(args, plan, checkpoint, failed, preload)


async def _conclude(
    args: argparse.Namespace,
    plan: _Plan,
    checkpoint: Checkpoint,
    failed: int,
    preload: asyncio.Task[None] | None,
) -> int:
    """Report the failed windows, or finish the files and say where they are."""
    total = len(plan.windows)
    if failed:
        print(
            f"Error: {failed} of {total} windows failed; "
            "rerun the same command to fetch them",
            file=sys.stderr,
        )
        return 1
    if preload is not None:
        await preload
        await asyncio.to_thread(rows.write_parquet, plan.out)
        checkpoint.record(finalized=True)
        shutil.rmtree(plan.out / STAGING, ignore_errors=True)
    _say(args, f"backfill: all {total} windows are in {plan.out}")
    return 0


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``backfill`` to ``parser``."""
    parser.add_argument("--start", required=True, type=parse_bound, help="first day")
    parser.add_argument(
        "--end", required=True, type=parse_bound, help="last day (inclusive)"
    )
    parser.add_argument(
        "--step",
        type=parse_step,
        default="day",
        help="window length: day, week (from Monday), month, or N days as Nd",
    )
    parser.add_argument("--out", required=True, help="directory of the output files")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="fmt")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="delete the checkpoint and outputs in --out and start over",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="most requests in flight (default 32)",
    )
    _filter_options(parser)
    _connection_options(parser)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``backfill`` on the subparsers object of ``insider-wa``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "backfill",
        help="per-window statistics into files, resumable",
        description="Fetch statistics window by window into files; rerun to resume.",
    )
    add_arguments(parser)
    add_verbosity(parser, default=argparse.SUPPRESS)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of ``insider-wa backfill`` on its own."""
    parser = argparse.ArgumentParser(
        prog="insider-wa backfill",
        description="Fetch statistics window by window into files; rerun to resume.",
    )
    add_verbosity(parser, default=False)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``insider-wa backfill`` on ``argv``; return the exit status."""
    return run_parsed(
        build_parser(), argv, lambda args: asyncio.run(run_backfill(args))
    )


if __name__ == "__main__":
    sys.exit(main())
