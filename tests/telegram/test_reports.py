"""Report text and trade analytics from real ledger lines (automatic and manual never mixed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from src.orders.ledger import Ledger
from src.state.control import Controller
from src.state.inbox import CommandRegistry
from src.state.store import StateStore
from src.telegram.render.analytics import closed_trades, distribution, trade_analytics
from src.telegram.render.reports import duration, format_pnl, format_positions, format_status, format_strategy
from src.telegram.view import TradingView

HOUR_MS = 3_600_000


def write_trades(ledger: Ledger) -> None:
    base = 1_704_067_200_000
    for i, (net, side, reason) in enumerate([(12.5, "long", "take_profit"), (-4.0, "long", "stop_loss"),
                                             (7.0, "short", "take_profit"), (-1.5, "short", "time_exit")]):
        ledger.append(kind="trade", ts_ms=base + i * HOUR_MS, strategy_id="S1", symbol="BTC/USDT",
                      data={"side": side, "net_quote": net, "exit_ms": base + (i + 1) * HOUR_MS, "exit_reason": reason})
    ledger.append(kind="trade", ts_ms=base, manual=True, symbol="ETH/USDT",
                  data={"side": "long", "net_quote": 1000.0, "exit_ms": base + 5 * HOUR_MS, "exit_reason": "manual"})


def test_analytics_reads_one_ledger_only(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "logs", fsync=False)
    write_trades(ledger)
    auto = closed_trades(_view(ledger), "auto")
    manual = closed_trades(_view(ledger), "manual")
    assert auto is not None
    assert manual is not None
    assert len(auto) == 4
    assert len(manual) == 1
    text = trade_analytics(auto, "auto", "USDT")
    assert "trades 4" in text
    assert "win rate 50%" in text
    assert "net +14.00 USDT" in text
    assert "take_profit: 2 trades, 100% won, net +19.50 USDT" in text
    assert "short: 2 trades, 50% won, net +5.50 USDT" in text
    assert "1000" not in text  # the manual trade never leaks into the automatic analytics
    assert "trades 1" in trade_analytics(manual, "manual", "USDT")


def test_analytics_without_a_ledger_is_not_available() -> None:
    assert closed_trades(_view(None), "auto") is None
    assert "no closed trades" in trade_analytics([], "auto", "USDT")


def test_distribution_counts_every_trade() -> None:
    pnls = [-3.0, -1.0, 0.5, 2.0, 2.5, 9.0]
    lines = distribution(pnls, bins=3)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == len(pnls)


def test_positions_pnl_and_strategy_text() -> None:
    text = format_positions([{"symbol": "BTC/USDT", "qty_base": -0.5, "avg_entry_quote": 60000.0,
                              "unrealized_quote": -12.345, "strategy_id": "S1"}], "USDT")
    assert "BTC/USDT short 0.5 @ 60,000.00 | uPnL −12.35 USDT | S1" in text
    pnl = format_pnl("week", {"gross_quote": 100.0, "fees_quote": 3.0, "funding_quote": -1.0, "net_quote": 98.0},
                     "USDT")
    assert "gross realized +100.00 USDT" in pnl
    assert "fees paid 3.00 USDT" in pnl
    assert "net +98.00 USDT" in pnl
    record = {"id": "S1", "name": "ema cross", "status": "dry_run", "type": "momentum",
              "spec": {"symbols": ["BTC/USDT"], "timeframe": "1h"}, "verdict": {"passed": True, "score": 0.8123},
              "history": [{"to_status": "dry_run", "actor": "ai", "reason": "passed"}]}
    text = format_strategy(record)
    assert "BTC/USDT" in text
    assert "1h" in text
    assert "score 0.812" in text
    assert "dry_run by ai: passed" in text
    record["performance"] = {"backtest": {"total_return": -0.09219, "years": 0.1598, "final_equity": 10_070.0,
                                          "max_drawdown": -0.0547200000001, "entered_at": 1_720_004_400_000}}
    text = format_strategy(record)
    assert ("total_return −9.22%, years 0.16, final_equity 10,070.00, max_drawdown −5.47%, "
            "entered_at 2024-07-03 11:00 UTC") in text
    assert duration(93_784) == "1d 2h 3m"


def test_status_reads_data_gate_and_risk_snapshots() -> None:
    snap = {"control": {"paused": True, "paused_by": "telegram:1"},
            "heartbeat": {"started_at": "2020-01-01T00:00:00Z", "tasks": {"feed": {"state": "crashed"}}},
            "data_gate": {"BTC/USDT": {"status": "OK", "reasons": []},
                          "ETH/USDT": {"status": "BLOCKED", "reasons": ["stale"]}},
            "risk": {"refused": {"max_exposure": 2}, "kill_switch": {"tripped": True, "reason": "drawdown 21%"}}}
    text = format_status("paper", snap, {"testing": 2}, "10,000.00 USDT", 1)
    assert "paper mode, paused by telegram:1" in text
    assert "data quality: ETH/USDT BLOCKED" in text
    assert "KILL SWITCH (drawdown 21%)" in text
    assert "refusals max_exposure 2" in text
    assert "tasks: feed crashed" in text
    assert "strategies: testing 2" in text


def test_status_lists_every_hold_with_owner_and_reason() -> None:
    snap = {"control": {"trading_state": "halted", "holds": [
        {"kind": "person", "by": "telegram:1", "reason": "lunch"},
        {"kind": "kill_switch", "by": "kill_switch", "reason": "drawdown 21%"}]}}
    text = format_status("paper", snap, {}, "10,000.00 USDT", 0)
    assert "paper mode, HALTED: person by telegram:1 (lunch); kill_switch by kill_switch (drawdown 21%)" in text


def test_status_shows_the_evaluator_line_only_when_there_is_one() -> None:
    state = "dask: unavailable, using local pool (worker tcp://10.0.0.7:4100 cannot import ai_brain)"
    text = format_status("paper", {"evaluator": {"state": state}}, {}, "n/a", None)
    assert f"evaluator: {state}" in text.splitlines()
    assert "evaluator" not in format_status("paper", {}, {}, "n/a", None)


def _view(ledger: object) -> TradingView:
    """A cockpit view holding only a ledger (no portfolio)."""
    return TradingView(CommandRegistry(), Controller(StateStore(Path(tempfile.mkdtemp()))), ledger=ledger)
