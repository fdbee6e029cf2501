"""Backfills: the window iterator and the resumable command, against the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from insider_wa_async import CampaignFilter, InsiderWAClient, ResponseShapeError
from insider_wa_async._backfill import iter_windows
from insider_wa_async._models import OverallStatistics
from insider_wa_async._windows import windows
from insider_wa_async.cli import _backfill as command
from insider_wa_async.cli import _backfill_files as layout
from insider_wa_async.cli import _backfill_rows as flat
from insider_wa_async.cli import _progress
from insider_wa_async.sandbox import FaultPlan, Sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(rate_limit=100) as server:
        yield server


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[InsiderWAClient]:
    async with InsiderWAClient(token=sandbox.token, base_url=sandbox.url) as opened:
        yield opened


def truth(sandbox: Sandbox, start: int, end: int, flt: Any = None) -> OverallStatistics:
    return msgspec.convert(sandbox.truth(start, end, flt), OverallStatistics)


def our_tasks() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if "WindowStream" in repr(task) or "_fetch_pieces" in repr(task)
    ]


# The iterator -----------------------------------------------------------


async def test_each_window_equals_the_sandbox_truth(
    sandbox: Sandbox, client: InsiderWAClient
) -> None:
    """Weekly windows come in order, cut to the range, each equal to one request."""
    flt = CampaignFilter(statuses=("active", "completed"))
    seen = []
    async for start, end, stats in iter_windows(
        client, date(2024, 2, 21), date(2024, 5, 2), step="week", campaign_filter=flt
    ):
        seen.append((start, end))
        assert stats == truth(sandbox, start, end, msgspec.to_builtins(flt))
    assert seen == windows(date(2024, 2, 21), date(2024, 5, 2), "week")


async def test_windows_over_a_year_are_split_by_the_client(
    sandbox: Sandbox, client: InsiderWAClient
) -> None:
    """A 400-day window is fetched in pieces and merged to the one-request answer."""
    results = [
        item
        async for item in iter_windows(
            client, date(2020, 1, 1), date(2021, 6, 30), step=timedelta(days=400)
        )
    ]
    assert len(results) == 2
    first = results[0]
    assert isinstance(first.statistics, OverallStatistics)
    want = truth(sandbox, first.start, first.end)
    assert first.statistics.chart == want.chart
    assert first.statistics.summary == want.summary
    by_id = sorted(first.statistics.details, key=lambda detail: detail.id)
    assert by_id == sorted(want.details, key=lambda detail: detail.id)


async def test_unordered_yields_every_window_once(client: InsiderWAClient) -> None:
    """In arrival order, every window still comes exactly once."""
    stream = iter_windows(
        client, date(2023, 1, 1), date(2023, 3, 31), concurrency=8, ordered=False
    )
    starts = [item.start async for item in stream]
    assert sorted(starts) == [
        w.start for w in windows(date(2023, 1, 1), date(2023, 3, 31))
    ]


async def test_break_cancels_the_calls_in_flight(
    sandbox: Sandbox, client: InsiderWAClient
) -> None:
    """Leaving the loop early leaves no task behind and sends nothing more."""
    async for _item in iter_windows(client, date(2019, 1, 1), date(2019, 12, 31)):
        break
    for _ in range(10):
        await asyncio.sleep(0)
    assert our_tasks() == []
    sent = sandbox.stats.requests
    await asyncio.sleep(0.2)
    assert sandbox.stats.requests == sent


async def test_cancelling_the_consumer_cancels_the_calls(
    client: InsiderWAClient,
) -> None:
    """A consumer cancelled mid-iteration takes its calls down with it."""

    async def consume() -> None:
        async with iter_windows(client, date(2019, 1, 1), date(2019, 12, 31)) as it:
            async for _item in it:
                await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert our_tasks() == []


async def test_a_failed_window_raises_after_the_earlier_ones(
    sandbox: Sandbox, client: InsiderWAClient
) -> None:
    """Without return_exceptions a failure is raised in window order, with its range."""
    sandbox.faults = FaultPlan(sequence=["wrong_shape"])
    got = []

    async def consume() -> None:
        stream = iter_windows(
            client, date(2024, 1, 1), date(2024, 1, 20), concurrency=1
        )
        async for item in stream:
            got.append(item)

    with pytest.raises(ResponseShapeError) as caught:
        await consume()
    assert got == []
    assert caught.value.time_range == windows(date(2024, 1, 1), date(2024, 1, 1))[0]
    assert our_tasks() == []


async def test_return_exceptions_goes_on_after_a_failure(
    sandbox: Sandbox, client: InsiderWAClient
) -> None:
    """With return_exceptions the failed window is yielded and the rest follow."""
    sandbox.faults = FaultPlan(sequence=["wrong_shape"])
    items = [
        item
        async for item in iter_windows(
            client, date(2024, 1, 1), date(2024, 1, 20), return_exceptions=True
        )
    ]
    assert len(items) == 20
    failed = [item for item in items if isinstance(item.statistics, Exception)]
    assert len(failed) == 1


# The command ------------------------------------------------------------


def expected_rows(body: dict[str, Any], start: int, end: int) -> dict[str, list[Any]]:
    """Build the rows the command must write, straight from a sandbox body."""

    def day(moment: int) -> str:
        return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d")

    def camel(name: str) -> str:
        first, *rest = name.split("_")
        return first + "".join(part.title() for part in rest)

    def counters(item: dict[str, Any]) -> list[Any]:
        values = [item.get(camel(name), 0) for name in flat._COUNTERS]
        values += [item["dropDetails"].get(camel(f.name), 0) for f in flat._DROP]
        values += [
            item["undeliveredDetails"].get(camel(f.name), 0) for f in flat._UNDELIVERED
        ]
        return values

    head = [day(start), day(end), start, end]
    details = []
    for item in sorted(body["details"], key=lambda d: d["id"]):
        responses = item.get("responseSummary", {})
        details.append(
            [
                *head,
                item["id"],
                item["campName"],
                item["status"],
                item["campaignType"],
                item["isConversational"],
                item["phoneNumber"],
                item["phoneNumberName"],
                ";".join(str(tag["id"]) for tag in item["tags"]),
                ";".join(tag["name"] for tag in item["tags"]),
                item["startsOn"],
                item["endsOn"],
                item["campaignLastDeliveryDate"],
                *counters(item),
                *(responses.get(camel(n), 0) for n in flat._RESPONSES),
            ]
        )
    return {"summaries": [[*head, *counters(body["summary"])]], "details": details}


def read_table(out: Path, fmt: str, table: str) -> list[list[Any]]:
    """Read one output table back as rows of Python values (CSV: strings)."""
    path = out / f"{table}.{fmt}"
    if fmt == "jsonl":
        lines = path.read_bytes().splitlines()
        return [list(msgspec.json.decode(line).values()) for line in lines]
    if fmt == "csv":
        with path.open(newline="") as file:
            header, *rows = csv.reader(file)
        assert tuple(header) == flat.COLUMNS[table]
        return rows
    pq = pytest.importorskip("pyarrow.parquet")
    data = pq.read_table(path)
    assert tuple(data.column_names) == flat.COLUMNS[table]
    return [list(row.values()) for row in data.to_pylist()]


def as_csv(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def run(*argv: str) -> int:
    return command.main(["-q", *argv])


def output_bytes(out: Path) -> dict[str, bytes]:
    names = [
        p
        for p in out.iterdir()
        if p.is_file() and p.name.split(".")[0] in layout.TABLES
    ]
    return {path.name: path.read_bytes() for path in sorted(names)}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_each_format_reads_back_as_the_truth(
    sandbox: Sandbox, tmp_path: Path, fmt: str
) -> None:
    """Every window's summary and campaign rows match the sandbox, in every format."""
    argv = ["--base-url", sandbox.url, "--token", sandbox.token, "--out", str(tmp_path)]
    argv += ["--start", "2024-02-25", "--end", "2024-03-05", "--format", fmt]
    assert await asyncio.to_thread(run, *argv) == 0

    expected: dict[str, list[Any]] = {"summaries": [], "details": []}
    for start, end in windows(date(2024, 2, 25), date(2024, 3, 5)):
        for table, rows in expected_rows(sandbox.truth(start, end), start, end).items():
            expected[table] += rows
    for table in layout.TABLES:
        rows = read_table(tmp_path, fmt, table)
        want = expected[table]
        if fmt == "csv":
            want = [[as_csv(value) for value in row] for row in want]
        assert rows == want
    assert not (tmp_path / command.STAGING).exists()


