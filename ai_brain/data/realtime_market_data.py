"""Realtime market data for paper / testnet / live: REST polling through the shared ccxt client.

Hands every event to the tick pipeline (:mod:`src.execution.tick`: gate → cache → runner → bus), in
the same event types the replay feed uses, so nothing downstream can tell
the two apart: ``CandleClosed`` (closed candles only, each exactly once — the last published open
time per (symbol, timeframe) is kept in ``state/market_cursor.json``, so a restart neither repeats
nor skips a candle), ``Tick`` (spot, and the perpetual as ``BTC/USDT:USDT`` for the basis check),
``OrderBook`` and ``Funding`` (when the predicted rate changes).

There is no fallback to simulated data: if the exchange cannot be reached nothing is published, the
data gate sees the feed go stale and blocks entries. A per-symbol quality score (freshness,
completeness, spread sanity, agreement between candle and ticker) is on the status board.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from src.core.events import CandleClosed, Event, FundingRate, OrderBook, Tick
from src.core.timeframes import timeframe_ms
from src.exchange.binance import ExchangeClient, perp_symbol
from src.exchange.clients import ExchangeClients
from src.exchange.errors import ExchangeAccessError, IpBanned
from src.market.cache import MarketCache
from src.runtime.context import AppContext

log = logging.getLogger(__name__)

CURSOR_FILE = "market_cursor.json"
Sleep = Callable[[float], Awaitable[None]]
Sink = Callable[[Sequence[Event]], Awaitable[None]]


class MarketCursor(BaseModel):
    """Open time of the last published candle per ``symbol|timeframe``."""

    last_ts: dict[str, int] = {}


@dataclass
class QualityScore:
    """Per-symbol data quality in [0, 1]; ``score`` is the weakest component."""

    last_candle_close_ms: int | None = None
    polls: deque[bool] = field(default_factory=lambda: deque(maxlen=50))
    spread_pct: float | None = None
    ticker_vs_close_pct: float | None = None

    def components(self, now_ms: int, tf_ms: int, stale_bars: float, spread_pct: tuple[float, float],
                   agree_pct: tuple[float, float]) -> dict[str, float]:
        if self.last_candle_close_ms is None:
            fresh = 0.0
        else:
            age_bars = max(0.0, (now_ms - self.last_candle_close_ms) / tf_ms - 1.0)
            fresh = max(0.0, 1.0 - age_bars / stale_bars)
        complete = sum(self.polls) / len(self.polls) if self.polls else 0.0
        return {"freshness": round(fresh, 3), "completeness": round(complete, 3),
                "spread": _linear(self.spread_pct, *spread_pct),
                "agreement": _linear(self.ticker_vs_close_pct, *agree_pct)}


def _linear(value: float | None, good: float, bad: float) -> float:
    """1 at or below ``good``, 0 at or beyond ``bad``; unknown counts as 0.5."""
    if value is None:
        return 0.5
    if value <= good:
        return 1.0
    return round(max(0.0, 1.0 - (value - good) / max(bad - good, 1e-9)), 3)


class RealtimeMarketData:
    """The live feed component (``name = "market_data"``)."""

    name = "market_data"

    def __init__(self, ctx: AppContext, clients: ExchangeClients, cache: MarketCache, sink: Sink, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.exchange
        self.clients, self.cache, self.sink = clients, cache, sink
        self._sleep = sleep
        self.cursor = ctx.store.load(CURSOR_FILE, MarketCursor) or MarketCursor()
        self.quality: dict[str, QualityScore] = {s: QualityScore() for s in self.cfg.symbols}
        self._last_funding: dict[str, tuple[int, float]] = {}
        self._finest_close: dict[str, tuple[int, float]] = {}  # symbol -> (tf_ms, close) of the finest tf
        self.published = {"candle": 0, "tick": 0, "book": 0, "funding": 0}

    @property
    def spot(self) -> ExchangeClient:
        return self.clients.spot

    def _now_ms(self) -> int:
        return self.spot.now_ms()

    # ----------------------------------------------------------------- polls
    async def poll_candles(self) -> int:
        """Publish every newly closed candle of every (symbol, timeframe); returns how many."""
        count = 0
        for symbol in self.cfg.symbols:
            for tf in self.cfg.timeframes:
                count += await self._guarded(symbol, self._candles(symbol, tf)) or 0
        return count

    async def _candles(self, symbol: str, tf: str) -> int:
        key, tf_ms = f"{symbol}|{tf}", timeframe_ms(tf)
        last = self.cursor.last_ts.get(key)
        since = last + tf_ms if last is not None else self._now_ms() // tf_ms * tf_ms - tf_ms
        n = 0
        async for page in self.spot.iter_ohlcv(symbol, tf, since, page_limit=self.cfg.ohlcv_page_limit):
            for ts, o, h, lo, c, v in page:
                await self.sink([CandleClosed(symbol, tf, int(ts), o, h, lo, c, v, source=f"ccxt:{self.spot.id}")])
                self.cursor.last_ts[key] = int(ts)
                self._note_close(symbol, tf_ms, c)
                n += 1
            self.ctx.store.save(CURSOR_FILE, self.cursor)
        if key in self.cursor.last_ts:
            q = self.quality[symbol]
            close_ms = self.cursor.last_ts[key] + tf_ms
            q.last_candle_close_ms = max(q.last_candle_close_ms or 0, close_ms)
        self.published["candle"] += n
        return n

    def _note_close(self, symbol: str, tf_ms: int, close: float) -> None:
        known = self._finest_close.get(symbol)
        if known is None or tf_ms <= known[0]:
            self._finest_close[symbol] = (tf_ms, close)

    async def poll_tickers(self) -> None:
        for symbol in self.cfg.symbols:
            await self._guarded(symbol, self._ticker(symbol))

    async def _ticker(self, symbol: str) -> None:
        t = await self.spot.fetch_ticker(symbol)
        bid, ask = t.bid or t.last, t.ask or t.last
        await self.sink([Tick(symbol, t.ts_ms, t.last, bid, ask)])
        self.published["tick"] += 1
        q = self.quality[symbol]
        q.spread_pct = (ask - bid) / bid * 100.0 if bid > 0 and ask >= bid else 100.0
        last_close = self._finest_close.get(symbol, (0, 0.0))[1]
        if last_close > 0:
            q.ticker_vs_close_pct = abs(t.last - last_close) / last_close * 100.0
        fut = self.clients.futures
        if fut is not None:
            ft = await fut.fetch_ticker(perp_symbol(symbol))
            perp = perp_symbol(symbol)
            await self.sink([Tick(perp, ft.ts_ms, ft.last, ft.bid or ft.last, ft.ask or ft.last)])

    async def poll_books(self) -> None:
        for symbol in self.cfg.symbols:
            await self._guarded(symbol, self._book(symbol))

    async def _book(self, symbol: str) -> None:
        b = await self.spot.fetch_order_book(symbol, self.cfg.book_depth)
        await self.sink([OrderBook(symbol, b.ts_ms, b.bids, b.asks)])
        self.published["book"] += 1

    async def poll_funding(self) -> None:
        if self.clients.futures is None:
            return
        for symbol in self.cfg.symbols:
            await self._guarded(symbol, self._funding(symbol))

    async def _funding(self, symbol: str) -> None:
        assert self.clients.futures is not None
        f = await self.clients.futures.fetch_funding_rate(perp_symbol(symbol))
        if self._last_funding.get(symbol) == (f.ts_ms, f.rate):
            return
        self._last_funding[symbol] = (f.ts_ms, f.rate)
        await self.sink([FundingRate(symbol, f.ts_ms, f.rate, f.period_hours)])
        self.published["funding"] += 1

    async def _guarded(self, symbol: str, call: Awaitable[Any]) -> Any:
        """Run one poll; a failure is recorded (completeness) and logged, never fatal to the feed."""
        q = self.quality.setdefault(symbol, QualityScore())
        try:
            result = await call
        except IpBanned:
            q.polls.append(False)
            raise
        except ExchangeAccessError as exc:
            q.polls.append(False)
            log.warning("market data %s: %s (%s)", symbol, exc, exc.action)
            return None
        q.polls.append(True)
        return result

    async def warm_up(self) -> int:
        """Fill the market cache with ``replay.warmup_bars`` of history (no events: it is the past).

        Mirrors the replay feed's warm-up so strategies start with the same look-back in paper/live.
        Candles already published (the cursor) are not re-fetched; returns the candles loaded.
        """
        cache = self.cache
        tf = cache.timeframe
        tf_ms, bars, loaded = timeframe_ms(tf), self.ctx.config.replay.warmup_bars, 0
        for symbol in self.cfg.symbols:
            series = cache.series(symbol)
            if len(series.timestamps) or not bars:
                continue
            since = (self._now_ms() // tf_ms - bars) * tf_ms
            until = self.cursor.last_ts.get(f"{symbol}|{tf}")
            pages = self.spot.iter_ohlcv(symbol, tf, since, None if until is None else until + tf_ms,
                                         self.cfg.ohlcv_page_limit)
            async for page in pages:
                for ts, o, h, lo, c, v in page:
                    loaded += int(series.append(int(ts), o, h, lo, c, v))
                    self._note_close(symbol, tf_ms, c)
            if len(series.timestamps) and f"{symbol}|{tf}" not in self.cursor.last_ts:
                self.cursor.last_ts[f"{symbol}|{tf}"] = int(series.timestamps[-1])
        self.ctx.store.save(CURSOR_FILE, self.cursor)
        return loaded

    # ----------------------------------------------------------------- component
    async def run(self) -> None:
        """Warm the cache up, then poll each kind of data at its own interval until cancelled."""
        loops = [(self.poll_candles, self.cfg.candle_poll_s), (self.poll_tickers, self.cfg.ticker_poll_s),
                 (self.poll_books, self.cfg.book_poll_s), (self.poll_funding, self.cfg.funding_poll_s)]
        await self.spot.load_markets()
        try:
            await self.warm_up()
        except ExchangeAccessError as exc:
            log.warning("market data warm-up failed (%s); strategies start with less history", exc)
        async with asyncio.TaskGroup() as group:
            for poll, every in loops:
                group.create_task(self._loop(poll, every))

    async def _loop(self, poll: Callable[[], Awaitable[Any]], every_s: float) -> None:
        while True:
            try:
                await poll()
            except IpBanned as ban:
                wait = max(1.0, ban.until_ms / 1000 - self._now_ms() / 1000)
                log.error("market data paused %.0fs: %s", wait, ban)
                await self._sleep(wait)
                continue
            await self._sleep(every_s)

    def snapshot(self) -> dict[str, Any]:
        now = self._now_ms()
        tf_ms = min(timeframe_ms(tf) for tf in self.cfg.timeframes)
        dq = self.ctx.config.data_quality
        out: dict[str, Any] = {"published": dict(self.published), "exchange": self.spot.id}
        for symbol, q in self.quality.items():
            parts = q.components(now, tf_ms, dq.stale_after_bars,
                                 (dq.spread_degrade_pct, dq.spread_block_pct),
                                 (dq.ticker_degrade_pct, dq.ticker_block_pct))
            out[symbol] = {"score": min(parts.values()), **parts}
        return out

