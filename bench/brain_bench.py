"""AI-cycle benchmark: how long offline discovery takes, and what the process pool buys.

    python bench/brain_bench.py [--bars N] [--json]

Workloads, on the last N real BTC/USDT 1-hour bars from the shared data:
  A  template hypotheses evaluated per second: in the calling process vs the evaluator's pool
  B  one genetic search (population 16, 3 generations) through the same two paths
  C  how long the event loop is blocked while B runs through the pool (max gap of a 10 ms ticker):
     the number that says whether discovery can stall trading
Times are medians of repeated runs after one warm-up (numba caches and worker start excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a file: make the repo root importable
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

from ai_brain.evaluation.evaluation_pool import EvaluationPool
from ai_brain.evaluation.strategy_evaluator import evaluate
from ai_brain.generators.evolutionary import GeneticSearch
from ai_brain.generators.hypothesis_generator import GenerationContext
from ai_brain.generators.templates import TemplateSource
from bench.template_specs import DATA, template_specs
from src.config.brain import GeneratorConfig
from src.market.history import load_candles
from src.strategy.data import Candles
from src.strategy.spec import StrategySpec


def _timed(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


async def _ga(candles: Candles, pool: EvaluationPool | None) -> None:
    ctx = GenerationContext(0, "1h", {"BTC/USDT": candles})
    src = TemplateSource(1)

    def seed(rng: random.Random, sym: str) -> StrategySpec | None:
        hyp = src.draw(rng, ctx, sym)
        return hyp.spec if hyp else None

    async def fitness(specs: list[StrategySpec]) -> list[float]:
        if pool is None:
            return [evaluate(s, candles).score for s in specs]
        return [e.score for e in await pool.evaluate_many_async(specs, candles)]

    await GeneticSearch(GeneratorConfig(ga_population=16, ga_generations=3), fitness, seed=1).run([], seed, "BTC/USDT")


async def _max_loop_gap(candles: Candles, pool: EvaluationPool) -> float:
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    task = asyncio.create_task(ticker())
    await _ga(candles, pool)
    task.cancel()
    return max(gaps) if gaps else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    full = load_candles(DATA)
    candles = full.slice(len(full) - args.bars, len(full))
    specs = template_specs(candles, 48)
    with EvaluationPool() as pool:
        inline_s = _timed(lambda: [evaluate(s, candles) for s in specs])
        pool_s = _timed(lambda: pool.evaluate_many(specs, candles))
        ga_inline = _timed(lambda: asyncio.run(_ga(candles, None)), 2)
        ga_pool = _timed(lambda: asyncio.run(_ga(candles, pool)), 2)
        gap = asyncio.run(_max_loop_gap(candles, pool))
    res = {"bars": args.bars, "A_evals_per_s_inline": len(specs) / inline_s, "A_evals_per_s_pool": len(specs) / pool_s,
           "B_ga_seconds_inline": ga_inline, "B_ga_seconds_pool": ga_pool, "C_max_loop_gap_ms": gap * 1000}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for key, value in res.items():
            print(f"{key:28s} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
