"""In-process event bus: one bounded queue per subscriber, so a slow consumer never stalls the feed.

Publishing never awaits a subscriber. When a subscriber's queue is full, non-critical events
(candles, ticks, books) are dropped for *that* subscriber and counted; critical events (orders,
fills, alerts, commands) are never dropped — they go to an unbounded overflow list that the
subscriber drains before its queue, so order is kept and nothing about money is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from src.core.events import CRITICAL_KINDS, Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


@dataclass
class Subscription:
    """One subscriber: its filter, its queue and its counters."""

    name: str
    handler: Handler
    kinds: frozenset[str] | None
    queue: asyncio.Queue[Event]
    overflow: deque[Event] = field(default_factory=deque)
    delivered: int = 0
    dropped: int = 0
    errors: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, event: Event) -> bool:
        return self.kinds is None or event.kind in self.kinds

    def offer(self, event: Event) -> None:
        """Queue ``event`` without blocking; drop only if it is non-critical and the queue is full."""
        critical = event.kind in CRITICAL_KINDS
        if self.overflow and critical:
            self.overflow.append(event)
        else:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                if critical:
                    self.overflow.append(event)
                else:
                    self.dropped += 1
        self.wakeup.set()

    def next_event(self) -> Event | None:
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.overflow:
            return self.overflow.popleft()
        return None


class EventBus:
    """Fan-out of immutable events to async subscribers, each consuming at its own pace."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self, name: str, handler: Handler, kinds: Iterable[str] | None = None,
                  maxsize: int = 10_000) -> Subscription:
        """Register ``handler`` for events whose ``kind`` is in ``kinds`` (all events if None)."""
        sub = Subscription(name, handler, frozenset(kinds) if kinds is not None else None,
                           asyncio.Queue(maxsize=maxsize))
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every interested subscriber; never blocks, never raises."""
        self.published += 1
        for sub in self._subs:
            if sub.wants(event):
                sub.offer(event)

    async def run_subscriber(self, sub: Subscription) -> None:
        """Deliver queued events to ``sub.handler`` forever; a failing handler is logged, not fatal."""
        while True:
            event = sub.next_event()
            if event is None:
                sub.wakeup.clear()
                await sub.wakeup.wait()
                continue
            try:
                await sub.handler(event)
                sub.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                sub.errors += 1
                log.exception("subscriber %s failed on %s event", sub.name, event.kind)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait until every queue is empty (used at shutdown and in tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(not s.queue.empty() or s.overflow for s in self._subs):
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.005)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per-subscriber delivery, drop and error counts, for status and heartbeat."""
        return {s.name: {"delivered": s.delivered, "dropped": s.dropped, "errors": s.errors,
                         "queued": s.queue.qsize() + len(s.overflow)} for s in self._subs}

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)
