"""The files of ``insider-wa backfill``: checkpoint, appendable outputs, pending spool.

Everything here writes bytes it is handed; what the bytes mean (rows, columns,
formats) lives in ``_backfill_rows``. How the files stay exact across crashes:

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
- Parquet cannot be appended to: the rows are staged as JSON lines in
  ``DIR/.staging/`` by the same mechanism, and once every window is there
  the two ``.parquet`` files are written (temporary name, then rename) and
  the staging files removed.

``DIR/.lock`` is held while a run writes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from .._errors import InsiderWAError
from . import UsageError

__all__ = [
    "CHECKPOINT",
    "COMMIT_INTERVAL",
    "FORMATS",
    "PENDING",
    "STAGING",
    "TABLES",
    "Checkpoint",
    "Files",
    "Pending",
    "Writer",
    "clear_outputs",
    "existing_outputs",
    "file_names",
    "fsync_dir",
    "locked",
]

CHECKPOINT = "backfill.checkpoint"
PENDING = ".pending"
STAGING = ".staging"
TABLES = ("summaries", "details")
FORMATS = ("jsonl", "csv", "parquet")
COMMIT_INTERVAL = 0.5


def file_names(fmt: str) -> dict[str, str]:
    """Return each table's appendable file, relative to the output directory."""
    if fmt == "parquet":
        return {table: f"{STAGING}/{table}.jsonl" for table in TABLES}
    return {table: f"{table}.{fmt}" for table in TABLES}


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable, where the OS allows it."""
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
    fsync_dir(path.parent)


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


# The directory ----------------------------------------------------------


def _output_names() -> list[str]:
    return [f"{table}.{fmt}" for table in TABLES for fmt in FORMATS]


def clear_outputs(out: Path) -> None:
    """Delete the checkpoint, the spool directories and every format's output."""
    for name in (CHECKPOINT, *_output_names()):
        for path in (out / name, out / (name + ".tmp")):
            path.unlink(missing_ok=True)
    for directory in (PENDING, STAGING):
        shutil.rmtree(out / directory, ignore_errors=True)


def existing_outputs(out: Path) -> list[str]:
    """Return the names of this command's output files found in ``out``."""
    return [name for name in _output_names() if (out / name).exists()]


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so that two runs never write it at once.

    Raises:
        UsageError: Another run holds the lock.
    """
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


class Files:
    """The two appendable files of a run, cut back to the last commit.

    Args:
        out: The output directory.
        fmt: The output format, which names the files.
        lengths: Each file's committed byte length, by file name.
        headers: Bytes to write first to a table's file when it is empty.

    Raises:
        InsiderWAError: A file is shorter than its committed length.
    """

    def __init__(
        self,
        out: Path,
        fmt: str,
        lengths: dict[str, int],
        headers: dict[str, bytes] | None = None,
    ) -> None:
        self.names = file_names(fmt)
        self.lengths: dict[str, int] = {}
        self._files: dict[str, IO[bytes]] = {}
        for table, name in self.names.items():
            committed = lengths.get(name, 0)
            self._files[table] = _open_truncated(out / name, committed)
            self.lengths[name] = committed
            if committed == 0 and headers and table in headers:
                self.append({table: headers[table]})

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


def _open_truncated(path: Path, committed: int) -> IO[bytes]:
    """Open ``path`` for appending after cutting it to ``committed`` bytes."""
    path.parent.mkdir(exist_ok=True)
    path.touch()
    if path.stat().st_size < committed:
        raise InsiderWAError(
            f"{path} is shorter than its checkpoint says; "
            "rerun with --restart to start over"
        )
    os.truncate(path, committed)
    return open(path, "ab")


class Pending:
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


class Writer:
    """Append windows in order; after a failure, keep later ones pending."""

    def __init__(self, checkpoint: Checkpoint, files: Files, pending: Pending):
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
