"""Realtime feed through the real ccxt client and the fake: closed candles exactly once, across restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai_brain.data.data_integrity_monitor import DataIntegrityMonitor
from ai_brain.data.realtime_market_data import RealtimeMarketData
from src.config import AppConfig, Secrets
from src.config.market import ExchangeConfig
from src.core.bus import EventBus
from src.core.clock import Clock
from src.core.events import CandleClosed, DataStatus, Event, FundingRate, OrderBook, Tick
from src.exchange import ExchangeClients
from src.execution.tick import TickPipeline
from src.market.cache import MarketCache
from src.runtime.context import AppContext, Paths
from src.state.store import StateStore
from tests.fakes.fake_binance import FakeBinance, minute_rows
from tests.fakes.fake_time import FakeTime

MINUTE = 60_000


class _FakeClock(Clock):
    def __init__(self, t: FakeTime) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t.now_ms()


@pytest.fixture
async def setup(fake: FakeBinance, fake_time: FakeTime, tmp_path: Path) -> AsyncIterator[tuple]:
    ex = ExchangeConfig(api_base_url=fake.base_url, symbols=("BTC/USDT",), timeframes=("1m",),
                        timeout_ms=2_000, retry_attempts=2)
    cfg = AppConfig(mode="paper", exchange=ex)
    paths = Paths(tmp_path)
    paths.ensure()
    ctx = AppContext(cfg, Secrets(), paths, EventBus(), StateStore(paths.state), _FakeClock(fake_time))
    clients = ExchangeClients(ex, mode="paper", sleep=fake_time.sleep, now_s=fake_time)
    events: list[Event] = []

    async def collect(ev: Event) -> None:
        events.append(ev)

    sub = ctx.bus.subscribe("test", collect)
    yield ctx, clients, sub, events
    await clients.close()


def _feed(ctx: AppContext, clients: ExchangeClients, gate: DataIntegrityMonitor | None = None,
          cache: MarketCache | None = None, **kw) -> RealtimeMarketData:
    """The feed wired as the root wires it: into a tick pipeline (gate → cache → bus), no deciders."""
    tick = TickPipeline(gate or DataIntegrityMonitor(ctx), cache or MarketCache("1m"), [], ctx.bus.publish)
    return RealtimeMarketData(ctx, clients, tick.cache, tick.deliver, **kw)


def _take(sub) -> list[Event]:
    out = []
    while (ev := sub.next_event()) is not None:
        out.append(ev)
    return out


async def test_closed_candles_once_each_even_across_restarts(setup: tuple, fake: FakeBinance,
                                                             fake_time: FakeTime) -> None:
    ctx, clients, sub, _ = setup
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 10))
    feed = _feed(ctx, clients)

    first = await feed.poll_candles()
    nothing_new = await feed.poll_candles()
    fake_time.now += 3 * 60
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 13))
    later = await feed.poll_candles()
    fake_time.now += 2 * 60
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 15))
    restarted = _feed(ctx, clients)  # a new process: the cursor comes from state/
    after_restart = await restarted.poll_candles()

    candles = [e for e in _take(sub) if isinstance(e, CandleClosed)]
    stamps = [c.ts_ms for c in candles]
    assert (first, nothing_new, later, after_restart) == (1, 0, 3, 2)
    assert stamps == sorted(set(stamps))
    assert all(b - a == MINUTE for a, b in itertools.pairwise(stamps))
    assert stamps[-1] + MINUTE <= fake_time.now_ms()  # never the forming candle


async def test_ticks_books_and_funding(setup: tuple, fake: FakeBinance) -> None:
    ctx, clients, sub, _ = setup
    feed = _feed(ctx, clients)

    await feed.poll_tickers()
    await feed.poll_books()
    await feed.poll_funding()
    await feed.poll_funding()  # unchanged rate: not published twice

    events = _take(sub)
    ticks = [e for e in events if isinstance(e, Tick)]
    assert [t.symbol for t in ticks] == ["BTC/USDT", "BTC/USDT:USDT"]
    assert [type(e) for e in events].count(OrderBook) == 1
    funding = [e for e in events if isinstance(e, FundingRate)]
    assert len(funding) == 1
    assert funding[0].symbol == "BTC/USDT"
    assert funding[0].rate == pytest.approx(0.0001)
    assert fake.count("/fapi/v1/premiumIndex") == 2


async def test_outage_means_no_data_and_the_gate_blocks(setup: tuple, fake: FakeBinance,
                                                         fake_time: FakeTime) -> None:
    ctx, clients, sub, _ = setup
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 10))
    gate = DataIntegrityMonitor(ctx)
    feed = _feed(ctx, clients, gate)
    await feed.poll_candles()
    await feed.poll_tickers()
    _take(sub)
    healthy = (gate.status("BTC/USDT"), feed.snapshot()["BTC/USDT"]["score"])

    fake.fault("/api/v3/klines", status=503, body="down", times=99)
    fake_time.now += 10 * 60
    published = await feed.poll_candles()
    gate.check_staleness()

    assert healthy[0] == "OK"
    assert healthy[1] > 0.9
    assert published == 0
    assert not [e for e in _take(sub) if isinstance(e, CandleClosed)]
    assert gate.status("BTC/USDT") == "BLOCKED"
    assert not gate.allows_entry("BTC/USDT")
    snap = feed.snapshot()["BTC/USDT"]
    assert snap["freshness"] == 0.0
    assert snap["completeness"] < 1.0


async def test_runs_as_a_component(setup: tuple, fake: FakeBinance, fake_time: FakeTime) -> None:
    ctx, clients, _, _ = setup
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 10))

    async def short_sleep(seconds: float) -> None:
        await asyncio.sleep(0.01)

    # no warm-up, so the first poll has closed candles to publish
    ctx = dataclasses.replace(ctx, config=ctx.config.model_copy(
        update={"replay": ctx.config.replay.model_copy(update={"warmup_bars": 0})}))
    feed = _feed(ctx, clients, sleep=short_sleep)
    task = asyncio.create_task(feed.run())
    for _ in range(500):
        if all(feed.published[k] for k in ("candle", "tick", "book", "funding")):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(feed.published[k] for k in ("candle", "tick", "book", "funding")), feed.published


async def test_wiring_adds_gate_everywhere_and_feed_outside_replay(setup: tuple) -> None:
    from src.app.supervisor import Supervisor
    from src.app.wiring import assemble

    ctx, _, _, _ = setup
    supervisor = Supervisor(ctx)
    services = assemble(ctx, supervisor)
    names = [c.name for c, _restart in supervisor._components]
    assert services.exchange is not None
    await services.exchange.close()  # what the release-phase shutdown hook does

    assert "data_gate" in names
    assert "market_data" in names
    assert "feed" not in names
    assert isinstance(services.feed, RealtimeMarketData)
    assert services.feed.cache is services.cache
    assert services.gate.allows_entry("BTC/USDT") is False  # no data yet
    assert services.exchange.snapshot() == {}


async def test_a_refused_candle_never_reaches_the_cache_or_the_runner(setup: tuple) -> None:
    ctx, _clients, sub, _ = setup
    cache, decided = MarketCache("1m"), []

    class _Runner:
        async def on_event(self, ev: Event) -> None:
            decided.append(ev)

    tick = TickPipeline(DataIntegrityMonitor(ctx), cache, [_Runner()], ctx.bus.publish)
    good = CandleClosed("BTC/USDT", "1m", 60_000, 100.0, 101.0, 99.0, 100.5, 5.0)
    nan = CandleClosed("BTC/USDT", "1m", 120_000, float("nan"), 101.0, 99.0, 100.5, 5.0)
    negative = CandleClosed("BTC/USDT", "1m", 180_000, 100.0, 101.0, -1.0, 100.5, 5.0)
    zero = CandleClosed("BTC/USDT", "1m", 240_000, 0.0, 0.0, 0.0, 0.0, 5.0)
    for ev in (good, nan, negative, zero):
        await tick.deliver([ev])

    assert list(cache.series("BTC/USDT").timestamps) == [60_000]
    assert decided == [good]
    assert [e for e in _take(sub) if isinstance(e, CandleClosed)] == [good]
    assert tick.describe() == {"delivered": 1, "refused_candles": 3}


async def test_warm_up_fills_the_cache_without_events(setup: tuple, fake: FakeBinance,
                                                      fake_time: FakeTime) -> None:
    ctx, clients, sub, _ = setup
    cache = MarketCache("1m")
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 500))
    feed = _feed(ctx, clients, cache=cache)

    loaded = await feed.warm_up()
    fake_time.now += 60
    fake.set_klines("BTCUSDT", "1m", minute_rows(fake_time(), 501))
    fresh = await feed.poll_candles()

    assert loaded == ctx.config.replay.warmup_bars
    assert fresh == 1
    assert [type(e) for e in _take(sub) if not isinstance(e, DataStatus)] == [CandleClosed]
    assert len(cache.series("BTC/USDT").timestamps) == loaded + 1
