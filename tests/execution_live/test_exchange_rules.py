"""The live venue against the fake exchange's unkind rules: reused client ids, lagging reads, fees in
the base asset, balances, clock drift, futures account set-up and key permissions."""

from __future__ import annotations

import asyncio

import pytest

from src.config.market import ExchangeConfig
from src.core.events import Alert
from src.exchange.binance import ExchangeClient, build_exchange
from src.exchange.errors import ClockOutOfSync
from src.exchange.retry import RetryPolicy
from src.execution.account_preflight import AccountPreflight, PreflightRefused, run_preflight
from src.execution.live_ccxt import LiveSettings
from tests.execution_live.conftest import VenueHarness
from tests.execution_live.test_live_venue import intent
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import SPOT, FakeOrders

LAG_S = 3.0


# ----------------------------------------------------------------- defect 3: lost answers, lagging reads
async def test_lost_answer_with_lagging_reads_makes_one_order(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    orders_fake.lookup_lag_s = LAG_S  # reads miss the order for 3 s; its id is reusable once it filled
    orders_fake.after_accept(status=500)
    venue = harness.venue(settings=LiveSettings(lookup_window_s=10.0, lookup_interval_s=1.0))

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert orders_fake.created(rec.intent.client_order_id) == 1
    assert orders_fake.posts() == 1
    assert len(harness.fills()) == 1


async def test_a_window_shorter_than_the_lag_would_duplicate(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    """The fake really behaves like Binance: a filled order's client id is accepted again."""
    orders_fake.lookup_lag_s = LAG_S
    orders_fake.after_accept(status=500)
    venue = harness.venue(settings=LiveSettings(lookup_window_s=1.0, lookup_interval_s=0.5))

    rec = await venue.submit(intent())

    assert orders_fake.created(rec.intent.client_order_id) == 2  # why lookup_window_s must exceed the lag


async def test_a_fill_nobody_claims_blocks_the_resend_and_alerts(harness: VenueHarness, orders_fake: FakeOrders,
                                                                 fake: FakeBinance) -> None:
    venue = harness.venue(settings=LiveSettings(lookup_window_s=2.0, lookup_interval_s=1.0))
    stray = orders_fake._create(SPOT, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
                                       "newClientOrderId": "someone-else"})  # e.g. an order under another id
    assert stray.status == "FILLED"
    fake.fault(f"{SPOT}/order", status=503, body="down")  # our POST is refused before acceptance

    rec = await venue.submit(intent())

    assert rec.status == "new"
    assert venue.orders.get(rec.intent.client_order_id).outcome_unknown
    assert orders_fake.posts() == 1  # not re-sent: the trade list holds a buy no order of ours explains
    assert any(isinstance(e, Alert) and "ambiguous" in e.title for e in harness.events)


# ----------------------------------------------------------------- defect 4: fees in the base asset
async def test_exit_after_a_buy_charged_in_base_sells_what_was_received(harness: VenueHarness,
                                                                        orders_fake: FakeOrders,
                                                                        fake: FakeBinance) -> None:
    venue = harness.venue()
    bought = await venue.submit(intent(0, qty=0.02))
    assert bought.received_qty_base == pytest.approx(0.02 * 0.999)  # 0.01998 BTC arrived

    sold = await venue.submit(intent(1, side="sell", qty=0.02, purpose="exit"))  # what a naive runner asks

    assert sold.status == "filled", sold.reason  # capped to the free balance, not -2010
    assert sold.filled_qty_base == pytest.approx(0.01998)
    assert fake.balances["BTC"][0] == pytest.approx(0.0, abs=1e-12)


async def test_fee_asset_is_read_from_the_trades_when_the_answer_was_lost(harness: VenueHarness,
                                                                          orders_fake: FakeOrders,
                                                                          fake: FakeBinance) -> None:
    orders_fake.after_accept(status=500)  # no fills in hand: only a lookup, which carries no commission
    venue = harness.venue()

    rec = await venue.submit(intent(qty=0.02))

    assert rec.status == "filled"
    assert rec.received_qty_base == pytest.approx(0.01998)
    assert fake.count(f"{SPOT}/myTrades") >= 1
    (line,) = harness.ledger.entries()
    assert line.deltas["BTC"] == pytest.approx(fake.balances["BTC"][0])  # the ledger matches the wallet


async def test_a_sell_with_no_free_balance_is_refused_by_us(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()

    rec = await venue.submit(intent(side="sell", purpose="exit"))

    assert rec.status == "rejected"
    assert "insufficient_funds" in rec.reason
    assert orders_fake.posts() == 0


# ----------------------------------------------------------------- defect 9: clock drift
def _client(fake: FakeBinance, alerts: list[Alert], exchange_id: str = "binance") -> ExchangeClient:
    ex = build_exchange(exchange_id, api_base_url=fake.base_url, timeout_ms=2_000, api_key="k", secret="s")
    return ExchangeClient(ex, policy=RetryPolicy(5, 0.01, 0.02, 0.1), alert=alerts.append)


async def test_a_clock_running_ahead_is_synced_with_the_server(harness: VenueHarness, orders_fake: FakeOrders,
                                                               fake: FakeBinance) -> None:
    fake.server_offset_ms = -5_000  # our clock is 5 s ahead of Binance's: every signed call would be -1021
    venue = harness.venue()

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert fake.recv_window_rejects == 0


async def test_drift_after_start_is_resynced_once(fake: FakeBinance) -> None:
    alerts: list[Alert] = []
    client = _client(fake, alerts)
    try:
        await client.load_markets()
        fake.server_offset_ms = -5_000  # the host clock jumps ahead after the start-up sync

        balances = await client.fetch_balance()

        assert "USDT" in balances
        assert fake.recv_window_rejects == 1
        assert alerts == []
    finally:
        await client.close()


async def test_a_persistent_timestamp_error_is_an_action_alert_not_retried(fake: FakeBinance) -> None:
    alerts: list[Alert] = []
    client = _client(fake, alerts)
    refusal = '{"code":-1021,"msg":"Timestamp for this request was 1000ms ahead of the server\'s time."}'
    try:
        await client.load_markets()
        fake.fault("/api/v3/account", status=400, body=refusal, times=50)

        with pytest.raises(ClockOutOfSync):
            await client.fetch_balance()

        assert fake.count("/api/v3/account") == 2  # the call, one re-sync and one retry: never forever
        assert [a.level for a in alerts] == ["action"]
        assert "clock" in alerts[0].title
    finally:
        await client.close()


# ----------------------------------------------------------------- defect 7 and key permissions
async def _preflight(fake: FakeBinance, cfg: ExchangeConfig, mode: str = "live"):
    alerts: list[Alert] = []
    spot, fut = _client(fake, alerts), _client(fake, alerts, "binanceusdm")
    try:
        return await run_preflight(spot, fut, cfg, mode, ["BTC/USDT", "ETH/USDT"]), fut
    finally:
        await spot.close()
        await fut.close()


async def test_start_up_sets_leverage_and_margin_and_reads_funding_intervals(fake: FakeBinance) -> None:
    fake.funding_interval_hours = {"ETHUSDT": 4}
    cfg = ExchangeConfig(leverage={"BTC/USDT": 3}, default_leverage=2, margin_mode="isolated")

    report, fut = await _preflight(fake, cfg)

    assert fake.leverage == {"BTCUSDT": 3, "ETHUSDT": 2}
    assert fake.margin_type == {"BTCUSDT": "ISOLATED", "ETHUSDT": "ISOLATED"}
    assert report.funding_hours == {"BTC/USDT": 8.0, "ETH/USDT": 4.0}
    assert fut.funding_hours["ETH/USDT:USDT"] == 4.0  # funding snapshots use it from now on
    assert report.warnings == []


async def test_margin_mode_already_set_is_fine(fake: FakeBinance) -> None:
    fake.margin_type = {"BTCUSDT": "CROSSED", "ETHUSDT": "CROSSED"}  # -4046 "No need to change margin type."

    report, _ = await _preflight(fake, ExchangeConfig(margin_mode="cross"))

    assert report.margin_mode == "cross"


async def test_hedge_mode_is_refused_with_one_line(fake: FakeBinance) -> None:
    fake.dual_side_position = True

    with pytest.raises(PreflightRefused, match="hedge mode"):
        await _preflight(fake, ExchangeConfig())


async def test_a_key_that_can_withdraw_is_refused(fake: FakeBinance) -> None:
    fake.api_restrictions["enableWithdrawals"] = True

    with pytest.raises(PreflightRefused, match="can withdraw"):
        await _preflight(fake, ExchangeConfig())


async def test_a_key_without_ip_restriction_is_a_warning(fake: FakeBinance) -> None:
    fake.api_restrictions["ipRestrict"] = False

    report, _ = await _preflight(fake, ExchangeConfig())

    assert len(report.warnings) == 1
    assert "IP-restricted" in report.warnings[0]


async def test_testnet_skips_the_key_check(fake: FakeBinance) -> None:
    fake.api_restrictions["enableWithdrawals"] = True  # the demo hosts have no sapi endpoint to ask

    await _preflight(fake, ExchangeConfig(), mode="testnet")

    assert fake.count("/sapi/v1/account/apiRestrictions") == 0


async def test_a_refusal_keeps_entries_shut_and_halts(harness: VenueHarness, orders_fake: FakeOrders,
                                                      fake: FakeBinance) -> None:
    fake.api_restrictions["enableWithdrawals"] = True
    venue = harness.venue()
    venue.account_gate = asyncio.Event()
    halts: list[str] = []

    async def check():
        return await run_preflight(venue.spot, venue.futures, ExchangeConfig(), "live", ["BTC/USDT"])

    component = AccountPreflight(check, venue.account_gate, halt=halts.append, publish=harness.events.append,
                                 now_ms=harness.time.now_ms)
    await component.run()
    refused = await venue.submit(intent())

    assert not venue.account_gate.is_set()
    assert len(halts) == 1
    assert "withdraw" in halts[0]
    assert refused.status == "rejected"
    assert orders_fake.posts() == 0
    assert any(isinstance(e, Alert) and e.level == "action" for e in harness.events)


def test_leverage_config_is_validated() -> None:
    with pytest.raises(ValueError, match=r"outside 1\.\.125"):
        ExchangeConfig(leverage={"BTC/USDT": 200})
