"""Depth-walking slippage against hand-computed books, and the candle-only spread + impact model."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_brain.evaluation.backtest_engine import book_slippage_bps
from ai_brain.paper.paper_fills import candle_fill_price, walk_book
from tests.execution.conftest import HOUR_MS, book, candle, intent, make_engine

ASKS = [(100.0, 1.0), (101.0, 2.0), (103.0, 5.0)]
BIDS = [(99.0, 1.5), (98.0, 1.0), (95.0, 10.0)]


def test_buy_walks_asks_level_by_level() -> None:
    res = walk_book(ASKS, "buy", 2.5)
    assert [(f.price_quote, f.qty_base) for f in res.fills] == [(100.0, 1.0), (101.0, 1.5)]
    # by hand: (100*1 + 101*1.5) / 2.5 = 100.6 → 60 bps above the best ask
    assert res.vwap_quote == pytest.approx(100.6)
    assert res.slippage_bps == pytest.approx(60.0)
    assert res.unfilled_base == 0.0


def test_sell_walks_bids_and_reports_what_depth_could_not_fill() -> None:
    res = walk_book(BIDS, "sell", 13.0)
    assert res.filled_base == pytest.approx(12.5)
    assert res.unfilled_base == pytest.approx(0.5)
    vwap = (99 * 1.5 + 98 * 1.0 + 95 * 10.0) / 12.5
    assert res.vwap_quote == pytest.approx(vwap)
    assert res.slippage_bps == pytest.approx((99.0 - vwap) / 99.0 * 1e4)


def test_limit_stops_the_walk_at_its_price() -> None:
    res = walk_book(ASKS, "buy", 5.0, limit_price=101.0)
    assert res.filled_base == pytest.approx(3.0)
    assert res.unfilled_base == pytest.approx(2.0)


@given(st.lists(st.tuples(st.floats(1, 1e5), st.floats(1e-3, 100)), min_size=1, max_size=30),
       st.floats(0.01, 0.99))
def test_walk_agrees_with_the_backtester_book_model(levels: list[tuple[float, float]], share: float) -> None:
    levels = sorted(levels)
    notional = share * sum(p * q for p, q in levels)
    qty = _qty_for_notional(levels, notional)
    res = walk_book(levels, "buy", qty)
    assert res.unfilled_base == pytest.approx(0.0, abs=1e-9)
    assert res.slippage_bps == pytest.approx(
        book_slippage_bps(pd.Series([p for p, _ in levels]).to_numpy(), pd.Series([q for _, q in levels]).to_numpy(),
                          notional), rel=1e-6, abs=1e-6)


def _qty_for_notional(levels: list[tuple[float, float]], notional: float) -> float:
    qty, left = 0.0, notional
    for p, q in levels:
        take = min(q, left / p)
        qty, left = qty + take, left - take * p
        if left <= 0:
            break
    return qty


def test_real_l2_snapshot_hand_computed(shared_data) -> None:
    frame = pd.read_csv(shared_data / "unknown_BTC-USDT_l2-snapshots-sample.csv.gz")
    snap = frame[frame["timestamp"] == frame["timestamp"].min()]
    asks = snap[snap["side"] == "ask"].sort_values("level")
    levels = list(zip(asks["price"], asks["amount"], strict=True))
    qty = sum(q for _, q in levels[:3]) + levels[3][1] / 2  # three whole levels and half the fourth
    res = walk_book(levels, "buy", qty)
    by_hand = (sum(p * q for p, q in levels[:3]) + levels[3][0] * levels[3][1] / 2) / qty
    assert len(res.fills) == 4
    assert res.vwap_quote == pytest.approx(by_hand, rel=1e-12)
    assert res.slippage_bps == pytest.approx((by_hand - levels[0][0]) / levels[0][0] * 1e4)
    assert res.slippage_bps > 0


def test_candle_model_is_half_spread_plus_square_root_impact() -> None:
    price, slip = candle_fill_price(100.0, "buy", 25.0, spread_bps=4.0, impact_bps=10.0, bar_notional_quote=10_000.0)
    # share = 25*100/10000 = 0.25 → impact 10*sqrt(.25) = 5 bps, plus 2 bps half spread
    assert slip == pytest.approx(7.0)
    assert price == pytest.approx(100.0 * (1 + 7e-4))
    sell, _ = candle_fill_price(100.0, "sell", 25.0, 4.0, 10.0, None)
    assert sell == pytest.approx(100.0 * (1 - 2e-4))


async def test_engine_market_buy_reports_slippage_per_fill(tmp_path) -> None:
    eng = make_engine(tmp_path, candle_spread_bps=0.0)
    eng.on_event(candle(100.0, 0))
    eng.on_event(book(BIDS, ASKS, ts_ms=HOUR_MS))
    rec = await eng.submit(intent("buy", 2.5))
    fills = [e for e in eng.ledger.entries() if e.kind == "fill"]
    assert [(f.price_quote, f.qty_base) for f in fills] == [(100.0, 1.0), (101.0, 1.5)]
    assert [f.slippage_bps for f in fills] == [0.0, pytest.approx(100.0)]
    assert rec.avg_price_quote == pytest.approx(100.6)
    assert rec.fee_quote == pytest.approx(2.5 * 100.6 * 0.001)
    assert math.isclose(eng.wallet.balance("BTC"), 2.5)


async def test_engine_market_order_beyond_depth_expires_the_rest(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0, 0))
    eng.on_event(book(BIDS, ASKS, ts_ms=HOUR_MS))
    rec = await eng.submit(intent("buy", 9.0))
    assert rec.status == "expired"
    assert rec.filled_qty_base == pytest.approx(8.0)
    assert "depth" in rec.reason


async def test_engine_without_a_book_uses_the_candle_model(tmp_path) -> None:
    eng = make_engine(tmp_path, candle_spread_bps=4.0, candle_impact_bps=0.0)
    eng.on_event(candle(200.0, 0))
    rec = await eng.submit(intent("buy", 1.0))
    assert rec.avg_price_quote == pytest.approx(200.0 * 1.0002)
