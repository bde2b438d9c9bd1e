"""Wiring: which parts exist per mode, and that orders and market data share one request budget."""

from __future__ import annotations

from pathlib import Path

from src.app.main import build_context
from src.app.supervisor import Supervisor
from src.app.wiring import assemble
from src.config import parse_config
from src.config.market import ExchangeConfig
from src.config.secrets import Secrets
from src.core.clock import Clock, MarketClock
from src.exchange.clients import ExchangeClients
from src.execution.live_ccxt import LiveSettings, LiveVenue
from src.execution.reconcile import LiveTruth, VenueTruth
from src.orders.order_store import OrderStore
from src.state.store import StateStore
from tests.execution_live.test_live_venue import intent
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrders


async def test_orders_and_market_data_draw_on_one_budget(fake: FakeBinance, orders_fake: FakeOrders,
                                                         tmp_path: Path) -> None:
    cfg = ExchangeConfig(api_base_url=fake.base_url, timeout_ms=2_000)
    registry = ExchangeClients(cfg, Secrets(exchange_api_key="k", exchange_api_secret="s"), mode="live")
    try:
        spot = registry.spot
        venue = LiveVenue(spot, None, OrderStore(StateStore(tmp_path), now_ms=lambda: 1), publish=lambda _e: None,
                          now_ms=lambda: 1, settings=LiveSettings(resend_backoff_s=0.0))
        await spot.fetch_ticker("BTC/USDT")  # a market-data read
        before = spot.budget.requests  # type: ignore[union-attr]
        await venue.submit(intent())
        assert spot.budget.requests > before
        assert venue.spot is registry.spot
        assert spot.budget.used() >= spot.budget.requests  # type: ignore[union-attr]  # weights, not just counts
    finally:
        await registry.close()


def _assembled(tmp_path: Path, data: dict) -> tuple:
    cfg = parse_config(data)
    clock: Clock = MarketClock() if cfg.mode == "replay" else Clock()
    ctx = build_context(cfg, Secrets(), tmp_path, clock)
    supervisor = Supervisor(ctx)
    services = assemble(ctx, supervisor)
    return ctx, services


async def test_replay_wires_a_paper_reconciler_and_no_live_venue(tmp_path: Path) -> None:
    ctx, s = _assembled(tmp_path, {"mode": "replay", "funding": {"enabled": True}})

    assert s.live_venue is None
    assert s.exchange is None
    assert isinstance(s.live.reconciler.source, VenueTruth)
    assert "ack_reconcile" in s.commands.names()
    assert s.live.carry is not None
    assert s.live.carry.symbols == ("BTC/USDT",)
    assert s.tick.deciders == [s.execution.runner, s.live.carry]  # the carry decides after the runner
    assert {"reconcile", "funding_carry"} <= set(ctx.status.providers)


async def test_live_mode_wires_the_live_venue_behind_the_router(tmp_path: Path, fake: FakeBinance) -> None:
    _ctx, s = _assembled(tmp_path, {"mode": "live", "exchange": {"api_base_url": fake.base_url}})
    try:
        venue = s.live_venue
        assert isinstance(venue, LiveVenue)
        assert venue.name == "live"
        assert s.exchange is not None
        assert venue.spot is s.exchange.spot
        assert isinstance(s.live.reconciler.source, LiveTruth)
        assert venue.entry_gate is s.live.reconciler.ready
        assert not venue.entry_gate.is_set()
        assert s.live.carry is None  # off by default
        router = s.execution.router
        assert router.venue_for("live") is not venue  # the double gate: no go-live confirmation yet
    finally:
        if s.exchange is not None:
            await s.exchange.close()
