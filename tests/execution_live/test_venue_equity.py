"""Equity per venue: live equity is the exchange's spot wallet plus the futures margin balance (with
unrealized P&L), and the paper wallet never mixes into it."""

from __future__ import annotations

import pytest

from tests.execution_live.conftest import VenueHarness
from tests.execution_live.test_live_venue import intent
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrders


async def test_a_losing_perp_short_lowers_live_equity(harness: VenueHarness, orders_fake: FakeOrders,
                                                     fake: FakeBinance) -> None:
    venue = harness.venue()
    venue._ref_price = lambda _s: float(fake.tickers["BTCUSDT"]["lastPrice"])
    orders_fake.fake.futures_wallet["USDT"] = 5_000.0
    rec = await venue.submit(intent(side="sell", qty=1.0, market="perp"))  # short 1 BTC at 50,000
    assert rec.status == "filled"
    await venue.balances()
    before = venue.equity_quote()
    spot_value = sum(t for t, _ in fake.balances.values())  # USDT only: BTC is 0
    commission = orders_fake.commission_rate * 50_000.0  # the perp fill's fee comes out of the futures wallet
    assert before == pytest.approx(spot_value + 5_000.0 - commission)
    fake.tickers["BTCUSDT"] = {**fake.tickers["BTCUSDT"], "lastPrice": "51500.00"}  # the short loses 1,500
    await venue.balances()
    assert venue.equity_quote() == pytest.approx(before - 1_500.0)


async def test_live_mode_measures_risk_on_the_live_account_and_dry_runs_on_paper(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, tmp_path) -> None:
    from src.app.wire_execution import build_execution
    from tests.execution.conftest import intent as paper_intent
    from tests.execution.conftest import make_ctx

    fake.balances = {"USDT": (1_000.0, 0.0)}  # a small real wallet beside the 10,000 paper one
    venue = harness.venue(futures=False)
    await venue.balances()
    risk = {"max_position_fraction": 0.5, "max_strategy_allocation_fraction": 1.0, "max_total_exposure_fraction": 1.0}
    ctx = make_ctx(tmp_path / "bot", {"mode": "live", "risk": risk})
    s = ctx.services
    ex = build_execution(ctx, s["control"], s["market_cache"], live=venue, ledger_fsync=False)
    assert ex.portfolio.equity_quote() == pytest.approx(1_000.0)  # the kill switch's equity: real money only
    assert ex.portfolio.equity_quote("paper") == pytest.approx(ex.paper.equity_quote())
    big = paper_intent("buy", 1.0)  # 1 BTC at 50,000: far above either cap
    ts = 1_700_000_000_000
    s["market_cache"].series("BTC/USDT").append(ts, 50_000.0, 50_001.0, 49_999.0, 50_000.0, 1e6)
    ctx.clock.advance_to(ts + 3_600_000)
    live_cap = ex.guards.check(big, 50_000.0, venue="live")
    paper_cap = ex.guards.check(big, 50_000.0, venue="paper")
    assert live_cap.qty_base * 50_000.0 == pytest.approx(0.5 * 1_000.0)
    assert paper_cap.qty_base * 50_000.0 == pytest.approx(0.5 * ex.paper.equity_quote())


async def test_an_unread_exchange_wallet_is_not_a_100_percent_drawdown(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, tmp_path) -> None:
    """After a restart the runner closes bars before the first balance read: equity is unknown, not 0."""
    from src.app.wire_execution import build_execution
    from tests.execution.conftest import candle, make_ctx

    venue = harness.venue(futures=False)
    ctx = make_ctx(tmp_path / "bot", {"mode": "live"})
    s = ctx.services
    ex = build_execution(ctx, s["control"], s["market_cache"], live=venue, ledger_fsync=False)
    ex.kill.update(100_000.0, 0)  # the peak the previous run recorded
    ts = 1_700_000_000_000
    s["market_cache"].series("BTC/USDT").append(ts, 50_000.0, 50_001.0, 49_999.0, 50_000.0, 1e6)

    await ex.runner.on_event(candle(50_000.0, ts))  # no balances read yet

    assert not ex.kill.state.tripped, ex.kill.state.tripped_reason
    assert not s["control"].state.halted
    await venue.balances()
    await ex.runner.on_event(candle(50_000.0, ts + 3_600_000))
    assert ex.portfolio.equity_known()
    assert ex.portfolio.curve[-1][1] == pytest.approx(venue.equity_quote())  # known now: marked and watched
