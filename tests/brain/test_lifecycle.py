"""Lifecycle rules on a fake clock: approval requests, the band, drift, scaling, retirement."""

from __future__ import annotations

import numpy as np
import pytest

from ai_brain.discovery.lifecycle import Lifecycle
from ai_brain.discovery.strategy_store import ClosedTrade, StrategyStore
from ai_brain.evaluation.drift_check import backtest_window_trades
from src.config.brain import LifecycleConfig
from src.core.events import Alert
from src.strategy.data import Candles
from tests.brain.conftest import FakeClock, make_record

H = 3_600_000


def _life(store: StrategyStore, clock: FakeClock, events: list, mode: str = "replay", **cfg) -> Lifecycle:
    return Lifecycle(store, LifecycleConfig(**{"min_dry_run_hours": 24, "min_dry_run_trades": 2, **cfg}), mode,
                     events.append, clock.now_ms, H)


def _trade(entry_ms: int, ret: float, mode: str = "dry_run") -> ClosedTrade:
    return ClosedTrade(mode=mode, symbol="BTC/USDT", side="long", entry_ts=entry_ms, exit_ts=entry_ms + 5 * H,
                       entry_price=100.0, exit_price=100.0 * (1 + ret), qty_base=1.0, pnl_quote=100 * ret, ret=ret)


def _no_candles(_symbol: str) -> Candles | None:
    return None


def _alerts(events: list, level: str) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert) and e.level == level]


def test_a_dry_run_inside_the_band_asks_a_person(store, clock, events) -> None:
    life = _life(store, clock, events)
    store.add(make_record("s1", status="dry_run"))
    store.record_trade_result("s1", _trade(clock.now + H, 0.004))

    clock.advance_hours(30)
    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)
    assert store.get("s1").status == "dry_run", "one trade is not enough evidence"

    store.record_trade_result("s1", _trade(clock.now - 10 * H, 0.002))
    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    assert store.get("s1").status == "awaiting_approval"
    ask = _alerts(events, "action")
    assert len(ask) == 1
    assert "/approve s1" in ask[0].text
    assert ask[0].key == "approval:s1"
    assert store.get("s1").performance.dry_run["trades"] == 2


def test_a_dry_run_below_the_band_is_retired(store, clock, events) -> None:
    life = _life(store, clock, events)
    store.add(make_record("s1", status="dry_run"))
    store.record_trade_result("s1", _trade(clock.now + H, -0.2))
    store.record_trade_result("s1", _trade(clock.now + 10 * H, -0.2))
    clock.advance_hours(30)

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("s1")
    assert rec.status == "retired"
    assert "below the backtest's band" in rec.history[-1].reason


def test_outside_replay_a_failed_verdict_never_reaches_approval(store, clock, events) -> None:
    life = _life(store, clock, events, mode="paper")
    store.add(make_record("weak", status="dry_run", passed=False))
    for k in (1, 5):
        store.record_trade_result("weak", _trade(clock.now + k * H, 0.003))
    clock.advance_hours(30)

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    assert store.get("weak").status == "retired"
    assert "gates did not pass: min_trades" in store.get("weak").history[-1].reason
    assert _alerts(events, "action") == []


def test_approved_goes_live_only_in_live_mode_with_the_gate_open(store, clock, events) -> None:
    from ai_brain.discovery.strategy_store import Approval

    store.add(make_record("s1", status="approved"))
    rec = store.get("s1")
    store.update("s1", provenance=rec.provenance.model_copy(update={"approval": Approval(by="t", at="now")}))

    _life(store, clock, events, mode="paper").review(_no_candles, True, lambda _s: None, live_gate_open=True)
    _life(store, clock, events, mode="live").review(_no_candles, True, lambda _s: None, live_gate_open=False)
    assert store.get("s1").status == "approved"

    _life(store, clock, events, mode="live").review(_no_candles, True, lambda _s: None, live_gate_open=True)
    assert store.get("s1").status == "live"
    assert store.get("s1").size_fraction == 0.1