async def test_checkpoint_refuses_another_filter(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun with another filter exits 2 naming --restart, which starts over."""
    argv = ["--base-url", sandbox.url, "--token", sandbox.token, "--out", str(tmp_path)]
    argv += ["--start", "2024-01-01", "--end", "2024-01-10"]
    assert await asyncio.to_thread(run, *argv) == 0
    capsys.readouterr()

    assert await asyncio.to_thread(run, *argv, "--status", "active") == 2
    assert "--restart" in capsys.readouterr().err
    assert await asyncio.to_thread(run, *argv, "--step", "week") == 2

    assert await asyncio.to_thread(run, *argv, "--status", "active", "--restart") == 0
    params = msgspec.json.decode(
        (tmp_path / command.CHECKPOINT).read_bytes().split(b"\n")[0]
    )
    assert params["params"]["filter"] == {"statuses": ["active"]}


async def test_output_without_checkpoint_is_not_overwritten(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Files of this command found without a checkpoint need --restart."""
    (tmp_path / "summaries.jsonl").write_text("{}\n")
    argv = ["--base-url", sandbox.url, "--token", sandbox.token, "--out", str(tmp_path)]
    argv += ["--start", "2024-01-01", "--end", "2024-01-03"]
    assert await asyncio.to_thread(run, *argv) == 2
    assert (tmp_path / "summaries.jsonl").read_text() == "{}\n"


async def test_failed_windows_are_reported_and_retried_on_rerun(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed windows make exit 1 with their ranges; a rerun fetches just those."""
    argv = ["--base-url", sandbox.url, "--token", sandbox.token]
    argv += ["--start", "2024-01-01", "--end", "2024-03-31", "--format", "csv"]
    reference = tmp_path / "reference"
    assert await asyncio.to_thread(run, *argv, "--out", str(reference)) == 0

    sandbox.faults = FaultPlan(probability=0.1, kinds=["wrong_shape"], seed=7)
    sandbox.reset_stats()
    out = tmp_path / "out"
    assert await asyncio.to_thread(run, *argv, "--out", str(out)) == 1
    failures = sandbox.stats.faults["wrong_shape"]
    assert failures > 0
    err = capsys.readouterr().err
    assert f"{failures} of 91 windows failed" in err
    assert err.count("failed: ") == failures

    sandbox.faults = None
    sandbox.reset_stats()
    assert await asyncio.to_thread(run, *argv, "--out", str(out)) == 0
    assert sandbox.stats.requests == failures
    assert output_bytes(out) == output_bytes(reference)
    assert not (out / layout.PENDING).exists()


def test_parquet_without_pyarrow_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking for parquet without pyarrow names the extra to install."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    argv = ["--sandbox", "--out", str(tmp_path), "--format", "parquet"]
    assert run(*argv, "--start", "2024-01-01", "--end", "2024-01-02") == 1
    assert "insider-wa-async[parquet]" in capsys.readouterr().err
    assert not (tmp_path / command.CHECKPOINT).exists()


# Errors that would fail every window -----------------------------------

# At 5 requests/s, trying each of these 121 windows would take over 24 s.
SLOW_RANGE = ["--start", "2024-01-01", "--end", "2024-04-30", "--rate-limit", "5"]


async def stopped_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> str:
    """Run a backfill that must stop on its first answer; return its stderr."""
    started = time.monotonic()
    out = ["--out", str(tmp_path), "--concurrency", "4", *SLOW_RANGE]
    assert await asyncio.to_thread(run, *argv, *out) == 1
    assert time.monotonic() - started < 10

    err = capsys.readouterr().err
    assert err.count("Error: ") == 1
    assert "failed: " not in err
    checkpoint = (tmp_path / command.CHECKPOINT).read_bytes()
    assert checkpoint.count(b"\n") == 1, "no window may be committed"
    return err


async def test_a_bad_token_stops_the_run_at_once(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused bearer token ends the run with exit 1 after one answer."""
    argv = ["--base-url", sandbox.url, "--token", "not-the-sandbox-token"]
    err = await stopped_at_once(tmp_path, capsys, *argv)
    assert "HTTP 401" in err
    assert "not-the-sandbox-token" not in err


async def test_refused_client_credentials_stop_the_run_at_once(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused OAuth secret ends the run with exit 1, asking for few tokens."""
    argv = ["--base-url", sandbox.url, "--client-id", sandbox.client_id]
    argv += ["--client-secret", "not-the-secret"]
    err = await stopped_at_once(tmp_path, capsys, *argv)
    assert "HTTP 401" in err
    assert sandbox.stats.token_requests <= 4
    assert sandbox.stats.requests == 0


async def test_an_unknown_tag_stops_the_run_at_once(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag name the API does not know (422) ends the run before most windows."""
    argv = ["--base-url", sandbox.url, "--token", sandbox.token]
    err = await stopped_at_once(tmp_path, capsys, *argv, "--tag", "no-such-tag")
    assert "HTTP 422" in err
    assert "no-such-tag" in err
    assert 1 <= sandbox.stats.requests <= 4


# Progress ---------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        """Return the time set last, in seconds."""
        return self.now


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Claim to be a terminal."""
        return True


def test_progress_off_a_terminal_prints_a_line_every_interval() -> None:
    """Off a terminal, a plain line comes at most once per interval, and at the end."""
    stream, clock = io.StringIO(), FakeClock()
    progress = _progress.Progress(10, 2, enabled=True, stream=stream, clock=clock)
    for _ in range(4):
        clock.now += 1.0
        progress.update()
    assert stream.getvalue() == ""

    clock.now += 1.0
    progress.update(failed=True)
    clock.now += 1.0
    progress.update()
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "backfill: 6/10 windows, 1.0/s, ETA 3 s, 1 failed",
        "backfill: 7/10 windows, 1.0/s, ETA 2 s, 1 failed",
    ]


def test_progress_on_a_terminal_redraws_a_bar() -> None:
    """On a terminal, one line is redrawn in place as a bar and ended at finish."""
    stream, clock = Terminal(), FakeClock()
    progress = _progress.Progress(4, 0, enabled=True, stream=stream, clock=clock)
    for _ in range(4):
        clock.now += 0.5
        progress.update()
    progress.finish()

    text = stream.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    frames = text.rstrip("\n").split("\r")[1:]
    assert len(frames) == 5
    assert frames[0].startswith("[" + "#" * 7 + "-" * 23 + "] 1/4 windows")
    assert frames[-1].startswith("[" + "#" * 30 + "] 4/4 windows, 2.0/s, ETA 0 s")
    assert "backfill:" not in text


def test_progress_is_silent_when_disabled() -> None:
    """With -q nothing is written, on a terminal or not."""
    stream, clock = Terminal(), FakeClock()
    progress = _progress.Progress(3, 0, enabled=False, stream=stream, clock=clock)
    clock.now += 10.0
    progress.update()
    progress.finish()
    assert stream.getvalue() == ""


async def test_backfill_prints_progress_lines_when_stderr_is_not_a_terminal(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run logging to a file or pipe shows plain progress lines, never a bar."""
    monkeypatch.setattr(_progress, "PROGRESS_INTERVAL", 0.0)
    argv = ["--base-url", sandbox.url, "--token", sandbox.token, "--out", str(tmp_path)]
    argv += ["--start", "2024-01-01", "--end", "2024-01-05"]
    assert await asyncio.to_thread(command.main, argv) == 0

    err = capsys.readouterr().err
    assert "\r" not in err
    shown = [line for line in err.splitlines() if " windows, " in line]
    assert [line.split(" windows")[0] for line in shown] == [
        *(f"backfill: {done}/5" for done in range(1, 6)),
        "backfill: 5/5",
    ]


async def test_backfill_draws_a_bar_when_stderr_is_a_terminal(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on a terminal redraws one bar line and ends it with a newline."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["--base-url", sandbox.url, "--token", sandbox.token, "--out", str(tmp_path)]
    argv += ["--start", "2024-01-01", "--end", "2024-01-05"]
    assert await asyncio.to_thread(command.main, argv) == 0

    err = terminal.getvalue()
    assert "\r[" + "#" * 30 + "] 5/5 windows" in err
    assert "backfill: 5/5 windows," not in err
    assert err.endswith("backfill: all 5 windows are in " + str(tmp_path) + "\n")


# Crashes ----------------------------------------------------------------


def spawn(out: Path, fmt: str, rate: int = 30) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "insider_wa_async.cli._backfill", "-q", "--sandbox"]
    argv += ["--rate-limit", str(rate), "--start", "2024-01-01", "--end", "2024-03-31"]
    argv += ["--out", str(out), "--format", fmt]
    with open(out.parent / "stderr.log", "ab") as log:
        return subprocess.Popen(argv, cwd=ROOT, stderr=log)


def kill_after_commits(process: subprocess.Popen[bytes], out: Path, more: int) -> None:
    """SIGKILL the process once the checkpoint holds ``more`` new lines."""
    path = out / command.CHECKPOINT
    lines = path.read_bytes().count(b"\n") if path.exists() else 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        now = path.read_bytes().count(b"\n") if path.exists() else 0
        if now >= lines + more:
            break
        time.sleep(0.01)
    time.sleep(0.07)  # land somewhere between two commits
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_sigkill_and_resume_give_identical_files(tmp_path: Path, fmt: str) -> None:
    """A run killed twice with SIGKILL and resumed writes the uninterrupted bytes."""
    reference = tmp_path / "reference"
    assert spawn(reference, fmt, rate=100).wait() == 0

    out = tmp_path / "out"
    kill_after_commits(spawn(out, fmt), out, 2)
    kill_after_commits(spawn(out, fmt), out, 1)
    resumed = spawn(out, fmt)
    assert resumed.wait() == 0, (tmp_path / "stderr.log").read_text()

    assert output_bytes(out) == output_bytes(reference)
    assert len(output_bytes(out)) == 2
    assert len(read_table(out, fmt, "summaries")) == 91
    assert sorted(os.listdir(out)) == sorted(os.listdir(reference))


async def test_a_torn_tail_is_cut_off_on_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Bytes past the last commit and a torn checkpoint line are cut, then redone."""
    argv = ["--base-url", sandbox.url, "--token", sandbox.token]
    argv += ["--start", "2024-01-01", "--end", "2024-01-20"]
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert await asyncio.to_thread(run, *argv, "--out", str(reference)) == 0

    # Pretend a crash after 7 committed windows, mid-way through the 9th.
    out.mkdir()
    split = windows(date(2024, 1, 1), date(2024, 1, 20))[7].start
    lengths = {}
    for table in layout.TABLES:
        lines = (reference / f"{table}.jsonl").read_bytes().splitlines(keepends=True)
        kept = [
            ln for ln in lines if msgspec.json.decode(ln)["window_start_time"] < split
        ]
        lengths[f"{table}.jsonl"] = sum(map(len, kept))
        (out / f"{table}.jsonl").write_bytes(b"".join(lines[: len(kept) + 1])[:-9])
    head = (reference / command.CHECKPOINT).read_bytes().split(b"\n")[0]
    commit = msgspec.json.encode({"next": 7, "lengths": lengths})
    (out / command.CHECKPOINT).write_bytes(head + b"\n" + commit + b'\n{"next":9,"len')

    sandbox.reset_stats()
    assert await asyncio.to_thread(run, *argv, "--out", str(out)) == 0
    assert sandbox.stats.requests == 13
    assert output_bytes(out) == output_bytes(reference)
