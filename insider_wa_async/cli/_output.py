"""Rendering a result for the terminal: JSON, a table, or the chart as CSV."""

from __future__ import annotations

import csv
import io

import msgspec

from .._models import CampaignDetail, Chart, OverallStatistics, Summary

__all__ = ["render"]

TOP_CAMPAIGNS = 10


def render(result: OverallStatistics, fmt: str) -> str:
    """Return ``result`` as text in format ``json``, ``table`` or ``csv``."""
    if fmt == "json":
        return msgspec.json.encode(result).decode()
    if fmt == "csv":
        return chart_csv(result.chart)
    return table(result)


def chart_csv(chart: Chart) -> str:
    """Return the daily chart as CSV, one row per day, with a header."""
    names = [f for f in Chart.__struct_fields__]
    columns = [getattr(chart, name) for name in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(zip(*columns, strict=True))
    return out.getvalue()


def _rows(title: str, pairs: list[tuple[str, object]]) -> list[str]:
    width = max(len(name) for name, _ in pairs)
    lines = [title, "-" * len(title)]
    lines += [f"  {name:<{width}}  {_number(value):>14}" for name, value in pairs]
    return [*lines, ""]


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _fields(
    struct: msgspec.Struct, skip: tuple[str, ...] = ()
) -> list[tuple[str, object]]:
    return [
        (name, getattr(struct, name))
        for name in struct.__struct_fields__
        if name not in skip
    ]


def table(result: OverallStatistics) -> str:
    """Return the summary, both breakdowns and the top campaigns as a table."""
    summary = result.summary
    chart = result.chart
    days = len(chart.dates)
    span = f"{chart.dates[0]} .. {chart.dates[-1]}" if days else "no days"
    lines = [f"Campaign statistics, {span} ({days} days)", ""]
    lines += _rows("Summary", _fields(summary, ("drop_details", "undelivered_details")))
    lines += _rows("Drop details", _fields(summary.drop_details))
    lines += _rows("Undelivered details", _fields(summary.undelivered_details))
    lines += _top(result.details, summary)
    return "\n".join(lines).rstrip() + "\n"


def _top(details: list[CampaignDetail], summary: Summary) -> list[str]:
    title = (
        f"Top campaigns by sent ({min(TOP_CAMPAIGNS, len(details))} of {len(details)})"
    )
    lines = [title, "-" * len(title)]
    ranked = sorted(details, key=lambda d: (-d.sent, d.id))[:TOP_CAMPAIGNS]
    header = f"  {'id':>8}  {'name':<28} {'status':<10} {'sent':>10} {'delivered':>10}"
    lines.append(header + f" {'click':>8} {'revenue':>12}")
    for item in ranked:
        lines.append(
            f"  {item.id:>8}  {item.camp_name[:28]:<28} {item.status[:10]:<10}"
            f" {item.sent:>10,} {item.delivered:>10,} {item.click:>8,}"
            f" {item.revenue:>12,.2f}"
        )
    if not ranked:
        lines.append("  (no campaign had activity in the range)")
    return lines
