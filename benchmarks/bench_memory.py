"""Measure the memory of a decoded N = 10,000 answer, against the alternatives.

What is measured, with ``tracemalloc``: the memory the product's decoded result
(``decode_statistics(body)``, msgspec Structs with ``gc=False``) keeps alive
("retained": traced bytes after decoding, minus before, the result still held,
the body excluded) and the most traced during the decode ("peak"). The body is
the decode benchmark's: 365 chart days, 10,000 campaigns, 11 MB.

Against what, in the same run and interleaved: ``json.loads`` to dicts,
``orjson.loads`` to dicts, pydantic v2 models (``model_validate_json``),
``json.loads`` + slotted dataclasses, msgspec untyped, and msgspec Structs with
the default ``gc=True``. Targets: retained at most 0.55x that of ``json.loads``
dicts and at most 0.25x that of pydantic. The ratio column is the product's
retained memory over the candidate's. Prints a table and writes
``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Row,
    make_body,
    paired_ratio,
    print_table,
    row,
    write_results,
)
from benchmarks.bench_decode import alternatives, struct_family
from insider_wa_async._decode import decode_statistics

PRODUCT = "product decode_statistics"
CAMPAIGNS = 10_000
TARGETS = {"json.loads": 0.55, "pydantic v2": 0.25}
MIB = 2**20


def traced(decode: Callable[[bytes], Any], body: bytes) -> tuple[int, int]:
    """Return (retained, peak) bytes of one decode, the result held meanwhile."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = decode(body)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return retained - before, peak - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv)

    body = make_body(CAMPAIGNS)
    candidates: dict[str, Callable[[bytes], Any]] = {
        PRODUCT: decode_statistics,
        **alternatives(),
        "msgspec gc=True (default)": msgspec.json.Decoder(struct_family()).decode,
    }
    retained: dict[str, list[float]] = {name: [] for name in candidates}
    peak: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for index in range(options.rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            kept, most = traced(candidates[name], body)
            retained[name].append(kept)
            peak[name].append(most)

    mine = retained[PRODUCT]
    kept_rows: list[Row] = []
    peak_rows: list[Row] = []
    for name in names:
        target = f"<= {TARGETS[name]}x" if name in TARGETS else ""
        ratio = paired_ratio(mine, retained[name])
        kept_rows.append(
            row(name, retained[name], "MiB", scale=1 / MIB, ratio=ratio, target=target)
        )
        ratio = paired_ratio(peak[PRODUCT], peak[name])
        peak_rows.append(row(name, peak[name], "MiB", scale=1 / MIB, ratio=ratio))
    title = f"memory, N = {CAMPAIGNS:,} ({len(body) / MIB:.1f} MiB body)"
    print_table(f"{title}, retained (ratio: product / candidate)", kept_rows)
    print_table(f"{title}, peak during decode (ratio: product / candidate)", peak_rows)
    tables = {"retained": kept_rows, "peak": peak_rows}
    passed = write_results("memory", tables, rounds=options.rounds)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
