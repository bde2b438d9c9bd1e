"""The funding carry is a strategy like any other: filed with the lifecycle, trading only in the status it gives."""

from __future__ import annotations

from pathlib import Path

from src.funding.runner import STRATEGY_ID
from src.orders.interface import OrderIntent, client_order_id
from tests.execution_live.test_live_wiring import _assembled
from tests.fakes.fake_binance import FakeBinance


def _carry_entry() -> OrderIntent:
    return OrderIntent(client_order_id=client_order_id(STRATEGY_ID, "BTC/USDT|spot", 1, "entry"),
                       strategy_id=STRATEGY_ID, symbol="BTC/USDT", side="buy", qty_base=0.01, purpose="entry",
                       decision_ts_ms=1)


async def test_the_carry_is_filed_as_a_strategy_and_trades_on_paper_until_a_person_approves(
        tmp_path: Path, fake: FakeBinance) -> None:
    _ctx, s = _assembled(tmp_path, {"mode": "testnet", "exchange": {"api_base_url": fake.base_url},
                                   "funding": {"enabled": True, "symbols": ["BTC/USDT"]}})
    try:
        rec = s.strategies.get(STRATEGY_ID)
        assert rec.type == "funding_carry"
        assert rec.status == "dry_run"
        carry = s.live.carry
        assert carry is not None
        assert carry.port.current_status() == "dry_run"
        assert s.execution.router.venue_for(carry.port.current_status()) is s.execution.paper  # not the exchange
        # the strategy runner does not trade the carry's record a second time: the carry engine owns it
        assert STRATEGY_ID not in {t.spec.id for t in s.execution.runner._tradable_specs()}
        s.strategies.transition(STRATEGY_ID, "retired", "telegram:1", "not wanted")
        assert carry.port.current_status() == "retired"
        assert await carry.port.send(_carry_entry()) is None  # a retired carry opens nothing
    finally:
        if s.exchange is not None:
            await s.exchange.close()


async def test_restarting_keeps_the_status_a_person_gave_the_carry(tmp_path: Path, fake: FakeBinance) -> None:
    cfg = {"mode": "testnet", "exchange": {"api_base_url": fake.base_url},
           "funding": {"enabled": True, "symbols": ["BTC/USDT"]}}
    _, s = _assembled(tmp_path, cfg)
    s.strategies.transition(STRATEGY_ID, "awaiting_approval", "ai", "dry run long enough")
    await s.exchange.close()
    _, s2 = _assembled(tmp_path, cfg)
    try:
        assert s2.strategies.get(STRATEGY_ID).status == "awaiting_approval"
        assert s2.live.carry is not None
        assert s2.live.carry.port.current_status() == "awaiting_approval"
    finally:
        await s2.exchange.close()
