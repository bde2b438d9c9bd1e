"""Order endpoints for the loopback fake Binance: a tiny, strict matching engine the real ccxt client trades on.

Installs on a :class:`~tests.fakes.fake_binance.FakeBinance` (through its ``add_route``) the spot
(``/api/v3/order``, ``/openOrders``, ``/allOrders``, ``/myTrades``) and USD-M (``/fapi/v1/order``,
``/openOrders``, ``/allOrders``, ``/userTrades``, ``/fapi/v2|v3/positionRisk``) endpoints. Market
orders fill at the ticker's last price; limit orders rest until the test fills them with
:meth:`FakeOrders.fill`. Fills move the fake's spot balances and perp positions, so a reconciler
sees a consistent account.

It is as unkind as Binance, each rule cited where it is implemented:

* balances are enforced (-2010 "Account has insufficient balance for requested action.");
* spot commission is taken from the asset received — base on a buy, quote on a sell — unless the
  account pays fees in BNB (``pays_fees_in_bnb``), with ``commission``/``commissionAsset`` per fill;
* ``newClientOrderId`` is unique only among *open* orders: a filled order's id may be used again;
* order and trade lookups lag an accepted order by ``lookup_lag_s`` (-2013 "Order does not exist.");
* filters: LOT_SIZE, PRICE_FILTER and NOTIONAL failures are -1013;
* a futures order without ``positionSide`` on a hedge-mode account is -4061.

Faults that happen *after* the order was accepted (the case that creates duplicates in naive
clients) are queued with :meth:`FakeOrders.after_accept`: hang past the client's timeout, drop the
connection, or answer 500. Faults *before* acceptance use ``FakeBinance.fault(path, ...)``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.fake_binance import FakeBinance

SPOT, FUT = "/api/v3", "/fapi/v1"
OPEN = ("NEW", "PARTIALLY_FILLED")
_EPS = 1e-12


@dataclass
class FakeOrder:
    api: str
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float | None
    reduce_only: bool = False
    executed: float = 0.0
    cum_quote: float = 0.0
    status: str = "NEW"
    time_ms: int = 1_700_000_000_000
    accepted_s: float = 0.0
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AfterAccept:
    hang_s: float = 0.0
    drop: bool = False
    status: int | None = None


def _err(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _insufficient() -> web.Response:
    # https://developers.binance.com/docs/binance-spot-api-docs/errors (-2010 NEW_ORDER_REJECTED)
    return _err(-2010, "Account has insufficient balance for requested action.")


class FakeOrders:
    """The order side of the fake exchange; ``FakeOrders(fake)`` installs the routes."""

    def __init__(self, fake: FakeBinance, *, commission_rate: float = 0.001,
                 now_s: Callable[[], float] = time.time, lookup_lag_s: float = 0.0) -> None:
        self.fake = fake
        self.commission_rate = commission_rate
        self.now_s = now_s
        self.lookup_lag_s = lookup_lag_s
        self.history: list[FakeOrder] = []  # every order ever accepted, oldest first
        self.orders: dict[tuple[str, str], FakeOrder] = {}  # the latest order per (api, client id)
        self.duplicates: dict[str, int] = {}
        self.positions: dict[str, float] = {}
        self.entry_price: dict[str, float] = {}
        self.market_fill_fraction = 1.0
        self.pays_fees_in_bnb = False
        self.bnb_price = 600.0
        self._after: list[AfterAccept] = []
        self.on_accept: Callable[[FakeOrder], Awaitable[None]] | None = None  # e.g. kill the client right here
        self._next_id = 1000
        self._next_trade = 5000
        self.accepted = asyncio.Event()
        fake.futures_upnl = self._unrealized  # type: ignore[attr-defined]
        for api in (SPOT, FUT):
            fake.add_route("POST", f"{api}/order", self._new_order(api))
            fake.add_route("GET", f"{api}/order", self._get_order(api))
            fake.add_route("DELETE", f"{api}/order", self._cancel_order(api))
            fake.add_route("GET", f"{api}/openOrders", self._open_orders(api))
            fake.add_route("GET", f"{api}/allOrders", self._all_orders(api))
        fake.add_route("GET", f"{SPOT}/myTrades", self._my_trades(SPOT))
        fake.add_route("GET", f"{FUT}/userTrades", self._my_trades(FUT))
        for version in ("v2", "v3"):
            fake.add_route("GET", f"/fapi/{version}/positionRisk", self._position_risk)

    # ----------------------------------------------------------------- test controls
    def after_accept(self, *, hang_s: float = 0.0, drop: bool = False, status: int | None = None) -> None:
        """The next accepted order gets this treatment instead of a normal answer."""
        self._after.append(AfterAccept(hang_s, drop, status))

    def created(self, client_id: str) -> int:
        """How many orders the exchange accepted with this client id (one intent must make ≤ 1)."""
        return sum(1 for o in self.history if o.client_id == client_id)

    def posts(self, api: str = SPOT) -> int:
        return self.fake.count(f"{api}/order", "POST")

    def fill(self, client_id: str, qty: float, price: float | None = None, api: str = SPOT) -> FakeOrder:
        """Fill part (or the rest) of a resting order, as the market would."""
        order = self.orders[(api, client_id)]
        self._execute(order, min(qty, order.qty - order.executed), price or order.price or self._last(order.symbol))
        return order

    def expire(self, client_id: str, api: str = SPOT) -> None:
        self.orders[(api, client_id)].status = "EXPIRED"

    # ----------------------------------------------------------------- matching
    def _last(self, symbol: str) -> float:
        return float(self.fake.tickers.get(symbol, {}).get("lastPrice", "100.00"))

    def _fee(self, order: FakeOrder, qty: float, price: float) -> tuple[float, str]:
        """Spot commission is taken from what the account receives — the base asset on a buy, the
        quote on a sell — unless "use BNB to pay for fees" is on, when it is charged in BNB at a
        discount (https://www.binance.com/en/support/faq/e85d6e703b874674840122196b89780a); USD-M
        futures charge it in the margin asset. The asset is reported per fill as commissionAsset
        (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#new-order-trade).
        """
        market = self.fake.markets[order.symbol]
        if order.api == FUT:
            return qty * price * self.commission_rate, market.quote
        if self.pays_fees_in_bnb:
            return qty * price * self.commission_rate * 0.75 / self.bnb_price, "BNB"
        if order.side == "BUY":
            return qty * self.commission_rate, market.base
        return qty * price * self.commission_rate, market.quote

    def _execute(self, order: FakeOrder, qty: float, price: float) -> None:
        if qty <= 0:
            return
        order.executed += qty
        order.cum_quote += qty * price
        commission, asset = self._fee(order, qty, price)
        self._next_trade += 1
        order.fills.append({"price": f"{price}", "qty": f"{qty}", "commission": f"{commission}",
                            "commissionAsset": asset, "tradeId": self._next_trade, "time": int(self.now_s() * 1000)})
        order.status = "FILLED" if order.executed >= order.qty - _EPS else "PARTIALLY_FILLED"
        sign = 1.0 if order.side == "BUY" else -1.0
        market = self.fake.markets[order.symbol]
        if order.api == FUT:
            self._move_perp(order.symbol, sign * qty, price)
            self.fake.futures_wallet[market.quote] = self.fake.futures_wallet.get(market.quote, 0.0) - commission
            return
        self._move(market.base, sign * qty)
        self._move(market.quote, -sign * qty * price)
        self._move(asset, -commission)

    def _move_perp(self, symbol: str, delta: float, price: float) -> None:
        """One-way mode netting: a reduce realises P&L into the futures wallet at the entry price."""
        held = self.positions.get(symbol, 0.0)
        entry = self.entry_price.get(symbol, price)
        quote = self.fake.markets[symbol].quote
        if held and (held > 0) != (delta > 0):
            closed = min(abs(delta), abs(held))
            pnl = closed * (price - entry) * (1.0 if held > 0 else -1.0)
            self.fake.futures_wallet[quote] = self.fake.futures_wallet.get(quote, 0.0) + pnl
        new = held + delta
        if abs(new) <= _EPS:
            self.positions.pop(symbol, None)
            self.entry_price.pop(symbol, None)
            return
        if not held or (held > 0) != (new > 0):
            self.entry_price[symbol] = price
        elif abs(new) > abs(held):
            self.entry_price[symbol] = (abs(held) * entry + abs(delta) * price) / abs(new)
        self.positions[symbol] = new

    def _unrealized(self) -> float:
        return sum(q * (self._last(s) - self.entry_price.get(s, self._last(s))) for s, q in self.positions.items())

    def _move(self, asset: str, delta: float) -> None:
        free, locked = self.fake.balances.get(asset, (0.0, 0.0))
        self.fake.balances[asset] = (free + delta, locked)

    def _free(self, asset: str) -> float:
        return self.fake.balances.get(asset, (0.0, 0.0))[0]

    # ----------------------------------------------------------------- checks before accepting
    def _filter_failure(self, symbol: str, qty: float, price: float | None, ref: float) -> web.Response | None:
        """-1013 filter failures (https://developers.binance.com/docs/binance-spot-api-docs/filters):
        LOT_SIZE (quantity ≥ minQty, ≤ maxQty, a multiple of stepSize), PRICE_FILTER (a multiple of
        tickSize) and NOTIONAL (price × quantity ≥ minNotional; market orders at the average price).
        """
        m = self.fake.markets[symbol]
        step, tick = float(m.step), float(m.tick)
        units = qty / step
        if qty < step - _EPS or qty > 9000 or abs(units - round(units)) > 1e-6:
            return _err(-1013, "Filter failure: LOT_SIZE")
        if price is not None and abs(price / tick - round(price / tick)) > 1e-6:
            return _err(-1013, "Filter failure: PRICE_FILTER")
        if qty * (price or ref) < 5.0:
            return _err(-1013, "Filter failure: NOTIONAL")
        return None

    def _balance_refusal(self, api: str, form: dict[str, Any]) -> web.Response | None:
        """Spot: a buy needs the quote it costs free, a sell the base it sells (-2010). USD-M: the
        initial margin (notional / leverage) must fit the available wallet (-2019 "Margin is
        insufficient.", https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
        """
        market = self.fake.markets[str(form["symbol"])]
        qty = float(form["quantity"])
        price = float(form["price"]) if form.get("price") else self._last(market.id)
        if api == FUT:
            if str(form.get("reduceOnly", "")).lower() == "true":
                return None
            lev = self.fake.leverage.get(market.id, 20)
            if qty * price / lev > self.fake.futures_wallet.get(market.quote, 0.0) + self._unrealized():
                return _err(-2019, "Margin is insufficient.")
            return None
        need, asset = (qty * price, market.quote) if form["side"] == "BUY" else (qty, market.base)
        return _insufficient() if self._free(asset) < need - 1e-9 else None

    def _refusal(self, api: str, form: dict[str, Any]) -> web.Response | None:
        symbol, cid = str(form.get("symbol")), str(form.get("newClientOrderId", ""))
        if symbol not in self.fake.markets:
            return _err(-1121, "Invalid symbol.")
        # newClientOrderId: "A unique id among open orders" — only an *open* order blocks a reused id
        # (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#new-order-trade)
        held = self.orders.get((api, cid))
        if cid and held is not None and held.status in OPEN:
            self.duplicates[cid] = self.duplicates.get(cid, 0) + 1
            return _err(-2010, "Duplicate order sent.")
        if api == FUT and self.fake.dual_side_position and form.get("positionSide") in (None, "BOTH"):
            # https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code (-4061)
            return _err(-4061, "Order's position side does not match user's setting.")
        price = float(form["price"]) if form.get("price") else None
        failure = self._filter_failure(symbol, float(form["quantity"]), price, self._last(symbol))
        if failure is not None and not (api == FUT and "NOTIONAL" in failure.text
                                        and str(form.get("reduceOnly", "")).lower() == "true"):
            return failure
        return self._balance_refusal(api, form)

    # ----------------------------------------------------------------- handlers
    def _new_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            form = dict(await request.post())
            refused = self._refusal(api, form)
            if refused is not None:
                return refused
            order = self._create(api, form)
            self.accepted.set()
            if self.on_accept is not None:
                await self.on_accept(order)
            if self._after:
                treat = self._after.pop(0)
                if treat.hang_s:
                    await asyncio.sleep(treat.hang_s)
                if treat.drop and request.transport is not None:
                    request.transport.abort()
                    return web.Response(status=500)
                if treat.status is not None:
                    return web.Response(status=treat.status, text="internal error", content_type="text/plain")
            return _json(self._render(order, full=True))
        return handler

    def _create(self, api: str, form: dict[str, Any]) -> FakeOrder:
        self._next_id += 1
        price = float(form["price"]) if form.get("price") else None
        order = FakeOrder(api, self._next_id, str(form.get("newClientOrderId") or f"fake-{self._next_id}"),
                          str(form["symbol"]), str(form["side"]), str(form["type"]), float(form["quantity"]), price,
                          reduce_only=str(form.get("reduceOnly", "")).lower() == "true",
                          time_ms=int(self.now_s() * 1000), accepted_s=self.now_s())
        self.orders[(api, order.client_id)] = order
        self.history.append(order)
        if order.type == "MARKET":
            self._execute(order, order.qty * self.market_fill_fraction, self._last(order.symbol))
            if order.status != "FILLED":
                order.status = "EXPIRED"  # a market order never rests
        return order

    def _visible(self, order: FakeOrder) -> bool:
        """Reads lag the matching engine: right after an accepted order, GET order / allOrders /
        myTrades may answer -2013 "Order does not exist." for a while
        (https://dev.binance.vision/t/faq-error-message-order-does-not-exist/46; seen in ccxt/ccxt#1786).
        """
        return self.now_s() >= order.accepted_s + self.lookup_lag_s

    def _find(self, api: str, query: Any) -> FakeOrder | None:
        cid = query.get("origClientOrderId")
        if cid is not None:
            found = self.orders.get((api, cid))
        else:
            oid = int(query.get("orderId", -1))
            found = next((o for o in self.history if o.api == api and o.order_id == oid), None)
        return found if found is not None and self._visible(found) else None

    def _get_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            order = self._find(api, request.query)
            if order is None:
                return _err(-2013, "Order does not exist.")
            return _json(self._render(order, full=False))
        return handler

    def _cancel_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            order = self._find(api, request.query)
            if order is None or order.status not in OPEN:
                return _err(-2011, "Unknown order sent.")
            order.status = "CANCELED"
            return _json(self._render(order, full=False))
        return handler

    def _open_orders(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            sym = request.query.get("symbol")
            found = [self._render(o, full=False) for o in self.history
                     if o.api == api and o.status in OPEN and (sym is None or o.symbol == sym) and self._visible(o)]
            return _json(found)
        return handler

    def _all_orders(self, api: str):
        """GET allOrders: every order of a symbol since ``startTime``, lagging like GET order."""
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            q = request.query
            start = int(q.get("startTime", 0))
            found = [self._render(o, full=False) for o in self.history
                     if o.api == api and o.symbol == q.get("symbol") and o.time_ms >= start and self._visible(o)]
            return _json(found[-int(q.get("limit", 500)):])
        return handler

    def _my_trades(self, api: str):
        """GET myTrades / userTrades: the account's fills with commission and commissionAsset
        (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints#account-trade-list).
        """
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            q = request.query
            start, oid = int(q.get("startTime", 0)), q.get("orderId")
            out = []
            for o in self.history:
                if o.api != api or o.symbol != q.get("symbol") or not self._visible(o):
                    continue
                if oid is not None and str(o.order_id) != oid:
                    continue
                for f in o.fills:
                    if f["time"] < start:
                        continue
                    out.append({"symbol": o.symbol, "id": f["tradeId"], "orderId": o.order_id,
                                "price": f["price"], "qty": f["qty"],
                                "quoteQty": f"{float(f['price']) * float(f['qty'])}",
                                "commission": f["commission"], "commissionAsset": f["commissionAsset"],
                                "time": f["time"], "isBuyer": o.side == "BUY", "buyer": o.side == "BUY",
                                "side": o.side, "isMaker": o.type == "LIMIT", "maker": o.type == "LIMIT",
                                "isBestMatch": True, "positionSide": "BOTH", "realizedPnl": "0"})
            return _json(out)
        return handler

    async def _position_risk(self, fake: FakeBinance, request: web.Request) -> web.StreamResponse:
        """positionRisk: one ``BOTH`` row per symbol in one-way mode, a ``LONG`` and a ``SHORT`` row in
        hedge mode (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/
        Position-Information-V3).
        """
        rows = []
        for s, q in self.positions.items():
            lev = fake.leverage.get(s, 20)
            row = {"symbol": s, "positionAmt": f"{q}", "entryPrice": f"{self.entry_price.get(s, 0.0)}",
                   "markPrice": f"{self._last(s)}", "breakEvenPrice": "0",
                   "unRealizedProfit": f"{q * (self._last(s) - self.entry_price.get(s, 0.0))}",
                   "positionSide": "BOTH", "leverage": f"{lev}",
                   "marginType": fake.margin_type.get(s, "CROSSED").lower().replace("crossed", "cross"),
                   "notional": f"{q * self._last(s)}", "isolatedMargin": "0", "updateTime": 0}
            rows.append(row)
        return _json(rows)

    def _render(self, o: FakeOrder, full: bool) -> dict[str, Any]:
        base = {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id,
                "price": f"{o.price or 0}", "origQty": f"{o.qty}", "executedQty": f"{o.executed}",
                "status": o.status, "timeInForce": "GTC", "type": o.type, "side": o.side}
        if o.api == FUT:
            avg = o.cum_quote / o.executed if o.executed else 0.0
            return {**base, "avgPrice": f"{avg}", "cumQuote": f"{o.cum_quote}", "reduceOnly": o.reduce_only,
                    "positionSide": "BOTH", "updateTime": o.time_ms}
        out = {**base, "cummulativeQuoteQty": f"{o.cum_quote}", "orderListId": -1}
        if full:
            return {**out, "transactTime": o.time_ms, "fills": [{k: v for k, v in f.items() if k != "time"}
                                                                for f in o.fills]}
        return {**out, "time": o.time_ms, "updateTime": o.time_ms, "isWorking": o.status in OPEN}


def _json(payload: Any) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json")


__all__ = ["FUT", "SPOT", "FakeOrder", "FakeOrders"]
