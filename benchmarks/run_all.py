"""Run every layer benchmark, print every table, and fail if a target is missed.

Layers, in order: decode, memory, merge, client, at the limit, splitting (see
each ``bench_<layer>.py`` for what is measured and against what). Each writes
``benchmarks/results/<layer>.json``. The whole set takes about five minutes on
two cores; ``--quick`` runs fewer rounds for a smoke test. Run it from the
repository root, after installing the package with its ``bench`` extra
(``pip install -e .[bench]`` or ``nox -s bench``)::

    python benchmarks/run_all.py

Exits 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# The repository root, after site-packages: `benchmarks.*` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    bench_client,
    bench_decode,
    bench_limit,
    bench_memory,
    bench_merge,
    bench_split,
)

LAYERS = {
    "decode": (bench_decode.main, [], ["--rounds", "3"]),
    "memory": (bench_memory.main, [], ["--rounds", "1"]),
    "merge": (bench_merge.main, [], ["--rounds", "3"]),
    "client": (bench_client.main, [], ["--rounds", "2"]),
    "limit": (bench_limit.main, [], ["--runs", "1", "--cold-runs", "2"]),
    "split": (bench_split.main, [], ["--rounds", "3"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument(
        "layers", nargs="*", choices=[[], *LAYERS], help="layers to run (all)"
    )
    options = parser.parse_args(argv)
    chosen = options.layers or list(LAYERS)
    outcome: dict[str, tuple[int, float]] = {}
    for name in chosen:
        run, full, quick = LAYERS[name]
        print(f"\n# {name}", flush=True)
        started = time.perf_counter()
        status = run(quick if options.quick else full)
        outcome[name] = (status, time.perf_counter() - started)
    print("\n# summary")
    for name, (status, elapsed) in outcome.items():
        print(f"{name:<8} {'PASS' if status == 0 else 'FAIL'}  {elapsed:6.1f} s")
    total = sum(elapsed for _, elapsed in outcome.values())
    print(f"{'total':<8}       {total:6.1f} s")
    return 0 if all(status == 0 for status, _ in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
