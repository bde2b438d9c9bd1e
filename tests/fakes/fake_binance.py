"""A loopback fake of Binance's REST API that the *real* ccxt client talks to.

One aiohttp server serves spot (``/api/v3``) and USD-M futures (``/fapi/v1``) paths; point ccxt at
it with ``build_exchange(id, api_base_url=fake.base_url)``. Every request is recorded (method, path,
query, body, headers). State is an in-memory book: markets, klines, tickers, depth, funding, open
interest, balances. Faults are queued per path and consumed in order.

Extending (e.g. order endpoints)::

    async def new_order(fake: FakeBinance, request: web.Request) -> web.Response:
        return web.json_response({...})
    fake.add_route("POST", "/api/v3/order", new_order)

Faults::

    fake.fault("/api/v3/klines", status=429, headers={"Retry-After": "2"})       # next call only
    fake.fault("/api/v3/klines", status=503, body="down", times=2)                # next two calls
    fake.fault("/api/v3/klines", drop=True, after=3)                              # 4th call drops
    fake.fault("/api/v3/depth", hang_s=5)  /  fake.fault(path, malformed=True)

Rules the fake enforces as Binance does (each cited where it is implemented): signed requests
outside ``recvWindow`` of the server clock get -1021 (``fake.server_offset_ms`` moves the server's
clock against the client's); the futures account (``/fapi/v2|v3/account``, ``/fapi/v2/balance``),
position mode (``/fapi/v1/positionSide/dual``), leverage and margin type per symbol, funding
intervals (``/fapi/v1/fundingInfo``), server time (``/api/v3/time``, ``/fapi/v1/time``) and the API
key's restrictions (``/sapi/v1/account/apiRestrictions``).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import catch_all, serve

Handler = Callable[["FakeBinance", web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: str
    headers: dict[str, str]


@dataclass
class Fault:
    """What to do instead of answering normally; ``after`` matching calls pass untouched first."""

    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    drop: bool = False
    malformed: bool = False
    times: int = 1
    after: int = 0


@dataclass
class FakeMarket:
    base: str
    quote: str
    perp: bool = True
    tick: str = "0.01"
    step: str = "0.00001"

    @property
    def id(self) -> str:
        return f"{self.base}{self.quote}"


def _filters(m: FakeMarket) -> list[dict[str, str]]:
    return [{"filterType": "PRICE_FILTER", "tickSize": m.tick, "minPrice": m.tick, "maxPrice": "1000000"},
            {"filterType": "LOT_SIZE", "stepSize": m.step, "minQty": m.step, "maxQty": "9000"},
            {"filterType": "NOTIONAL", "minNotional": "5"}]


class FakeBinance:
    """The fake exchange; use as ``async with FakeBinance() as fake:``."""

    def __init__(self, markets: list[FakeMarket] | None = None, max_klines_limit: int = 1000) -> None:
        self.markets = {m.id: m for m in (markets or [FakeMarket("BTC", "USDT"), FakeMarket("ETH", "USDT")])}
        self.max_klines_limit = max_klines_limit
        self.klines: dict[tuple[str, str, str], list[list[float]]] = {}  # (api, id, interval) -> rows
        self.tickers: dict[str, dict[str, Any]] = {}
        self.depth: dict[str, dict[str, Any]] = {}
        self.funding: dict[str, list[tuple[int, float]]] = {}
        self.premium: dict[str, dict[str, Any]] = {}
        self.open_interest: dict[str, float] = {}
        self.balances: dict[str, tuple[float, float]] = {"USDT": (1000.0, 0.0)}
        self.futures_wallet: dict[str, float] = {"USDT": 10_000.0}  # USD-M wallet balance per asset
        self.dual_side_position = False  # hedge mode on the futures account
        self.leverage: dict[str, int] = {}  # per futures symbol id; Binance's default is 20x
        self.margin_type: dict[str, str] = {}  # per futures symbol id: "CROSSED" (default) | "ISOLATED"
        self.funding_interval_hours: dict[str, int] = {}  # only symbols whose interval is not 8 h
        self.api_restrictions: dict[str, Any] = {"ipRestrict": True, "enableReading": True,
                                                 "enableWithdrawals": False, "enableSpotAndMarginTrading": True,
                                                 "enableFutures": True, "enableInternalTransfer": False,
                                                 "permitsUniversalTransfer": False, "createTime": 1_700_000_000_000}
        self.server_offset_ms = 0  # the server's clock minus the client's (negative: the client runs ahead)
        self.recv_window_rejects = 0
        self.requests: list[RecordedRequest] = []
        self.faults: dict[str, list[Fault]] = {}
        self.routes: dict[tuple[str, str], Handler] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._install_default_routes()

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> str:
        self._runner, self.base_url, _port = await serve(catch_all(self._dispatch))
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBinance:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- book-keeping
    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def fault(self, path: str, **kwargs: Any) -> None:
        self.faults.setdefault(path, []).append(Fault(**kwargs))

    def count(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests if r.path == path and r.method == method)

    def set_klines(self, symbol_id: str, interval: str, rows: list[list[float]], api: str = "spot") -> None:
        """Rows ``[open_time_ms, o, h, l, c, v]``; kept sorted by time."""
        self.klines[(api, symbol_id, interval)] = sorted(([int(r[0]), *map(float, r[1:6])] for r in rows),
                                                         key=lambda r: r[0])

    # ----------------------------------------------------------------- dispatch
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query), body,
                                             dict(request.headers)))
        fault = self._take_fault(request.path)
        if fault is not None:
            resp = await self._apply_fault(fault, request)
            if resp is not None:
                return resp
        stale = self._outside_recv_window(request, body)
        if stale is not None:
            return stale
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return web.json_response({"code": -1100, "msg": f"fake: no route {request.path}"}, status=404)
        return await handler(self, request)

    def server_time_ms(self) -> int:
        """The exchange's clock: the real clock (ccxt signs with it) plus ``server_offset_ms``."""
        return int(time.time() * 1000) + self.server_offset_ms

    def _outside_recv_window(self, request: web.Request, body: str) -> web.Response | None:
        """Binance "timing security" for SIGNED endpoints: a request is processed only when
        ``timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow``, else -1021
        (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/endpoint-security-type
        #timing-security; error text from https://developers.binance.com/docs/binance-spot-api-docs/errors).
        """
        params = dict(request.query)
        if body and "=" in body:
            params.update({k: v[-1] for k, v in urllib.parse.parse_qs(body).items()})
        if "signature" not in params or "timestamp" not in params:
            return None
        ts, server = int(params["timestamp"]), self.server_time_ms()
        window = int(params.get("recvWindow", 5000))
        if ts < server + 1000 and server - ts <= window:
            return None
        self.recv_window_rejects += 1
        ahead = "ahead of" if ts >= server + 1000 else "outside of"
        msg = f"Timestamp for this request was 1000ms {ahead} the server's time." if ts >= server + 1000 else \
            "Timestamp for this request is outside of the recvWindow."
        return web.json_response({"code": -1021, "msg": msg}, status=400)

    def _take_fault(self, path: str) -> Fault | None:
        queue = self.faults.get(path)
        if not queue:
            return None
        head = queue[0]
        if head.after > 0:
            head.after -= 1
            return None
        head.times -= 1
        if head.times <= 0:
            queue.pop(0)
        return head

    async def _apply_fault(self, f: Fault, request: web.Request) -> web.StreamResponse | None:
        if f.hang_s:
            await asyncio.sleep(f.hang_s)
        if f.drop:
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection die mid-request
            return web.Response(status=500)
        if f.malformed:
            return web.Response(text='{"this is": not json', content_type="application/json",
                                headers=f.headers)
        if f.status is not None:
            text = f.body if f.body is not None else ""
            return web.Response(status=f.status, text=text, headers=f.headers,
                                content_type="application/json" if text.startswith("{") else "text/plain")
        return None

    def _install_default_routes(self) -> None:
        for api, prefix in (("spot", "/api/v3"), ("fut", "/fapi/v1")):
            self.add_route("GET", f"{prefix}/exchangeInfo", _exchange_info(api))
            self.add_route("GET", f"{prefix}/klines", _klines(api))
            self.add_route("GET", f"{prefix}/depth", _depth)
            self.add_route("GET", f"{prefix}/ticker/24hr", _ticker)
        self.add_route("GET", "/fapi/v1/premiumIndex", _premium_index)
        self.add_route("GET", "/fapi/v1/fundingRate", _funding_rate)
        self.add_route("GET", "/fapi/v1/openInterest", _open_interest)
        self.add_route("GET", "/api/v3/account", _account)
        self.add_route("GET", "/api/v3/time", _server_time)
        self.add_route("GET", "/fapi/v1/time", _server_time)
        for version in ("v2", "v3"):
            self.add_route("GET", f"/fapi/{version}/account", _futures_account)
        self.add_route("GET", "/fapi/v2/balance", _futures_balance)
        self.add_route("GET", "/fapi/v1/positionSide/dual", _position_side_dual)
        self.add_route("POST", "/fapi/v1/leverage", _set_leverage)
        self.add_route("POST", "/fapi/v1/marginType", _set_margin_type)
        self.add_route("GET", "/fapi/v1/fundingInfo", _funding_info)
        self.add_route("GET", "/sapi/v1/account/apiRestrictions", _api_restrictions)


