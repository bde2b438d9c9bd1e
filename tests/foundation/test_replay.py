"""Replay feed: real candle files merged in time order, warm-up, and resume after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from src.core.events import CandleClosed, Event, FundingRate
from src.market.cache import MarketCache
from src.market.replay import CandleSource, ReplayFeed, symbol_from_path
from tests.foundation.helpers import make_ctx


def test_symbol_from_file_name() -> None:
    assert symbol_from_path(Path("binance_BTC-USDT_1h.csv.gz")) == ("BTC/USDT", "1h")
    assert symbol_from_path(Path("binanceusdm_BTC-USDT_funding-8h.csv.gz")) == ("BTC/USDT", None)
    with pytest.raises(ValueError, match="SYMBOL=FILE"):
        symbol_from_path(Path("candles.csv"))


def _slice(src: Path, dst: Path, start_ms: int, rows: int) -> Path:
    frame = pd.read_csv(src)
    frame[frame.timestamp >= start_ms].head(rows).to_csv(dst, index=False)
    return dst


async def _collect(ctx, feed: ReplayFeed, n_candles: int) -> list[Event]:
    got: list[Event] = []

    async def on(ev: Event) -> None:
        got.append(ev)

    sub = ctx.bus.subscribe("t", on, kinds=("candle", "funding"))
    listener = asyncio.create_task(ctx.bus.run_subscriber(sub))
    task = asyncio.create_task(feed.run())
    while sum(isinstance(e, CandleClosed) for e in got) < n_candles and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # the feed paces itself on the clock; we only watch what it published
    task.cancel()
    listener.cancel()
    ctx.bus.unsubscribe(sub)
    return got


def _tick(ctx, cache: MarketCache):
    """The feed's sink as the root wires it: gate → cache → (no deciders) → bus."""
    from ai_brain.data.data_integrity_monitor import DataIntegrityMonitor
    from src.execution.tick import TickPipeline

    return TickPipeline(DataIntegrityMonitor(ctx), cache, [], ctx.bus.publish).deliver


async def test_two_symbols_in_time_order_with_funding_and_resume(tmp_path: Path, shared_data: Path) -> None:
    start = 1_704_067_200_000  # 2024-01-01
    btc = _slice(shared_data / "binance_BTC-USDT_1h.csv.gz", tmp_path / "binance_BTC-USDT_1h.csv", start, 60)
    eth = _slice(shared_data / "binance_ETH-USDT_1h.csv.gz", tmp_path / "binance_ETH-USDT_1h.csv", start, 60)
    fund = shared_data / "binanceusdm_BTC-USDT_funding-8h.csv.gz"
    cfg = {"replay": {"data": [str(btc), str(eth), str(fund)], "speed": 1e9, "warmup_bars": 20}}
    ctx = make_ctx(tmp_path / "root", cfg)
    source = CandleSource(tuple(cfg["replay"]["data"]), 20)
    cache = MarketCache("1h")
    feed = ReplayFeed(ctx, source, cache, ctx.clock, _tick(ctx, cache))  # type: ignore[arg-type]
    feed.warm_up()
    assert len(cache.candles("BTC/USDT")) == 20
    got = await _collect(ctx, feed, 30)
    candles = [e for e in got if isinstance(e, CandleClosed)]
    assert [c.ts_ms for c in candles] == sorted(c.ts_ms for c in candles)
    assert {c.symbol for c in candles} == {"BTC/USDT", "ETH/USDT"}
    assert candles[0].ts_ms == start + 20 * 3_600_000
    assert any(isinstance(e, FundingRate) for e in got)
    last = candles[-1].ts_ms

    # A restarted bot continues after the last published bar: nothing is traded twice.
    ctx2 = make_ctx(tmp_path / "root", cfg)
    cache2 = MarketCache("1h")
    feed2 = ReplayFeed(ctx2, CandleSource(tuple(cfg["replay"]["data"]), 20), cache2,
                       ctx2.clock, _tick(ctx2, cache2))  # type: ignore[arg-type]
    feed2.warm_up()
    got2 = [e for e in await _collect(ctx2, feed2, 2) if isinstance(e, CandleClosed)]
    assert got2[0].ts_ms > last - 3_600_000
    assert all(c.ts_ms >= last for c in got2)
    assert not {(c.symbol, c.ts_ms) for c in got2} & {(c.symbol, c.ts_ms) for c in candles}


def test_missing_columns_named(tmp_path: Path) -> None:
    bad = tmp_path / "binance_BTC-USDT_1h.csv"
    bad.write_text("timestamp,open,close\n1,2,3\n")
    with pytest.raises(ValueError, match="header must be"):
        CandleSource((str(bad),), 0)


def test_files_starting_on_different_days_share_one_clock(tmp_path: Path, shared_data: Path) -> None:
    btc = _slice(shared_data / "binance_BTC-USDT_1h.csv.gz", tmp_path / "binance_BTC-USDT_1h.csv", 0, 30_000)
    eth = _slice(shared_data / "binance_ETH-USDT_1h.csv.gz", tmp_path / "binance_ETH-USDT_1h.csv", 0, 100)
    src = CandleSource((str(btc), str(eth)), 50)
    hist = src.history()
    eth_warm_end = int(pd.read_csv(eth)["timestamp"].iloc[49])
    assert src.split_ts == eth_warm_end  # ETH starts in 2020, years after BTC
    assert int(hist["BTC/USDT"]["timestamp"].iloc[-1]) == eth_warm_end
    first_ts, first_bars = next(src.stream())
    assert first_ts == eth_warm_end + 3_600_000
    assert len(first_bars) == 2
