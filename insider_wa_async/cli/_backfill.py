"""``insider-wa backfill``: per-window statistics into files, resumable after a crash.

The command fetches ``--start..--end`` window by window (``--step``) and writes
two tables into ``--out DIR``: ``summaries`` (one row per window: every
summary counter and both breakdowns flattened into ``drop_*`` and
``undelivered_*`` columns) and ``details`` (one row per window and campaign,
in campaign id order). Windows are named by their first and last UTC day
(``window_start``, ``window_end``) and by their Unix-second bounds.

How the files stay exact across crashes:

- Rows are appended in window order only. A window that arrives early waits
  in memory (the fetcher's look-ahead) until every earlier window is written.
- Now and then (``COMMIT_INTERVAL``) the files are flushed and fsynced, then a
  line is appended to ``DIR/backfill.checkpoint`` (JSON lines: the run's
  parameters first, then commits) recording how many windows the files hold
  and each file's byte length. A resumed run truncates every file to the last
  committed length and fetches the windows after it, so a run killed at any
  moment (SIGKILL included) and resumed gives the same bytes as one that was
  never interrupted: a half-written window is cut off and written again, a
  torn last checkpoint line is ignored.
- A window that fails for good (after the client's retries) is reported and
  the run goes on, but it blocks the files: the windows after it are stored
  one file each in ``DIR/.pending/`` (written to a temporary name, fsynced,
  renamed) and appended in order by the run that finally fetches the failed
  window. The files therefore always hold a gap-free prefix of the windows,
  in order, and the final files are byte-identical whatever failed on the
  way; the price is that after a failure the files stop at the first failed
  window until a rerun fills it.
- Errors that would fail every window (the credential, an unknown tag, a
  range the API refuses) stop the run at once instead.
- Parquet cannot be appended to: the rows are staged as JSON lines in
  ``DIR/.staging/`` by the same mechanism, and once every window is there
  the two ``.parquet`` files are written (temporary name, then rename) and
  the staging files removed.

A checkpoint is reused only by a run with the same range, step, format and
filter; another run refuses it (exit 2) unless ``--restart`` is given, which
deletes the checkpoint and this command's output files and starts over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib
import importlib.util
import io
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import msgspec

from .._backfill import WindowResult, fetch_windows
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
from .._models import CampaignDetail, DropDetails, OverallStatistics, UndeliveredDetails
from .._windows import Window, step_name, windows
from . import (
    UsageError,
    _configure_logging,
    _connection_options,
    _filter_options,
    campaign_filter_from,
    credentials_from,
    parse_bound,
)

__all__ = ["add_arguments", "add_parser", "build_parser", "main", "run_backfill"]

CHECKPOINT = "backfill.checkpoint"
PENDING = ".pending"
STAGING = ".staging"
TABLES = ("summaries", "details")
FORMATS = ("jsonl", "csv", "parquet")
COMMIT_INTERVAL = 0.5
PROGRESS_INTERVAL = 5.0
_FATAL = (
    AuthenticationError,
    ProductNotActiveError,
    UnprocessableEntityError,
    RequestParseError,
    RequestValidationError,
    ClientStateError,
)
_PARQUET_HINT = "pip install 'insider-wa-async[parquet]'"

# Columns ----------------------------------------------------------------

_WINDOW_COLUMNS = ("window_start", "window_end", "window_start_time", "window_end_time")
_COUNTERS = (
    "sent",
    "delivered",
    "open",
    "click",
    "conversion",
    "revenue",
    "drop",
    "targeted",
    "unsubscribe",
    "undelivered",
    "delivery_pending",
)
_DROP = msgspec.structs.fields(DropDetails)
_UNDELIVERED = msgspec.structs.fields(UndeliveredDetails)
_BREAKDOWNS = (
    *(f"drop_{f.name}" for f in _DROP),
    *(f"undelivered_{f.name}" for f in _UNDELIVERED),
)
_CAMPAIGN = (
    "campaign_id",
    "campaign_name",
    "status",
    "campaign_type",
    "is_conversational",
    "phone_number",
    "phone_number_name",
    "tag_ids",
    "tags",
    "starts_on",
    "ends_on",
    "campaign_last_delivery_date",
)
_RESPONSES = ("sent", "open", "click", "conversion", "button_click")
SUMMARY_COLUMNS = (*_WINDOW_COLUMNS, *_COUNTERS, *_BREAKDOWNS)
DETAIL_COLUMNS = (
    *_WINDOW_COLUMNS,
    *_CAMPAIGN,
    *_COUNTERS,
    *_BREAKDOWNS,
    *(f"response_{name}" for name in _RESPONSES),
)
COLUMNS = {"summaries": SUMMARY_COLUMNS, "details": DETAIL_COLUMNS}
_TEXT_COLUMNS = frozenset(
    {"window_start", "window_end", "campaign_name", "status", "campaign_type"}
    | {"phone_number", "phone_number_name", "tag_ids", "tags"}
)


def _day(moment: int) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d")


def _counters(item: Any) -> list[Any]:
    drop, undelivered = item.drop_details, item.undelivered_details
    return [
        *(getattr(item, name) for name in _COUNTERS),
        *(getattr(drop, f.name) for f in _DROP),
        *(getattr(undelivered, f.name) for f in _UNDELIVERED),
    ]


def _campaign(detail: CampaignDetail) -> list[Any]:
    responses = detail.response_summary
    return [
        detail.id,
        detail.camp_name,
        detail.status,
        detail.campaign_type,
        detail.is_conversational,
        detail.phone_number,
        detail.phone_number_name,
        ";".join(str(tag.id) for tag in detail.tags),
        ";".join(tag.name for tag in detail.tags),
        detail.starts_on,
        detail.ends_on,
        detail.campaign_last_delivery_date,
        *_counters(detail),
        *(getattr(responses, name, 0) for name in _RESPONSES),
    ]


def table_rows(window: Window, stats: OverallStatistics) -> dict[str, list[list[Any]]]:
    """Return the rows one window adds to each table, details by campaign id."""
    head = [_day(window.start), _day(window.end), window.start, window.end]
    details = sorted(stats.details, key=lambda detail: detail.id)
    return {
        "summaries": [[*head, *_counters(stats.summary)]],
        "details": [[*head, *_campaign(detail)] for detail in details],
    }


# Encodings --------------------------------------------------------------


def _encode_jsonl(columns: Sequence[str], rows: list[list[Any]]) -> bytes:
    return b"".join(
        msgspec.json.encode(dict(zip(columns, r, strict=True))) + b"\n" for r in rows
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _encode_csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([_csv_value(value) for value in row] for row in rows)
    return buffer.getvalue().encode()


def encode(fmt: str, table: str, rows: list[list[Any]]) -> bytes:
    """Encode rows as appended to a table's file (parquet stages JSON lines)."""
    if fmt == "csv":
        return _encode_csv(rows)
    return _encode_jsonl(COLUMNS[table], rows)


