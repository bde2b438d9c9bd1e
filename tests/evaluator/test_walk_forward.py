"""Anchored walk-forward re-fits the parameters on the bars before each window, on real BTC candles."""

from __future__ import annotations

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import cost_model, run_backtest
from ai_brain.evaluation.strategy_evaluator import evaluate
from ai_brain.evaluation.walk_forward import neighbours
from src.config.evaluator import EvaluatorConfig
from src.orders.fees import FeeSchedule
from src.strategy.spec import family_spec


def test_each_window_trades_the_parameters_best_on_the_bars_before_it(btc_1h):
    candles = btc_1h.slice(len(btc_1h) - 12_000, len(btc_1h))
    cfg = EvaluatorConfig()
    spec = family_spec("momentum", fast=10, slow=60, short=True, symbols=["BTC/USDT"], timeframe="1h")
    costs = cost_model(spec, FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)

    ev = evaluate(spec, candles, cfg=cfg, refit=True)

    end = st.oos_split(len(candles), cfg.oos_fraction)[0][1]
    assert len(ev.walk_forward) == cfg.walk_forward_windows - 1, "the first window only trains"
    assert ev.walk_forward[-1].end_ts <= int(candles.ts[end]), "re-fitting never reads the test segment"
    first = ev.walk_forward[0]
    train_end = int((candles.ts < first.start_ts).sum())

    def train_sharpe(v):
        res = run_backtest(v, candles, costs=costs, end=train_end)
        return st.compute_metrics(res, candles.step_ms()).sharpe or -1e9

    best = max(neighbours(spec), key=train_sharpe)
    assert first.parameters == best.parameters
    chosen = {tuple(sorted(w.parameters.items())) for w in ev.walk_forward if w.parameters}
    assert len(neighbours(spec)) > 4
    assert chosen
