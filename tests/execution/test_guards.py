"""Risk guards: every refusal reason, the peak-drawdown kill switch, and random streams that never breach."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.risk.guards import Refusal
from src.risk.kill_switch import KillSwitch
from src.state.control import Controller, HoldKind
from tests.execution.conftest import HOUR_MS, candle, intent, make_ctx
from tests.rig import Execution
from tests.rig import build_ex as build_execution

T0 = 1_700_000_000_000 // HOUR_MS * HOUR_MS


def build(root: Path, risk: dict | None = None, closes: dict[str, np.ndarray] | None = None) -> tuple:
    """A real execution stack on ``root`` whose cache and paper engine know ``closes`` per symbol."""
    ctx = make_ctx(root, {"risk": risk or {}, "paper": {"candle_spread_bps": 0, "candle_impact_bps": 0}})
    ex = build_execution(ctx, ledger_fsync=False)
    rng = np.random.default_rng(1)
    closes = closes or {"BTC/USDT": 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))}
    cache = ctx.services["market_cache"]
    for sym, px in closes.items():
        for k, c in enumerate(px):
            cache.series(sym).append(T0 + k * HOUR_MS, c, c * 1.001, c * 0.999, c, 1e6)
        ex.paper.on_event(candle(float(px[-1]), T0 + (len(px) - 1) * HOUR_MS, symbol=sym, volume=1e6))
    ctx.clock.advance_to(T0 + len(next(iter(closes.values()))) * HOUR_MS)
    return ctx, ex


def check(ex: Execution, side: str = "buy", qty: float = 1.0, symbol: str = "BTC/USDT", leverage: float = 1.0,
          **kw: object):
    return ex.guards.check(intent(side, qty, symbol, **kw), ex.router.price(symbol), leverage)  # type: ignore[arg-type]


def test_an_ordinary_entry_passes_and_is_counted(tmp_path: Path) -> None:
    _, ex = build(tmp_path)
    d = check(ex, qty=1.0)  # ~100 notional, far below every cap
    assert d.allowed
    assert d.qty_base == pytest.approx(1.0)
    assert d.shrunk_by == ()
    assert ex.guards.describe()["allowed"] == 1


def test_position_cap_shrinks_an_oversized_entry(tmp_path: Path) -> None:
    _, ex = build(tmp_path, {"max_position_fraction": 0.1})
    price = ex.router.price("BTC/USDT")
    d = check(ex, qty=50.0)
    assert d.allowed
    assert Refusal.POSITION_LIMIT in d.shrunk_by
    assert d.qty_base * price == pytest.approx(0.1 * ex.portfolio.equity_quote())


@pytest.mark.parametrize(("kind", "expected"), [("person", Refusal.PAUSED), ("reconcile", Refusal.PAUSED),
                                            ("safety_file", Refusal.HALTED)])
def test_control_state_refuses_entries_but_never_exits(tmp_path: Path, kind: HoldKind, expected: Refusal) -> None:
    ctx, ex = build(tmp_path)
    control: Controller = ctx.services["control"]
    control.hold(kind, "tester", "test")
    assert check(ex).reason is expected
    exit_d = ex.guards.check(intent("sell", 3.0, purpose="exit", reduce_only=True), 100.0, held_base=2.0)
    assert exit_d.allowed
    assert exit_d.qty_base == pytest.approx(2.0)
    assert ex.guards.describe()["refused"] == {expected.value: 1}


def test_stale_data_and_the_integrity_gate_refuse_entries(tmp_path: Path) -> None:
    from ai_brain.data.data_integrity_monitor import DataIntegrityMonitor

    ctx, ex = build(tmp_path)
    gate = DataIntegrityMonitor(ctx)  # the real gate: a symbol it has not validated yet is BLOCKED
    ctx.services["data_gate"] = gate
    assert not gate.allows_entry("BTC/USDT")
    assert check(ex).reason is Refusal.DATA_BLOCKED
    assert ex.guards.check(intent("sell", 1.0, purpose="exit", reduce_only=True), 100.0, held_base=1.0).allowed
    del ctx.services["data_gate"]
    ctx.clock.advance_to(ctx.clock.now_ms() + 10 * HOUR_MS)
    assert check(ex).reason is Refusal.DATA_STALE


def test_leverage_and_liquidation_distance(tmp_path: Path) -> None:
    _, ex = build(tmp_path, {"max_leverage": 20, "min_liquidation_distance": 0.1})
    assert check(ex, leverage=5.0, market="perp").allowed  # liquidation ~19.5% away
    assert check(ex, leverage=10.0, market="perp").reason is Refusal.LIQUIDATION_DISTANCE
    assert check(ex, leverage=25.0, market="perp").reason is Refusal.LEVERAGE


def test_correlated_entry_is_shrunk_or_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    closes = {"BTC/USDT": base, "ETH/USDT": base / 30 * np.exp(rng.normal(0, 1e-4, 200))}
    for action in ("shrink", "refuse"):
        root = tmp_path / action
        _, ex = build(root, {"correlation_action": action, "max_position_fraction": 1.0,
                             "max_strategy_allocation_fraction": 1.0}, closes)
        asyncio.run(ex.router.submit(intent("buy", 10.0), "testing"))
        assert ex.guards.correlation("ETH/USDT", "BTC/USDT") > 0.99
        d = check(ex, qty=10.0, symbol="ETH/USDT", strategy="s2")
        if action == "shrink":
            assert d.allowed
            assert Refusal.CORRELATION in d.shrunk_by
            assert d.qty_base == pytest.approx(5.0)
        else:
            assert d.reason is Refusal.CORRELATION
        assert check(ex, side="sell", qty=10.0, symbol="ETH/USDT", strategy="s2", market="perp").allowed


def _closed_trade(ex: Execution, net: float, exit_ms: int, strategy: str = "s1") -> None:
    ex.ledger.append(kind="trade", ts_ms=exit_ms, strategy_id=strategy, symbol="BTC/USDT",
                     data={"net_quote": net, "exit_ms": exit_ms})


def test_cooldowns_after_a_loss_and_after_a_losing_streak(tmp_path: Path) -> None:
    ctx, ex = build(tmp_path, {"cooldown_after_loss_minutes": 60, "max_consecutive_losses": 3,
                               "cooldown_after_streak_minutes": 600})
    now = ctx.clock.now_ms()
    _closed_trade(ex, -5.0, now - 30 * 60_000)
    assert check(ex).reason is Refusal.COOLDOWN_LOSS
    assert check(ex, strategy="other").allowed
    _closed_trade(ex, -5.0, now - 90 * 60_000 + 1)
    _closed_trade(ex, -5.0, now - 90 * 60_000 + 2)
    ctx.clock.advance_to(now + 60 * 60_000)  # the single-loss cooldown has passed, the streak one has not
    for sym in ("BTC/USDT",):
        ctx.services["market_cache"].series(sym).append(now, 100, 101, 99, 100, 1e6)
    assert check(ex).reason is Refusal.COOLDOWN_STREAK


def test_kelly_refuses_a_negative_edge_and_caps_a_positive_one(tmp_path: Path) -> None:
    _, ex = build(tmp_path, {"kelly_min_trades": 4, "kelly_fraction": 0.5, "max_position_fraction": 5,
                             "max_strategy_allocation_fraction": 5, "max_total_exposure_fraction": 5,
                             "cooldown_after_loss_minutes": 0, "max_consecutive_losses": 99})
    for k, net in enumerate([10.0, -20.0, 10.0, -20.0]):  # p=0.5, b=0.5 → Kelly −0.5
        _closed_trade(ex, net, k, "loser")
    assert check(ex, strategy="loser").reason is Refusal.NEGATIVE_EDGE
    for k, net in enumerate([30.0, -10.0, 30.0, -10.0]):  # p=0.5, b=3 → Kelly 1/3, half of it 1/6
        _closed_trade(ex, net, k, "winner")
    d = check(ex, qty=1000.0, strategy="winner")
    assert Refusal.KELLY_CAP in d.shrunk_by
    assert d.qty_base * ex.router.price("BTC/USDT") == pytest.approx(ex.portfolio.equity_quote() / 6)


def test_kill_switch_measures_from_peak_persists_and_only_a_person_resumes(tmp_path: Path) -> None:
    ctx, ex = build(tmp_path, {"max_drawdown_fraction": 0.2, "daily_loss_limit_fraction": 0.9})
    alerts = []
    ctx.bus.subscribe("t", lambda _ev: None)
    ks = ex.kill
    ks._publish = alerts.append
    for eq in (10_000, 15_000, 12_100):  # 19.3% below the 15k peak, +21% from the start
        ks.update(eq, T0)
    assert not ks.state.tripped
    ks.update(11_900, T0 + 1)  # 20.7% below peak
    assert ks.state.tripped
    assert ctx.services["control"].state.halted
    assert alerts[-1].level == "critical"
    assert alerts[-1].key == "kill_switch"
    assert check(ex).reason is Refusal.KILL_SWITCH
    # a restart keeps the halt
    control2 = Controller(ctx.store)
    ks2 = KillSwitch(ctx.config.risk, ctx.store, control2, alerts.append)
    ks2.update(12_500, T0 + 2)
    assert ks2.state.tripped
    assert control2.state.halted
    assert not control2.resume("person")[0]  # a plain resume does not lift the kill switch
    ks2.update(12_500, T0 + 3)
    assert ks2.state.tripped
    assert control2.state.halted
    assert control2.release("kill_switch", "person")[0]
    ks2.update(12_500, T0 + 4)
    assert not ks2.state.tripped
    assert ks2.state.peak_equity_quote == 12_500


def test_daily_loss_limit_blocks_entries_until_the_next_utc_day(tmp_path: Path) -> None:
    ctx, ex = build(tmp_path, {"daily_loss_limit_fraction": 0.05, "max_drawdown_fraction": 0.5})
    now = ctx.clock.now_ms()
    ex.kill.update(10_000, now)
    ex.kill.update(9_400, now + 1)
    assert check(ex).reason is Refusal.DAILY_LOSS
    assert not ctx.services["control"].state.halted


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.lists(st.tuples(st.sampled_from(["BTC/USDT", "ETH/USDT"]), st.sampled_from(["buy", "sell"]),
                                 st.floats(0.01, 500.0), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30))
def test_random_order_streams_never_breach_the_limits(tmp_path_factory, stream) -> None:
    root = tmp_path_factory.mktemp("guards")
    rng = np.random.default_rng(5)
    closes = {"BTC/USDT": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 150))),
              "ETH/USDT": 20 * np.exp(np.cumsum(rng.normal(0, 0.01, 150)))}
    risk = {"max_position_fraction": 0.3, "max_total_exposure_fraction": 0.5,
            "max_strategy_allocation_fraction": 0.25, "correlation_threshold": 0.99}
    _, ex = build(root, risk, closes)
    asyncio.run(_submit_all(ex, stream))


async def _submit_all(ex: Execution, stream: list[tuple[str, str, float, str]]) -> None:
    for k, (symbol, side, qty, strategy) in enumerate(stream):
        market = "perp" if side == "sell" else "spot"
        await ex.router.submit(intent(side, qty, symbol, market=market, strategy=strategy, seq=k), "testing")
        equity = ex.portfolio.equity_quote()
        by_symbol = ex.portfolio.notional_by_symbol()
        slack = 1.0 + 0.01  # fees paid after the check lower equity a little
        assert all(abs(v) <= 0.3 * equity * slack for v in by_symbol.values())
        assert sum(abs(v) for v in by_symbol.values()) <= 0.5 * equity * slack
        assert all(v <= 0.25 * equity * slack for v in ex.portfolio.notional_by_strategy().values())