def file_names(fmt: str) -> dict[str, str]:
    """Return each table's appendable file, relative to the output directory."""
    if fmt == "parquet":
        return {table: f"{STAGING}/{table}.jsonl" for table in TABLES}
    return {table: f"{table}.{fmt}" for table in TABLES}


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _require_pyarrow() -> None:
    """Check that pyarrow can be imported, without importing it (that is slow)."""
    if importlib.util.find_spec("pyarrow") is None:
        raise InsiderWAError(
            f"--format parquet needs pyarrow, which is not installed: {_PARQUET_HINT}"
        )


def _import_pyarrow() -> None:
    for module in ("pyarrow", "pyarrow.json", "pyarrow.parquet"):
        importlib.import_module(module)


def write_parquet(out: Path) -> None:
    """Turn the staged JSON lines into ``summaries.parquet`` and ``details.parquet``."""
    pa = importlib.import_module("pyarrow")
    pj = importlib.import_module("pyarrow.json")
    pq = importlib.import_module("pyarrow.parquet")

    for table in TABLES:
        columns = COLUMNS[table]
        schema = pa.schema([(name, _arrow_type(pa, name)) for name in columns])
        staged = out / STAGING / f"{table}.jsonl"
        data = schema.empty_table()
        if staged.stat().st_size:
            options = pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            )
            serial = pj.ReadOptions(use_threads=False)  # faster for small files
            data = pj.read_json(staged, read_options=serial, parse_options=options)
            data = data.select(list(columns))
        target = out / f"{table}.parquet"
        temporary = target.with_name(target.name + ".tmp")
        pq.write_table(data.combine_chunks(), temporary, compression="zstd")
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, target)
    _fsync_dir(out)


def _arrow_type(pa: Any, name: str) -> Any:
    if name in _TEXT_COLUMNS:
        return pa.string()
    if name == "revenue":
        return pa.float64()
    if name == "is_conversational":
        return pa.bool_()
    return pa.int64()


# Checkpoint -------------------------------------------------------------


