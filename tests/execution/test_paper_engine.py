"""The paper engine as a venue: idempotency, exchange filters, limits, funding, restart from the ledger."""

from __future__ import annotations

import pytest

from src.core.events import FundingRate, TradePrint
from src.orders.fees import FeeSchedule
from src.orders.ledger import wallet_deltas
from src.orders.order_filters import FilterReason, FilterRejected, SymbolFilters, apply_filters
from tests.execution.conftest import HOUR_MS, book, candle, intent, make_engine

ASKS = [(100.0, 5.0), (100.5, 5.0)]
BIDS = [(99.5, 5.0), (99.0, 5.0)]


async def test_same_client_order_id_never_fills_twice(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    first = await eng.submit(intent("buy", 1.0))
    again = await eng.submit(intent("buy", 1.0))
    assert first.status == again.status == "filled"
    assert len([e for e in eng.ledger.entries() if e.kind == "fill"]) == 1
    assert eng.wallet.balance("BTC") == pytest.approx(1.0)
    assert eng.counters["duplicates"] == 1


async def test_too_small_order_is_refused_by_us_with_the_reason(tmp_path) -> None:
    eng = make_engine(tmp_path, min_notional_quote=10.0)
    eng.on_event(candle(100.0))
    rec = await eng.submit(intent("buy", 0.05))  # 5 USDT < 10 minimum
    assert rec.status == "rejected"
    assert "below minimum" in rec.reason
    assert eng.ledger.entries() == []


def test_filters_round_down_to_the_lot_step_and_tick() -> None:
    f = SymbolFilters("BTC/USDT", tick_size=0.01, step_size=0.001, min_qty_base=0.001, min_notional_quote=5.0)
    out = apply_filters(intent("buy", 0.12345, kind="limit", price=100.129), f, 100.0)
    assert out.qty_base == pytest.approx(0.123)
    assert out.price_quote == pytest.approx(100.12)  # a buy never rounds up into a worse price
    sell = apply_filters(intent("sell", 0.2, kind="limit", price=100.121), f, 100.0)
    assert sell.price_quote == pytest.approx(100.13)


@pytest.mark.parametrize(("qty", "price", "reason"), [
    (0.0004, None, FilterReason.QTY_BELOW_MIN),
    (0.01, None, FilterReason.NOTIONAL_BELOW_MIN),
    (1.0, 150.0, FilterReason.PRICE_OUTSIDE_BAND),
])
def test_filters_reject_with_a_typed_reason(qty: float, price: float | None, reason: FilterReason) -> None:
    f = SymbolFilters("BTC/USDT", tick_size=0.01, step_size=0.001, min_qty_base=0.001, min_notional_quote=5.0,
                      percent_band=0.1)
    with pytest.raises(FilterRejected) as err:
        apply_filters(intent("buy", qty, kind="limit" if price else "market", price=price), f, 100.0)
    assert err.value.reason is reason


def test_filters_from_a_ccxt_market() -> None:
    market = {"symbol": "BTC/USDT", "precision": {"price": 0.01, "amount": 1e-5},
              "limits": {"amount": {"min": 1e-5, "max": 9000.0}, "cost": {"min": 5.0}}}
    f = SymbolFilters.from_ccxt_market(market)
    assert (f.tick_size, f.step_size, f.min_qty_base, f.max_qty_base, f.min_notional_quote) == \
        (0.01, 1e-5, 1e-5, 9000.0, 5.0)


async def test_spot_cannot_sell_what_it_does_not_hold(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    rec = await eng.submit(intent("sell", 1.0))
    assert rec.status == "rejected"
    assert "cannot go short" in rec.reason


async def test_resting_limit_fills_partially_from_the_tape_as_maker(tmp_path) -> None:
    eng = make_engine(tmp_path, limit_participation=0.5, fees=FeeSchedule(spot_maker=0.0002))
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    rec = await eng.submit(intent("buy", 2.0, kind="limit", price=99.0))
    assert rec.status == "open"
    eng.on_event(TradePrint("BTC/USDT", HOUR_MS + 1, 99.2, 5.0, "sell"))  # above our price: nothing
    eng.on_event(TradePrint("BTC/USDT", HOUR_MS + 2, 98.9, 1.0, "sell"))  # through it: half of 1.0
    assert rec.status == "partially_filled"
    assert rec.filled_qty_base == pytest.approx(0.5)
    eng.on_event(TradePrint("BTC/USDT", HOUR_MS + 3, 98.8, 10.0, "sell"))
    assert rec.status == "filled"
    fills = [e for e in eng.ledger.entries() if e.kind == "fill"]
    assert {f.liquidity for f in fills} == {"maker"}
    assert all(f.price_quote == 99.0 for f in fills)
    assert sum(f.fee_quote for f in fills) == pytest.approx(2.0 * 99.0 * 2e-4)


async def test_marketable_limit_takes_only_levels_within_its_price(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    rec = await eng.submit(intent("buy", 8.0, kind="limit", price=100.2))
    assert rec.filled_qty_base == pytest.approx(5.0)
    assert rec.status == "partially_filled"
    cancelled = await eng.cancel(rec.intent.client_order_id)
    assert cancelled.status == "cancelled"
    assert await eng.open_orders() == []


async def test_perp_funding_is_charged_once_per_settlement(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    await eng.submit(intent("sell", 10.0, market="perp"))  # short 10 at ~100
    before = eng.wallet.balance("USDT")
    eng.on_event(FundingRate("BTC/USDT", 8 * HOUR_MS, 0.001))
    eng.on_event(FundingRate("BTC/USDT", 8 * HOUR_MS, 0.001))  # the same settlement again: ignored
    received = eng.wallet.balance("USDT") - before
    assert received == pytest.approx(10.0 * 100.0 * 0.001)  # shorts receive a positive rate
    funding = [e for e in eng.ledger.entries() if e.kind == "funding"]
    assert len(funding) == 1
    assert funding[0].funding_quote == pytest.approx(-1.0)


async def test_restart_rebuilds_the_wallet_and_sum_of_ledger_is_the_wallet_change(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    await eng.submit(intent("buy", 3.0))
    await eng.submit(intent("sell", 1.0, purpose="exit"))
    await eng.submit(intent("sell", 2.0, market="perp", purpose="entry", seq=1))
    again = make_engine(tmp_path)
    assert await again.balances() == await eng.balances()
    change = {a: again.wallet.balance(a) - again.wallet.state.starting.get(a, 0.0)
              for a in again.wallet.state.balances}
    total = wallet_deltas(again.ledger.entries())
    assert total.keys() == change.keys()
    for asset, amount in change.items():
        assert total[asset] == pytest.approx(amount, abs=1e-9)


async def test_ledger_lines_after_the_last_save_are_replayed_once(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    saved = eng.wallet.state.model_copy(deep=True)
    await eng.submit(intent("buy", 2.0))
    # simulate a crash after the ledger line but before the wallet save: put the old summary back
    eng.wallet._store.save(eng.wallet.FILE, saved)
    again = make_engine(tmp_path)
    assert again.wallet.balance("BTC") == pytest.approx(2.0)
    third = make_engine(tmp_path)
    assert third.wallet.balance("BTC") == pytest.approx(2.0)


async def test_latency_fills_against_the_market_as_it_is_after_the_delay(tmp_path) -> None:
    from ai_brain.paper.paper_trading_engine import PaperEngine
    from src.config.execution import PaperConfig
    from src.core.clock import MarketClock
    from src.orders.ledger import Ledger

    waited: list[float] = []
    engine: list[PaperEngine] = []

    async def market_moves_while_we_wait(seconds: float) -> None:
        waited.append(seconds)
        engine[0].on_event(book([(101.5, 5.0)], [(102.0, 5.0)], ts_ms=HOUR_MS + 50))

    eng = PaperEngine(PaperConfig(latency_ms=50), Ledger(tmp_path / "logs"), MarketClock(HOUR_MS),
                      sleep=market_moves_while_we_wait)
    engine.append(eng)
    eng.on_event(candle(100.0))
    eng.on_event(book(BIDS, ASKS))
    rec = await eng.submit(intent("buy", 1.0))
    assert waited == [0.05]
    assert rec.avg_price_quote == pytest.approx(102.0)


async def test_an_old_filled_order_is_never_placed_again_after_its_record_was_pruned(tmp_path) -> None:
    eng = make_engine(tmp_path)
    eng.on_event(candle(100.0))
    first = await eng.submit(intent("buy", 1.0))
    del eng.wallet.state.orders[first.intent.client_order_id]  # what pruning does to old records
    eng.wallet.save()
    again = make_engine(tmp_path)
    again.on_event(candle(100.0))
    rec = await again.submit(intent("buy", 1.0))
    assert rec.status == "rejected"
    assert "duplicate" in rec.reason
    assert again.wallet.balance("BTC") == pytest.approx(1.0)
