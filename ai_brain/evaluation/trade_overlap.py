"""Near-duplicates by what they trade, not by what they are called.

Two specs with different labels, generators or parameters that enter the same trades are one
strategy filed twice: the same evidence counted twice, and two dry-run slots for one bet. The
comparison uses only the selection segment (bars the verdict's test segment does not cover),
so deduplication is a selection step that never sees the test bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from ai_brain.evaluation.backtest_engine import CostModel, run_backtest
from src.strategy.data import Candles, Funding
from src.strategy.spec import StrategySpec

T = TypeVar("T")


def entry_keys(spec: StrategySpec, candles: Candles, funding: Funding | None, end: int) -> frozenset[int]:
    """Open times (ms) of the trades ``spec`` enters over bars [0, end), signed by side."""
    res = run_backtest(spec, candles, funding, CostModel(), end=end)
    if not res.n_trades:
        return frozenset()
    frame = res.trade_frame()
    signs = np.where(frame["side"].to_numpy() == "long", 1, -1)
    return frozenset(int(s) * int(t) for s, t in zip(signs, frame["entry_ts"].to_numpy(), strict=True))


def overlap(a: frozenset[int], b: frozenset[int]) -> float:
    """Jaccard overlap of two entry sets (0 when both are empty: nothing to compare)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def distinct_by_trades(ranked: Sequence[tuple[T, StrategySpec]], candles: Candles, funding: Funding | None,
                       end: int, limit: int, existing: Sequence[StrategySpec] = (),
                       max_overlap: float = 0.8) -> list[T]:
    """The first ``limit`` of ``ranked`` (best first) whose entries overlap no better-ranked pick
    and no ``existing`` strategy by more than ``max_overlap``."""
    kept: list[frozenset[int]] = [entry_keys(s, candles, funding, end) for s in existing]
    out: list[T] = []
    for item, spec in ranked:
        if len(out) >= limit:
            break
        keys = entry_keys(spec, candles, funding, end)
        if any(overlap(keys, k) > max_overlap for k in kept):
            continue
        kept.append(keys)
        out.append(item)
    return out
