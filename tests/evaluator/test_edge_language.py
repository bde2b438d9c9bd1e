"""The spec language's cross-asset indicator and volatility-targeted sizing: causal, shared by the
backtester and the live runner, and bounded (property tests over random series)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from ai_brain.evaluation.backtest_engine import run_backtest
from src.market.history import load_candles
from src.strategy.data import Candles
from src.strategy.signals import check_lookahead, compute_signals
from src.strategy.sizing import entry_fraction, fraction_series, vol_scale
from src.strategy.spec import Condition, IndicatorRef, RiskGenes, RuleForm, StrategySpec
from tests.conftest import data_file


@pytest.fixture(scope="module")
def eth_1h() -> Candles:
    return load_candles(data_file("binance_ETH-USDT_1h.csv.gz"))


def _rs_spec(peer: str = "BTC/USDT", period: int = 48) -> StrategySpec:
    rs = IndicatorRef(name="rel_strength", period=period, ref=peer)
    return StrategySpec(id="rs", name="rs", symbols=["ETH/USDT"], rules=RuleForm(
        entry_long=[Condition(left=rs, op=">", threshold=0.01)],
        entry_short=[Condition(left=rs, op="<", threshold=-0.01)],
        exit_long=[Condition(left=rs, op="<", threshold=0.0)], exit_short=[Condition(left=rs, op=">", threshold=0.0)]))


def _tail(c: Candles, n: int) -> Candles:
    return c.slice(len(c) - n, len(c))


def test_rel_strength_is_causal(btc_1h, eth_1h) -> None:
    eth = _tail(eth_1h, 4000).with_reference("BTC/USDT", _tail(btc_1h, 4100))
    report = check_lookahead(_rs_spec(), eth, n_checks=16)
    assert report.ok, report.mismatched_bars


def test_a_peeking_relative_strength_is_caught(btc_1h, eth_1h) -> None:
    """The check can fail: BTC's closes shifted one bar early (tomorrow's price) disagree on truncation."""
    btc, eth = _tail(btc_1h, 4000), _tail(eth_1h, 4000)
    early = Candles(btc.ts, btc.open, btc.high, btc.low, np.append(btc.close[1:], np.nan), btc.volume)
    peeking = Candles(eth.ts, eth.open, eth.high, eth.low, eth.close, eth.volume, refs={"BTC/USDT": early.close})
    good = eth.with_reference("BTC/USDT", btc)
    assert check_lookahead(_rs_spec(), good, n_checks=16).ok
    # the last reference close is NaN in the peeking copy but known in a truncation: signals differ
    full = compute_signals(_rs_spec(), peeking)
    cut = compute_signals(_rs_spec(), good.slice(0, 3000))
    assert not full.equals(cut, 3000)


def test_reference_closes_are_matched_on_the_open_time_only() -> None:
    ts = np.arange(10, dtype=np.int64) * 3_600_000
    one = np.ones(10)
    own = Candles(ts, one, one, one, one, one)
    gap = np.r_[ts[:4], ts[5:]]  # the peer lacks bar 4
    peer = Candles(gap, *(np.arange(9, dtype=float) + 100 for _ in range(5)))
    ref = own.with_reference("BTC/USDT", peer).refs["BTC/USDT"]
    assert np.isnan(ref[4])
    assert ref[3] == 103.0
    assert ref[5] == 104.0  # bar 5 of own is the peer's fifth bar, never a stale or later close


def test_no_reference_means_no_entry(eth_1h) -> None:
    sig = compute_signals(_rs_spec(), _tail(eth_1h, 2000))
    assert not sig.entry_long.any()
    assert not sig.entry_short.any()


def test_rel_strength_needs_its_ref() -> None:
    with pytest.raises(ValueError, match="ref"):
        IndicatorRef(name="rel_strength", period=10)
    with pytest.raises(ValueError, match="ref"):
        IndicatorRef(name="ema", period=10, ref="BTC/USDT")


@settings(max_examples=60, deadline=None)
@given(target=hs.floats(1e-4, 0.5), realised=hs.lists(hs.one_of(hs.floats(0, 1), hs.just(float("nan"))),
                                                       min_size=1, max_size=50))
def test_vol_scale_is_bounded_and_zero_when_unknown(target: float, realised: list[float]) -> None:
    r = np.array(realised)
    s = vol_scale(target, r)
    assert ((s >= 0) & (s <= 1)).all()
    assert (s[~np.isfinite(r) | (r <= 0)] == 0).all()


@settings(max_examples=25, deadline=None)
@given(seed=hs.integers(0, 10_000), target=hs.floats(0.001, 0.05), period=hs.integers(2, 60),
       cut=hs.integers(70, 300))
def test_live_sizing_equals_backtest_sizing_on_every_prefix(seed: int, target: float, period: int, cut: int) -> None:
    """The runner's `entry_fraction` on a window ending at bar t is the backtester's fraction at t."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    c = Candles(np.arange(300, dtype=np.int64) * 3_600_000, close, close * 1.01, close * 0.99, close, close)
    risk = RiskGenes(position_fraction=0.5, target_vol=target, vol_period=period)
    whole = fraction_series(risk, c)
    assert entry_fraction(risk, c.slice(0, cut)) == pytest.approx(whole[cut - 1], rel=1e-12)
    assert (whole <= 0.5 + 1e-15).all()


def test_backtest_entries_are_scaled_by_volatility(btc_1h) -> None:
    c = _tail(btc_1h, 5000)
    fast, slow = IndicatorRef(name="ema", period=12), IndicatorRef(name="ema", period=48)
    rules = RuleForm(entry_long=[Condition(left=fast, op="crosses_above", right=slow)],
                     exit_long=[Condition(left=fast, op="crosses_below", right=slow)])
    fixed = StrategySpec(id="f", name="f", rules=rules)
    target = StrategySpec(id="t", name="t", rules=rules, risk=RiskGenes(target_vol=0.002, vol_period=48))
    a, b = run_backtest(target, c, start=100), run_backtest(fixed, c, start=100)
    assert a.n_trades == b.n_trades > 0
    entry = int(a.trades[0, 0])
    assert int(b.trades[0, 0]) == entry
    # both start with the same cash: the first entry's notional ratio is the fraction at the signal bar
    notional = a.trades[0, 3] * a.trades[0, 5] / (b.trades[0, 3] * b.trades[0, 5])
    want = fraction_series(target.risk, c)[entry - 1]
    assert 0 < want < 1
    assert notional == pytest.approx(want, rel=1e-9)
