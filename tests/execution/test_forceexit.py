"""/forceexit's two paths in the execution layer: one strategy's position, or every one without a halt.

The runner keeps one virtual position per strategy; closing strategy A must send A's exits
through the router (booked in the ledger like any exit) and leave B's position, on the same
symbol, exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from src.app.wire_execution import _register_commands
from src.core.events import TradeClosed
from src.state.inbox import CommandRegistry
from tests.execution.test_books import CAPS, _open_perp, _runner_net
from tests.execution.test_router_runner import stack


async def test_closing_one_strategy_leaves_the_others_untouched(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    sent = await ex.runner.close_strategy("momo", "forceexit")
    assert [(r.intent.strategy_id, r.intent.symbol, r.intent.side) for r in sent] == [("momo", "BTC/USDT", "sell")]
    assert sent[0].filled_qty_base == pytest.approx(8.0)
    assert "momo|BTC/USDT" not in ex.runner.state.trades
    assert ex.runner.state.trades["revert|BTC/USDT"].remaining_base == pytest.approx(5.0)
    assert ex.paper.wallet.perp_position("BTC/USDT").qty_base == pytest.approx(_runner_net(ex))
    row = ex.portfolio.closed_trades("momo")[-1]
    assert row["reason"] == "forceexit"
    assert ex.portfolio.closed_trades("revert") == []


async def test_closing_a_strategy_without_a_position_sends_nothing(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "revert", "sell", 5.0)
    assert await ex.runner.close_strategy("nobody", "forceexit") == []
    assert ex.runner.state.trades["revert|BTC/USDT"].remaining_base == pytest.approx(5.0)


async def test_exits_are_sent_while_trading_is_paused(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk=CAPS)
    await _open_perp(ex, "momo", "buy", 8.0)
    ctx.services["control"].pause("test", "paused")
    sent = await ex.runner.close_strategy("momo", "forceexit")
    assert [r.status for r in sent] == ["filled"]
    assert ex.runner.state.trades == {}


def _registry(ctx, ex) -> CommandRegistry:
    """The execution layer's commands on a registry of their own, as the composition root registers them."""
    registry = CommandRegistry()
    _register_commands(ctx, ex, registry)
    return registry


async def test_close_position_command_answers_what_it_sent(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk=CAPS)
    registry = _registry(ctx, ex)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    ok, message, data = await registry.execute("close_position", {"strategy_id": "momo"}, "telegram:1")
    assert ok, message
    assert "momo" in message
    assert "BTC/USDT" in message
    assert "sell" in message
    assert [o["strategy_id"] for o in data["orders"]] == ["momo"]
    assert "revert|BTC/USDT" in ex.runner.state.trades


async def test_close_position_without_a_position_is_refused(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk=CAPS)
    registry = _registry(ctx, ex)
    ok, message, _ = await registry.execute("close_position", {"strategy_id": "ghost"}, "telegram:1")
    assert not ok
    assert "ghost" in message
    ok, message, _ = await registry.execute("close_position", {}, "telegram:1")
    assert not ok
    assert "strategy_id" in message


async def test_close_all_closes_everything_and_entries_stay_allowed(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk=CAPS)
    registry = _registry(ctx, ex)
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    ok, message, data = await registry.execute("close_all", {}, "telegram:1")
    assert ok, message
    assert ex.runner.state.trades == {}
    assert sorted(o["strategy_id"] for o in data["orders"]) == ["momo", "revert"]
    assert "entries stay allowed" in message
    control = ctx.services["control"]
    assert not control.has_hold("emergency_stop")
    assert control.state.summary() == "active"  # no hold of any kind: entries allowed


async def test_a_booked_trade_is_published_as_events(tmp_path: Path) -> None:
    _, ex = stack(tmp_path, risk=CAPS)
    seen: list[object] = []
    ex.runner._publish = seen.append
    await _open_perp(ex, "momo", "buy", 8.0)
    await ex.runner.close_strategy("momo", "forceexit")
    kinds = [getattr(e, "kind", "") for e in seen]
    assert kinds == ["trade_opened", "trade_closed"]
    closed = seen[-1]
    assert isinstance(closed, TradeClosed)
    row = ex.portfolio.closed_trades("momo")[-1]
    assert closed.net_quote == pytest.approx(row["net_quote"])
    assert closed.qty_base == pytest.approx(8.0)
    assert closed.reason == "forceexit"
