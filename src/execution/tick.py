"""One tick, top to bottom: how a market event becomes a trading decision.

Every feed (replay or exchange) hands each bar's events to :meth:`TickPipeline.deliver`, which
runs them through the system in one fixed order you can read here:

1. **gate** — the data-integrity gate judges every candle *before* anything stores it; a refused
   candle (NaN, a price ≤ 0, broken OHLC, a repeated or late timestamp) stops here, so neither the
   market cache nor the runner's stops ever see it. Ticks and funding update the gate's verdicts;
2. **cache** — admitted candles (of the cache's timeframe) and funding enter the market cache, all
   of one bar before any decision, so a decision on one symbol sees the same bar of the others;
3. **deciders** — the strategy runner (paper engine, position rules, signals, router → risk guards →
   venue), then the funding carry, each awaited in turn: one decision at a time, in feed order;
4. **observers** — only then is the event published on the bus, for components that watch but
   never decide trades (the AI brain, the status line, the notifier, the supervisor's tick count).

The gate lives in the AI brain and the deciders above this module; both are reached through the
protocols below, injected by the composition root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from src.core.events import CandleClosed, Event, FundingRate
from src.market.cache import MarketCache


class DataGate(Protocol):
    """The data-integrity gate as the tick sees it."""

    def admit(self, candle: CandleClosed) -> bool:
        """Judge a closed candle; False means it must not be stored or traded on."""
        ...

    def observe(self, event: Event) -> None:
        """Update verdicts from a tick or a funding event."""
        ...


class Decider(Protocol):
    """A part that turns market events into orders (the strategy runner, the funding carry)."""

    async def on_event(self, ev: Event) -> None: ...


class TickPipeline:
    """Feed → gate → cache → deciders → observers, for one bar's events at a time."""

    def __init__(self, gate: DataGate, cache: MarketCache, deciders: Sequence[Decider],
                 publish: Callable[[Event], None], ready: asyncio.Event | None = None) -> None:
        self.gate, self.cache, self.deciders, self._publish = gate, cache, list(deciders), publish
        self.ready = ready  # set once start-up recovery is done: no bar is traded before it
        self.delivered = 0
        self.refused = 0

    async def deliver(self, events: Sequence[Event]) -> None:
        """Run one bar's events (all symbols of one timestamp) through the system in order."""
        if self.ready is not None:
            await self.ready.wait()
        admitted = [ev for ev in events if self._judge(ev)]
        for ev in admitted:
            self._store(ev)
        for ev in admitted:
            for decider in self.deciders:
                await decider.on_event(ev)
            self._publish(ev)
            self.delivered += 1

    def _judge(self, ev: Event) -> bool:
        if isinstance(ev, CandleClosed):
            ok = self.gate.admit(ev)
            self.refused += not ok
            return ok
        self.gate.observe(ev)
        return True

    def _store(self, ev: Event) -> None:
        if isinstance(ev, CandleClosed):
            self.cache.append_candle(ev)
        elif isinstance(ev, FundingRate):
            self.cache.add_funding(ev.symbol, ev.ts_ms, ev.rate)

    def describe(self) -> dict[str, int]:
        return {"delivered": self.delivered, "refused_candles": self.refused}
