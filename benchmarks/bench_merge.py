"""Measure merging five yearly answers into one, against decoding them.

What is measured: ``merge_statistics(parts)`` over five consecutive yearly
answers (365 chart days each) of N = 10,000 campaigns, and again of N = 20,000.
Consecutive years share half their campaigns (year k holds ids k*N/2 ..
k*N/2 + N - 1), so about half the items are added into an earlier one and half
are new; a quarter are conversational and merge their buttons too. Merging
consumes its inputs, so every round decodes fresh copies first, outside the
merge's timed region.

Against what: the time to decode those same five bodies with the product's
``decode_statistics``, measured in the same round just before the merge. Targets:
merge time at most 1.2x the decode time (ratio: merge / decode, median of the
per-round ratios), and doubling the data (N = 20,000) costs at most 2.2x the
merge time of N = 10,000 (ratio of the medians, rounds interleaved). Prints a
table and writes ``benchmarks/results/merge.json``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    DAY,
    FIRST_DAY,
    Row,
    make_body,
    paired_ratio,
    print_table,
    row,
    write_results,
)
from insider_wa_async._decode import decode_statistics
from insider_wa_async._merge import merge_statistics

YEARS = 5
SIZES = (10_000, 20_000)
MERGE_TARGET = 1.2
DOUBLING_TARGET = 2.2


def yearly_bodies(campaigns: int) -> list[bytes]:
    """Return five consecutive yearly bodies whose campaigns half overlap."""
    return [
        make_body(
            campaigns,
            first=FIRST_DAY + year * 365 * DAY,
            first_id=1 + year * campaigns // 2,
        )
        for year in range(YEARS)
    ]


def one_round(bodies: list[bytes]) -> tuple[float, float, int]:
    """Decode the bodies, then merge them; return both times and the items."""
    gc.collect()
    started = time.perf_counter()
    parts = [decode_statistics(body) for body in bodies]
    decoded = time.perf_counter()
    merged = merge_statistics(parts)
    merged_at = time.perf_counter()
    count = len(merged.details)
    del parts, merged
    return decoded - started, merged_at - decoded, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args(argv)

    bodies = {n: yearly_bodies(n) for n in SIZES}
    decode: dict[int, list[float]] = {n: [] for n in SIZES}
    merge: dict[int, list[float]] = {n: [] for n in SIZES}
    items: dict[int, int] = {}
    for index in range(options.rounds):
        order = SIZES if index % 2 == 0 else SIZES[::-1]
        for n in order:
            spent_decoding, spent_merging, items[n] = one_round(bodies[n])
            decode[n].append(spent_decoding)
            merge[n].append(spent_merging)

    rows: list[Row] = []
    for n in SIZES:
        rows.append(row(f"decode 5 x {n:,} (reference)", decode[n]))
        ratio = paired_ratio(merge[n], decode[n])
        rows.append(
            row(
                f"merge 5 x {n:,} -> {items[n]:,}",
                merge[n],
                ratio=ratio,
                target=f"<= {MERGE_TARGET}x",
            )
        )
    doubling = statistics.median(merge[SIZES[1]]) / statistics.median(merge[SIZES[0]])
    rows.append(
        row(
            "merge doubling: 20,000 / 10,000",
            merge[SIZES[1]],
            ratio=doubling,
            target=f"<= {DOUBLING_TARGET}x",
        )
    )
    print_table(f"merge of {YEARS} yearly answers, {options.rounds} rounds", rows)
    passed = write_results("merge", {"merge": rows}, rounds=options.rounds)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
