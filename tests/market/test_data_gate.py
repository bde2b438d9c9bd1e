"""The data gate: verdict per symbol, transitions published, entries refused when BLOCKED."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from ai_brain.data.data_integrity_monitor import DataIntegrityMonitor
from src.config import AppConfig, Secrets
from src.core.bus import EventBus
from src.core.clock import MarketClock
from src.core.events import Alert, CandleClosed, DataStatus, Event, FundingRate, Tick
from src.runtime.context import AppContext, Paths
from src.state.store import StateStore
from tests.conftest import SHARED_DATA

HOUR = 3_600_000


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    paths = Paths(tmp_path)
    paths.ensure()
    return AppContext(AppConfig(), Secrets(), paths, EventBus(), StateStore(paths.state), MarketClock())


_SUBS: dict[int, object] = {}


@pytest.fixture
def seen(ctx: AppContext) -> list[Event]:
    events: list[Event] = []
    _SUBS[id(ctx)] = ctx.bus.subscribe("test", _collect(events), kinds=("data_status", "alert"))
    return events


def _collect(events: list[Event]):
    async def handler(ev: Event) -> None:
        events.append(ev)
    return handler


def _drain(ctx: AppContext) -> list[Event]:
    sub = _SUBS[id(ctx)]
    out = []
    while (ev := sub.next_event()) is not None:
        out.append(ev)
    return out


def _real_candles(n: int) -> list[CandleClosed]:
    path = SHARED_DATA / "binance_ETH-USDT_1h.csv.gz"
    if not path.exists():
        pytest.skip("shared data not found")
    df = pd.read_csv(path).iloc[-n:]
    return [CandleClosed("ETH/USDT", "1h", int(r.timestamp), r.open, r.high, r.low, r.close, r.volume)
            for r in df.itertuples()]


def _feed(ctx: AppContext, gate: DataIntegrityMonitor, candles: list[CandleClosed]) -> None:
    for c in candles:
        assert isinstance(ctx.clock, MarketClock)
        ctx.clock.advance_to(c.ts_ms + HOUR)
        gate.on_candle(c)


def test_unknown_symbols_are_blocked(ctx: AppContext) -> None:
    gate = DataIntegrityMonitor(ctx)

    assert gate.status("BTC/USDT") == "BLOCKED"
    assert not gate.allows_entry("BTC/USDT")
    assert gate.reasons("BTC/USDT") == ("no data yet",)


def test_clean_real_candles_are_ok_without_alert(ctx: AppContext, seen: list[Event]) -> None:
    gate = DataIntegrityMonitor(ctx)

    _feed(ctx, gate, _real_candles(200))

    events = _drain(ctx)
    assert gate.status("ETH/USDT") == "OK"
    assert gate.allows_entry("ETH/USDT")
    assert [type(e) for e in events] == [DataStatus]
    assert gate.snapshot()["ETH/USDT"]["status"] == "OK"


@pytest.mark.parametrize("spoil", ["nan", "duplicate", "ohlc"])
def test_bad_candle_blocks_then_recovers(ctx: AppContext, seen: list[Event], spoil: str) -> None:
    gate = DataIntegrityMonitor(ctx)
    candles = _real_candles(60)
    _feed(ctx, gate, candles[:50])
    first = _drain(ctx)
    last = candles[49]
    bad = {"nan": CandleClosed("ETH/USDT", "1h", last.ts_ms + HOUR, float("nan"), 1, 1, 1, 1),
           "duplicate": last,
           "ohlc": CandleClosed("ETH/USDT", "1h", last.ts_ms + HOUR, 10.0, 9.0, 8.0, 10.0, 1.0)}[spoil]

    gate.on_candle(bad)
    blocked = _drain(ctx)
    _feed(ctx, gate, candles[50:])

    assert first
    assert gate.status("ETH/USDT") == "OK"
    assert [e.status for e in blocked if isinstance(e, DataStatus)] == ["BLOCKED"]
    assert any(isinstance(e, Alert) and e.level == "action" for e in blocked)
    recovered = _drain(ctx)
    assert [e.status for e in recovered if isinstance(e, DataStatus)] == ["OK"]


def test_stale_feed_blocks_until_a_new_candle(ctx: AppContext) -> None:
    gate = DataIntegrityMonitor(ctx)
    candles = _real_candles(30)
    _feed(ctx, gate, candles[:29])

    gate.check_staleness(now_ms=candles[28].ts_ms + HOUR * 10)
    stale, why = gate.status("ETH/USDT"), gate.reasons("ETH/USDT")
    _feed(ctx, gate, candles[29:])

    assert stale == "BLOCKED"
    assert why[0].startswith("stale")
    assert gate.status("ETH/USDT") == "OK"


def test_funding_ticks_and_basis(ctx: AppContext) -> None:
    gate = DataIntegrityMonitor(ctx)
    _feed(ctx, gate, _real_candles(50))
    t = _real_candles(50)[-1].ts_ms + HOUR

    gate.on_funding(FundingRate("ETH/USDT", t, 0.0100))
    degraded = gate.status("ETH/USDT")
    gate.on_funding(FundingRate("ETH/USDT", t, 0.0500))
    implausible = gate.status("ETH/USDT")
    gate.on_funding(FundingRate("ETH/USDT", t, 0.0001))
    gate.on_tick(Tick("ETH/USDT", t, 3000.0, 2999.9, 3000.1))
    gate.on_tick(Tick("ETH/USDT:USDT", t, 3600.0, 3599.9, 3600.1))
    basis = gate.status("ETH/USDT")
    gate.on_tick(Tick("ETH/USDT:USDT", t, 3001.0, 3000.9, 3001.1))

    assert (degraded, implausible, basis) == ("DEGRADED", "BLOCKED", "BLOCKED")
    assert gate.status("ETH/USDT:USDT") == "OK"


async def test_runs_as_the_first_step_of_the_tick(ctx: AppContext) -> None:
    from src.execution.tick import TickPipeline
    from src.market.cache import MarketCache

    gate = DataIntegrityMonitor(ctx)
    task = asyncio.create_task(gate.run())  # the staleness loop
    tick = TickPipeline(gate, MarketCache("1h"), [], ctx.bus.publish)
    for c in _real_candles(20):
        await tick.deliver([c])
    await asyncio.sleep(0)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.status("ETH/USDT") == "OK"
    assert len(tick.cache.series("ETH/USDT").timestamps) == 20
