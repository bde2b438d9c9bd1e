"""The live / testnet :class:`~src.orders.interface.ExecutionVenue`: real orders through the one ccxt adapter.

What makes it safe to leave alone with real money:

* **No duplicates.** Every order carries its deterministic client order id (Binance
  ``newClientOrderId``). The intent is written to :class:`~src.orders.order_store.OrderStore`
  and the send attempt counted *before* the request leaves. When a send times out, the connection
  drops, or the exchange answers 5xx/429, the order is looked up by that client id before anything
  is sent again; only an explicit "order does not exist" allows another attempt. A restart finds
  the same ``new`` + attempted orders and resolves them the same way (:meth:`LiveVenue.resolve_unresolved`).
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
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from src.core.events import Event, Fill, OrderUpdate
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
        self.entry_gate: asyncio.Event | None = None  # set by start-up reconciliation; entries wait for it
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
                                    "refused by us: start-up reconciliation has not finished")
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
        return dict(self._last_balances)

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
            ref = await self._reference_price(client, sym, intent)
            ok = order_filters.apply_filters(intent, filters, ref)
        except order_filters.FilterRejected as exc:
            return self._refuse(intent, sym, f"refused by us ({exc.reason.value}): {exc}")
        except ExchangeAccessError as exc:  # nothing was sent: refusing now is safe, retrying is the caller's call
            return self._refuse(intent, sym, f"not sent: market rules or price unavailable ({exc})")
        return intent.model_copy(update={"qty_base": ok.qty_base, "price_quote": ok.price_quote})

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
                found = await self._absent_twice(order)
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

    async def _absent_twice(self, order: StoredOrder) -> OrderRecord | None:
        """None only when two lookups, a backoff apart, both say the exchange has no such order.

        A lookup can lag an accepted order by a moment, and Binance refuses a repeated client id
        only while the first order is still open: one "not found" is not proof enough to send again.
        """
        cid = order.client_order_id
        for check in range(2):
            if check:
                await self._sleep(self.settings.resend_backoff_s * max(1, order.send_attempts))
            if not await self._resolve(order):
                return self.orders.get(cid).record  # type: ignore[union-attr]  # unknown: never re-send
            current = self.orders.get(cid)
            if current is None or current.record.status != "new":
                return current.record if current is not None else None
        return None

    async def _create(self, order: StoredOrder) -> dict[str, Any]:
        intent = order.record.intent
        params: dict[str, Any] = {"newClientOrderId": intent.client_order_id}
        if intent.reduce_only and intent.market == "perp":
            params["reduceOnly"] = True
        price = intent.price_quote if intent.type == "limit" else None
        return await self._client(intent).call("create_order", order.exchange_symbol, intent.type, intent.side,
                                               intent.qty_base, price, params, retry=False)

    # ----------------------------------------------------------------- internals: lookups
    async def _resolve(self, order: StoredOrder) -> bool:
        """Read the order by client id and adopt it; True when the exchange gave a definite answer."""
        self.counters["lookups"] += 1
        client = self._client(order.record.intent)
        try:
            raw = await client.call("fetch_order", None, order.exchange_symbol,
                                    {"origClientOrderId": order.client_order_id})
        except ExchangeAccessError as exc:
            if is_order_not_found(exc):
                self.orders.mark_not_sent(order.client_order_id)
                return True
            log.error("order %s: lookup failed (%s); left unresolved for the next poll", order.client_order_id, exc)
            return False
        self._adopt(order, self._snapshot(raw, order))
        return True

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
        sym = intent.symbol
        for f in fills:
            if self.recorder is not None:
                self.recorder.record(order, f)
            self._publish(Fill(intent.client_order_id, sym, intent.side, f.qty_base, f.price_quote, f.fee_quote,
                               f.ts_ms, intent.strategy_id, "maker" if intent.type == "limit" else "taker"))
        if changed or fills:
            self._publish(OrderUpdate(intent.client_order_id, sym, intent.side, rec.status, rec.filled_qty_base,
                                      rec.avg_price_quote, self._now_ms(), intent.strategy_id, rec.reason))

    # ----------------------------------------------------------------- helpers
    def _gate_closed(self, intent: OrderIntent) -> bool:
        """New risk is refused until reconciliation has compared the exchange with our files once."""
        gate = self.entry_gate
        return gate is not None and not gate.is_set() and intent.purpose == "entry" and not intent.reduce_only

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