def test_live_scales_on_evidence_and_retires_when_its_regime_is_gone(store, clock, events) -> None:
    life = _life(store, clock, events, mode="live", min_live_trades_to_scale=2, regime_gone_hours=48)
    store.add(make_record("s1", status="live", regime="bull"))
    store.update("s1", size_fraction=0.1)
    for k in (1, 3):
        store.record_trade_result("s1", _trade(clock.now + k * H, 0.004, mode="live"))
    clock.advance_hours(10)

    life.review(_no_candles, True, lambda _s: "bull", live_gate_open=True)
    assert store.get("s1").status == "scaling"
    assert store.get("s1").size_fraction == 0.2

    clock.advance_hours(10)
    life.review(_no_candles, True, lambda _s: "bear", live_gate_open=True)
    assert store.get("s1").status == "scaling"
    clock.advance_hours(49)
    life.review(_no_candles, True, lambda _s: "bear", live_gate_open=True)

    rec = store.get("s1")
    assert rec.status == "retired"
    assert "bull regime it was built for has been gone" in rec.history[-1].reason
    assert _alerts(events, "warning")[-1].title == "Strategy retired: s1"


@pytest.mark.parametrize("exit_slip", [1.03, 1.0])
def test_drift_demotes_and_names_the_trades_that_differed(store, clock, events, btc_1h, exit_slip) -> None:
    candles = btc_1h.slice(len(btc_1h) - 3000, len(btc_1h))
    start_ms = int(candles.ts[2000])
    clock.now = start_ms
    life = _life(store, clock, events, min_dry_run_trades=1)
    store.add(make_record("s1", status="dry_run"))
    expected = [t for t in backtest_window_trades(store.get("s1").spec, candles, start_ms, int(candles.ts[-1]) + 1)
                if not t.open_at_end]
    assert len(expected) >= 4, "the test needs a strategy that trades in the window"
    for i, t in enumerate(expected):
        slip = exit_slip if i % 2 else 1.0  # every other exit moved away from the backtest's price
        store.record_trade_result("s1", ClosedTrade(
            mode="dry_run", symbol="BTC/USDT", side=t.side, entry_ts=t.entry_ts, exit_ts=t.exit_ts,  # type: ignore
            entry_price=t.entry_price, exit_price=t.exit_price * slip, qty_base=1.0, pnl_quote=0.0, ret=0.0))
    clock.now = int(candles.ts[-1]) + H

    life.review(lambda _s: candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("s1")
    if exit_slip == 1.0:  # the same trades as the backtest: no drift, on to a person
        assert rec.status == "awaiting_approval"
        return
    assert rec.status == "backtested"
    assert rec.history[-1].reason.startswith("drift: ")
    assert "exit" in rec.history[-1].reason
    assert _alerts(events, "warning")[-1].key == "drift:s1"
    life.review(lambda _s: candles, runner_active=True, regime_of=lambda _s: None)
    assert store.get("s1").status == "backtested", "a demoted strategy waits for a person"


def test_without_a_runner_the_dry_run_is_a_forward_backtest_on_new_bars(store, clock, events, btc_1h) -> None:
    candles = btc_1h.slice(len(btc_1h) - 3000, len(btc_1h))
    clock.now = int(candles.ts[2500])
    life = _life(store, clock, events, min_dry_run_trades=0)
    store.add(make_record("s1", status="dry_run"))
    clock.now = int(candles.ts[-1]) + H

    life.review(lambda _s: candles, runner_active=False, regime_of=lambda _s: None)

    figures = store.get("s1").performance.dry_run
    assert figures["source"] == "forward_backtest"
    assert figures["bars"] == 500
    assert np.isfinite(figures["total_return"])


def test_a_strategy_filed_just_before_a_crash_is_picked_up(store, clock, events) -> None:
    store.add(make_record("s1", status="generated"))

    _life(store, clock, events).review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("s1")
    assert rec.status == "dry_run"
    assert [h.to_status for h in rec.history] == ["generated", "backtested", "dry_run"]


def test_the_queue_for_dry_run_slots_is_bounded(store, clock, events) -> None:
    life = _life(store, clock, events, max_dry_run=2)
    for k in range(2):
        store.add(make_record(f"run{k}", status="dry_run"))
    for k, score in enumerate((0.5, 2.0, 1.0, 0.1)):
        store.add(make_record(f"q{k}", status="backtested", score=score))

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    assert {r.id for r in store.list("backtested")} == {"q1", "q2"}
    assert store.get("q3").status == "retired"
    assert "superseded" in store.get("q3").history[-1].reason


@pytest.mark.parametrize("mode", ["replay", "paper", "testnet", "live"])
def test_in_every_mode_a_failed_verdict_never_reaches_approval(store, clock, events, mode) -> None:
    life = _life(store, clock, events, mode=mode)
    store.add(make_record("weak", status="dry_run", passed=False))
    for k in (1, 5):
        store.record_trade_result("weak", _trade(clock.now + k * H, 0.003))
    clock.advance_hours(30)

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    assert store.get("weak").status == "retired"
    assert _alerts(events, "action") == []


@pytest.mark.parametrize("mode", ["replay", "paper"])
def test_a_failed_verdict_never_starts_a_dry_run(store, clock, events, mode) -> None:
    life = _life(store, clock, events, mode=mode)
    store.add(make_record("weak", status="backtested", passed=False))

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("weak")
    assert rec.status == "rejected"
    assert "min_trades" in rec.history[-1].reason


def test_the_replay_demo_flag_marks_every_message_not_proven(store, clock, events) -> None:
    life = _life(store, clock, events, mode="replay", replay_demo_approvals=True)
    store.add(make_record("weak", status="backtested", passed=False))
    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)
    assert store.get("weak").status == "dry_run"
    for k in (1, 5):
        store.record_trade_result("weak", _trade(clock.now + k * H, 0.003))
    clock.advance_hours(30)

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("weak")
    assert rec.status == "awaiting_approval"
    assert all("DEMO — not proven" in h.reason for h in rec.history[-2:])
    ask = _alerts(events, "action")
    assert len(ask) == 1
    assert "DEMO — not proven" in ask[0].title
    assert "DEMO — not proven" in ask[0].text


