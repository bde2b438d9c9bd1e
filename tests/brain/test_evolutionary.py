"""Genetic search on real BTC candles: fitness (the evaluator's selection-segment score) rises over
generations; the winner is then judged on a held-back window the search never saw, with every
trial the search spent charged to its deflated Sharpe."""

from __future__ import annotations

import itertools
import random

from ai_brain.evaluation.strategy_evaluator import evaluate
from ai_brain.evaluation.trial_ledger import TrialRecord, open_trial_ledger
from ai_brain.generators.evolutionary import GeneticSearch, crossover, mutate
from ai_brain.generators.hypothesis_generator import GenerationContext
from ai_brain.generators.templates import TemplateSource
from src.config.brain import GeneratorConfig
from src.strategy.spec import StrategySpec, family_spec

HELD_BACK = 4000


async def test_genetic_search_improves_and_is_judged_on_a_held_back_window(btc_1h, tmp_path) -> None:
    n = len(btc_1h)
    train = btc_1h.slice(n - HELD_BACK - 10_000, n - HELD_BACK)
    held = btc_1h.slice(n - HELD_BACK - 500, n)  # 500 bars of indicator warm-up, then unseen bars only
    trials = open_trial_ledger(tmp_path / "state", tmp_path / "strategies")
    templates = TemplateSource(1)
    ctx = GenerationContext(0, "1h", {"BTC/USDT": train})

    def make_seed(rng: random.Random, symbol: str) -> StrategySpec | None:
        hyp = templates.draw(rng, ctx, symbol)
        return hyp.spec if hyp else None

    async def fitness(specs: list[StrategySpec]) -> list[float]:
        # every trial is counted; within one search all candidates are compared on equal terms
        trials.record(TrialRecord.of(s, "evolutionary") for s in specs)
        return [evaluate(s, train).score for s in specs]

    result = await GeneticSearch(GeneratorConfig(ga_population=16, ga_generations=5), fitness, seed=1).run(
        [], make_seed, "BTC/USDT")
    curve = result.best_per_generation
    verdict = evaluate(result.best.spec, held, trials=trials.count("BTC/USDT"))
    naive = evaluate(result.best.spec, held, trials=1)
    shown = (f"best OOS score per generation {[round(x, 3) for x in curve]}; held-back window: score "
             f"{verdict.score:.3f}, return {verdict.out_of_sample.total_return:+.2%}, "
             f"DSR {verdict.significance.dsr:.3f} after {trials.count('BTC/USDT')} trials "
             f"(vs {naive.significance.dsr:.3f} if the search were ignored); "
             f"verdict {'pass' if verdict.passed else 'fail'}")
    print(shown)

    assert curve[-1] > curve[0], shown
    assert all(b >= a for a, b in itertools.pairwise(curve)), "elitism must keep the best"
    assert trials.count("BTC/USDT") == result.evaluated > 16
    assert int(held.ts[500]) > int(train.ts[-1]), "the held-back window starts after the training data"
    assert verdict.significance.trials == result.evaluated
    assert verdict.significance.dsr <= naive.significance.dsr, shown


def test_children_are_valid_specs_or_not_born() -> None:
    rng = random.Random(3)
    a = family_spec("momentum", fast=10, slow=40, stop_atr=2.0, symbols=["BTC/USDT"])
    b = family_spec("mean_reversion", rsi_period=7, symbols=["BTC/USDT"])
    born = [c for c in (mutate(a, rng) for _ in range(200)) if c is not None]
    born += [c for c in (crossover(a, b, rng) for _ in range(50)) if c is not None]

    assert len(born) > 150
    assert all(isinstance(c, StrategySpec) and c.type == "rule" and c.symbols == ["BTC/USDT"] for c in born)
    assert len({c.id for c in born}) > 50