def _json(payload: Any, fake: FakeBinance) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json",
                        headers={"X-MBX-USED-WEIGHT-1M": str(len(fake.requests))})


def _unknown_symbol(fake: FakeBinance) -> web.Response:
    return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)


def _exchange_info(api: str) -> Handler:
    async def handler(fake: FakeBinance, request: web.Request) -> web.Response:
        symbols = []
        for m in fake.markets.values():
            item: dict[str, Any] = {"symbol": m.id, "status": "TRADING", "baseAsset": m.base,
                                    "quoteAsset": m.quote, "baseAssetPrecision": 8, "quotePrecision": 8,
                                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "filters": _filters(m)}
            if api == "fut":
                if not m.perp:
                    continue
                item.update(contractType="PERPETUAL", marginAsset=m.quote, pricePrecision=2,
                            quantityPrecision=3, underlyingType="COIN")
            else:
                item.update(isSpotTradingAllowed=True, isMarginTradingAllowed=False)
            symbols.append(item)
        return _json({"timezone": "UTC", "serverTime": 0, "symbols": symbols}, fake)
    return handler


def _klines(api: str) -> Handler:
    async def handler(fake: FakeBinance, request: web.Request) -> web.Response:
        q = request.query
        rows = fake.klines.get((api, q.get("symbol", ""), q.get("interval", "")))
        if rows is None:
            return _unknown_symbol(fake) if q.get("symbol") not in fake.markets else _json([], fake)
        limit = min(int(q.get("limit", 500)), fake.max_klines_limit)
        times = [r[0] for r in rows]
        if "startTime" in q:
            lo = bisect.bisect_left(times, int(q["startTime"]))
            page = rows[lo:lo + limit]
        else:
            hi = bisect.bisect_right(times, int(q["endTime"])) if "endTime" in q else len(rows)
            page = rows[max(0, hi - limit):hi]
        if "endTime" in q:
            page = [r for r in page if r[0] <= int(q["endTime"])]
        out = [[r[0], *(f"{x}" for x in r[1:6]), r[0] + 59_999, "0", 1, "0", "0", "0"] for r in page]
        return _json(out, fake)
    return handler


