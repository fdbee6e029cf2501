"""The rows of ``insider-wa backfill``: columns, flattening, encodings, parquet.

A window becomes one ``summaries`` row (every summary counter and both
breakdowns flattened into ``drop_*`` and ``undelivered_*`` columns) and one
``details`` row per campaign, in campaign id order. Rows are encoded as JSON
lines or CSV to be appended to a file; parquet, which cannot be appended to,
is written once at the end from JSON lines staged along the way.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

from .._backfill import WindowResult
from .._errors import InsiderWAError
from .._models import (
    CampaignDetail,
    DropDetails,
    OverallStatistics,
    ResponseSummary,
    Summary,
    UndeliveredDetails,
)
from .._windows import Window
from ._backfill_files import STAGING, TABLES, fsync_dir

__all__ = [
    "COLUMNS",
    "DETAIL_COLUMNS",
    "SUMMARY_COLUMNS",
    "day",
    "encode",
    "encode_window",
    "headers",
    "import_pyarrow",
    "require_pyarrow",
    "table_rows",
    "write_parquet",
]

_PARQUET_HINT = "pip install 'insider-wa-async[parquet]'"

# Columns ----------------------------------------------------------------

_WINDOW_COLUMNS = ("window_start", "window_end", "window_start_time", "window_end_time")
_BREAKDOWN_FIELDS = ("drop_details", "undelivered_details")
_COUNTERS = tuple(
    f.name for f in msgspec.structs.fields(Summary) if f.name not in _BREAKDOWN_FIELDS
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
_RESPONSES = tuple(f.name for f in msgspec.structs.fields(ResponseSummary))
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


def day(moment: int) -> str:
    """Return the UTC day of Unix second ``moment`` as ``YYYY-MM-DD``."""
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
    head = [day(window.start), day(window.end), window.start, window.end]
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


def encode_window(fmt: str, result: WindowResult) -> dict[str, bytes]:
    """Encode a fetched window's rows for each table, as ``encode`` does."""
    assert isinstance(result.statistics, OverallStatistics)
    rows = table_rows(Window(result.start, result.end), result.statistics)
    return {table: encode(fmt, table, rows[table]) for table in TABLES}


def encode(fmt: str, table: str, rows: list[list[Any]]) -> bytes:
    """Encode rows as appended to a table's file (parquet stages JSON lines)."""
    if fmt == "csv":
        return _encode_csv(rows)
    return _encode_jsonl(COLUMNS[table], rows)


def headers(fmt: str) -> dict[str, bytes]:
    """Return the bytes that open each table's empty file (CSV: the header row)."""
    if fmt != "csv":
        return {}
    return {table: _encode_csv([list(COLUMNS[table])]) for table in TABLES}


# Parquet ----------------------------------------------------------------


def require_pyarrow() -> None:
    """Check that pyarrow can be imported, without importing it (that is slow).

    Raises:
        InsiderWAError: pyarrow is not installed; the message names the extra.
    """
    if importlib.util.find_spec("pyarrow") is None:
        raise InsiderWAError(
            f"--format parquet needs pyarrow, which is not installed: {_PARQUET_HINT}"
        )


def import_pyarrow() -> None:
    """Import the pyarrow modules that ``write_parquet`` needs (slow, once)."""
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
    fsync_dir(out)


def _arrow_type(pa: Any, name: str) -> Any:
    if name in _TEXT_COLUMNS:
        return pa.string()
    if name == "revenue":
        return pa.float64()
    if name == "is_conversational":
        return pa.bool_()
    return pa.int64()
