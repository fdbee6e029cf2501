"""The short soak: 2,000 faulted calls through one client, all true, nothing leaked."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SOAK_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
CALLS = 2_000
RSS_GROWTH_LIMIT_MIB = 64.0


def load_soak() -> ModuleType:
    """Load the soak driver that ``benchmarks/soak.py`` runs at full length."""
    spec = importlib.util.spec_from_file_location("soak_driver", SOAK_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
async def test_thousands_of_faulted_calls_are_all_true_and_leak_nothing() -> None:
    """Every call equals the sandbox's truth or is a typed error; nothing is left."""
    tasks_before = len(asyncio.all_tasks())
    figures = await load_soak().soak(calls=CALLS, seconds=30.0, probability=0.2)
    await asyncio.sleep(0.05)
    print(
        f"\nsoak: {figures['calls']} calls, {figures['faults_injected']} faults, "
        f"{figures['wrong']} wrong, RSS {figures['rss_start_mib']} -> "
        f"{figures['rss_end_mib']} MiB"
    )
    assert figures["calls"] == CALLS, figures
    assert figures["wrong"] == 0, figures
    assert figures["right"] + sum(figures["typed_errors"].values()) == CALLS
    assert figures["right"] >= 0.99 * CALLS, figures
    assert figures["faults_injected"] >= 0.15 * figures["requests"], figures
    assert figures["retries_logged"] >= figures["faults_injected"] // 2, figures
    assert figures["connections_busy_at_end"] == 0, figures
    assert figures["client_tasks_left"] == 0, figures
    assert figures["rss_growth_mib"] < RSS_GROWTH_LIMIT_MIB, figures
    assert len(asyncio.all_tasks()) <= tasks_before, asyncio.all_tasks()
