"""The paper trading engine: a second implementation of the exchange interface, not a flag in it.

It satisfies :class:`~src.orders.interface.ExecutionVenue` exactly as the live executor does:
``submit`` is idempotent on ``client_order_id``; orders pass the same exchange filters
(:mod:`src.orders.order_filters`) as live orders, so what live would reject paper rejects too.

Fills are as honest as the data allows:
- **market orders** walk the latest order book level by level (each level one fill, slippage per
  fill reported against the best price); with candles only, a spread + square-root impact model
  from config prices them; depth that runs out leaves the rest expired, like an IOC order;
- **limit orders** that cross fill at once as taker up to their price; the rest rests and fills
  as maker, partially, from trades printed through its price (or a bar trading through it when
  there is no tape), taking ``limit_participation`` of the traded volume;
- maker/taker fees (0.1% default), configurable latency, perp funding at funding times.

Money goes ledger first (one fsynced JSON line per fill); the wallet summary in ``state/`` follows
at most every few seconds (see :meth:`PaperEngine._save_soon` and :mod:`ai_brain.paper.paper_wallet` for
why that order makes a ``kill -9`` harmless).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ai_brain.paper.paper_fills import candle_fill_price, limit_crosses, resting_fill_qty, walk_book
from ai_brain.paper.paper_wallet import PaperWallet, base_asset
from src.config.execution import PaperConfig
from src.core.clock import Clock
from src.core.events import CandleClosed, Event, Fill, FundingRate, OrderBook, OrderUpdate, Tick, TradePrint
from src.orders.fees import FeeSchedule, Liquidity
from src.orders.interface import OrderIntent, OrderRecord
from src.orders.ledger import Ledger
from src.orders.order_filters import FilterBook, FilterReason, FilterRejected
from src.orders.positions import EPS_QTY
from src.state.store import StateStore

log = logging.getLogger(__name__)

Publish = Callable[[Event], None]


class PaperEngine:
    """Simulated exchange account; feed it market events with :meth:`on_event`."""

    name = "paper"

    def __init__(self, cfg: PaperConfig, ledger: Ledger, clock: Clock, store: StateStore | None = None,
                 quote: str = "USDT", filters: FilterBook | None = None, publish: Publish | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 price_fallback: Callable[[str], float | None] = lambda _s: None, save_every_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic, fees: FeeSchedule | None = None) -> None:
        self.cfg, self.ledger, self.clock = cfg, ledger, clock
        self.fees = fees or FeeSchedule()  # the one schedule the backtester and live use too
        self.filters = filters or FilterBook(cfg.min_notional_quote, cfg.percent_price_band)
        self._publish = publish or (lambda _ev: None)
        self._sleep = sleep
        self._price_fallback = price_fallback
        self.save_every_s, self._monotonic = save_every_s, monotonic
        self._last_save = monotonic()
        self.wallet = PaperWallet(store, quote, cfg.starting_balance_quote)
        self.quote = self.wallet.quote
        self._books: dict[str, OrderBook] = {}
        self._last: dict[str, float] = {}
        self._bar_notional: dict[str, float] = {}
        self._last_print_ms: dict[str, int] = {}
        self.counters = {"submitted": 0, "filled": 0, "rejected": 0, "duplicates": 0, "fills": 0}
        self._resting = {cid for cid, r in self.wallet.state.orders.items()
                         if r.intent.type == "limit" and not r.is_terminal}
        # every id that ever filled here, even after its record was pruned: never a second order
        self._filled_ids = {e.client_order_id for e in ledger.entries() if e.kind == "fill" and e.venue == "paper"}
        ledger.ensure_seq_above(self.wallet.state.applied_seq)
        replayed = self.wallet.replay(ledger.since(self.wallet.state.applied_seq))
        if replayed:
            log.warning("paper wallet: applied %d ledger lines written after the last state save", replayed)
            self.wallet.save()

    # -- market data ---------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        """Update prices, books and resting orders from one market event (call in feed order)."""
        if isinstance(ev, OrderBook):
            self._books[ev.symbol] = ev
        elif isinstance(ev, Tick):
            self._last[ev.symbol] = ev.last
        elif isinstance(ev, TradePrint):
            self._last[ev.symbol] = ev.price
            self._last_print_ms[ev.symbol] = ev.ts_ms
            self._rest_fill(ev.symbol, ev.price, ev.qty_base, ev.side, ev.ts_ms)
        elif isinstance(ev, CandleClosed):
            self._on_candle(ev)
        elif isinstance(ev, FundingRate):
            self._on_funding(ev)

    def _on_candle(self, ev: CandleClosed) -> None:
        self._last[ev.symbol] = ev.close
        self._bar_notional[ev.symbol] = ev.volume * ev.close
        if self._last_print_ms.get(ev.symbol, -1) >= ev.ts_ms:
            return  # the tape already filled resting orders during this bar
        self._rest_fill(ev.symbol, ev.low, ev.volume, "sell", ev.ts_ms, strict=True)
        self._rest_fill(ev.symbol, ev.high, ev.volume, "buy", ev.ts_ms, strict=True)

    def prices(self) -> dict[str, float]:
        return dict(self._last)

    def ref_price(self, symbol: str) -> float | None:
        """Mid of a fresh book, else the last traded/close price."""
        book = self._fresh_book(symbol)
        if book is not None:
            return (book.bids[0][0] + book.asks[0][0]) / 2.0
        return self._last.get(symbol) or self._price_fallback(symbol)

    def _fresh_book(self, symbol: str) -> OrderBook | None:
        book = self._books.get(symbol)
        if book is None or not book.bids or not book.asks:
            return None
        if self.clock.now_ms() - book.ts_ms > self.cfg.book_max_age_ms:
            return None
        return book

    # -- the venue interface -------------------------------------------------------------------
    async def submit(self, intent: OrderIntent) -> OrderRecord:
        """Place (simulate) an order; the same ``client_order_id`` never creates a second order."""
        existing = self.wallet.state.orders.get(intent.client_order_id)
        if existing is not None:
            self.counters["duplicates"] += 1
            if existing.status in ("new", "open", "partially_filled") and existing.intent.type == "market":
                self._fill_market(existing)  # a crash interrupted it: finish, never restart it
                self._save_soon()
            return existing
        now = self.clock.now_ms()
        if intent.client_order_id in self._filled_ids:
            self.counters["duplicates"] += 1
            return OrderRecord(intent=intent, status="rejected", created_ms=now, updated_ms=now,
                               reason="duplicate client order id: this order filled before (record pruned)")
        self.counters["submitted"] += 1
        try:
            intent = self._validated(intent)
        except FilterRejected as exc:
            return self._reject(intent, str(exc), now)
        record = OrderRecord(intent=intent, status="open", created_ms=now, updated_ms=now)
        # not saved yet: every fill line carries its intent, so the ledger alone rebuilds this order
        self.wallet.put_order(record)
        self._notify(record)
        if self.cfg.latency_ms > 0:
            await self._sleep(self.cfg.latency_ms / 1000.0)
        if intent.type == "market":
            self._fill_market(record)
        else:
            self._fill_marketable_limit(record)
            if not record.is_terminal:
                self._resting.add(intent.client_order_id)
        self._save_soon(force=not record.is_terminal)  # a resting order exists only here
        return record

    async def cancel(self, client_order_id: str) -> OrderRecord:
        rec = self.wallet.state.orders.get(client_order_id)
        if rec is None:
            raise KeyError(f"unknown order {client_order_id}")
        if not rec.is_terminal:
            rec.status, rec.updated_ms, rec.reason = "cancelled", self.clock.now_ms(), "cancelled by request"
            self.wallet.save()
            self._notify(rec)
        return rec

    def lookup(self, client_order_id: str) -> OrderRecord | None:
        """The record of an order this account already knows (used before re-sending after a crash)."""
        return self.wallet.state.orders.get(client_order_id)

    async def open_orders(self) -> list[OrderRecord]:
        return [r for r in self.wallet.state.orders.values() if not r.is_terminal]

    async def balances(self) -> dict[str, float]:
        return dict(self.wallet.state.balances)

    def equity_quote(self) -> float:
        """Wallet value at the latest prices (the market cache's last close for symbols not yet seen)."""
        prices = dict(self._last)
        held = [f"{a}/{self.quote}" for a in self.wallet.state.balances if a != self.quote]
        for symbol in held + list(self.wallet.state.perp):
            if symbol not in prices:
                found = self._price_fallback(symbol)
                if found is not None:
                    prices[symbol] = found
        return self.wallet.equity_quote(prices)

    # -- validation ----------------------------------------------------------------------------
    def _validated(self, intent: OrderIntent) -> OrderIntent:
        ref = self.ref_price(intent.symbol)
        intent = self._clamp_reduce_only(intent)
        checked = self.filters.check(intent, ref)
        intent = intent.model_copy(update={"qty_base": checked.qty_base, "price_quote": checked.price_quote})
        self._check_funds(intent, ref or 0.0)
        return intent

    def _clamp_reduce_only(self, intent: OrderIntent) -> OrderIntent:
        if not intent.reduce_only:
            return intent
        if intent.market == "perp":
            pos = self.wallet.perp_position(intent.symbol)
            closes = pos.side == (-1 if intent.side == "buy" else 1)
            held = abs(pos.qty_base) if closes else 0.0
        else:
            held = self.wallet.balance(base_asset(intent.symbol)) if intent.side == "sell" else 0.0
        if held <= EPS_QTY:
            raise FilterRejected(FilterReason.NOTHING_TO_REDUCE, "reduce-only order but nothing to reduce")
        return intent.model_copy(update={"qty_base": min(intent.qty_base, held)})

    def _check_funds(self, intent: OrderIntent, ref: float) -> None:
        if intent.market == "perp":
            if not intent.reduce_only and self.wallet.balance(self.quote) <= 0:
                raise FilterRejected(FilterReason.INSUFFICIENT_FUNDS, "no quote balance for margin")
            return
        if intent.side == "sell":
            held = self.wallet.balance(base_asset(intent.symbol))
            if intent.qty_base > held + EPS_QTY:
                raise FilterRejected(FilterReason.INSUFFICIENT_FUNDS,
                                    f"insufficient {base_asset(intent.symbol)}: {held:.10g} held, "
                                    f"{intent.qty_base:.10g} to sell (spot cannot go short)")
            return
        price = intent.price_quote if intent.type == "limit" and intent.price_quote else ref * 1.01
        cost = intent.qty_base * price * (1 + self.fees.rate(intent.market, "taker", intent.symbol))
        if cost > self.wallet.balance(self.quote):
            raise FilterRejected(FilterReason.INSUFFICIENT_FUNDS,
                                f"insufficient {self.quote}: {self.wallet.balance(self.quote):.2f} free, "
                                f"about {cost:.2f} needed")

    def _reject(self, intent: OrderIntent, reason: str, now: int) -> OrderRecord:
        self.counters["rejected"] += 1
        record = OrderRecord(intent=intent, status="rejected", reason=reason, created_ms=now, updated_ms=now)
        self.wallet.put_order(record)
        self._save_soon()
        log.debug("paper order %s rejected: %s", intent.client_order_id, reason)
        self._notify(record)
        return record

    # -- fills ---------------------------------------------------------------------------------
    def _remaining(self, rec: OrderRecord) -> float:
        return max(0.0, rec.intent.qty_base - rec.filled_qty_base)

    def _fill_market(self, rec: OrderRecord) -> None:
        intent, qty = rec.intent, self._remaining(rec)
        book = self._fresh_book(intent.symbol)
        if book is not None:
            levels = book.asks if intent.side == "buy" else book.bids
            best = levels[0][0]
            for level in walk_book(levels, intent.side, qty).fills:
                slip = abs(level.price_quote - best) / best * 1e4
                if not self._book_fill(rec, level.qty_base, level.price_quote, "taker", slip):
                    break
        else:
            ref = self._last.get(intent.symbol) or self._price_fallback(intent.symbol)
            if ref is not None:
                price, slip = candle_fill_price(ref, intent.side, qty, self.cfg.candle_spread_bps,
                                                self.cfg.candle_impact_bps, self._bar_notional.get(intent.symbol))
                self._book_fill(rec, qty, price, "taker", slip)
        if not rec.is_terminal:
            rec.status = "expired" if rec.filled_qty_base > 0 else "rejected"
            rec.reason = "visible book depth exhausted" if book is not None else "no price to fill at"
            rec.updated_ms = self.clock.now_ms()
            self._notify(rec)

    def _fill_marketable_limit(self, rec: OrderRecord) -> None:
        intent = rec.intent
        assert intent.price_quote is not None
        book = self._fresh_book(intent.symbol)
        if book is not None:
            levels = book.asks if intent.side == "buy" else book.bids
            for level in walk_book(levels, intent.side, self._remaining(rec), intent.price_quote).fills:
                self._book_fill(rec, level.qty_base, level.price_quote, "taker", 0.0)
        else:
            ref = self._last.get(intent.symbol)
            if ref is not None:
                touch, _ = candle_fill_price(ref, intent.side, 0.0, self.cfg.candle_spread_bps, 0.0, None)
                if limit_crosses(intent.side, intent.price_quote, touch):
                    self._book_fill(rec, self._remaining(rec), touch, "taker", 0.0)

    def _rest_fill(self, symbol: str, price: float, traded_base: float, aggressor: str, _ts_ms: int,
                   strict: bool = False) -> None:
        """Fill resting limits that a trade (or a bar's extreme) went through; maker fills at the limit."""
        touched = False
        for cid in list(self._resting):
            rec = self.wallet.state.orders.get(cid)
            if rec is None or rec.is_terminal:
                self._resting.discard(cid)
                continue
            i = rec.intent
            if i.symbol != symbol or i.price_quote is None:
                continue
            if i.side == aggressor:
                continue
            through = price < i.price_quote if i.side == "buy" else price > i.price_quote
            if not (through or (not strict and price == i.price_quote)):
                continue
            qty = resting_fill_qty(self._remaining(rec), traded_base, self.cfg.limit_participation)
            if qty > EPS_QTY:
                touched |= self._book_fill(rec, qty, i.price_quote, "maker", 0.0)
        if touched:
            self._save_soon()

    def _book_fill(self, rec: OrderRecord, qty: float, price: float, liquidity: Liquidity, slip_bps: float) -> bool:
        """One fill: ledger line (durable) → wallet → events. False when funds ran out first."""
        intent = rec.intent
        qty = self._affordable(intent, qty, price)
        if qty <= EPS_QTY:
            return False
        fee = self.fees.fee_quote(qty * price, intent.market, liquidity, intent.symbol)
        deltas, realized = self.wallet.fill_effect(intent.symbol, intent.market, intent.side, qty, price, fee)
        self.counters["fills"] += 1
        entry = self.ledger.append(  # no fsync of its own when the order's intent was journaled durably
            durable=not self.ledger.journaled(intent.client_order_id),
            kind="fill", ts_ms=self.clock.now_ms(), venue="paper", manual=intent.manual,
            strategy_id=intent.strategy_id, symbol=intent.symbol, market=intent.market,
            client_order_id=intent.client_order_id, fill_id=f"{intent.client_order_id}-{self.ledger.last_seq + 1}",
            side=intent.side, qty_base=qty, price_quote=price, fee_quote=fee, realized_pnl_quote=realized,
            liquidity=liquidity, slippage_bps=slip_bps, deltas=deltas,
            data={"purpose": intent.purpose, "intent": intent.model_dump(mode="json")})
        self.wallet.apply(entry)
        self._filled_ids.add(intent.client_order_id)
        self._publish(Fill(intent.client_order_id, intent.symbol, intent.side, qty, price, fee, entry.ts_ms,
                           intent.strategy_id, liquidity))  # type: ignore[arg-type]
        if rec.status == "filled":
            self.counters["filled"] += 1
        self._notify(rec)
        return True

    def _affordable(self, intent: OrderIntent, qty: float, price: float) -> float:
        """Never let a spot fill overdraw the wallet (the book may be worse than the pre-check)."""
        if intent.market != "spot":
            return qty
        if intent.side == "sell":
            return min(qty, self.wallet.balance(base_asset(intent.symbol)))
        free = self.wallet.balance(self.quote)
        per_unit = price * (1 + max(self.fees.rate(intent.market, "taker", intent.symbol),
                                    self.fees.rate(intent.market, "maker", intent.symbol)))
        return min(qty, max(0.0, free / per_unit))

    def _on_funding(self, ev: FundingRate) -> None:
        """Charge (or pay) funding on an open perp position once per settlement time."""
        pos = self.wallet.state.perp.get(ev.symbol)
        if pos is None or not pos.is_open or self.wallet.state.last_funding_ms.get(ev.symbol, -1) >= ev.ts_ms:
            return
        mark = self._last.get(ev.symbol, pos.avg_entry_quote)
        paid = pos.qty_base * mark * ev.rate  # longs pay when the rate is positive
        entry = self.ledger.append(kind="funding", ts_ms=ev.ts_ms, venue="paper", symbol=ev.symbol, market="perp",
                                   qty_base=abs(pos.qty_base), price_quote=mark, funding_quote=paid,
                                   deltas={self.quote: -paid}, data={"rate": ev.rate})
        self.wallet.apply(entry)
        self._save_soon()

    def _save_soon(self, force: bool = False) -> None:
        """Write the wallet summary at most every ``save_every_s`` (wall time), or now if ``force``.

        The summary may lag: every fill and funding line is already in the ledger (fsynced), and a
        restart applies the lines after the summary's ``applied_seq``. Only what the ledger cannot
        rebuild — a resting order, a cancellation — is written at once.
        """
        now = self._monotonic()
        if force or now - self._last_save >= self.save_every_s:
            # only what the ledger cannot rebuild (force) needs an fsync; the periodic summary does not
            self.wallet.save(durable=force)
            self._last_save = now

    def _notify(self, rec: OrderRecord) -> None:
        i = rec.intent
        self._publish(OrderUpdate(i.client_order_id, i.symbol, i.side, rec.status, i.qty_base, rec.avg_price_quote,
                                  rec.updated_ms, i.strategy_id, rec.reason))

    def describe(self) -> dict[str, object]:
        return {"balances": dict(self.wallet.state.balances), "equity_quote": round(self.equity_quote(), 2),
                "open_orders": sum(1 for r in self.wallet.state.orders.values() if not r.is_terminal),
                **self.counters}