async def _depth(fake: FakeBinance, request: web.Request) -> web.Response:
    sym = request.query.get("symbol", "")
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    book = fake.depth.get(sym) or {"bids": [["100.00", "1.5"], ["99.99", "2"]],
                                   "asks": [["100.01", "0.7"], ["100.02", "3"]]}
    return _json({"lastUpdateId": 1, **book}, fake)


async def _ticker(fake: FakeBinance, request: web.Request) -> web.Response:
    sym = request.query.get("symbol", "")
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    t = {"lastPrice": "100.00", "bidPrice": "99.99", "askPrice": "100.01", "openPrice": "99",
         "highPrice": "101", "lowPrice": "98", "volume": "1234", "quoteVolume": "123400", "openTime": 0,
         "closeTime": 0}
    t.update(fake.tickers.get(sym, {}))
    return _json({"symbol": sym, **t}, fake)


async def _premium_index(fake: FakeBinance, request: web.Request) -> web.Response:
    sym = request.query.get("symbol", "")
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    p = {"markPrice": "100.5", "indexPrice": "100.4", "lastFundingRate": "0.0001", "interestRate": "0.0001",
         "nextFundingTime": 1_700_006_400_000, "time": 1_700_000_000_000}
    p.update(fake.premium.get(sym, {}))
    return _json({"symbol": sym, **p}, fake)


