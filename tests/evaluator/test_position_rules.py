"""The per-bar exit contract shared by the backtester and the live position manager."""

from __future__ import annotations

import pytest

from src.strategy.position_rules import ExitFill, PositionTracker
from src.strategy.spec import RiskGenes


def _tracker(**genes) -> PositionTracker:
    return PositionTracker(RiskGenes(**genes))


def test_gap_through_stop_fills_at_the_open():
    t = _tracker(stop_atr=2.0)
    t.open(1, 100.0, 1.0)  # stop at 98
    assert t.on_bar(99.0, 99.5, 98.5, 99.0, 1.0) == []
    assert t.on_bar(97.0, 97.5, 96.0, 97.0, 1.0) == [ExitFill(97.0, 1.0, "stop")]
    assert not t.is_open


def test_short_stop_is_above_entry():
    t = _tracker(stop_atr=1.0)
    t.open(-1, 100.0, 2.0)
    assert t.stop_price == 102.0
    assert t.on_bar(101.0, 102.5, 100.5, 102.0, 2.0) == [ExitFill(102.0, 1.0, "stop")]


def test_break_even_then_trail_then_partials():
    t = _tracker(stop_atr=2.0, trailing=[{"trigger_r": 1.0, "lock_r": 0.0}, {"trigger_r": 2.0, "trail_atr": 1.0}],
                 partial_tp=[{"at_r": 1.0, "fraction": 0.5}])
    t.open(1, 100.0, 1.0)  # R = 2
    assert t.on_bar(100.0, 102.5, 100.0, 102.0, 1.0) == [ExitFill(102.0, 0.5, "partial")]
    assert t.stop_price == 100.0  # break-even after +1R
    assert t.on_bar(102.0, 105.0, 101.0, 104.0, 1.0) == []
    assert t.stop_price == 104.0  # best 105 - 1 ATR
    assert t.on_bar(104.5, 104.6, 103.0, 103.5, 1.0) == [ExitFill(104.0, 0.5, "trailing_stop")]


def test_stop_wins_over_take_profit_in_the_same_bar():
    t = _tracker(stop_atr=1.0, take_profit_atr=1.0)
    t.open(1, 100.0, 1.0)
    assert t.on_bar(100.0, 101.5, 98.5, 100.0, 1.0) == [ExitFill(99.0, 1.0, "stop")]


def test_take_profit_fills_at_level_or_better_open():
    t = _tracker(take_profit_atr=3.0)
    t.open(1, 100.0, 1.0)
    assert t.on_bar(104.0, 105.0, 103.0, 104.0, 1.0) == [ExitFill(104.0, 1.0, "take_profit")]


def test_liquidation_comes_before_a_wider_stop():
    t = _tracker(stop_atr=20.0, leverage=10.0)
    t.open(1, 100.0, 1.0)  # liquidation at 100 * (1 - 0.1 + 0.005) = 90.5, stop at 80
    (fill,) = t.on_bar(95.0, 96.0, 85.0, 86.0, 1.0)
    assert fill.reason == "liquidation"
    assert fill.price == pytest.approx(90.5)


def test_time_exit_is_requested_for_the_next_open():
    t = _tracker(max_hold_bars=2)
    t.open(-1, 50.0, 1.0)
    t.on_bar(50.0, 51.0, 49.0, 50.0, 1.0)
    assert not t.exit_at_next_open
    t.on_bar(50.0, 51.0, 49.0, 50.0, 1.0)
    assert t.exit_at_next_open
    assert t.is_open


def test_hedged_carry_has_no_liquidation():
    t = _tracker(hedged=True, leverage=50.0)
    t.open(-1, 100.0, 1.0)
    assert t.on_bar(100.0, 400.0, 99.0, 300.0, 1.0) == []
    assert t.is_open