class Checkpoint:
    """The append-only record of a run: its parameters, then its commits.

    Each commit line holds ``next`` (the windows ``0..next-1`` are in the
    files) and ``lengths`` (each file's committed byte length). A last line
    cut short by a crash is dropped when the checkpoint is opened.
    """

    def __init__(self, out: Path, params: dict[str, Any]) -> None:
        self.path = out / CHECKPOINT
        self.params = params
        self.next = 0
        self.lengths: dict[str, int] = {}
        self.finalized = False
        self._file: IO[bytes] | None = None

    def open(self) -> None:
        """Read or create the checkpoint, then open it for appending.

        Raises:
            UsageError: It records another run's parameters.
        """
        if not self.path.exists():
            _write_atomically(self.path, _line({"params": self.params}))
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        records = [msgspec.json.decode(line) for line in complete.splitlines()]
        if not records or records[0].get("params") != self.params:
            raise UsageError(
                _mismatch(self.path, records[0] if records else {}, self.params)
            )
        for record in records[1:]:
            self.next = record.get("next", self.next)
            self.lengths = record.get("lengths", self.lengths)
            self.finalized = record.get("finalized", self.finalized)
        self._file = open(self.path, "r+b")  # noqa: SIM115 - closed in close()
        self._file.truncate(len(complete))
        self._file.seek(len(complete))

    def record(self, **fields: Any) -> None:
        """Append one line and fsync it (call from a worker thread if slow)."""
        assert self._file is not None
        self._file.write(_line(fields))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()


def _line(record: dict[str, Any]) -> bytes:
    return msgspec.json.encode(record) + b"\n"


def _mismatch(path: Path, old: dict[str, Any], new: dict[str, Any]) -> str:
    given = old.get("params") or {}
    keys = sorted(set(given) | set(new))
    changes = "; ".join(
        f"{key} was {given.get(key)!r}, now {new.get(key)!r}"
        for key in keys
        if given.get(key) != new.get(key)
    )
    return (
        f"{path} belongs to another backfill ({changes}); use the same range, "
        "step, format and filter to resume it, --restart to start over, "
        "or another --out"
    )


def clear_outputs(out: Path) -> None:
    """Delete the checkpoint, the spool directories and every format's output."""
    for name in (CHECKPOINT, *(f"{t}.{f}" for t in TABLES for f in FORMATS)):
        for path in (out / name, out / (name + ".tmp")):
            path.unlink(missing_ok=True)
    for directory in (PENDING, STAGING):
        shutil.rmtree(out / directory, ignore_errors=True)


