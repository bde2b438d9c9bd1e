"""Anchored walk-forward with re-fitting, over the selection segment only.

The selection segment is cut into ``walk_forward_windows`` equal windows. Fold k trains on every
bar before window k (anchored: the training set grows, the way a live bot re-fits on all the
history it has) and trades window k with the parameters that had the best training Sharpe among
the spec and its neighbours (each numeric family parameter scaled by 3/4 and 4/3, one at a time).
The first window only trains. A spec whose parameters only work when chosen on the bars they are
judged on falls apart here; one whose neighbourhood is robust does not. Specs without family
parameters (the genetic search's rule form) are re-run as they are.
"""

from __future__ import annotations

import numpy as np
from pydantic import ValidationError

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import CostModel, run_backtest
from src.config.evaluator import EvaluatorConfig
from src.strategy.data import Candles, Funding
from src.strategy.signals import compute_signals
from src.strategy.spec import FAMILY_NAMES, StrategySpec, family_spec

SCALES = (0.75, 4.0 / 3.0)


def neighbours(spec: StrategySpec) -> list[StrategySpec]:
    """The spec first, then each valid one-parameter variant (zero means "off" and is kept)."""
    out = [spec]
    if spec.type not in FAMILY_NAMES:
        return out
    base = dict(spec.parameters)
    for key, value in base.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
            continue
        for scale in SCALES:
            new = max(1, round(value * scale)) if isinstance(value, int) else value * scale
            if new == value:
                continue
            try:
                out.append(family_spec(spec.type, **{**base, key: new}, **spec.risk.model_dump(), id=spec.id,
                                       name=spec.name, symbols=spec.symbols, timeframe=spec.timeframe))
            except (ValidationError, ValueError):
                continue
    return out


def refit_windows(spec: StrategySpec, candles: Candles, funding: Funding | None, cfg: EvaluatorConfig,
                  costs: CostModel, end: int) -> list[tuple[int, int, dict[str, object], st.Metrics]]:
    """(start bar, end bar, parameters chosen on the bars before, metrics of the window) per fold."""
    edges = np.linspace(0, end, cfg.walk_forward_windows + 1).astype(int)
    variants = []
    for v in neighbours(spec):
        cache: dict = {}
        variants.append((v, compute_signals(v, candles, funding, cache), cache))
    step = candles.step_ms()
    folds: list[tuple[int, int, dict[str, object], st.Metrics]] = []
    for k in range(1, len(edges) - 1):
        train, test = (0, int(edges[k])), (int(edges[k]), int(edges[k + 1]))

        def train_sharpe(item: tuple, train: tuple[int, int] = train) -> float:
            v, v_sig, v_cache = item
            res = run_backtest(v, candles, funding, costs, cfg.initial_cash, cfg.maintenance_margin,
                               start=train[0], end=train[1], signals=v_sig, cache=v_cache)
            return st.compute_metrics(res, step).sharpe or -1e9

        best, best_sig, best_cache = max(variants, key=train_sharpe)
        res = run_backtest(best, candles, funding, costs, cfg.initial_cash, cfg.maintenance_margin,
                           start=test[0], end=test[1], signals=best_sig, cache=best_cache)
        chosen: dict[str, object] = dict(best.parameters)
        folds.append((test[0], test[1], chosen, st.compute_metrics(res, step)))
    return folds
