"""Event bus: a slow subscriber loses only non-critical events, never orders, fills or alerts."""

from __future__ import annotations

import asyncio

from src.core.bus import EventBus
from src.core.events import Alert, CandleClosed, Event, Fill


def candle(i: int) -> CandleClosed:
    return CandleClosed("BTC/USDT", "1h", i, 1, 1, 1, 1, 1)


def fill(i: int) -> Fill:
    return Fill(f"c{i}", "BTC/USDT", "buy", 1.0, 100.0, 0.1, i)


async def test_slow_subscriber_never_blocks_and_never_drops_critical() -> None:
    bus = EventBus()
    got: list[Event] = []
    release = asyncio.Event()

    async def slow(ev: Event) -> None:
        await release.wait()
        got.append(ev)

    sub = bus.subscribe("slow", slow, maxsize=5)
    task = asyncio.create_task(bus.run_subscriber(sub))
    await asyncio.sleep(0)
    for i in range(50):  # publishing 100 events never awaits the subscriber
        bus.publish(candle(i))
        bus.publish(fill(i))
    assert sub.dropped > 0
    release.set()
    await bus.drain()
    await asyncio.sleep(0.01)
    task.cancel()
    fills = [e.ts_ms for e in got if isinstance(e, Fill)]
    assert fills == list(range(50))  # every fill, in order
    assert sum(isinstance(e, CandleClosed) for e in got) + sub.dropped == 50


async def test_filter_and_failing_handler_isolated() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def bad(ev: Event) -> None:
        raise RuntimeError("bug in a subscriber")

    async def good(ev: Event) -> None:
        seen.append(ev.kind)

    s1 = bus.subscribe("bad", bad)
    s2 = bus.subscribe("alerts", good, kinds=("alert",))
    tasks = [asyncio.create_task(bus.run_subscriber(s)) for s in (s1, s2)]
    bus.publish(candle(1))
    bus.publish(Alert("info", "t", "x"))
    await bus.drain()
    await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    assert seen == ["alert"]
    assert s1.errors == 2
    assert bus.stats()["alerts"]["delivered"] == 1
