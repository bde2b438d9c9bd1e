"""The compiled engine agrees with the slow reference loop on random data and random specs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_brain.evaluation.backtest_engine import CostModel, book_slippage_bps, run_backtest
from src.strategy import indicators as ind
from src.strategy.data import Funding
from src.strategy.position_rules import REASONS
from src.strategy.signals import Signals, compute_signals
from src.strategy.spec import RiskGenes, family_spec

from .builders import random_candles
from .reference_engine import slow_backtest

MMR = 0.005


@st.composite
def risk_genes(draw: st.DrawFn) -> RiskGenes:
    stop = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]))
    trailing, partials = [], []
    if stop > 0:
        n_stages = draw(st.integers(0, 3))
        triggers = sorted(draw(st.lists(st.floats(0.3, 4.0), min_size=n_stages, max_size=n_stages,
                                        unique=True)))
        for k, trig in enumerate(triggers):
            lock = draw(st.one_of(st.none(), st.floats(-0.5, 0.9).map(lambda x, t=trig: round(max(x * t, -1.0), 3))))
            trail = draw(st.one_of(st.none(), st.floats(0.3, 3.0)))
            if lock is None and trail is None:
                lock = 0.0 if k == 0 else None
                trail = None if k == 0 else 1.0
            trailing.append({"trigger_r": trig, "lock_r": lock, "trail_atr": trail})
        levels = sorted(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), max_size=3, unique=True)))
        partials = [{"at_r": lv, "fraction": draw(st.floats(0.05, 0.3))} for lv in levels]
    return RiskGenes(
        position_fraction=draw(st.floats(0.1, 1.0)), leverage=draw(st.sampled_from([1.0, 2.0, 5.0, 20.0])),
        atr_period=draw(st.integers(2, 10)), stop_atr=stop,
        take_profit_atr=draw(st.sampled_from([0.0, 1.5, 4.0])), trailing=trailing, partial_tp=partials,
        max_hold_bars=draw(st.sampled_from([0, 1, 3, 12])), hedged=draw(st.booleans()) and draw(st.booleans()),
    )


def _random_signals(n: int, seed: int, p: float) -> Signals:
    rng = np.random.default_rng(seed)
    return Signals(*(rng.random(n) < p for _ in range(4)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(20, 250), risk=risk_genes(),
       mode=st.sampled_from(["momentum", "breakout", "random"]), fee_bps=st.sampled_from([0.0, 4.0, 10.0]),
       slip_bps=st.sampled_from([0.0, 3.0]), use_funding=st.booleans(), start_frac=st.floats(0.0, 0.5),
       maker_bps=st.sampled_from([None, 0.0, 2.0]))
def test_fast_engine_matches_slow_loop(seed, n, risk, mode, fee_bps, slip_bps, use_funding, start_frac, maker_bps):
    c = random_candles(n, seed, vol=0.03)
    risk_kw = risk.model_dump()
    if mode == "momentum":
        spec = family_spec("momentum", fast=2, slow=5, ma="ema", short=True, **risk_kw)
    else:
        spec = family_spec("breakout", channel=4, exit_channel=2, short=True, **risk_kw)
    funding = None
    if use_funding:
        rng = np.random.default_rng(seed + 1)
        funding = Funding(ts=c.ts[::8].copy(), rate=rng.normal(0.0001, 0.0005, c.ts[::8].shape[0]))
    sig = _random_signals(n, seed, 0.15) if mode == "random" else compute_signals(spec, c, funding)
    start = int(start_frac * n)
    costs = CostModel(fee_bps, slip_bps, maker_bps)
    fast = run_backtest(spec, c, funding, costs, 1000.0, MMR, start=start, signals=sig)
    atr = ind.atr(c.high, c.low, c.close, risk.atr_period)
    fund_bar = funding.settled_per_bar(c.ts, c.step_ms()) if funding else np.zeros(n)
    slow_trades, slow_eq = slow_backtest(c, atr, sig, fund_bar, risk, fee_bps / 1e4, slip_bps / 1e4, 1000.0,
                                         MMR, start, n, None if maker_bps is None else maker_bps / 1e4)

    tf = fast.trade_frame()
    assert len(tf) == len(slow_trades)
    for got, want in zip(tf.itertuples(), slow_trades, strict=True):
        assert (int(got.entry_bar), int(got.exit_bar), got.reason) == (want["entry_bar"], want["exit_bar"],
                                                                        want["reason"])
        assert (got.side == "long") == (want["side"] > 0)
        for field in ("entry_price", "exit_price", "qty", "fees", "funding", "pnl"):
            assert math.isclose(getattr(got, field), want[field], rel_tol=1e-9, abs_tol=1e-9), field
    np.testing.assert_allclose(fast.equity, slow_eq, rtol=1e-9, atol=1e-9)
    assert math.isclose(fast.equity[-1], slow_eq[-1], rel_tol=1e-9)
    assert set(tf["reason"]) <= set(REASONS)


def test_fees_make_a_round_trip_cost_exactly_two_fills():
    c = random_candles(50, 3)
    sig = Signals(np.zeros(50, bool), np.zeros(50, bool), np.zeros(50, bool), np.zeros(50, bool))
    sig.entry_long[10] = True
    sig.exit_long[20] = True
    spec = family_spec("momentum", fast=2, slow=5)
    res = run_backtest(spec, c, costs=CostModel(10.0, 0.0), initial_cash=1000.0, signals=sig)
    (trade,) = res.trades
    qty = 1000.0 / c.open[11]
    expected_pnl = qty * (c.open[21] - c.open[11]) - qty * (c.open[11] + c.open[21]) * 0.001
    assert math.isclose(trade[8], expected_pnl, rel_tol=1e-12)
    assert math.isclose(res.equity[-1], 1000.0 + expected_pnl, rel_tol=1e-12)


def test_book_slippage_walks_the_levels():
    prices = np.array([100.0, 101.0, 102.0])
    qtys = np.array([1.0, 1.0, 10.0])
    assert book_slippage_bps(prices, qtys, 50.0) == 0.0
    # 100 + 101 quote fill the first two levels exactly: VWAP 201 / 2 = 100.5 → 50 bps
    assert book_slippage_bps(prices, qtys, 201.0) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="depth"):
        book_slippage_bps(prices, qtys, 1e6)
