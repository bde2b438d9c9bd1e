"""The live venue on the real ccxt client against the fake exchange: one order per intent, whatever fails."""

from __future__ import annotations

import pytest

from src.execution.live_ccxt import LiveSettings
from src.orders.interface import OrderIntent, client_order_id
from tests.execution_live.conftest import VenueHarness
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FUT, SPOT, FakeOrders

ORDER_PATH = f"{SPOT}/order"


def intent(seq: int = 0, *, side: str = "buy", qty: float = 0.01, type_: str = "market",
           price: float | None = None, market: str = "spot", purpose: str = "entry") -> OrderIntent:
    cid = client_order_id("strat-1", "BTC/USDT", 1_700_000_000_000, purpose, seq)
    return OrderIntent(client_order_id=cid, strategy_id="strat-1", symbol="BTC/USDT", side=side, type=type_,
                       qty_base=qty, price_quote=price, market=market, decision_ts_ms=1_700_000_000_000,
                       purpose=purpose)


def assert_one_order(orders_fake: FakeOrders, cid: str) -> None:
    assert orders_fake.created(cid) == 1
    assert orders_fake.duplicates.get(cid, 0) == 0


async def test_market_buy_fills_and_publishes_one_fill(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert rec.filled_qty_base == pytest.approx(0.01)
    assert rec.avg_price_quote == pytest.approx(50_000.0)
    assert rec.fee_quote == pytest.approx(0.5)  # 0.1% of the 0.01 BTC bought, valued in quote
    assert rec.fee_base == pytest.approx(0.00001)
    assert rec.received_qty_base == pytest.approx(0.00999)
    fills = harness.fills()
    assert len(fills) == 1
    assert fills[0].qty_base == pytest.approx(0.00999)
    assert fills[0].fee_quote == pytest.approx(0.5)
    (line,) = harness.ledger.entries()
    assert line.venue == "live"
    assert line.fill_id == venue.orders.get(rec.intent.client_order_id).fills[0].fill_id
    assert line.deltas == {"BTC": pytest.approx(0.00999), "USDT": pytest.approx(-500.0)}
    assert_one_order(orders_fake, rec.intent.client_order_id)


async def test_resubmitting_the_same_intent_sends_nothing(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    first = await venue.submit(intent())

    again = await venue.submit(intent())

    assert again == first
    assert orders_fake.posts() == 1
    assert len(harness.fills()) == 1


@pytest.mark.parametrize("fault", [{"hang_s": 1.5}, {"drop": True}, {"status": 500}],
                         ids=["timeout-after-accept", "dropped-after-accept", "500-after-accept"])
async def test_unknown_outcome_is_looked_up_never_resent(harness: VenueHarness, orders_fake: FakeOrders,
                                                         fault: dict) -> None:
    venue = harness.venue(timeout_ms=400)
    orders_fake.after_accept(**fault)

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert rec.filled_qty_base == pytest.approx(0.01)
    assert orders_fake.posts() == 1, "the order was accepted: it must not be sent again"
    assert_one_order(orders_fake, rec.intent.client_order_id)
    assert harness.fake.count(ORDER_PATH, "GET") >= 1  # looked up by client id
    assert len(harness.fills()) == 1


@pytest.mark.parametrize("fault", [{"status": 503, "body": "down"}, {"status": 429, "headers": {"Retry-After": "1"}},
                                   {"hang_s": 1.5}],
                         ids=["503-before-accept", "429-before-accept", "timeout-before-accept"])
async def test_refused_request_is_resent_only_after_lookup_proves_absence(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, fault: dict) -> None:
    venue = harness.venue(timeout_ms=400)
    fake.fault(ORDER_PATH, **fault)  # consumed by the first POST, before the order exists

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert orders_fake.posts() == 2
    posts = [i for i, r in enumerate(fake.requests) if r.path == ORDER_PATH and r.method == "POST"]
    between = {r.path for r in fake.requests[posts[0] + 1:posts[1]]}
    assert {ORDER_PATH, f"{SPOT}/allOrders", f"{SPOT}/myTrades"} <= between  # lookups, then history
    assert sum(harness.time.sleeps) >= LiveSettings().lookup_window_s  # absent for the whole window first
    assert_one_order(orders_fake, rec.intent.client_order_id)
    assert len(harness.fills()) == 1


async def test_exchange_down_leaves_the_order_unresolved_until_a_lookup_answers(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance) -> None:
    venue = harness.venue()
    fake.fault(ORDER_PATH, status=503, body="down", times=4)  # the POST and all three tries of the lookup fail

    rec = await venue.submit(intent())
    cid = rec.intent.client_order_id

    assert rec.status == "new"
    assert venue.orders.get(cid).outcome_unknown
    assert orders_fake.posts() == 1
    assert orders_fake.created(cid) == 0
    await venue.poll_active()  # the exchange is back, but "no such order" this soon may be lag
    assert venue.orders.get(cid).outcome_unknown
    harness.time.now += LiveSettings().lookup_window_s
    await venue.poll_active()  # the window has passed and the history is clean → known not sent
    assert not venue.orders.get(cid).outcome_unknown
    assert venue.orders.get(cid).record.status == "new"
    harness.time.now += 600  # nobody re-submitted it: it expires instead of trading late
    await venue.poll_active()
    assert venue.orders.get(cid).record.status == "expired"
    assert orders_fake.posts() == 1


async def test_exchange_refusal_is_a_rejection_with_the_reason(harness: VenueHarness, fake: FakeBinance,
                                                               orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    refusal = '{"code":-2010,"msg":"Account has insufficient balance for requested action."}'
    fake.fault(ORDER_PATH, status=400, body=refusal)

    rec = await venue.submit(intent())

    assert rec.status == "rejected"
    assert "insufficient balance" in rec.reason
    assert orders_fake.posts() == 1
    assert fake.count(ORDER_PATH, "GET") == 0


async def test_too_small_order_is_refused_by_us_before_sending(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()

    rec = await venue.submit(intent(qty=0.00005))  # 2.5 USDT < the 5 USDT min notional

    assert rec.status == "rejected"
    assert "refused by us (notional_below_min)" in rec.reason
    assert orders_fake.posts() == 0
    assert venue.orders.get(rec.intent.client_order_id).record.status == "rejected"  # recorded, auditable


async def test_quantity_is_floored_to_the_lot_step(harness: VenueHarness, orders_fake: FakeOrders,
                                                   fake: FakeBinance) -> None:
    venue = harness.venue()

    rec = await venue.submit(intent(qty=0.0123456))

    assert rec.intent.qty_base == pytest.approx(0.01234)
    post = next(r for r in fake.requests if r.path == ORDER_PATH and r.method == "POST")
    assert "quantity=0.01234&" in post.body


async def test_partial_fills_are_recorded_once_each(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    rec = await venue.submit(intent(type_="limit", price=49_000.0, qty=0.03))
    cid = rec.intent.client_order_id
    assert rec.status == "open"

    orders_fake.fill(cid, 0.01)
    await venue.poll_active()
    await venue.poll_active()  # the same reading twice adds nothing
    mid = venue.orders.get(cid).record
    orders_fake.fill(cid, 0.02)
    await venue.poll_active()
    done = venue.orders.get(cid).record

    assert mid.status == "partially_filled"
    assert mid.filled_qty_base == pytest.approx(0.01)
    assert done.status == "filled"
    assert done.filled_qty_base == pytest.approx(0.03)
    assert [round(f.qty_base, 8) for f in harness.fills()] == [0.00999, 0.01998]  # received: fee taken in BTC
    assert sum(f.fee_quote for f in harness.fills()) == pytest.approx(0.03 * 49_000 * 0.001)


async def test_fill_arriving_during_a_restart_is_recorded_once(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    first_life = harness.venue()
    rec = await first_life.submit(intent(type_="limit", price=49_500.0, qty=0.02))
    cid = rec.intent.client_order_id
    orders_fake.fill(cid, 0.005)
    await first_life.poll_active()
    await harness.close()  # the process dies; the order keeps working on the exchange

    orders_fake.fill(cid, 0.015)  # the rest fills while nobody is watching
    second_life = harness.venue()
    assert second_life.orders.get(cid).record.status == "partially_filled"  # state survived on disk
    await second_life.poll_active()

    final = second_life.orders.get(cid)
    assert final.record.status == "filled"
    assert final.record.filled_qty_base == pytest.approx(0.02)
    assert [round(f.qty_base, 8) for f in final.fills] == [0.005, 0.015]
    assert [round(f.qty_base, 8) for f in harness.fills()] == [0.004995, 0.014985]  # received: fee taken in BTC
    assert [round(e.qty_base, 8) for e in harness.ledger.entries() if e.client_order_id == cid] == [0.005, 0.015]
    assert_one_order(orders_fake, cid)


async def test_crash_between_recording_and_sending_is_resolved_then_sent_once(
        harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    it = intent()
    venue.orders.record_intent(it, exchange_symbol="BTC/USDT")
    venue.orders.mark_sending(it.client_order_id)  # the process died here: did the request leave?

    restarted = harness.venue()
    harness.time.now += LiveSettings().lookup_window_s  # the restart came after the lookup window
    assert await restarted.resolve_unresolved() == 1  # the exchange says: no such order
    rec = await restarted.submit(it)

    assert rec.status == "filled"
    assert orders_fake.posts() == 1
    assert_one_order(orders_fake, it.client_order_id)


async def test_cancel_resting_and_cancel_after_fill(harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    resting = await venue.submit(intent(0, type_="limit", price=49_000.0))
    filled = await venue.submit(intent(1))

    cancelled = await venue.cancel(resting.intent.client_order_id)
    again = await venue.cancel(filled.intent.client_order_id)

    assert cancelled.status == "cancelled"
    assert again.status == "filled"
    assert await venue.open_orders() == []


async def test_perp_short_goes_to_futures_and_shows_as_a_position(harness: VenueHarness,
                                                                  orders_fake: FakeOrders) -> None:
    venue = harness.venue()

    rec = await venue.submit(intent(side="sell", market="perp"))

    assert rec.status == "filled"
    assert orders_fake.posts(FUT) == 1
    assert orders_fake.posts(SPOT) == 0
    assert await venue.positions() == {"BTC/USDT": pytest.approx(-0.01)}
    assert harness.fills()[0].symbol == "BTC/USDT"  # the intent's symbol; the ledger says market=perp


async def test_fill_missing_from_the_ledger_after_a_crash_is_appended_once_at_restart(
        harness: VenueHarness, orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    venue.recorder = None  # the process dies after the order store saved the fill, before the ledger line
    rec = await venue.submit(intent())
    assert harness.ledger.entries() == []

    harness.venue()  # restart: catch-up from the order store
    harness.venue()  # and again: nothing doubled

    (line,) = harness.ledger.entries()
    assert line.client_order_id == rec.intent.client_order_id
    assert line.qty_base == pytest.approx(0.01)


async def test_entries_wait_for_start_up_reconciliation_exits_do_not(harness: VenueHarness,
                                                                    orders_fake: FakeOrders) -> None:
    import asyncio

    venue = harness.venue()
    venue.entry_gate = asyncio.Event()

    refused = await venue.submit(intent(0))
    exit_ = await venue.submit(intent(1, side="sell", market="perp", purpose="exit"))
    venue.entry_gate.set()
    later = await venue.submit(intent(2))

    assert refused.status == "rejected"
    assert "reconciliation or account checks have not passed" in refused.reason
    assert exit_.status == "filled"
    assert later.status == "filled"
    assert orders_fake.posts(SPOT) == 1
    assert orders_fake.posts(FUT) == 1


async def test_exchange_down_before_sending_is_a_clean_local_refusal(harness: VenueHarness, fake: FakeBinance,
                                                                     orders_fake: FakeOrders) -> None:
    venue = harness.venue()
    fake.fault("/api/v3/exchangeInfo", status=503, body="down", times=5)

    rec = await venue.submit(intent())

    assert rec.status == "rejected"
    assert rec.reason.startswith("not sent: market rules or price unavailable")
    assert orders_fake.posts() == 0


async def test_equity_from_the_last_balances_read(harness: VenueHarness, orders_fake: FakeOrders,
                                                  fake: FakeBinance) -> None:
    venue = harness.venue()
    venue._ref_price = {"BTC/USDT": 60_000.0}.get
    await venue.submit(intent(qty=0.1))  # 5,000 USDT + 5 fee at 50,000

    assert venue.equity_quote() == 0.0  # nothing read yet
    await venue.balances()
    spot = 100_000 - 5_000 + 0.0999 * 60_000  # fee taken in BTC
    futures = fake.futures_wallet["USDT"]  # the USD-M margin balance counts too (no open position here)
    assert venue.equity_quote() == pytest.approx(spot + futures)


@pytest.mark.parametrize("lags", [1, 2])
async def test_a_lagging_lookup_never_turns_an_accepted_order_into_a_second_one(
        harness: VenueHarness, orders_fake: FakeOrders, fake: FakeBinance, lags: int) -> None:
    venue = harness.venue()
    orders_fake.after_accept(status=500)  # accepted, but the answer is lost ...
    lag = '{"code":-2013,"msg":"Order does not exist."}'
    fake.fault(ORDER_PATH, status=400, body=lag, after=1, times=lags)  # ... and lookups lag behind it

    rec = await venue.submit(intent())

    assert rec.status == "filled"
    assert len(harness.fills()) == 1
    assert orders_fake.created(rec.intent.client_order_id) == 1
    assert orders_fake.posts() == 1  # lookups go on while the window runs: nothing is sent again