def _existing_outputs(out: Path) -> list[str]:
    names = [f"{t}.{f}" for t in TABLES for f in FORMATS]
    return [name for name in names if (out / name).exists()]


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so that two runs never write it at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, run one at a time
        yield
        return
    with open(out / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another backfill is writing to {out}") from None
        yield


# Files ------------------------------------------------------------------


class _Files:
    """The two appendable files of a run, cut back to the last commit."""

    def __init__(self, out: Path, fmt: str, lengths: dict[str, int]) -> None:
        self.names = file_names(fmt)
        self.lengths: dict[str, int] = {}
        self._files: dict[str, IO[bytes]] = {}
        for table, name in self.names.items():
            path = out / name
            path.parent.mkdir(exist_ok=True)
            path.touch()
            committed = lengths.get(name, 0)
            if path.stat().st_size < committed:
                raise InsiderWAError(
                    f"{path} is shorter than its checkpoint says; "
                    "rerun with --restart to start over"
                )
            os.truncate(path, committed)
            self._files[table] = open(path, "ab")  # noqa: SIM115 - see close()
            self.lengths[name] = committed
            if committed == 0 and fmt == "csv":
                self.append({table: _encode_csv([list(COLUMNS[table])])})

    def append(self, chunks: dict[str, bytes]) -> None:
        """Append each table's bytes to its file."""
        for table, data in chunks.items():
            self._files[table].write(data)
            self.lengths[self.names[table]] += len(data)

    def flush(self) -> dict[str, int]:
        """Flush to the OS and return the byte lengths that now stand."""
        for file in self._files.values():
            file.flush()
        return dict(self.lengths)

    def fsync(self) -> None:
        """Make what was flushed durable."""
        for file in self._files.values():
            os.fsync(file.fileno())

    def close(self) -> None:
        """Close the files."""
        for file in self._files.values():
            file.close()


class _Pending:
    """Windows fetched after a failed one: one file each, until their turn."""

    def __init__(self, out: Path) -> None:
        self.dir = out / PENDING
        self.indexes: set[int] = set()
        if self.dir.is_dir():
            for path in self.dir.iterdir():
                if path.suffix == ".json":
                    self.indexes.add(int(path.stem))
                else:
                    path.unlink()

    def _path(self, index: int) -> Path:
        return self.dir / f"{index:07d}.json"

    def save(self, index: int, chunks: dict[str, bytes]) -> None:
        """Store one window's bytes, atomically."""
        self.dir.mkdir(exist_ok=True)
        text = {table: data.decode() for table, data in chunks.items()}
        _write_atomically(self._path(index), msgspec.json.encode(text))
        self.indexes.add(index)

    def load(self, index: int) -> dict[str, bytes]:
        """Read one stored window back."""
        text = msgspec.json.decode(self._path(index).read_bytes())
        return {table: data.encode() for table, data in text.items()}

    def discard_below(self, index: int) -> None:
        """Delete the windows before ``index``: they are in the files now."""
        for old in sorted(i for i in self.indexes if i < index):
            self._path(old).unlink(missing_ok=True)
            self.indexes.discard(old)
        with contextlib.suppress(OSError):
            self.dir.rmdir()


class _Writer:
    """Append windows in order; after a failure, keep later ones pending."""

    def __init__(self, checkpoint: Checkpoint, files: _Files, pending: _Pending):
        self.checkpoint = checkpoint
        self.files = files
        self.pending = pending
        self.next = checkpoint.next
        self.blocked = False
        self._committed_at = time.monotonic()
        self._recorded = (checkpoint.next, files.flush())

    def add(self, index: int, chunks: dict[str, bytes]) -> None:
        """Write window ``index``, or keep it pending when an earlier one failed."""
        if self.blocked:
            self.pending.save(index, chunks)
            return
        self.drain(index)
        self.files.append(chunks)
        self.next = index + 1

    def fail(self) -> None:
        """Note that a window failed: no later window may enter the files now."""
        self.blocked = True

    def drain(self, upto: int) -> None:
        """Append the pending windows from ``next`` up to ``upto`` (exclusive)."""
        while not self.blocked and self.next < upto:
            self.files.append(self.pending.load(self.next))
            self.next += 1

    def due(self) -> bool:
        """Whether a commit is due."""
        return time.monotonic() - self._committed_at >= COMMIT_INTERVAL

    async def commit(self) -> None:
        """Make the files durable, then record them, off the event loop."""
        lengths = self.files.flush()
        await asyncio.to_thread(self._record, self.next, lengths)
        self.pending.discard_below(self.next)
        self._committed_at = time.monotonic()

    def commit_now(self) -> None:
        """Commit without awaiting (when stopping)."""
        self._record(self.next, self.files.flush())
        self.pending.discard_below(self.next)

    def _record(self, done: int, lengths: dict[str, int]) -> None:
        if (done, lengths) == self._recorded:
            return
        self.files.fsync()
        self.checkpoint.record(next=done, lengths=lengths)
        self._recorded = (done, lengths)


# Progress ---------------------------------------------------------------


class _Progress:
    """Windows done on stderr: a bar on a terminal, else a line every 5 s."""

    def __init__(self, total: int, done: int, *, enabled: bool) -> None:
        self.total = total
        self.done = done
        self.failed = 0
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._first = done
        self._started = self._shown = time.monotonic()

    def update(self, *, failed: bool = False) -> None:
        """Count one window more."""
        self.failed += failed
        self.done += not failed
        now = time.monotonic()
        if self.enabled and now - self._shown >= (0.1 if self.tty else 5.0):
            self._shown = now
            self._show(now)

    def finish(self) -> None:
        """Show the final state."""
        if self.enabled:
            self._show(time.monotonic())
            if self.tty:
                print(file=sys.stderr)

    def _show(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = (self.done + self.failed - self._first) / elapsed
        left = self.total - self.done - self.failed
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        text = f"{self.done}/{self.total} windows, {rate:.1f}/s, ETA {eta}"
        if self.failed:
            text += f", {self.failed} failed"
        if self.tty:
            filled = 30 * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (30 - filled)
            print(f"\r[{bar}] {text}  ", end="", file=sys.stderr, flush=True)
        else:
            print(f"backfill: {text}", file=sys.stderr, flush=True)


# The command ------------------------------------------------------------


class _Plan(msgspec.Struct, frozen=True):
    """What a run is asked to do, checked before anything is touched."""

    out: Path
    fmt: str
    windows: list[Window]
    params: dict[str, Any]


def parse_step(text: str) -> str | timedelta:
    """Read a step: ``day``, ``week``, ``month`` or ``<N>d`` (N whole days)."""
    name = text.strip().lower()
    if name in ("day", "week", "month"):
        return name
    if name.endswith("d") and name[:-1].isdigit() and int(name[:-1]) > 0:
        return timedelta(days=int(name[:-1]))
    raise argparse.ArgumentTypeError(
        f"unknown step {text!r} (day, week, month, or N days as e.g. 10d)"
    )


def _plan(args: argparse.Namespace) -> _Plan:
    if args.fmt == "parquet":
        _require_pyarrow()
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


def _encode_window(fmt: str, result: WindowResult) -> dict[str, bytes]:
    assert isinstance(result.statistics, OverallStatistics)
    rows = table_rows(Window(result.start, result.end), result.statistics)
    return {table: encode(fmt, table, rows[table]) for table in TABLES}


def _report(error: InsiderWAError, window: Window) -> None:
    error.time_range = None
    print(
        f"window {_day(window.start)}..{_day(window.end)} "
        f"({window.start}..{window.end}) failed: {error}",
        file=sys.stderr,
    )


async def _fetch_into(
    args: argparse.Namespace, plan: _Plan, writer: _Writer, todo: list[int]
) -> int:
    """Fetch the windows ``todo`` into the writer; return how many failed."""
    progress = _Progress(
        len(plan.windows), len(plan.windows) - len(todo), enabled=not args.quiet
    )
    failed = 0
    async with _open_client(args) as client:
        stream = fetch_windows(
            client,
            [plan.windows[index] for index in todo],
            campaign_filter=campaign_filter_from(args),
            concurrency=args.concurrency,
            return_exceptions=True,
        )
        async with stream:
            position = 0
            async for result in stream:
                index = todo[position]
                position += 1
                if isinstance(result.statistics, InsiderWAError):
                    if isinstance(result.statistics, _FATAL):
                        raise result.statistics
                    _report(result.statistics, plan.windows[index])
                    writer.fail()
                    failed += 1
                else:
                    writer.add(index, _encode_window(plan.fmt, result))
                progress.update(failed=isinstance(result.statistics, Exception))
                if writer.due():
                    await writer.commit()
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
    with _locked(plan.out):
        if args.restart:
            clear_outputs(plan.out)
        elif not (plan.out / CHECKPOINT).exists() and _existing_outputs(plan.out):
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


async def _resume(args: argparse.Namespace, plan: _Plan, checkpoint: Checkpoint) -> int:
    total = len(plan.windows)
    if checkpoint.finalized:
        _say(args, f"backfill in {plan.out} is already complete")
        return 0
    files = _Files(plan.out, plan.fmt, checkpoint.lengths)
    pending = _Pending(plan.out)
    pending.discard_below(checkpoint.next)
    writer = _Writer(checkpoint, files, pending)
    todo = [i for i in range(checkpoint.next, total) if i not in pending.indexes]
    _say(args, f"backfill: {total - len(todo)} of {total} windows already done")
    # Import pyarrow in a thread while the windows come in, not after.
    parquet = plan.fmt == "parquet"
    preload = (
        asyncio.create_task(asyncio.to_thread(_import_pyarrow)) if parquet else None
    )
    try:
        failed = await _fetch_into(args, plan, writer, todo) if todo else 0
        writer.drain(total)
        await writer.commit()
    finally:
        writer.commit_now()
        files.close()
        if preload is not None:
            await asyncio.wait([preload])
    if failed:
        print(
            f"Error: {failed} of {total} windows failed; "
            "rerun the same command to fetch them",
            file=sys.stderr,
        )
        return 1
    if preload is not None:
        await preload
        await asyncio.to_thread(write_parquet, plan.out)
        checkpoint.record(finalized=True)
        shutil.rmtree(plan.out / STAGING, ignore_errors=True)
    _say(args, f"backfill: {total} windows written to {plan.out}")
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
        description=__doc__.split("\n", 1)[0] if __doc__ else None,
    )
    add_arguments(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of ``insider-wa backfill`` on its own."""
    parser = argparse.ArgumentParser(
        prog="insider-wa backfill",
        description="Fetch statistics window by window into files; rerun to resume.",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="errors only")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``insider-wa backfill`` on ``argv``; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _configure_logging(args)
    try:
        return asyncio.run(run_backfill(args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"insider-wa backfill: error: {exc}", file=sys.stderr)
        return 2
    except (InsiderWAError, ValueError, TypeError, OSError) as exc:
        if args.verbose:
            logging.getLogger("insider_wa_async").exception("failed")
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
