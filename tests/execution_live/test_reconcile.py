"""Reconciliation against the fake exchange (real ccxt) and against the paper engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ai_brain.paper.paper_trading_engine import PaperEngine
from src.config.execution import PaperConfig
from src.core.clock import MarketClock
from src.core.events import Alert, CandleClosed, Event, FundingRate
from src.exchange.errors import ExchangeUnavailable
from src.execution.reconcile import LiveTruth, Reconciler, ReconcileSettings, VenueTruth
from src.orders.interface import OrderIntent, client_order_id
from src.orders.ledger import Ledger
from src.state.control import Controller
from src.state.inbox import CommandRegistry
from src.state.store import StateStore
from tests.execution_live.conftest import VenueHarness
from tests.execution_live.test_live_venue import intent
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import SPOT, FakeOrders

SETTINGS = ReconcileSettings(interval_s=60.0, confirm_delay_s=1.0)


def make_reconciler(harness: VenueHarness, venue, control: Controller, registry: CommandRegistry) -> Reconciler:
    truth = LiveTruth(venue, ["BTC/USDT"], ["BTC/USDT"])
    rec = Reconciler(truth, store=StateStore(harness.root / "state"), ledger=harness.ledger, control=control,
                     publish=harness.events.append, now_ms=harness.time.now_ms, settings=SETTINGS,
                     sleep=harness.time.sleep)
    rec.register_commands(registry)
    return rec


def alerts(events: list[Event]) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert)]


@pytest.fixture
def control(tmp_path: Path) -> Controller:
    return Controller(StateStore(tmp_path / "state"))


async def test_own_trading_reconciles_clean(harness: VenueHarness, orders_fake: FakeOrders,
                                            control: Controller) -> None:
    venue = harness.venue()
    rec = make_reconciler(harness, venue, control, CommandRegistry())
    first = await rec.reconcile_once()
    await venue.submit(intent(0))
    await venue.submit(intent(1, side="sell", market="perp"))
    resting = await venue.submit(intent(2, type_="limit", price=49_000.0))
    orders_fake.fill(resting.intent.client_order_id, 0.004)  # fills while nobody looks: prepare() records it

    report = await rec.reconcile_once()

    assert first.baseline_adopted
    assert report.differences == []
    assert not report.paused
    assert control.state.entries_allowed
    assert venue.orders.get(resting.intent.client_order_id).record.filled_qty_base == pytest.approx(0.004)


async def test_foreign_order_and_balance_change_pause_until_acknowledged(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, control: Controller) -> None:
    venue = harness.venue()
    registry = CommandRegistry()
    rec = make_reconciler(harness, venue, control, registry)
    await rec.reconcile_once()
    await venue.submit(intent(0))
    orders_fake._create(SPOT, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.002",
                               "price": "51000", "newClientOrderId": "web_manual_1"})  # a person, on the website
    free, locked = fake.balances["USDT"]
    fake.balances["USDT"] = (free - 2_500.0, locked)  # ... and a withdrawal

    report = await rec.reconcile_once()

    keys = sorted(d.key for d in report.material)
    assert keys == ["balance:USDT", "order-unknown:web_manual_1"]
    assert report.paused
    assert not control.state.entries_allowed
    assert control.state.holds["reconcile"].by == "reconcile"
    assert {a.key for a in alerts(harness.events) if a.level == "action"} == {
        "reconcile:balance:USDT", "reconcile:order-unknown:web_manual_1"}
    adopted = venue.orders.get("web_manual_1")
    assert adopted is not None
    assert adopted.record.intent.manual
    assert adopted.record.status == "open"

    again = await rec.reconcile_once()  # truth adopted: nothing new, still waiting for a person
    assert again.differences == []
    assert rec.state.pending_ack
    assert not control.state.entries_allowed

    ok, message, data = await registry.execute("ack_reconcile", {}, "tg:42")
    assert ok
    assert "now active" in message
    assert len(data["differences"]) == 2
    assert control.state.entries_allowed
    assert not rec.state.pending_ack


async def test_reconcile_state_and_pause_survive_a_restart(harness: VenueHarness, orders_fake: FakeOrders,
                                                           fake: FakeBinance, control: Controller) -> None:
    venue = harness.venue()
    await make_reconciler(harness, venue, control, CommandRegistry()).reconcile_once()
    fake.balances["BTC"] = (0.5, 0.0)  # BTC appears from nowhere
    await make_reconciler(harness, venue, control, CommandRegistry()).reconcile_once()

    registry = CommandRegistry()
    restarted = make_reconciler(harness, harness.venue(), Controller(StateStore(harness.root / "state")), registry)

    assert restarted.state.pending_ack
    assert restarted.control.state.paused
    assert (await restarted.reconcile_once()).differences == []


async def test_ack_never_lifts_a_kill_switch_halt(harness: VenueHarness, orders_fake: FakeOrders,
                                                  fake: FakeBinance, control: Controller) -> None:
    registry = CommandRegistry()
    rec = make_reconciler(harness, harness.venue(), control, registry)
    await rec.reconcile_once()
    fake.balances["USDT"] = (1.0, 0.0)
    await rec.reconcile_once()
    control.hold("kill_switch", "kill_switch", "drawdown 21% from peak")

    ok, message, _ = await registry.execute("ack_reconcile", {}, "tg:42")

    assert ok
    assert "halted" in message
    assert control.state.halted


async def test_exchange_outage_raises_and_changes_nothing(harness: VenueHarness, orders_fake: FakeOrders,
                                                          fake: FakeBinance, control: Controller) -> None:
    rec = make_reconciler(harness, harness.venue(), control, CommandRegistry())
    await rec.reconcile_once()
    before = rec.state.model_copy()
    fake.fault(f"{SPOT}/openOrders", status=503, body="down", times=10)

    with pytest.raises(ExchangeUnavailable):
        await rec.reconcile_once()

    assert rec.state == before
    assert control.state.entries_allowed


async def test_paper_engine_reconciles_without_a_mismatch(tmp_path: Path) -> None:
    clock = MarketClock(1_700_000_000_000)
    ledger = Ledger(tmp_path / "logs")
    paper = PaperEngine(PaperConfig(), ledger, clock, StateStore(tmp_path / "state"))
    events: list[Event] = []
    control = Controller(StateStore(tmp_path / "state"))
    def paper_positions() -> dict[str, float]:
        return {s: p.qty_base for s, p in paper.wallet.state.perp.items() if p.is_open}

    rec = Reconciler(VenueTruth(paper, positions=paper_positions), store=StateStore(tmp_path / "state"),
                     ledger=ledger, control=control, publish=events.append, now_ms=clock.now_ms)
    await rec.reconcile_once()
    for i, price in enumerate((60_000.0, 60_500.0, 59_800.0)):
        ts = 1_700_000_000_000 + i * 3_600_000
        paper.on_event(CandleClosed("BTC/USDT", "1h", ts, price, price + 100, price - 100, price, 50.0))
        clock.advance_to(ts + 3_600_000)
        for market, side in (("spot", "buy"), ("perp", "sell")):
            cid = client_order_id("carry", "BTC/USDT", ts, "entry", 0 if market == "spot" else 1)
            await paper.submit(OrderIntent(client_order_id=cid, strategy_id="carry", symbol="BTC/USDT", side=side,
                                           qty_base=0.01, market=market, decision_ts_ms=ts))
        paper.on_event(FundingRate("BTC/USDT", ts + 3_600_000, 0.0003))

    report = await rec.reconcile_once()

    assert len(ledger.entries()) >= 6
    assert paper_positions()["BTC/USDT"] == pytest.approx(-0.03)
    assert any(e.kind == "funding" for e in ledger.entries())
    assert report.differences == []
    assert control.state.entries_allowed


async def test_paper_wallet_tampering_is_caught(tmp_path: Path) -> None:
    clock = MarketClock(1_700_000_000_000)
    ledger = Ledger(tmp_path / "logs")
    paper = PaperEngine(PaperConfig(), ledger, clock, StateStore(tmp_path / "state"))
    rec = Reconciler(VenueTruth(paper), store=StateStore(tmp_path / "state"), ledger=ledger, control=None,
                     publish=lambda _e: None, now_ms=clock.now_ms, settings=SETTINGS)
    await rec.reconcile_once()

    paper.wallet.state.balances["USDT"] -= 500.0  # money that left without a ledger line
    report = await rec.reconcile_once()

    assert [d.key for d in report.material] == ["balance:USDT"]
    assert rec.state.pending_ack


async def test_open_orders_on_markets_outside_the_configured_list_are_still_checked(
        harness: VenueHarness, orders_fake: FakeOrders, control: Controller) -> None:
    venue = harness.venue()
    truth = LiveTruth(venue, [], [])  # no symbol configured: the reconciler must look where our orders are
    rec = Reconciler(truth, store=StateStore(harness.root / "state"), ledger=harness.ledger, control=control,
                     publish=harness.events.append, now_ms=harness.time.now_ms, settings=SETTINGS,
                     sleep=harness.time.sleep)
    await rec.reconcile_once()
    await venue.submit(intent(0, type_="limit", price=49_000.0))
    await venue.submit(intent(1, type_="limit", price=49_000.0, side="sell", market="perp"))

    report = await rec.reconcile_once()

    assert report.differences == []
    assert control.state.entries_allowed


async def test_buy_fees_charged_in_base_keep_ledger_and_exchange_in_step(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, control: Controller) -> None:
    assert not orders_fake.pays_fees_in_bnb  # so Binance takes a spot buy's commission in the asset bought
    venue = harness.venue()
    rec = make_reconciler(harness, venue, control, CommandRegistry())
    await rec.reconcile_once()

    bought = await venue.submit(intent(0, qty=0.02))
    report = await rec.reconcile_once()

    (line,) = [e for e in harness.ledger.entries() if e.client_order_id == bought.intent.client_order_id]
    assert line.deltas["BTC"] == pytest.approx(0.02 * 0.999)
    assert line.deltas["USDT"] == pytest.approx(-1_000.0)
    assert line.fee_quote == pytest.approx(0.02 * 0.001 * 50_000)  # still valued in quote for P&L
    assert report.differences == []


async def test_run_retries_soon_until_the_first_success_then_every_interval(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, control: Controller) -> None:
    rec = make_reconciler(harness, harness.venue(), control, CommandRegistry())
    fake.fault(f"{SPOT}/openOrders", status=503, body="down", times=3)  # the first run's three read attempts
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    rec._sleep = sleep  # the confirm delay is not reached: no differences
    with pytest.raises(asyncio.CancelledError):
        await rec.run()

    assert waits == [SETTINGS.retry_s, SETTINGS.interval_s, SETTINGS.interval_s]
    assert rec.ready.is_set()
    assert rec.failures == 1
    assert any(a.key == "reconcile-failed" for a in alerts(harness.events))


async def test_a_difference_gone_on_the_confirming_read_is_not_a_mismatch(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, control: Controller) -> None:
    rec = make_reconciler(harness, harness.venue(), control, CommandRegistry())
    await rec.reconcile_once()
    real = fake.balances["USDT"]
    fake.balances["USDT"] = (real[0] - 700.0, real[1])  # e.g. a balance read mid-settlement

    async def settle(seconds: float) -> None:
        fake.balances["USDT"] = real  # by the confirming read the exchange is consistent again

    rec._sleep = settle
    report = await rec.reconcile_once()

    assert report.differences == []
    assert control.state.entries_allowed
    assert not rec.state.pending_ack


async def test_ack_lifts_only_reconciles_hold_and_resume_only_the_persons(harness: VenueHarness,
                                                                            orders_fake: FakeOrders,
                                                                            fake: FakeBinance,
                                                                            control: Controller) -> None:
    registry = CommandRegistry()
    rec = make_reconciler(harness, harness.venue(), control, registry)
    await rec.reconcile_once()
    control.pause("tg:7", "news at 14:00")
    fake.balances["USDT"] = (1.0, 0.0)  # a material difference while the person's pause is on
    await rec.reconcile_once()
    assert set(control.state.holds) == {"person", "reconcile"}

    ok, message, _ = await registry.execute("ack_reconcile", {}, "tg:42")
    assert ok
    assert set(control.state.holds) == {"person"}
    assert "person by tg:7" in message
    fake.balances["USDT"] = (2.0, 0.0)
    await rec.reconcile_once()
    control.resume("tg:7")
    assert set(control.state.holds) == {"reconcile"}
    assert rec.state.pending_ack
    assert not control.state.entries_allowed
