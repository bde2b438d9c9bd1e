"""Testnet = ccxt sandbox mode on the shared clients; the funding carry trading both legs on the fake exchange."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.config.market import ExchangeConfig
from src.config.secrets import Secrets
from src.core.events import CandleClosed, FundingRate
from src.exchange.clients import ExchangeClients
from src.funding.carry import CarryParams
from src.funding.runner import CarryRunner, VenuePort
from src.state.store import StateStore
from tests.execution_live.conftest import VenueHarness
from tests.fakes.fake_binance_orders import FUT, SPOT, FakeOrders

HOUR = 3_600_000
T0 = 1_704_067_200_000


def _signed_url(ex, path: str, api: str) -> str:
    """The URL ccxt really builds and signs for a private call (raises where ccxt refuses to sign)."""
    return ex.sign(path, [api], "GET", {})["url"]


async def test_testnet_trades_on_binance_demo_and_ccxt_signs_the_futures_calls() -> None:
    secrets = Secrets(exchange_api_key="live-key", exchange_api_secret="live-secret",
                      testnet_api_key="tn-key", testnet_api_secret="tn-secret")
    registry = ExchangeClients(ExchangeConfig(), secrets, mode="testnet")
    try:
        spot, fut = registry.spot.ex, registry.futures.ex  # type: ignore[union-attr]
        position_url = _signed_url(fut, "positionRisk", "fapiPrivateV3")  # the reconcile's position read
        assert position_url.startswith("https://demo-fapi.binance.com/fapi/v3/positionRisk?")
        assert "signature=" in position_url
        assert _signed_url(spot, "account", "private").startswith("https://demo-api.binance.com/api/v3/account?")
        assert spot.apiKey == "tn-key"
        assert fut.apiKey == "tn-key"
    finally:
        await registry.close()


async def test_spot_testnet_venue_has_no_futures_and_signs_spot_testnet_urls() -> None:
    secrets = Secrets(testnet_api_key="tn-key", testnet_api_secret="tn-secret")
    registry = ExchangeClients(ExchangeConfig(testnet_venue="spot_testnet"), secrets, mode="testnet")
    try:
        assert registry.futures is None  # ccxt no longer signs the futures testnet: spot only, said once
        url = _signed_url(registry.spot.ex, "account", "private")
        assert url.startswith("https://testnet.binance.vision/api/v3/account?")
    finally:
        await registry.close()


async def test_live_mode_never_uses_the_sandbox() -> None:
    registry = ExchangeClients(ExchangeConfig(), Secrets(exchange_api_key="k", exchange_api_secret="s"), mode="live")
    try:
        assert not registry.spot.ex.isSandboxModeEnabled
        assert registry.spot.ex.urls["api"]["private"].startswith("https://api.binance.com/")
    finally:
        await registry.close()


async def test_carry_enters_and_exits_with_both_legs_on_the_exchange(harness: VenueHarness,
                                                                      orders_fake: FakeOrders,
                                                                      tmp_path: Path) -> None:
    venue = harness.venue()
    price = 50_000.0
    params = CarryParams(lookback_periods=3)
    runner = CarryRunner(params, ("BTC/USDT",), VenuePort(venue), StateStore(tmp_path / "carry"),
                         spot_price=lambda _s: price, equity_quote=lambda: 10_000.0)

    for k, rate in enumerate([0.0003, 0.0004, 0.0003, 0.0002, -0.0002, -0.0003]):
        ts = T0 + (k + 1) * 8 * HOUR
        await runner.on_event(FundingRate("BTC/USDT", ts, rate))
        await runner.on_event(CandleClosed("BTC/USDT", "1h", ts - HOUR, price, price, price, price, 1.0))
        if k == 2:
            pos = runner.doc.positions["BTC/USDT"]
            # the spot leg holds what was received: Binance took the buy's fee in BTC
            assert pos.in_position
            assert pos.spot_qty == pytest.approx(pos.perp_qty * (1 - orders_fake.commission_rate))
            assert await venue.positions() == {"BTC/USDT": pytest.approx(-pos.perp_qty)}

    pos = runner.doc.positions["BTC/USDT"]
    assert not pos.in_position
    assert pos.carries == 1
    assert pos.pending == []
    assert orders_fake.posts(SPOT) == 2
    assert orders_fake.posts(FUT) == 2
    assert await venue.positions() == {}
    short = next(e.qty_base for e in harness.ledger.entries() if e.market == "perp" and e.side == "sell")
    # entered after the 3rd settlement, held over the 4th-6th, out after the 6th flipped the trailing mean
    assert pos.funding_quote == pytest.approx(short * price * (0.0002 - 0.0002 - 0.0003), rel=1e-9)
    lines = [e for e in harness.ledger.entries() if e.strategy_id == "funding_carry"]
    assert sorted((e.market, e.side) for e in lines) == [("perp", "buy"), ("perp", "sell"), ("spot", "buy"),
                                                         ("spot", "sell")]



async def test_perp_prices_come_from_the_futures_ticker_and_go_stale(harness: VenueHarness, fake) -> None:
    from src.funding.perp_prices import PerpPriceWatcher

    watcher = PerpPriceWatcher(harness.client("binanceusdm", 2_000), ("BTC/USDT",), harness.time.now_ms,
                               max_age_ms=60_000)
    assert watcher.price("BTC/USDT") is None  # never read: the carry holds

    await watcher.poll_once()
    assert watcher.price("BTC/USDT") == pytest.approx(50_000.0)
    assert fake.count("/fapi/v1/ticker/24hr") == 1

    harness.time.now += 61
    assert watcher.price("BTC/USDT") is None
