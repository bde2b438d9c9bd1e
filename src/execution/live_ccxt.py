"""The live / testnet :class:`~src.orders.interface.ExecutionVenue`: real orders through the one ccxt adapter.

What makes it safe to leave alone with real money:

* **No duplicates.** Every order carries its deterministic client order id (Binance
  ``newClientOrderId``). The intent is written to :class:`~src.orders.order_store.OrderStore`
  and the send attempt counted *before* the request leaves. When a send times out, the connection
  drops, or the exchange answers 5xx/429, the order is looked up by that client id before anything
  is sent again. Binance refuses a reused client id only while the first order is *open*, and its
  lookups lag an accepted order, so "order does not exist" proves nothing at first: the order is
  re-sent only after lookups kept saying so for ``lookup_window_s`` (longer than the exchange's
  lag) *and* the order history and trade list of the symbol since the send show neither the order
  nor a fill nobody claims. A restart finds the same ``new`` + attempted orders and resolves them
  the same way (:meth:`LiveVenue.resolve_unresolved`).
* **What was received.** A spot buy's fee may be taken in the base asset; the fee currency is
  read from the fills (or the trade list when a lookup had to stand in for a lost answer), so
  records carry the quantity really received, and spot sells are capped to the free balance
  rounded down to the lot step.
* **Refused by us, with the reason.** Precision, lot size, min notional and the percent-price band
  are applied through :mod:`src.orders.order_filters` (the one path paper uses too) before
  anything is sent; a too-small order becomes ``rejected`` locally and never reaches the exchange.
* **One budget.** Calls go through the shared :class:`~src.exchange.binance.ExchangeClient`, so the
  request-weight budget and the IP-ban state are the same ones market data uses.
* **Every fill recorded once.** Fills are the increase of the exchange's cumulative filled quantity
  (see the order store), published as :class:`~src.core.events.Fill` events for positions/ledgers.

Testnet is the same class on clients built with ccxt's sandbox mode (``exchange.sandbox`` or
``mode: testnet``), never a flag in here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import ccxt.async_support as ccxt

from src.core.events import Alert, Event, Fill, OrderUpdate
from src.exchange.binance import ExchangeClient, perp_symbol
from src.exchange.errors import ExchangeAccessError, IpBanned, TemporaryExchangeError
from src.orders import order_filters
from src.orders.fees import FeeSchedule
from src.orders.interface import OrderIntent, OrderRecord, OrderStatus
from src.orders.live_ledger import LiveFillRecorder
from src.orders.order_store import IllegalOrderTransition, OrderStore, StoredFill, StoredOrder

log = logging.getLogger(__name__)

Publish = Callable[[Event], None]
Sleep = Callable[[float], Awaitable[None]]

_CCXT_STATUS: dict[str, OrderStatus] = {"open": "open", "closed": "filled", "canceled": "cancelled",
                                         "cancelled": "cancelled", "expired": "expired", "rejected": "rejected"}


@dataclass(frozen=True)
class LiveSettings:
    """Knobs of the live venue; defaults suit Binance spot + USD-M."""

    max_send_attempts: int = 3
    resend_backoff_s: float = 1.0
    never_sent_expiry_ms: int = 300_000
    percent_price_band: float = 0.1
    # Binance's order/trade reads lag an accepted order; a "not found" counts as absence only after
    # this long since the send (keep it well above the lag seen on the venue).
    lookup_window_s: float = 10.0
    lookup_interval_s: float = 2.0
    history_margin_ms: int = 60_000  # order/trade history is read from this long before the order


class Lookup(Enum):
    """What a lookup by client id established."""

    FOUND = "found"  # the exchange answered with the order; its state was adopted
    ABSENT = "absent"  # proven not on the exchange (window passed, history clean)
    NOT_YET = "not_yet"  # "not found", but too early to tell it from lag
    UNKNOWN = "unknown"  # the lookup failed, or history shows something nobody claims


@dataclass(frozen=True)
class Snapshot:
    """What the exchange says about one order, reduced to the fields the state machine needs."""

    status: OrderStatus
    exchange_order_id: str | None
    filled_qty_base: float
    cum_quote: float | None
    fee_quote: float | None
    ts_ms: int | None
    reason: str = ""
    fee_native: tuple[str, float] | None = None  # (asset, cumulative) when not charged in quote


def is_order_not_found(exc: BaseException) -> bool:
    """True for the exchange's "no such order" answer (ccxt ``OrderNotFound``, Binance -2013/-2011)."""
    cause = exc.__cause__ if isinstance(exc, ExchangeAccessError) else exc
    return isinstance(cause, ccxt.OrderNotFound)