async def _funding_rate(fake: FakeBinance, request: web.Request) -> web.Response:
    q = request.query
    items = fake.funding.get(q.get("symbol", ""), [])
    start = int(q.get("startTime", 0))
    limit = min(int(q.get("limit", 100)), 1000)
    page = [(t, r) for t, r in items if t >= start][:limit]
    return _json([{"symbol": q.get("symbol"), "fundingTime": t, "fundingRate": f"{r}", "markPrice": "100"}
                  for t, r in page], fake)


async def _open_interest(fake: FakeBinance, request: web.Request) -> web.Response:
    sym = request.query.get("symbol", "")
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    return _json({"symbol": sym, "openInterest": f"{fake.open_interest.get(sym, 10659.5)}",
                  "time": 1_700_000_000_000}, fake)


async def _account(fake: FakeBinance, request: web.Request) -> web.Response:
    if "X-MBX-APIKEY" not in request.headers:
        return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                                 status=401)
    return _json({"accountType": "SPOT", "updateTime": 0,
                  "balances": [{"asset": a, "free": f"{fr}", "locked": f"{lk}"}
                               for a, (fr, lk) in fake.balances.items()]}, fake)


def _no_key(request: web.Request) -> web.Response | None:
    if "X-MBX-APIKEY" in request.headers:
        return None
    return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, status=401)


async def _form(request: web.Request) -> dict[str, str]:
    data = dict(request.query)
    data.update({k: str(v) for k, v in (await request.post()).items()})
    return data


async def _server_time(fake: FakeBinance, request: web.Request) -> web.Response:
    """GET /api/v3/time and /fapi/v1/time: ``{"serverTime": ms}`` (ccxt's load_time_difference reads it)."""
    return _json({"serverTime": fake.server_time_ms()}, fake)


def futures_unrealized(fake: FakeBinance) -> float:
    """Unrealised P&L of the fake's perp positions (set by fake_binance_orders when installed)."""
    hook = getattr(fake, "futures_upnl", None)
    return float(hook()) if callable(hook) else 0.0


async def _futures_account(fake: FakeBinance, request: web.Request) -> web.Response:
    """GET /fapi/v2|v3/account: wallet, unrealised P&L and margin balance per asset
    (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3).
    """
    refused = _no_key(request)
    if refused is not None:
        return refused
    upnl = futures_unrealized(fake)
    assets = []
    for asset, wallet in fake.futures_wallet.items():
        u = upnl if asset == "USDT" else 0.0
        assets.append({"asset": asset, "walletBalance": f"{wallet}", "unrealizedProfit": f"{u}",
                       "marginBalance": f"{wallet + u}", "availableBalance": f"{wallet + u}",
                       "maxWithdrawAmount": f"{wallet}", "crossWalletBalance": f"{wallet}",
                       "crossUnPnl": f"{u}", "initialMargin": "0", "maintMargin": "0",
                       # ccxt's binance parse_balance skips "stale/uninitialized assets, whose updateTime
                       # is 0" (binance.py, ccxt/ccxt#27997), so a real account row carries one
                       "positionInitialMargin": "0", "openOrderInitialMargin": "0", "updateTime": 1})
    total = sum(fake.futures_wallet.values())
    return _json({"totalWalletBalance": f"{total}", "totalUnrealizedProfit": f"{upnl}",
                  "totalMarginBalance": f"{total + upnl}", "availableBalance": f"{total + upnl}",
                  "assets": assets, "positions": []}, fake)


