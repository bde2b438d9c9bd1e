"""Shared by the evaluator benchmarks: the real BTC 1h file and a fixed set of template specs.

The brain and Dask benchmarks time the same workload, so they draw it from one place.
"""

from __future__ import annotations

import random
from pathlib import Path

from ai_brain.generators.hypothesis_generator import GenerationContext
from ai_brain.generators.templates import TemplateSource
from src.strategy.data import Candles
from src.strategy.spec import StrategySpec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_BTC-USDT_1h.csv.gz"


def template_specs(candles: Candles, n: int) -> list[StrategySpec]:
    """``n`` template hypotheses on BTC/USDT, the same ones every run (fixed seeds)."""
    src, rng = TemplateSource(1), random.Random(11)
    ctx = GenerationContext(0, "1h", {"BTC/USDT": candles})
    out: list[StrategySpec] = []
    while len(out) < n:
        hyp = src.draw(rng, ctx, "BTC/USDT")
        if hyp is not None:
            out.append(hyp.spec)
    return out
