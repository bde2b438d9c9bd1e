"""Offline market feed: candles from files, or the seeded simulator, published at a chosen speed.

History before the first streamed bar is loaded straight into the market cache (the warm-up the
strategies and the AI brain need); the rest goes bar by bar into the tick pipeline, paced so that
``speed`` simulated seconds pass per wall second. The last published bar is persisted, so a
restarted bot continues the replay where it stopped instead of trading the same bars twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from src.core.clock import MarketClock
from src.core.events import CandleClosed, Event, FundingRate, OrderBook, Tick, TradePrint
from src.core.timeframes import parse_iso_ms, timeframe_ms
from src.market.cache import MarketCache
from src.market.candles_io import load_candles
from src.market.simulator import MarketSimulator
from src.runtime.context import AppContext

log = logging.getLogger(__name__)

_NAME = re.compile(r"(?:(?P<ex>[a-z]+)_)?(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)_(?P<tf>[0-9]+[mhdw]|funding-8h)")


@dataclass(frozen=True)
class ReplayBar:
    """Everything that happens at one bar close for one symbol."""

    events: tuple[Event, ...]


class ReplayCursor(BaseModel):
    """Where the replay stopped; schema-checked like every state file."""

    model_config = ConfigDict(extra="forbid")

    source: str
    last_ts_ms: int


def symbol_from_path(path: Path) -> tuple[str, str | None]:
    """``binance_BTC-USDT_1h.csv.gz`` → ("BTC/USDT", "1h"); ``SYMBOL=path`` is handled by the caller."""
    m = _NAME.search(path.name)
    if not m:
        raise ValueError(f"cannot tell the symbol from file name '{path.name}'; use SYMBOL=FILE, "
                         "e.g. BTC/USDT=candles.csv.gz")
    tf = m.group("tf")
    return f"{m.group('base')}/{m.group('quote')}", None if tf.startswith("funding") else tf


def read_funding(path: Path) -> pd.DataFrame | None:
    """A ``timestamp,funding_rate`` file as a frame, or None when ``path`` is not a funding file."""
    if not path.exists():
        raise FileNotFoundError(f"replay data file not found: {path}")
    head = pd.read_csv(path, nrows=0)
    if list(head.columns) != ["timestamp", "funding_rate"]:
        return None
    return pd.read_csv(path, dtype={"timestamp": "int64", "funding_rate": "float64"})


class CandleSource:
    """Iterates bars from candle files (and optional funding files) in time order."""

    def __init__(self, specs: tuple[str, ...], history_bars: int) -> None:
        self.candles: dict[str, pd.DataFrame] = {}
        self.funding: dict[str, pd.DataFrame] = {}
        self.timeframe: str | None = None
        for spec in specs:
            self._add(spec)
        if not self.candles:
            raise ValueError("replay: no candle file given (only funding files?)")
        self.history_bars = history_bars
        self.id = "files:" + ",".join(sorted(self.candles))

    def _add(self, spec: str) -> None:
        if "=" in spec and not Path(spec).exists():
            symbol, _, raw = spec.partition("=")
            path, tf = Path(raw), None
        else:
            path = Path(spec)
            symbol, tf = symbol_from_path(path)
        funding = read_funding(path)
        if funding is not None:
            self.funding[symbol] = funding
            return
        self.candles[symbol] = load_candles(path)
        if tf:
            self.timeframe = self.timeframe or tf

    @property
    def split_ts(self) -> int:
        """Streaming starts after this timestamp for every symbol, so all symbols share one clock.

        Files rarely start on the same day: the split is the latest of the per-symbol warm-up ends.
        """
        ends = [int(f["timestamp"].iloc[min(self.history_bars, len(f)) - 1]) for f in self.candles.values()
                if len(f) and self.history_bars > 0]
        return max(ends) if ends else -1

    def history(self) -> dict[str, pd.DataFrame]:
        split = self.split_ts
        return {s: f[f["timestamp"] <= split] for s, f in self.candles.items()}

    def stream(self) -> Iterator[tuple[int, list[ReplayBar]]]:
        """Yield (ts_ms, bars at that ts) after the history window, all symbols merged in time order."""
        rows = []
        for sym, frame in self.candles.items():
            part = frame[frame["timestamp"] > self.split_ts]
            rows.append(part.assign(symbol=sym))
        merged = pd.concat(rows).sort_values(["timestamp", "symbol"], kind="stable")
        funding = {s: dict(zip(f["timestamp"], f["funding_rate"], strict=True)) for s, f in self.funding.items()}
        tf_ms = timeframe_ms(self.timeframe or "1h")
        for ts, group in merged.groupby("timestamp", sort=True):
            bars = []
            for row in group.itertuples(index=False):
                events: list[Event] = []
                rate = funding.get(row.symbol, {}).get(int(ts) + tf_ms)
                if rate is not None:
                    events.append(FundingRate(row.symbol, int(ts) + tf_ms, float(rate)))
                events.append(CandleClosed(row.symbol, self.timeframe or "1h", int(ts), float(row.open),
                                           float(row.high), float(row.low), float(row.close),
                                           float(row.volume), source="file"))
                bars.append(ReplayBar(tuple(events)))
            yield int(ts), bars


class SimulatorSource:
    """Iterates bars from the seeded simulator (endless)."""

    def __init__(self, sim: MarketSimulator, timeframe: str, history_bars: int, seed: int) -> None:
        self.sim = sim
        self.timeframe = timeframe
        self.history_bars = history_bars
        self.id = f"simulator:seed={seed}:{','.join(sim.symbols)}:{timeframe}"
        self.funding: dict[str, pd.DataFrame] = {}

    def history(self) -> dict[str, pd.DataFrame]:
        hist = self.sim.history(self.history_bars)
        out = {}
        for sym, bars in hist.items():
            out[sym] = pd.DataFrame({
                "timestamp": [b.ts_ms for b in bars], "open": [b.open for b in bars],
                "high": [b.high for b in bars], "low": [b.low for b in bars],
                "close": [b.close for b in bars], "volume": [b.volume for b in bars]})
            tf = self.sim.timeframe_ms
            self.funding[sym] = pd.DataFrame(
                [(b.ts_ms + tf, b.funding_rate) for b in bars if b.funding_rate is not None],
                columns=["timestamp", "funding_rate"])
        return out

    def stream(self) -> Iterator[tuple[int, list[ReplayBar]]]:
        tf = self.sim.timeframe_ms
        while True:
            bars = self.sim.step()
            ts = bars[0].ts_ms
            out = []
            for b in bars:
                close_ts = b.ts_ms + tf
                events: list[Event] = []
                if b.funding_rate is not None:
                    events.append(FundingRate(b.symbol, close_ts, b.funding_rate))
                events.append(OrderBook(b.symbol, close_ts, b.bids, b.asks))
                events.append(Tick(b.symbol, close_ts, b.close, b.bids[0][0], b.asks[0][0]))
                events.extend(TradePrint(b.symbol, t[0], t[1], t[2], t[3]) for t in b.trades)  # type: ignore[arg-type]
                events.append(CandleClosed(b.symbol, self.timeframe, b.ts_ms, b.open, b.high, b.low,
                                           b.close, b.volume, source="simulator"))
                out.append(ReplayBar(tuple(events)))
            yield ts, out


def build_source(ctx: AppContext) -> CandleSource | SimulatorSource:
    """Files when ``replay.data`` is set, otherwise the simulator from config."""
    rc = ctx.config.replay
    if rc.data:
        return CandleSource(rc.data, rc.warmup_bars)
    sc = rc.simulator
    sim = MarketSimulator(sc.symbols, sc.start_prices, sc.seed, parse_iso_ms(sc.start),
                          timeframe_ms(rc.timeframe), sc.book_levels, int(sc.funding_period_hours * 3_600_000))
    return SimulatorSource(sim, rc.timeframe, rc.warmup_bars, sc.seed)


Sink = Callable[[Sequence[Event]], Awaitable[None]]
"""Where a feed hands one bar's events (the tick pipeline's ``deliver``)."""


class ReplayFeed:
    """The replay component: warm-up into the cache, then bars into the tick pipeline at ``speed``."""

    name = "feed"
    CURSOR = "replay_cursor.json"

    def __init__(self, ctx: AppContext, source: CandleSource | SimulatorSource, cache: MarketCache,
                 clock: MarketClock, sink: Sink) -> None:
        self.ctx = ctx
        self.source = source
        self.cache = cache
        self.clock = clock
        self.sink = sink
        self.bars_published = 0
        self.finished = False
        self._stream: Iterator[tuple[int, list[ReplayBar]]] | None = None
        self._resume_after = self._load_cursor()
        ctx.status.register("feed", self.describe)

    def _load_cursor(self) -> int:
        cur = self.ctx.store.load(self.CURSOR, ReplayCursor)
        if cur is None or cur.source != self.source.id:
            return -1
        return cur.last_ts_ms

    def warm_up(self) -> None:
        """Load the history window into the cache (no events: it is the past)."""
        for sym, frame in self.source.history().items():
            self.cache.series(sym).extend(frame)
            if len(frame):
                self.clock.advance_to(int(frame["timestamp"].iloc[-1]) + timeframe_ms(self.cache.timeframe))
        for sym, frame in self.source.funding.items():
            for ts, rate in zip(frame["timestamp"], frame["funding_rate"], strict=True):
                self.cache.add_funding(sym, int(ts), float(rate))
        self._stream = self.source.stream()
        if self._resume_after >= 0:
            self._fast_forward(self._resume_after)

    def _fast_forward(self, last_ts: int) -> None:
        """After a restart: put already-replayed bars into the cache without publishing them again."""
        skipped = 0
        assert self._stream is not None
        for ts, bars in self._stream:
            for bar in bars:
                self._apply_to_cache(bar)
            skipped += 1
            if ts >= last_ts:
                break
        log.info("replay resumed after %d already-published bars (last ts %d)", skipped, last_ts)

    def _apply_to_cache(self, bar: ReplayBar) -> None:
        for ev in bar.events:
            if isinstance(ev, CandleClosed):
                self.cache.series(ev.symbol).append(ev.ts_ms, ev.open, ev.high, ev.low, ev.close, ev.volume)
                self.clock.advance_to(ev.ts_ms + timeframe_ms(ev.timeframe))
            elif isinstance(ev, FundingRate):
                self.cache.add_funding(ev.symbol, ev.ts_ms, ev.rate)

    async def run(self) -> None:
        if self._stream is None:
            self.warm_up()
        assert self._stream is not None
        pace_s = timeframe_ms(self.source.timeframe or "1h") / 1000.0 / self.ctx.config.replay.speed
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for ts, bars in self._stream:
            events = [ev for bar in bars for ev in bar.events]
            for ev in events:
                if isinstance(ev, CandleClosed):
                    self.clock.advance_to(ev.ts_ms + timeframe_ms(ev.timeframe))
            await self.sink(events)  # gate → cache → runner → carry → bus: src/execution/tick.py
            self.bars_published += 1
            self.ctx.store.save(self.CURSOR, ReplayCursor(source=self.source.id, last_ts_ms=ts))
            next_at += pace_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        self.finished = True
        log.info("replay finished: %d bars published; the bot stays up until stopped", self.bars_published)

    def describe(self) -> dict[str, object]:
        return {"source": self.source.id, "bars_published": self.bars_published, "finished": self.finished,
                "market_time_ms": self.clock.now_ms()}