def test_the_demo_flag_does_nothing_outside_replay(store, clock, events) -> None:
    life = _life(store, clock, events, mode="paper", replay_demo_approvals=True)
    store.add(make_record("weak", status="backtested", passed=False))
    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)
    assert store.get("weak").status == "rejected"


def test_a_dry_run_above_the_band_is_not_put_up_for_approval(store, clock, events) -> None:
    life = _life(store, clock, events)
    store.add(make_record("s1", status="dry_run"))
    store.record_trade_result("s1", _trade(clock.now + H, 0.5))
    store.record_trade_result("s1", _trade(clock.now + 10 * H, 0.5))
    clock.advance_hours(30)

    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("s1")
    assert rec.status == "retired"
    assert "above the backtest's band" in rec.history[-1].reason
    assert _alerts(events, "action") == []


def test_approval_needs_both_market_time_and_trades_by_default(store, clock, events) -> None:
    cfg = LifecycleConfig()
    life = Lifecycle(store, cfg, "paper", events.append, clock.now_ms, H)
    store.add(make_record("s1", status="dry_run"))
    for k in range(cfg.min_dry_run_trades):
        store.record_trade_result("s1", _trade(clock.now + (k + 1) * H, 0.0005))
    clock.advance_hours(cfg.min_dry_run_hours - 1)
    life.review(_no_candles, runner_active=True, regime_of=lambda _s: None)
    assert store.get("s1").status == "dry_run", "enough trades but not enough market time"
    assert cfg.min_dry_run_hours >= 14 * 24
    assert cfg.min_dry_run_trades >= 10


def test_entries_a_guard_refused_are_not_drift(store, clock, events, btc_1h) -> None:
    candles = btc_1h.slice(len(btc_1h) - 3000, len(btc_1h))
    start_ms = int(candles.ts[2000])
    clock.now = start_ms
    life = _life(store, clock, events, min_dry_run_trades=1)
    store.add(make_record("s1", status="dry_run"))
    expected = [t for t in backtest_window_trades(store.get("s1").spec, candles, start_ms, int(candles.ts[-1]) + 1)
                if not t.open_at_end]
    assert len(expected) >= 4, "the test needs a strategy that trades in the window"
    for i, t in enumerate(expected):
        if i % 2:  # the per-symbol cap (shared by every strategy) refused this entry
            store.record_refused("s1", t.entry_ts, t.side, "risk: max_position_per_symbol")
            continue
        store.record_trade_result("s1", ClosedTrade(
            mode="dry_run", symbol="BTC/USDT", side=t.side, entry_ts=t.entry_ts, exit_ts=t.exit_ts,  # type: ignore
            entry_price=t.entry_price, exit_price=t.exit_price, qty_base=1.0, pnl_quote=0.0, ret=0.0))
    clock.now = int(candles.ts[-1]) + H

    life.review(lambda _s: candles, runner_active=True, regime_of=lambda _s: None)

    rec = store.get("s1")
    assert rec.status != "backtested"
    assert not [e for e in events if getattr(e, "key", "") == "drift:s1"]
    assert f"{len(expected) // 2} refused by a guard" in life.last_drift["s1"]