def _is_duplicate(exc: BaseException) -> bool:
    """Binance -2010 "Duplicate order sent.": an order with this client id is already on the book."""
    return "duplicate order" in str(exc).lower()


class LiveVenue:
    """Orders on a real (or sandbox) exchange; satisfies :class:`~src.orders.interface.ExecutionVenue`."""

    def __init__(self, spot: ExchangeClient, futures: ExchangeClient | None, orders: OrderStore, *,
                 publish: Publish, now_ms: Callable[[], int], quote: str = "USDT", name: str = "live",
                 settings: LiveSettings = LiveSettings(), sleep: Sleep = asyncio.sleep,
                 ref_price: Callable[[str], float | None] | None = None,
                 recorder: LiveFillRecorder | None = None, fees: FeeSchedule | None = None) -> None:
        self.name = name
        self.fees = fees or FeeSchedule()  # when a fill does not say what it cost
        self.spot = spot
        self.futures = futures
        self.orders = orders
        self.quote = quote
        self.settings = settings
        self._publish = publish
        self._now_ms = now_ms
        self._sleep = sleep
        self._ref_price = ref_price
        self.recorder = recorder
        self._last_balances: dict[str, float] = {}
        self._last_futures_quote = 0.0  # USD-M margin balance (wallet + unrealized P&L) in quote
        self._balances_read = False  # until the first read, the account's value is unknown, not 0
        self.entry_gate: asyncio.Event | None = None  # set by start-up reconciliation; entries wait for it
        self.account_gate: asyncio.Event | None = None  # set once the account checks passed (account_preflight)
        self._locks: dict[str, asyncio.Lock] = {}
        self.counters: dict[str, int] = {"sent": 0, "lookups": 0, "refused_by_us": 0, "rejected": 0}

    # ----------------------------------------------------------------- the venue interface
    async def submit(self, intent: OrderIntent) -> OrderRecord:
        """Send ``intent`` once, whatever happens on the wire; a repeated call returns the same order."""
        async with self._lock(intent.client_order_id):
            existing = self.orders.get(intent.client_order_id)
            if existing is not None and (existing.record.status != "new" or existing.outcome_unknown):
                if existing.outcome_unknown:
                    await self._resolve(existing)
                return self.orders.get(intent.client_order_id).record  # type: ignore[union-attr]
            if existing is None and self._gate_closed(intent):
                return self._refuse(intent, self._ccxt_symbol(intent),
                                    "refused by us: start-up reconciliation or account checks have not passed")
            if existing is None:
                prepared = await self._prepare(intent)
                if isinstance(prepared, OrderRecord):
                    return prepared
                existing = self.orders.record_intent(prepared, exchange_symbol=self._ccxt_symbol(prepared))
            return await self._send(existing)

    async def cancel(self, client_order_id: str) -> OrderRecord:
        """Cancel by client id; an order that filled meanwhile comes back ``filled``, not an error."""
        async with self._lock(client_order_id):
            order = self.orders.get(client_order_id)
            if order is None:
                raise KeyError(f"unknown client order id {client_order_id}")
            if order.record.is_terminal:
                return order.record
            if order.record.status == "new" and order.send_attempts == 0:
                return self._adopt(order, Snapshot("cancelled", None, 0.0, None, None, None, "cancelled before send"))
            client, sym = self._client(order.record.intent), order.exchange_symbol
            try:
                raw = await client.call("cancel_order", None, sym, {"origClientOrderId": client_order_id},
                                        retry=False)
                return self._adopt(order, self._snapshot(raw, order))
            except ExchangeAccessError as exc:
                log.warning("cancel %s: %s; reading the order instead", client_order_id, exc)
            await self._resolve(order)
            return self.orders.get(client_order_id).record  # type: ignore[union-attr]

    def lookup(self, client_order_id: str) -> OrderRecord | None:
        """Our record of ``client_order_id`` (the router recovers known intents through this)."""
        found = self.orders.get(client_order_id)
        return found.record if found is not None else None

    async def cancel_all(self) -> int:
        """Cancel every non-terminal order we placed (shutdown with ``cancel_open_orders_on_stop``)."""
        n = 0
        for order in self.orders.active():
            try:
                await self.cancel(order.client_order_id)
                n += 1
            except ExchangeAccessError as exc:
                log.error("cancel %s at shutdown failed: %s", order.client_order_id, exc)
        return n

    async def open_orders(self) -> list[OrderRecord]:
        """Our non-terminal orders (the reconciler compares them with the exchange's list)."""
        return [o.record for o in self.orders.active()]

    async def balances(self) -> dict[str, float]:
        """Spot wallet: free + locked per asset, as the exchange reports it (also cached for equity)."""
        self._last_balances = {asset: b.total for asset, b in (await self.spot.fetch_balance()).items()}
        if self.futures is not None:
            # ccxt's USD-M total is Binance's marginBalance: the wallet plus unrealized P&L of open positions
            fut = await self.futures.fetch_balance()
            self._last_futures_quote = fut[self.quote].total if self.quote in fut else 0.0
        self._balances_read = True
        return dict(self._last_balances)

    def equity_known(self) -> bool:
        """True once the wallets were read: before that, :meth:`equity_quote` is not the account's value."""
        return self._balances_read

    def equity_quote(self) -> float:
        """Account value in quote from the last balances read (reconciliation refreshes them): the spot
        wallet at current prices plus the futures margin balance, which includes the perps' unrealized
        P&L, so a losing perp short lowers equity. Assets without a known price count 0.
        """
        total = self._last_futures_quote
        for asset, amount in self._last_balances.items():
            if asset == self.quote:
                total += amount
            elif self._ref_price is not None:
                total += amount * (self._ref_price(f"{asset}/{self.quote}") or 0.0)
        return total

    # ----------------------------------------------------------------- exchange truth for reconcile
    async def exchange_open_orders(self, symbols: list[str]) -> list[dict[str, Any]]:
        """Raw ccxt open orders on spot and (for perp symbols) futures, per symbol."""
        out: list[dict[str, Any]] = []
        for sym in symbols:
            client = self.futures if ":" in sym else self.spot
            if client is not None:
                out.extend(await client.call("fetch_open_orders", sym))
        return out

    async def positions(self) -> dict[str, float]:
        """Signed perp positions in base units, keyed like intents (``BTC/USDT``; short < 0)."""
        if self.futures is None:
            return {}
        raw = await self.futures.call("fapiPrivateV3GetPositionRisk")
        markets = await self.futures.load_markets()
        by_id = {m["id"]: s.split(":")[0] for s, m in markets.items() if m.get("contract")}
        out: dict[str, float] = {}
        for item in raw or []:
            qty = float(item.get("positionAmt") or 0.0)
            sym = by_id.get(str(item.get("symbol")))
            if sym and qty:
                out[sym] = out.get(sym, 0.0) + qty
        return out

    def adopt_external(self, raw: dict[str, Any], now_ms: int) -> OrderRecord:
        """Take over an order the exchange holds but we never sent (placed by a person): track its fills."""
        sym = str(raw.get("symbol"))
        market = "perp" if ":" in sym else "spot"
        cid = str(raw.get("clientOrderId") or f"ext-{raw.get('id')}")[:36]
        price = raw.get("price") or None
        intent = OrderIntent(client_order_id=cid, strategy_id="external", symbol=sym.split(":")[0],
                             side=raw.get("side") or "buy", type="limit" if raw.get("type") == "limit" else "market",
                             qty_base=float(raw.get("amount") or raw.get("filled") or 1e-12),
                             price_quote=float(price) if price else None, purpose="manual", market=market,
                             decision_ts_ms=now_ms, manual=True)
        order = self.orders.get(cid) or self.orders.record_intent(intent, exchange_symbol=sym)
        return self._adopt(order, self._snapshot(raw, order))

    async def refresh(self, client_order_id: str) -> OrderRecord | None:
        """Re-read one of our orders from the exchange (reconcile uses it for orders that left the book)."""
        order = self.orders.get(client_order_id)
        if order is None:
            return None
        async with self._lock(client_order_id):
            await self._resolve(order)
        return self.orders.get(client_order_id).record  # type: ignore[union-attr]

    # ----------------------------------------------------------------- recovery and polling
    async def resolve_unresolved(self) -> int:
        """Look up every order whose send outcome is unknown (start-up after a crash); returns how many."""
        pending = self.orders.unresolved()
        for order in pending:
            async with self._lock(order.client_order_id):
                await self._resolve(order)
        return len(pending)

    async def poll_active(self) -> int:
        """Refresh every open order from the exchange so fills are recorded; expire never-sent orders."""
        n = 0
        for order in self.orders.active():
            async with self._lock(order.client_order_id):
                current = self.orders.get(order.client_order_id)
                if current is None or current.record.is_terminal:
                    continue
                if current.record.status == "new" and not current.outcome_unknown:
                    self._expire_if_stale(current)
                    continue
                await self._resolve(current)
                n += 1
        return n

    # ----------------------------------------------------------------- internals: sending
    async def _prepare(self, intent: OrderIntent) -> OrderIntent | OrderRecord:
        """Apply the exchange's filters; a refusal is recorded as a local rejection with the reason."""
        client = self._client(intent)
        sym = self._ccxt_symbol(intent)
        try:
            markets = await client.load_markets()
            market = markets.get(sym)
            if market is None:
                raise order_filters.FilterRejected(order_filters.FilterReason.NO_REFERENCE_PRICE,
                                                  f"{sym}: not a market on {client.id}")
            filters = order_filters.SymbolFilters.from_ccxt_market(market, self.settings.percent_price_band)
            if intent.market == "spot" and intent.side == "sell":
                intent = await self._capped_to_free(intent, filters)
            ref = await self._reference_price(client, sym, intent)
            ok = order_filters.apply_filters(intent, filters, ref)
        except order_filters.FilterRejected as exc:
            return self._refuse(intent, sym, f"refused by us ({exc.reason.value}): {exc}")
        except ExchangeAccessError as exc:  # nothing was sent: refusing now is safe, retrying is the caller's call
            return self._refuse(intent, sym, f"not sent: market rules or price unavailable ({exc})")
        return intent.model_copy(update={"qty_base": ok.qty_base, "price_quote": ok.price_quote})

    async def _capped_to_free(self, intent: OrderIntent, filters: order_filters.SymbolFilters) -> OrderIntent:
        """A spot sell never asks for more than the free base balance, floored to the lot step: fees
        taken in the base asset (or dust) would otherwise make every exit a -2010 refusal."""
        base = intent.symbol.split("/")[0]
        balances = await self.spot.fetch_balance()
        free = balances[base].free if base in balances else 0.0
        sellable = order_filters.floor_to_step(free, filters.step_size)
        if sellable <= 0:
            raise order_filters.FilterRejected(order_filters.FilterReason.INSUFFICIENT_FUNDS,
                                              f"{intent.symbol}: no free {base} to sell (free {free:.10g})")
        if sellable + 1e-12 < intent.qty_base:
            log.warning("%s: sell %s capped to the free %s balance %.10g (floored to the lot step)",
                        intent.client_order_id, intent.qty_base, base, sellable)
            return intent.model_copy(update={"qty_base": sellable})
        return intent

    def _refuse(self, intent: OrderIntent, sym: str, reason: str) -> OrderRecord:
        self.counters["refused_by_us"] += 1
        order = self.orders.record_intent(intent, exchange_symbol=sym)
        return self._adopt(order, Snapshot("rejected", None, 0.0, None, None, None, reason))

    async def _reference_price(self, client: ExchangeClient, sym: str, intent: OrderIntent) -> float | None:
        if intent.type == "limit" and intent.price_quote is not None and self._ref_price is None:
            return intent.price_quote
        if self._ref_price is not None:
            found = self._ref_price(sym)
            if found is not None:
                return found
        return (await client.fetch_ticker(sym)).last

    async def _send(self, order: StoredOrder) -> OrderRecord:
        """The send loop: each attempt is preceded by proof that the exchange does not hold the order."""
        cid = order.client_order_id
        last_error = ""
        while order.send_attempts < self.settings.max_send_attempts:
            order = self.orders.mark_sending(cid)
            try:
                self.counters["sent"] += 1
                raw = await self._create(order)
                return self._adopt(order, self._snapshot(raw, order))
            except IpBanned as exc:
                last_error = f"IP banned: {exc}"
                break  # the exchange refused the request (or it never left); no lookup possible now
            except TemporaryExchangeError as exc:
                last_error = str(exc)
                log.warning("order %s: send outcome unknown (%s); looking it up by client id", cid, exc)
                found = await self._absent_after_window(order)
                if found is not None:
                    return found
            except ExchangeAccessError as exc:
                if _is_duplicate(exc):  # it exists after all (a lookup lagged): read it, never reject it
                    await self._resolve(order)
                    return self.orders.get(cid).record  # type: ignore[union-attr]
                self.counters["rejected"] += 1
                return self._adopt(order, Snapshot("rejected", None, 0.0, None, None, None,
                                                   f"rejected by the exchange: {exc}"))
            order = self.orders.get(cid)  # type: ignore[assignment]
        self.orders.mark_not_sent(cid)
        return self._adopt(self.orders.get(cid),  # type: ignore[arg-type]
                           Snapshot("rejected", None, 0.0, None, None, None,
                                    f"not accepted after {order.send_attempts} attempt(s): {last_error}"))

    async def _absent_after_window(self, order: StoredOrder) -> OrderRecord | None:
        """None only when the exchange has proven it does not hold the order (see :class:`Lookup`).

        Lookups repeat every ``lookup_interval_s`` until the order shows up or ``lookup_window_s``
        has passed since the send; then order and trade history decide. Anything else leaves the
        order's outcome unknown, which blocks a re-send until a later poll resolves it.
        """
        cid = order.client_order_id
        while True:
            outcome = await self._resolve(order)
            current = self.orders.get(cid)
            if outcome is Lookup.ABSENT:
                return None
            if outcome is not Lookup.NOT_YET or current is None:
                return current.record if current is not None else None
            await self._sleep(self.settings.lookup_interval_s)

    async def _create(self, order: StoredOrder) -> dict[str, Any]:
        intent = order.record.intent
        params: dict[str, Any] = {"newClientOrderId": intent.client_order_id}
        if intent.reduce_only and intent.market == "perp":
            params["reduceOnly"] = True
        price = intent.price_quote if intent.type == "limit" else None
        return await self._client(intent).call("create_order", order.exchange_symbol, intent.type, intent.side,
                                               intent.qty_base, price, params, retry=False)

    # ----------------------------------------------------------------- internals: lookups
    async def _resolve(self, order: StoredOrder) -> Lookup:
        """Read the order by client id and adopt it; see :class:`Lookup` for what the answer means."""
        self.counters["lookups"] += 1
        client = self._client(order.record.intent)
        try:
            raw = await client.call("fetch_order", None, order.exchange_symbol,
                                    {"origClientOrderId": order.client_order_id})
        except ExchangeAccessError as exc:
            if is_order_not_found(exc):
                return await self._not_found(order)
            log.error("order %s: lookup failed (%s); left unresolved for the next poll", order.client_order_id, exc)
            return Lookup.UNKNOWN
        await self._adopt_read(order, raw)
        return Lookup.FOUND

    async def _not_found(self, order: StoredOrder) -> Lookup:
        """A "no such order": lag while the window runs, then order and trade history decide."""
        if order.record.status != "new" or not order.outcome_unknown:
            return Lookup.NOT_YET if order.record.status != "new" else Lookup.ABSENT  # known: lag, or never sent
        waited_ms = self._now_ms() - order.last_sent_ms
        if waited_ms < self.settings.lookup_window_s * 1000:
            return Lookup.NOT_YET
        verdict = await self._history_verdict(order)
        if verdict is Lookup.ABSENT:
            self.orders.mark_not_sent(order.client_order_id)
        return verdict

    async def _history_verdict(self, order: StoredOrder) -> Lookup:
        """Search the symbol's order history for our client id, and its trades for a fill no order of
        ours explains; ABSENT only when both are clean."""
        client, sym, cid = self._client(order.record.intent), order.exchange_symbol, order.client_order_id
        since = order.record.created_ms - self.settings.history_margin_ms
        try:
            history = await client.call("fetch_orders", sym, since)
            trades = await client.call("fetch_my_trades", sym, since)
        except ExchangeAccessError as exc:
            log.error("order %s: history lookup failed (%s); outcome stays unknown", cid, exc)
            return Lookup.UNKNOWN
        mine = [o for o in history or [] if o.get("clientOrderId") == cid]
        if mine:
            await self._adopt_read(order, mine[-1])
            return Lookup.FOUND
        known = {o.record.exchange_order_id for o in self.orders.all() if o.record.exchange_order_id}
        side = order.record.intent.side
        stray = [t for t in trades or [] if str(t.get("order")) not in known and t.get("side") == side]
        if stray:
            self._alert_ambiguous(order, stray)
            return Lookup.UNKNOWN
        return Lookup.ABSENT

    def _alert_ambiguous(self, order: StoredOrder, stray: list[dict[str, Any]]) -> None:
        cid = order.client_order_id
        text = (f"order {cid}: not found by client id, but {len(stray)} {order.record.intent.side} trade(s) on "
                f"{order.exchange_symbol} since it was sent belong to no order of ours. Not re-sent; check the "
                "exchange's order history by hand.")
        log.error(text)
        self._publish(Alert("critical", f"order {cid}: outcome ambiguous", text, key=f"order-ambiguous:{cid}",
                            ts_ms=self._now_ms()))

    async def _adopt_read(self, order: StoredOrder, raw: dict[str, Any]) -> OrderRecord:
        """Adopt a looked-up order; a spot fill whose fee asset the answer lacks reads it from the trades."""
        snap = self._snapshot(raw, order)
        have = sum(f.qty_base for f in order.fills)
        if (order.record.intent.market == "spot" and snap.filled_qty_base > have + 1e-12
                and not (raw.get("fee") or {}).get("currency") and snap.exchange_order_id):
            snap = await self._fees_from_trades(order, snap)
        return self._adopt(order, snap)

    async def _fees_from_trades(self, order: StoredOrder, snap: Snapshot) -> Snapshot:
        """Commission and commissionAsset of the order's fills (Binance myTrades by orderId)."""
        client = self._client(order.record.intent)
        try:
            trades = await client.call("fetch_my_trades", order.exchange_symbol, None, None,
                                       {"orderId": snap.exchange_order_id})
        except ExchangeAccessError as exc:
            log.warning("order %s: trades unreadable (%s); fee asset assumed quote", order.client_order_id, exc)
            return snap
        per_asset: dict[str, float] = {}
        for t in trades or []:
            fee = t.get("fee") or {}
            if fee.get("currency") and fee.get("cost") is not None:
                per_asset[str(fee["currency"])] = per_asset.get(str(fee["currency"]), 0.0) + float(fee["cost"])
        if not per_asset:
            return snap
        if set(per_asset) == {self.quote}:
            return replace(snap, fee_quote=per_asset[self.quote])
        asset, amount = next((a, v) for a, v in per_asset.items() if a != self.quote)
        price = (snap.cum_quote / snap.filled_qty_base) if snap.cum_quote and snap.filled_qty_base else None
        base = order.record.intent.symbol.split("/")[0]
        fee_quote = amount * price if (asset == base and price) else snap.fee_quote
        return replace(snap, fee_native=(asset, amount), fee_quote=fee_quote)

    def _expire_if_stale(self, order: StoredOrder) -> None:
        age = self._now_ms() - order.record.created_ms
        if age >= self.settings.never_sent_expiry_ms:
            self._adopt(order, Snapshot("expired", None, 0.0, None, None, None,
                                        "never reached the exchange and was not re-submitted"))

    # ----------------------------------------------------------------- internals: adopting answers
    def _snapshot(self, raw: dict[str, Any], order: StoredOrder) -> Snapshot:
        """Reduce a ccxt order dict to our terms; status follows fills (open + filled > 0 = partial)."""
        filled = float(raw.get("filled") or 0.0)
        status = _CCXT_STATUS.get(str(raw.get("status")), "open")
        if status == "open" and filled > 0:
            status = "partially_filled"
        cost = raw.get("cost")
        cum_quote = float(cost) if cost else (float(raw["average"]) * filled if raw.get("average") else None)
        fee = raw.get("fee") or {}
        native = None
        if fee.get("cost") is not None and fee.get("currency") and fee.get("currency") != self.quote:
            native = (str(fee["currency"]), float(fee["cost"]))
        return Snapshot(status, str(raw.get("id")) if raw.get("id") else None, filled, cum_quote,
                        self._fee_quote(raw, cum_quote, order), raw.get("timestamp"), fee_native=native)

    def _fee_quote(self, raw: dict[str, Any], cum_quote: float | None, order: StoredOrder) -> float | None:
        """Cumulative fee in quote: the exchange's when it reports one, else the taker-fee estimate."""
        fee = raw.get("fee") or {}
        cost, currency = fee.get("cost"), fee.get("currency")
        if cost is not None and currency == self.quote:
            return float(cost)
        if cost is not None and raw.get("average") and currency == order.record.intent.symbol.split("/")[0]:
            return float(cost) * float(raw["average"])
        market = (self._client(order.record.intent).ex.markets or {}).get(order.exchange_symbol) or {}
        rate = market.get("taker") or self.fees.rate(order.record.intent.market, "taker")
        return None if cum_quote is None else cum_quote * float(rate)

    def _adopt(self, order: StoredOrder, snap: Snapshot) -> OrderRecord:
        """Apply an exchange answer to the state machine, then publish the change and any new fills."""
        before = order.record.status
        try:
            updated, fills = self.orders.apply(order.client_order_id, snap.status,
                                               filled_qty_base=snap.filled_qty_base, cum_quote=snap.cum_quote,
                                               fee_quote=snap.fee_quote, exchange_order_id=snap.exchange_order_id,
                                               reason=snap.reason, ts_ms=snap.ts_ms, fee_native=snap.fee_native)
        except IllegalOrderTransition as exc:
            log.warning("ignored a stale exchange answer: %s", exc)
            return self.orders.get(order.client_order_id).record  # type: ignore[union-attr]
        self._emit(updated, fills, changed=updated.record.status != before)
        return updated.record

    def _emit(self, order: StoredOrder, fills: list[StoredFill], changed: bool) -> None:
        """Ledger line (when a ledger is wired) then bus events; ``symbol`` is the intent's, as paper does."""
        rec, intent = order.record, order.record.intent
        sym, base = intent.symbol, intent.symbol.split("/")[0]
        for f in fills:
            if self.recorder is not None:
                self.recorder.record(order, f)
            received = f.qty_base - (f.fee_amount if intent.side == "buy" and f.fee_asset == base else 0.0)
            self._publish(Fill(intent.client_order_id, sym, intent.side, received, f.price_quote, f.fee_quote,
                               f.ts_ms, intent.strategy_id, "maker" if intent.type == "limit" else "taker"))
        if changed or fills:
            self._publish(OrderUpdate(intent.client_order_id, sym, intent.side, rec.status, rec.filled_qty_base,
                                      rec.avg_price_quote, self._now_ms(), intent.strategy_id, rec.reason))

    # ----------------------------------------------------------------- helpers
    def _gate_closed(self, intent: OrderIntent) -> bool:
        """New risk is refused until reconciliation has compared the exchange with our files once."""
        if intent.purpose != "entry" or intent.reduce_only:
            return False
        return any(g is not None and not g.is_set() for g in (self.entry_gate, self.account_gate))

    def _client(self, intent: OrderIntent) -> ExchangeClient:
        if intent.market == "perp":
            if self.futures is None:
                raise ValueError("perp order but no futures exchange is configured (exchange.futures_id)")
            return self.futures
        return self.spot

    @staticmethod
    def _ccxt_symbol(intent: OrderIntent) -> str:
        return perp_symbol(intent.symbol) if intent.market == "perp" else intent.symbol

    def _lock(self, client_order_id: str) -> asyncio.Lock:
        return self._locks.setdefault(client_order_id, asyncio.Lock())

    def snapshot(self) -> dict[str, Any]:
        """For the status board."""
        return {"venue": self.name, **self.counters, **self.orders.snapshot()}


__all__ = ["LiveSettings", "LiveVenue", "Snapshot", "is_order_not_found"]
