"""The evaluator on real Binance candles: known figures, overfitting and noise are rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import CostModel, cost_model, run_backtest
from ai_brain.evaluation.strategy_evaluator import Evaluation, candidate_set_pbo, evaluate
from src.config.evaluator import EvaluatorConfig
from src.orders.fees import FeeSchedule
from src.strategy.signals import Signals
from src.strategy.spec import family_spec


def test_sma_cross_matches_an_independent_pandas_computation(btc_1h):
    close = pd.Series(btc_1h.close)
    fast, slow = close.rolling(10).mean(), close.rolling(50).mean()
    up = ((fast > slow) & (fast.shift(1) <= slow.shift(1))).to_numpy()
    down = ((fast < slow) & (fast.shift(1) >= slow.shift(1))).to_numpy()
    fee = 0.001
    # walk the crossings: enter at the open after a cross up, leave at the open after a cross down
    growth, entries, pos_entry = 1.0, 0, None
    for j in range(len(up) - 1):
        if pos_entry is None and up[j]:
            pos_entry, entries = btc_1h.open[j + 1], entries + 1
        elif pos_entry is not None and down[j]:
            growth = growth * (btc_1h.open[j + 1] / pos_entry) * (1 - fee) - growth * fee
            pos_entry = None
    if pos_entry is not None:
        growth = growth * (btc_1h.close[-1] / pos_entry) * (1 - fee) - growth * fee

    spec = family_spec("momentum", fast=10, slow=50, ma="sma")
    res = run_backtest(spec, btc_1h, costs=CostModel(fee_bps=10.0, slippage_bps=0.0), initial_cash=1.0)
    assert res.n_trades == entries > 900
    assert res.equity[-1] == pytest.approx(growth, rel=1e-6)


def test_evaluation_is_deterministic_and_json_round_trips(btc_1h):
    spec = family_spec("breakout", channel=55, exit_channel=20, stop_atr=3.0)
    a, b = evaluate(spec, btc_1h), evaluate(spec, btc_1h)
    assert a.model_dump_json() == b.model_dump_json()
    assert Evaluation.model_validate_json(a.model_dump_json()) == a
    assert a.lookahead_ok
    assert len(a.walk_forward) == EvaluatorConfig().walk_forward_windows
    assert a.passed == (not any(not ch.passed for ch in a.checks))
    assert a.reasons


def test_strategy_tuned_in_sample_is_rejected(btc_1h):
    cfg = EvaluatorConfig()
    (is_start, is_end), _ = st.oos_split(len(btc_1h), cfg.oos_fraction)
    grid = [family_spec("momentum", fast=f, slow=s, ma=ma, short=True)
            for f in (3, 5, 8, 13) for s in (21, 34, 55, 89) for ma in ("ema", "sma")]

    def is_sharpe(spec):
        res = run_backtest(spec, btc_1h, costs=_costs(spec, cfg), start=is_start,
                           end=is_end)
        return st.compute_metrics(res, btc_1h.step_ms()).sharpe or -9.0

    best = max(grid, key=is_sharpe)
    ev = evaluate(best, btc_1h, cfg=cfg, trials=len(grid))
    assert not ev.passed
    assert (ev.out_of_sample.sharpe or 0.0) < (ev.in_sample.sharpe or 0.0)
    assert any("deflated Sharpe" in r for r in ev.reasons)


def test_random_entry_strategies_are_rejected_by_deflated_sharpe(btc_1h):
    cfg = EvaluatorConfig()
    _, (start, end) = st.oos_split(len(btc_1h), cfg.oos_fraction)
    spec = family_spec("momentum", fast=2, slow=3)  # rules unused: random signals are injected
    rng = np.random.default_rng(cfg.seed)
    n, trials, rejected = len(btc_1h), 200, 0
    for k in range(trials):
        entries_long, entries_short = rng.random(n) < 0.005, rng.random(n) < 0.005
        sig = Signals(entries_long, entries_short, rng.random(n) < 0.02, rng.random(n) < 0.02)
        # no costs: with fees the noise loses money and the test would not be about the DSR
        res = run_backtest(spec, btc_1h, costs=CostModel(0.0, 0.0), start=start, end=end, signals=sig)
        dsr = st.deflated_sharpe(st.bar_returns(res.equity, res.initial_cash), n_trials=k + 1)
        rejected += dsr < cfg.dsr_level
    assert rejected / trials >= 0.95


def test_funding_carry_earns_funding_without_price_risk(btc_1h, btc_funding):
    start = int(np.searchsorted(btc_1h.ts, btc_funding.ts[0]))
    candles = btc_1h.slice(start, len(btc_1h))
    spec = family_spec("funding_carry", entry_rate=0.0001, exit_rate=0.00002, period=3)
    res = run_backtest(spec, candles, btc_funding, CostModel(10.0, 2.0))
    m = st.compute_metrics(res, candles.step_ms())
    assert m.trades > 5
    assert m.gross_pnl == 0.0
    assert m.funding_paid < 0  # negative paid = received by the short perp leg
    ev = evaluate(spec, candles, btc_funding)
    assert ev.lookahead_ok


def test_candidate_set_pbo_uses_each_candidates_bar_returns(btc_1h):
    candles = btc_1h.slice(len(btc_1h) - 20_000, len(btc_1h))
    specs = [family_spec("momentum", fast=f, slow=s, ma="ema", short=True) for f in (3, 8, 13) for s in (21, 55)]
    cfg = EvaluatorConfig(pbo_blocks=8)
    returns = np.column_stack([
        st.bar_returns(r.equity, r.initial_cash)
        for r in (run_backtest(s, candles, costs=_costs(s, cfg)) for s in specs)])
    expected = st.pbo_cscv(returns, 8)
    assert candidate_set_pbo(specs, candles, cfg=cfg) == expected
    assert 0.0 <= expected <= 1.0


def test_a_strategy_that_never_trades_is_rejected_cleanly(btc_1h):
    ev = evaluate(family_spec("funding_carry"), btc_1h.slice(0, 3000))  # no funding data: never enters
    assert not ev.passed
    assert ev.out_of_sample.trades == 0
    assert ev.out_of_sample.win_rate is None
    assert ev.significance.mean_trade_return_ci == (None, None)
    assert any("0 test-segment trades" in r for r in ev.reasons)


def _costs(spec, cfg: EvaluatorConfig) -> CostModel:
    """The evaluator's own costs for ``spec``: the one fee schedule, for the market it trades on."""
    return cost_model(spec, FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)
