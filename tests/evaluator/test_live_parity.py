"""Backtest and a live-style bar-by-bar runner make the same trades.

The runner below uses only what the live strategy runner and position manager use: on every
closed candle it calls `latest_signal` on a rolling window and `PositionTracker.on_bar` for
the open position. Its trades must equal the compiled backtest's trades.
"""

from __future__ import annotations

import pytest

from ai_brain.evaluation.backtest_engine import CostModel, run_backtest
from src.strategy import indicators as ind
from src.strategy.data import Candles
from src.strategy.position_rules import PositionTracker
from src.strategy.signals import latest_signal
from src.strategy.spec import StrategySpec, family_spec

from .builders import random_candles

WINDOW = 600  # closed candles the live runner keeps; Wilder ATR memory fades far below 1e-12


def live_trades(spec: StrategySpec, c: Candles) -> list[tuple]:
    """(entry bar, exit bar, side, exit reason, last exit price) per round trip, zero costs."""
    tracker, side, entry_bar, decision, trades = PositionTracker(spec.risk), 0, -1, None, []
    atr_prev = float("nan")
    for i in range(len(c)):
        if decision is not None:  # act at this bar's open on the previous close's decision
            if side and ((decision.exit_long or decision.entry_short) if side > 0
                         else (decision.exit_short or decision.entry_long)):
                trades.append((entry_bar, i, side, "signal", c.open[i]))
                side = 0
            elif side and tracker.exit_at_next_open:
                trades.append((entry_bar, i, side, "time", c.open[i]))
                side = 0
            want = int(decision.entry_long) - int(decision.entry_short)
            if side == 0 and want and (spec.risk.stop_atr == 0 or atr_prev > 0):
                tracker.open(want, c.open[i], atr_prev)
                side, entry_bar = want, i
        window = c.slice(max(0, i + 1 - WINDOW), i + 1)
        atr_now = float(ind.atr(window.high, window.low, window.close, spec.risk.atr_period)[-1])
        if side:
            fills = tracker.on_bar(c.open[i], c.high[i], c.low[i], c.close[i], atr_now)
            if fills and not tracker.is_open:
                trades.append((entry_bar, i, side, fills[-1].reason, fills[-1].price))
                side = 0
        decision, atr_prev = latest_signal(spec, window), atr_now
    if side:
        trades.append((entry_bar, len(c) - 1, side, "end_of_data", c.close[-1]))
    return trades


@pytest.mark.parametrize("spec", [
    family_spec("momentum", fast=5, slow=20, ma="sma", short=True),
    family_spec("breakout", channel=20, exit_channel=10, short=True, stop_atr=2.0, take_profit_atr=6.0,
                trailing=[{"trigger_r": 1.0, "lock_r": 0.0}, {"trigger_r": 2.0, "trail_atr": 1.5}],
                max_hold_bars=40),
], ids=["sma-cross", "breakout-with-stops"])
def test_live_runner_makes_the_backtest_trades(spec):
    c = random_candles(1500, 99, vol=0.015)
    res = run_backtest(spec, c, costs=CostModel(0.0, 0.0))
    tf = res.trade_frame()
    backtest = [(int(t.entry_bar), int(t.exit_bar), 1 if t.side == "long" else -1, t.reason)
                for t in tf.itertuples()]
    live = live_trades(spec, c)
    assert len(backtest) > 20
    assert [t[:4] for t in live] == backtest
    for t, (_, _, _, _, price) in zip(tf.itertuples(), live, strict=True):
        assert t.exit_price == pytest.approx(price, rel=1e-12)
