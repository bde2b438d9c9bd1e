"""Order endpoints for the loopback fake Binance: a tiny matching engine the real ccxt client trades on.

Installs on a :class:`~tests.fakes.fake_binance.FakeBinance` (through its ``add_route``) the spot
(``/api/v3/order``, ``/openOrders``) and USD-M (``/fapi/v1/order``, ``/openOrders``,
``/fapi/v3/positionRisk``) endpoints. Market orders fill at the ticker's last price; limit orders
rest until the test fills them with :meth:`FakeOrders.fill`. Fills move the fake's spot balances
and perp positions, so a reconciler sees a consistent account.

Faults that happen *after* the order was accepted (the case that creates duplicates in naive
clients) are queued with :meth:`FakeOrders.after_accept`: hang past the client's timeout, drop the
connection, or answer 500. Faults *before* acceptance use ``FakeBinance.fault(path, ...)``.
The fake refuses a second order with a client id it already holds (Binance's -2010 "Duplicate
order sent.") and counts every such attempt, so tests can assert "exactly one order per intent".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.fake_binance import FakeBinance

SPOT, FUT = "/api/v3", "/fapi/v1"


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
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AfterAccept:
    hang_s: float = 0.0
    drop: bool = False
    status: int | None = None


class FakeOrders:
    """The order side of the fake exchange; ``FakeOrders(fake)`` installs the routes."""

    def __init__(self, fake: FakeBinance, *, commission_rate: float = 0.001) -> None:
        self.fake = fake
        self.commission_rate = commission_rate
        self.orders: dict[tuple[str, str], FakeOrder] = {}
        self.duplicates: dict[str, int] = {}
        self.positions: dict[str, float] = {}
        self.entry_prices: dict[str, float] = {}  # average entry of each one-way perp position
        self.futures_wallet_usdt = 0.0  # the USD-M wallet balance (realized money only)
        self.market_fill_fraction = 1.0
        self.buy_fee_in_base = False
        self._after: list[AfterAccept] = []
        self.on_accept: Callable[[FakeOrder], Awaitable[None]] | None = None  # e.g. kill the client right here
        self._next_id = 1000
        self.accepted = asyncio.Event()
        for api in (SPOT, FUT):
            fake.add_route("POST", f"{api}/order", self._new_order(api))
            fake.add_route("GET", f"{api}/order", self._get_order(api))
            fake.add_route("DELETE", f"{api}/order", self._cancel_order(api))
            fake.add_route("GET", f"{api}/openOrders", self._open_orders(api))
        fake.add_route("GET", "/fapi/v3/positionRisk", self._position_risk)
        fake.add_route("GET", "/fapi/v3/account", self._futures_account)

    # ----------------------------------------------------------------- test controls
    def after_accept(self, *, hang_s: float = 0.0, drop: bool = False, status: int | None = None) -> None:
        """The next accepted order gets this treatment instead of a normal answer."""
        self._after.append(AfterAccept(hang_s, drop, status))

    def created(self, client_id: str) -> int:
        """How many orders the exchange holds with this client id (must be ≤ 1)."""
        return sum(1 for (_, cid) in self.orders if cid == client_id)

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

    def _execute(self, order: FakeOrder, qty: float, price: float) -> None:
        if qty <= 0:
            return
        order.executed += qty
        order.cum_quote += qty * price
        market = self.fake.markets[order.symbol]
        in_base = self.buy_fee_in_base and order.side == "BUY" and order.api == SPOT  # as Binance does
        commission = qty * self.commission_rate if in_base else qty * price * self.commission_rate
        order.fills.append({"price": f"{price}", "qty": f"{qty}", "commission": f"{commission}",
                            "commissionAsset": market.base if in_base else market.quote,
                            "tradeId": len(order.fills) + 1})
        order.status = "FILLED" if order.executed >= order.qty - 1e-12 else "PARTIALLY_FILLED"
        sign = 1.0 if order.side == "BUY" else -1.0
        if order.api == FUT:
            self._move_perp(order.symbol, sign * qty, price)
            return
        self._move(market.base, sign * qty - (commission if in_base else 0.0))
        self._move(market.quote, -sign * qty * price - (0.0 if in_base else commission))

    def _move_perp(self, symbol: str, signed_qty: float, price: float) -> None:
        """One-way mode: one net position per symbol; a reduction realizes P&L into the wallet."""
        held, entry = self.positions.get(symbol, 0.0), self.entry_prices.get(symbol, 0.0)
        new = held + signed_qty
        if held == 0 or (held > 0) == (signed_qty > 0):
            self.entry_prices[symbol] = (abs(held) * entry + abs(signed_qty) * price) / abs(new)
        else:
            closed = min(abs(signed_qty), abs(held))
            self.futures_wallet_usdt += closed * (price - entry) * (1 if held > 0 else -1)
            if abs(signed_qty) > abs(held):
                self.entry_prices[symbol] = price
        self.positions[symbol] = new

    def unrealized(self, symbol: str) -> float:
        return self.positions.get(symbol, 0.0) * (self._last(symbol) - self.entry_prices.get(symbol, 0.0))

    def _move(self, asset: str, delta: float) -> None:
        free, locked = self.fake.balances.get(asset, (0.0, 0.0))
        self.fake.balances[asset] = (free + delta, locked)

    # ----------------------------------------------------------------- handlers
    def _new_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            form = dict(await request.post())
            symbol, cid = str(form.get("symbol")), str(form.get("newClientOrderId", ""))
            if symbol not in fake.markets:
                return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
            if (api, cid) in self.orders:
                self.duplicates[cid] = self.duplicates.get(cid, 0) + 1
                return web.json_response({"code": -2010, "msg": "Duplicate order sent."}, status=400)
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
                          reduce_only=str(form.get("reduceOnly", "")).lower() == "true")
        self.orders[(api, order.client_id)] = order
        if order.type == "MARKET":
            self._execute(order, order.qty * self.market_fill_fraction, self._last(order.symbol))
            if order.status != "FILLED":
                order.status = "EXPIRED"  # a market order never rests
        return order

    def _find(self, api: str, query: Any) -> FakeOrder | None:
        cid = query.get("origClientOrderId")
        if cid is not None:
            return self.orders.get((api, cid))
        oid = int(query.get("orderId", -1))
        return next((o for (a, _), o in self.orders.items() if a == api and o.order_id == oid), None)

    def _get_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            order = self._find(api, request.query)
            if order is None:
                return web.json_response({"code": -2013, "msg": "Order does not exist."}, status=400)
            return _json(self._render(order, full=False))
        return handler

    def _cancel_order(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            order = self._find(api, request.query)
            if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
                return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)
            order.status = "CANCELED"
            return _json(self._render(order, full=False))
        return handler

    def _open_orders(self, api: str):
        async def handler(fake: FakeBinance, request: web.Request) -> web.StreamResponse:
            sym = request.query.get("symbol")
            found = [self._render(o, full=False) for (a, _), o in self.orders.items()
                     if a == api and o.status in ("NEW", "PARTIALLY_FILLED") and (sym is None or o.symbol == sym)]
            return _json(found)
        return handler

    async def _position_risk(self, fake: FakeBinance, request: web.Request) -> web.StreamResponse:
        return _json([{"symbol": s, "positionAmt": f"{q}", "entryPrice": f"{self.entry_prices.get(s, 0.0)}",
                       "markPrice": f"{self._last(s)}", "unRealizedProfit": f"{self.unrealized(s)}",
                       "positionSide": "BOTH", "leverage": "1", "marginType": "cross",
                       "updateTime": 0} for s, q in self.positions.items()])

    async def _futures_account(self, fake: FakeBinance, request: web.Request) -> web.StreamResponse:
        """USD-M ``GET /fapi/v3/account`` (what ccxt's binanceusdm ``fetch_balance`` calls by default,
        ccxt binance.py ``fetch_balance``: ``fapiPrivateV3GetAccount`` unless ``useV2``). Per Binance's
        USD-M docs, ``marginBalance`` = ``walletBalance`` + unrealized profit, and ccxt reads it as the
        asset's ``total``; assets with ``updateTime`` 0 are skipped by ccxt, so it is set."""
        upnl = sum(self.unrealized(s) for s in self.positions)
        wallet = self.futures_wallet_usdt
        return _json({"totalWalletBalance": f"{wallet}", "totalUnrealizedProfit": f"{upnl}",
                      "totalMarginBalance": f"{wallet + upnl}",
                      "assets": [{"asset": "USDT", "walletBalance": f"{wallet}", "unrealizedProfit": f"{upnl}",
                                  "marginBalance": f"{wallet + upnl}", "availableBalance": f"{wallet + upnl}",
                                  "initialMargin": "0", "updateTime": 1}],
                      "positions": []})

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
            return {**out, "transactTime": o.time_ms, "fills": list(o.fills)}
        return {**out, "time": o.time_ms, "updateTime": o.time_ms, "isWorking": True}


def _json(payload: Any) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json")
