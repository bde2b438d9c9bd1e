"""Trade-by-trade diff between a backtest and what was executed."""

from __future__ import annotations

from ai_brain.evaluation.drift_check import BacktestTrade, diff_trades

H = 3_600_000


def _t(side: str, entry_h: int, exit_h: int, entry_px: float, exit_px: float) -> BacktestTrade:
    return BacktestTrade(side, entry_h * H, exit_h * H, entry_px, exit_px)


def test_identical_lists_match_fully() -> None:
    trades = [_t("long", 1, 5, 100, 105), _t("short", 8, 9, 104, 101)]

    report = diff_trades(trades, list(trades), H, 0.005)

    assert report.matched == 2
    assert report.differences == []
    assert not report.diverged(0.0)


def test_one_bar_of_timing_and_small_price_noise_are_tolerated() -> None:
    report = diff_trades([_t("long", 1, 5, 100, 105)], [_t("long", 2, 6, 100.2, 105.3)], H, 0.005)

    assert report.matched == 1


def test_every_kind_of_difference_is_named() -> None:
    expected = [_t("long", 1, 5, 100, 105), _t("long", 10, 12, 100, 103), _t("short", 20, 22, 99, 97)]
    actual = [_t("long", 1, 5, 102, 105), _t("long", 10, 15, 100, 103), _t("long", 30, 31, 90, 91)]

    report = diff_trades(expected, actual, H, 0.005)

    text = report.summary()
    assert report.matched == 0
    assert report.mismatched == 4
    assert report.diverged(0.2)
    assert "entry 102 vs backtest 100" in text
    assert f"exit at {15 * H} vs backtest {12 * H}" in text
    assert f"missing short trade entered at {20 * H}" in text
    assert f"unexpected long trade entered at {30 * H}" in text


def test_a_trade_the_backtest_closed_only_at_the_window_end_is_not_missed() -> None:
    still_open = BacktestTrade("long", 40 * H, 48 * H, 100.0, 104.0, reason="end")

    assert diff_trades([still_open], [], H, 0.005).differences == []
    assert diff_trades([still_open], [_t("long", 40, 44, 100.0, 101.0)], H, 0.005).matched == 1
