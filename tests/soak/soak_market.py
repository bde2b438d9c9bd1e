"""The soak's exchange: the strict fake Binance with a market that moves in accelerated time and ~20% faults.

Market time is ``anchor + (wall - anchor) * speed`` — the same formula as the bot's
:class:`~src.core.clock.ScaledClock` — so candles close, orders are stamped and lookups lag in the
time the bot sees. Signatures are still checked against the wall clock (ccxt signs with it).

Faults are drawn from a seeded generator on the order paths, each kind one Binance really shows:

* the answer is lost after the order was accepted (connection dropped, or 500 after the engine
  acted — Binance: "the execution status is UNKNOWN", https://developers.binance.com/docs/
  binance-spot-api-docs/rest-api/general-api-information#http-return-codes);
* 503 before acceptance (the same page: 5XX is an internal error on Binance's side);
* 429 with ``Retry-After`` (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits);
* lookups that lag an accepted order: :class:`FakeOrders` ``lookup_lag_s`` (-2013, cited there).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from typing import Any

from aiohttp import web

from tests.fakes.fake_binance import FakeBinance, FakeMarket, Fault
from tests.fakes.fake_binance_orders import FakeOrders

HOUR_MS = 3_600_000
ORDER_PATHS = ("/api/v3/order", "/fapi/v1/order")
LOOKUP_PATHS = ("/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/openOrders")


class MarketTime:
    """The accelerated clock shared with the bot (same anchor, same speed)."""

    def __init__(self, speed: float, anchor_ms: int) -> None:
        self.speed, self.anchor_ms = speed, anchor_ms

    def now_ms(self) -> int:
        return self.anchor_ms + int((time.time() * 1000 - self.anchor_ms) * self.speed)

    def now_s(self) -> float:
        return self.now_ms() / 1000.0


def price_at(ts_ms: int, base: float = 50_000.0) -> float:
    """A deterministic, wavy price (trends both ways within a day, so crosses and RSI extremes happen)."""
    h = ts_ms / HOUR_MS
    return round(base * (1 + 0.04 * math.sin(h / 5.0) + 0.02 * math.sin(h / 1.3) + 0.005 * math.sin(h * 2.1)), 2)


class SoakExchange(FakeBinance):
    """FakeBinance + FakeOrders on one spot market, with generated candles and random faults."""

    def __init__(self, clock: MarketTime, fault_rate: float, seed: int, lookup_lag_s: float) -> None:
        super().__init__(markets=[FakeMarket("BTC", "USDT")])
        self.clock, self.fault_rate, self.rng = clock, fault_rate, random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.balances = {"USDT": (100_000.0, 0.0), "BTC": (0.0, 0.0)}
        self.orders_fake = FakeOrders(self, now_s=clock.now_s, lookup_lag_s=lookup_lag_s)
        for prefix in ("/api/v3", "/fapi/v1"):
            self.add_route("GET", f"{prefix}/klines", self._gen_klines)
        self._ticker_task: asyncio.Task[None] | None = None
        self._method = "GET"

    async def start(self) -> str:
        url = await super().start()
        self._ticker_task = asyncio.create_task(self._tick())
        return url

    async def stop(self) -> None:
        if self._ticker_task is not None:
            self._ticker_task.cancel()
        await super().stop()

    async def _tick(self) -> None:
        """Keep the last price (what market orders fill at) on the market's current price."""
        while True:
            p = price_at(self.clock.now_ms())
            self.tickers["BTCUSDT"] = {"lastPrice": f"{p}", "bidPrice": f"{p - 0.01:.2f}",
                                       "askPrice": f"{p + 0.01:.2f}"}
            await asyncio.sleep(0.02)

    async def _gen_klines(self, _fake: FakeBinance, request: web.Request) -> web.Response:
        """GET klines: closed and forming hourly rows from :func:`price_at` up to market now."""
        q = request.query
        tf = {"1m": 60_000, "1h": HOUR_MS}.get(q.get("interval", ""), HOUR_MS)
        limit = min(int(q.get("limit", 500)), 1000)
        now = self.clock.now_ms() // tf * tf
        start = int(q["startTime"]) // tf * tf if "startTime" in q else now - (limit - 1) * tf
        rows: list[list[Any]] = []
        for ts in range(start, min(now, start + (limit - 1) * tf) + 1, tf):
            o, c = price_at(ts), price_at(ts + tf - 1)
            rows.append([ts, f"{o}", f"{max(o, c) * 1.001:.2f}", f"{min(o, c) * 0.999:.2f}", f"{c}", "10.0",
                         ts + tf - 1, "0", 1, "0", "0", "0"])
        return web.json_response(rows)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self._method = request.method
        return await super()._dispatch(request)

    def _take_fault(self, path: str) -> Fault | None:
        queued = super()._take_fault(path)
        if queued is not None or path not in ORDER_PATHS or self.rng.random() >= self.fault_rate:
            return queued
        kind = self.rng.choice(["lost", "lost", "5xx", "429"])
        if kind == "lost" and self._method != "POST":
            kind = "5xx"
        self.injected[kind] += 1
        if kind == "lost":  # accepted by the engine, the answer never arrives
            self.orders_fake.after_accept(drop=self.rng.random() < 0.5, status=500)
            return None
        if kind == "5xx":
            return Fault(status=503, body="Service Unavailable")
        return Fault(status=429, body='{"code":-1003,"msg":"Too many requests."}', headers={"Retry-After": "1"})