async def _futures_balance(fake: FakeBinance, request: web.Request) -> web.Response:
    refused = _no_key(request)
    if refused is not None:
        return refused
    return _json([{"asset": a, "balance": f"{w}", "crossWalletBalance": f"{w}", "crossUnPnl": "0",
                   "availableBalance": f"{w}", "maxWithdrawAmount": f"{w}", "updateTime": 0}
                  for a, w in fake.futures_wallet.items()], fake)


async def _position_side_dual(fake: FakeBinance, request: web.Request) -> web.Response:
    """GET /fapi/v1/positionSide/dual: ``{"dualSidePosition": true}`` is hedge mode
    (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Current-Position-Mode).
    """
    refused = _no_key(request)
    return refused or _json({"dualSidePosition": fake.dual_side_position}, fake)


async def _set_leverage(fake: FakeBinance, request: web.Request) -> web.Response:
    """POST /fapi/v1/leverage (1..125), answers symbol, leverage, maxNotionalValue
    (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Change-Initial-Leverage).
    """
    form = await _form(request)
    sym, lev = form.get("symbol", ""), int(form.get("leverage", "0"))
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    if not 1 <= lev <= 125:
        return web.json_response({"code": -4028, "msg": f"Leverage {lev} is not valid"}, status=400)
    fake.leverage[sym] = lev
    return _json({"symbol": sym, "leverage": lev, "maxNotionalValue": "1000000"}, fake)


async def _set_margin_type(fake: FakeBinance, request: web.Request) -> web.Response:
    """POST /fapi/v1/marginType ISOLATED|CROSSED; the same type again is -4046 "No need to change
    margin type." (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/
    Change-Margin-Type and .../error-code), which ccxt raises as MarginModeAlreadySet.
    """
    form = await _form(request)
    sym, kind = form.get("symbol", ""), form.get("marginType", "")
    if sym not in fake.markets:
        return _unknown_symbol(fake)
    if fake.margin_type.get(sym, "CROSSED") == kind:
        return web.json_response({"code": -4046, "msg": "No need to change margin type."}, status=400)
    fake.margin_type[sym] = kind
    return _json({"code": 200, "msg": "success"}, fake)


async def _funding_info(fake: FakeBinance, request: web.Request) -> web.Response:
    """GET /fapi/v1/fundingInfo lists only symbols whose funding was adjusted (cap, floor or
    ``fundingIntervalHours``); a symbol not listed settles every 8 h
    (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-Info).
    """
    return _json([{"symbol": s, "adjustedFundingRateCap": "0.02", "adjustedFundingRateFloor": "-0.02",
                   "fundingIntervalHours": h, "disclaimer": False}
                  for s, h in fake.funding_interval_hours.items()], fake)


async def _api_restrictions(fake: FakeBinance, request: web.Request) -> web.Response:
    """GET /sapi/v1/account/apiRestrictions: the key's permissions
    (https://developers.binance.com/docs/wallet/account/api-key-permission).
    """
    refused = _no_key(request)
    return refused or _json(dict(fake.api_restrictions), fake)


def minute_rows(end_s: float, n: int, tf_ms: int = 60_000, price: float = 100.0) -> list[list[float]]:
    """``n`` closed, contiguous candles ending just before the candle that contains ``end_s``."""
    last_open = int(end_s * 1000) // tf_ms * tf_ms - tf_ms
    rows = []
    for i in range(n):
        ts = last_open - (n - 1 - i) * tf_ms
        p = price + (i % 17) * 0.1
        rows.append([ts, p, p + 0.5, p - 0.5, p + 0.1, 1.0 + i % 5])
    return rows
