"""Venue selection behind the double gate, events on the bus, flattening, and the strategy sources."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from src.core.events import CandleClosed
from src.execution.strategy_source import FileStrategySource, ServiceStrategySource, TradableStrategy
from src.strategy.spec import family_spec
from tests.execution.conftest import HOUR_MS, candle, intent, make_ctx, make_engine
from tests.rig import add_ex as add_execution_components
from tests.rig import build_ex as build_execution

T0 = 1_700_000_000_000 // HOUR_MS * HOUR_MS


def stack(root: Path, mode: str = "replay", allow_live: bool = False, risk: dict | None = None):
    ctx = make_ctx(root, {"mode": mode, "live": {"allow_live_trading": allow_live}, "risk": risk or {}})
    ex = build_execution(ctx, ledger_fsync=False)
    cache = ctx.services["market_cache"]
    for k in range(60):
        cache.series("BTC/USDT").append(T0 + k * HOUR_MS, 100.0, 101.0, 99.0, 100.0, 1e6)
    ex.paper.on_event(candle(100.0, T0 + 59 * HOUR_MS, volume=1e6))
    ctx.clock.advance_to(T0 + 60 * HOUR_MS)
    return ctx, ex


@pytest.mark.parametrize(("mode", "allow", "confirmed", "status", "expect_live"), [
    ("replay", True, True, "live", False),
    ("paper", True, True, "live", False),
    ("live", False, True, "live", False),
    ("live", True, False, "live", False),
    ("live", True, True, "dry_run", False),
    ("live", True, True, "live", True),
    ("live", True, True, "scaling", True),
    ("testnet", False, False, "live", True),
])
async def test_only_the_double_gate_sends_orders_to_the_live_venue(tmp_path: Path, mode: str, allow: bool,
                                                                   confirmed: bool, status: str,
                                                                   expect_live: bool) -> None:
    ctx, ex = stack(tmp_path, mode, allow)
    live = make_engine(tmp_path / "exchange")  # a second, separate account standing in for the exchange
    live.on_event(candle(100.0, T0 + 59 * HOUR_MS))
    ctx.services["live_venue"] = live
    if confirmed:
        ctx.services["control"].confirm_live("person")
    _, rec = await ex.router.submit(intent("buy", 1.0), status)
    assert rec is not None
    assert rec.status == "filled"
    assert (live.lookup(rec.intent.client_order_id) is not None) is expect_live
    assert (ex.paper.lookup(rec.intent.client_order_id) is not None) is not expect_live


async def test_revoking_go_live_sends_the_next_order_back_to_paper(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, "live", True)
    ctx.services["live_venue"] = make_engine(tmp_path / "exchange")
    ctx.services["control"].confirm_live("person")
    assert ex.router.venue_for("live") is ctx.services["live_venue"]
    ctx.services["control"].revoke_live("person")
    assert ex.router.venue_for("live") is ex.paper


async def test_a_refused_intent_never_reaches_a_venue_and_is_published(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path)
    seen = []

    async def collect(ev) -> None:
        seen.append(ev)

    sub = ctx.bus.subscribe("test", collect, kinds=("order", "fill"))
    ctx.services["control"].pause("person", "lunch")
    decision, rec = await ex.router.submit(intent("buy", 1.0), "dry_run")
    assert rec is None
    assert not decision.allowed
    assert ex.paper.lookup(intent("buy", 1.0).client_order_id) is None
    ctx.services["control"].resume("person")
    await ex.router.submit(intent("buy", 1.0, seq=1), "dry_run")
    while (ev := sub.next_event()) is not None:
        await collect(ev)
    kinds = [(e.kind, getattr(e, "status", "")) for e in seen]
    assert kinds[0] == ("order", "rejected")
    assert "risk: paused" in seen[0].reason
    assert ("fill", "") in kinds
    assert ("order", "filled") in kinds


async def test_kill_switch_with_flatten_closes_every_position(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk={"kill_switch_action": "flatten", "max_drawdown_fraction": 0.05})
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, id="flat-me")
    (ctx.paths.strategies / "testing" / "flat-me.json").write_text(spec.model_dump_json())
    await ex.router.submit(intent("buy", 10.0, strategy="flat-me"), "dry_run")
    # give the runner the position as if it had opened it, then let equity fall through the limit
    rec = ex.paper.lookup(intent("buy", 10.0, strategy="flat-me").client_order_id)
    from src.execution.runner_state import PendingIntent
    ex.runner._book(PendingIntent(intent=rec.intent, status="dry_run", atr_signal=1.0, bar_ts=T0), rec)
    assert len(ex.runner.state.trades) == 1
    ex.kill.update(10_000.0, ctx.clock.now_ms())
    ex.kill.update(9_000.0, ctx.clock.now_ms())
    assert ex.kill.state.flatten_requested
    assert ctx.services["control"].state.halted
    ts = T0 + 60 * HOUR_MS
    ctx.services["market_cache"].series("BTC/USDT").append(ts, 100, 100.5, 99.5, 100, 1e6)
    ctx.clock.advance_to(ts + HOUR_MS)
    await ex.runner.on_event(CandleClosed("BTC/USDT", "1h", ts, 100, 100.5, 99.5, 100, 1e6))
    assert ex.runner.state.trades == {}
    assert ex.paper.wallet.balance("BTC") == pytest.approx(0.0, abs=1e-9)
    assert not ex.kill.state.flatten_requested
    assert ex.portfolio.closed_trades()[-1]["reason"] == "flatten"


async def test_emergency_stop_command_halts_and_flattens(tmp_path: Path) -> None:
    ctx, _ = stack(tmp_path)
    from src.app.supervisor import Supervisor

    ex = add_execution_components(ctx, Supervisor(ctx))
    ok, message, _ = await ctx.services["commands"].execute("emergency_stop", {}, "telegram:42")
    assert ok
    assert "EMERGENCY" in message
    assert ctx.services["control"].state.halted
    assert ex.kill.state.emergency
    assert "risk" in ctx.status.snapshot()
    assert "portfolio" in ctx.status.snapshot()
    ok, _, data = await ctx.services["commands"].execute("pnl", {"period": "week"}, "script")
    assert ok
    assert set(data) >= {"gross_quote", "fees_quote", "funding_quote", "net_quote"}


def test_bad_strategy_files_are_skipped_with_a_log_line(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "active"
    folder.mkdir()
    (tmp_path / "testing").mkdir()
    good = family_spec("breakout", channel=20, exit_channel=10, id="good")
    (folder / "good.json").write_text(good.model_dump_json())
    (folder / "bad.json").write_text('{"id": "bad", "name": "x", "rules": {"entry_long": []}}')
    (folder / "junk.json").write_text("{not json")
    found = FileStrategySource(tmp_path).tradable("replay")
    assert [t.spec.id for t in found] == ["good"]
    assert found[0].status == "active"
    assert "bad.json" in caplog.text
    assert "junk.json" in caplog.text


def test_repository_adapter_trades_dry_runs_and_gated_live_strategies() -> None:
    dry = SimpleNamespace(spec=family_spec("breakout", id="dry"), status="dry_run", size_fraction=0.0)
    live = SimpleNamespace(spec=family_spec("breakout", id="live"), status="live", size_fraction=0.0)
    scaled = SimpleNamespace(spec=family_spec("breakout", id="big"), status="scaling", size_fraction=0.5)

    class Repo:
        def tradable(self, mode: str, live_gate_open: bool = False) -> list:
            if mode == "live":
                return [live, scaled] if live_gate_open else []
            return [dry]

    gate = {"open": False}
    src = ServiceStrategySource(Repo(), lambda: gate["open"], live_start_fraction=0.1)
    assert [t.spec.id for t in src.tradable("live")] == ["dry"]
    gate["open"] = True
    got = {t.spec.id: t for t in src.tradable("live")}
    assert got["live"].size_fraction == pytest.approx(0.1)
    assert got["big"].size_fraction == pytest.approx(0.5)
    assert got["dry"].size_fraction == 1.0
    assert [t.spec.id for t in src.tradable("replay")] == ["dry"]
    assert isinstance(next(iter(got.values())), TradableStrategy)


def test_runner_window_never_includes_bars_after_the_event(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path)
    cache = ctx.services["market_cache"]
    cache.series("BTC/USDT").append(T0 + 60 * HOUR_MS, 1.0, 1.0, 1.0, 1.0, 1.0)  # a later bar already cached
    window = ex.runner._window(CandleClosed("BTC/USDT", "1h", T0 + 59 * HOUR_MS, 100, 101, 99, 100, 1e6))
    assert window is not None
    assert int(window.ts[-1]) == T0 + 59 * HOUR_MS
    assert np.all(window.close == 100.0)


async def _open_by_hand(ctx, ex, spec, qty: float = 10.0) -> None:
    """Enter through the router and book it, as the runner does when an entry fills."""
    from src.execution.runner_state import PendingIntent

    it = intent("buy", qty, strategy=spec.id)
    _, rec = await ex.router.submit(it, "dry_run")
    ex.runner._book(PendingIntent(intent=rec.intent, status="dry_run", atr_signal=1.0, bar_ts=T0 + 59 * HOUR_MS,
                                  spec=spec.model_dump()), rec)


async def _bar(ctx, ex, k: int, low: float = 99.5, bids: list | None = None) -> None:
    from src.core.events import OrderBook

    ts = T0 + (60 + k) * HOUR_MS
    ctx.services["market_cache"].series("BTC/USDT").append(ts, 100, 100.5, low, 100, 1e6)
    ctx.clock.advance_to(ts + HOUR_MS)
    if bids is not None:
        await ex.runner.on_event(OrderBook("BTC/USDT", ts + HOUR_MS, tuple(bids), ((100.1, 50.0),)))
    await ex.runner.on_event(CandleClosed("BTC/USDT", "1h", ts, 100, 100.5, low, 100, 1e6))


async def test_a_retired_strategy_keeps_its_exits_but_makes_no_entries(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk={"max_position_fraction": 1.0, "max_strategy_allocation_fraction": 1.0})
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, max_hold_bars=2, id="retiring")
    path = ctx.paths.strategies / "testing" / "retiring.json"
    path.write_text(spec.model_dump_json())
    await _open_by_hand(ctx, ex, spec)
    path.unlink()  # retired while the position is open
    for k in range(3):
        await _bar(ctx, ex, k)
    assert ex.runner.state.trades == {}
    assert ex.portfolio.closed_trades()[-1]["reason"] == "time"
    assert ex.paper.wallet.balance("BTC") == pytest.approx(0.0, abs=1e-9)


async def test_an_exit_the_book_could_not_absorb_is_retried_until_flat(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk={"max_position_fraction": 1.0, "max_strategy_allocation_fraction": 1.0})
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, stop_atr=1.0, id="thin")
    (ctx.paths.strategies / "testing" / "thin.json").write_text(spec.model_dump_json())
    await _open_by_hand(ctx, ex, spec)
    await _bar(ctx, ex, 0, low=98.0, bids=[(98.9, 0.5)])  # stop at ~99 hit; only 0.5 BTC bid twice
    trade = next(iter(ex.runner.state.trades.values()))
    assert trade.remaining_base == pytest.approx(9.0)
    await _bar(ctx, ex, 1, bids=[(99.8, 100.0)])
    assert ex.runner.state.trades == {}
    assert ex.portfolio.closed_trades()[-1]["reason"] == "stop"
    assert ex.paper.wallet.balance("BTC") == pytest.approx(0.0, abs=1e-9)


async def test_manual_orders_pass_the_guards_and_go_to_the_manual_ledger(tmp_path: Path) -> None:
    ctx, _ = stack(tmp_path)
    from src.app.supervisor import Supervisor
    from src.orders.ledger import AUTO_FILE, MANUAL_FILE

    ex = add_execution_components(ctx, Supervisor(ctx))
    run = ctx.services["commands"].execute
    buy = {"symbol": "BTC/USDT", "side": "buy", "qty_base": "1", "id": "c1"}
    ok, msg, data = await run("manual_order", buy, "me")
    assert ok, msg
    assert data['filled_qty_base'] == pytest.approx(1.0), msg
    await run("manual_order", buy, "me")
    assert ex.paper.wallet.balance("BTC") == pytest.approx(1.0)  # the same command is the same order
    bad, msg, _ = await run("manual_order", {**buy, "side": "hold", "id": "c3"}, "me")
    assert not bad
    assert "side" in msg
    ctx.services["control"].pause("me", "")
    refused, msg, _ = await run("manual_order", {**buy, "id": "c2"}, "me")
    assert not refused
    assert "paused" in msg
    assert (ctx.paths.logs / MANUAL_FILE).read_text().count("\n") == 1
    assert not (ctx.paths.logs / AUTO_FILE).exists() or "manual" not in (ctx.paths.logs / AUTO_FILE).read_text()


async def test_positions_the_runner_lost_are_reported(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk={"max_position_fraction": 1.0, "max_strategy_allocation_fraction": 1.0})
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, id="lost")
    (ctx.paths.strategies / "testing" / "lost.json").write_text(spec.model_dump_json())
    await _open_by_hand(ctx, ex, spec)
    ex.runner.save()
    assert ex.runner.unmanaged_positions() == []
    (ctx.paths.state / "runner.json").unlink()  # the runner's state is gone; the ledger is not
    ex2 = build_execution(ctx, ledger_fsync=False)
    lost = ex2.runner.unmanaged_positions()
    assert len(lost) == 1
    assert "lost BTC/USDT" in lost[0]


async def test_after_a_restart_open_positions_see_the_bars_they_missed_exits_only(tmp_path: Path) -> None:
    ctx, ex = stack(tmp_path, risk={"max_position_fraction": 1.0, "max_strategy_allocation_fraction": 1.0})
    spec = family_spec("momentum", fast=3, slow=8, position_fraction=0.1, max_hold_bars=2, id="missed")
    (ctx.paths.strategies / "testing" / "missed.json").write_text(spec.model_dump_json())
    await _open_by_hand(ctx, ex, spec)
    ex.runner.save()
    cache = ctx.services["market_cache"]
    for k in range(3):  # the feed moved on while the bot was down; nobody handled these bars
        ts = T0 + (60 + k) * HOUR_MS
        cache.series("BTC/USDT").append(ts, 100, 100.5, 99.5, 100, 1e6)
        ctx.clock.advance_to(ts + HOUR_MS)
    ex2 = build_execution(ctx, ledger_fsync=False)
    await ex2.runner.recover()
    assert ex2.runner.state.trades == {}
    assert ex2.portfolio.closed_trades()[-1]["reason"] == "time"
    entries = [e for e in ex2.ledger.entries() if e.kind == "fill" and e.data.get("purpose") == "entry"]
    assert len(entries) == 1  # exits only: no late entry on an old signal
    assert ex2.runner.state.last_bar["BTC/USDT"] == T0 + 62 * HOUR_MS
