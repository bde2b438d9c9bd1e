"""One request-weight budget per exchange, shared by every caller (market data now, orders later).

Why one budget: Binance counts request weight per IP, not per component. If the realtime poller,
the historical downloader and the order router each throttled themselves, together they could still
exceed the limit and earn a 429 — or, if they keep going, a 418 IP ban that stops trading.

Units are ccxt's per-endpoint costs (``api[...]['cost']``, scaled by ``limit`` where the exchange
charges by size), so no table of weights is duplicated here. Capacity per minute is derived from
ccxt's ``rateLimit`` (ms per unit cost): ``60_000 / rateLimit * fraction``. The budget is plugged in
as the ccxt instance's ``throttle`` by :mod:`src.exchange.binance`, so every request, including
ones the execution engine makes through the same client, passes through it.

The budget also holds the IP-ban state: after a 418 nothing may call until ``banned_until_ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from src.exchange.errors import IpBanned

Sleep = Callable[[float], Awaitable[None]]


class RequestBudget:
    """A rolling 60-second window of spent cost; :meth:`acquire` waits until a request fits."""

    def __init__(self, capacity_per_minute: float, *, name: str = "exchange",
                 sleep: Sleep = asyncio.sleep, now_s: Callable[[], float] = time.time,
                 window_s: float = 60.0) -> None:
        if capacity_per_minute <= 0:
            raise ValueError("capacity_per_minute must be > 0")
        self.name = name
        self.capacity = float(capacity_per_minute)
        self.window_s = window_s
        self._sleep = sleep
        self._now_s = now_s
        self._spent: deque[tuple[float, float]] = deque()
        self._lock = asyncio.Lock()
        self.banned_until_ms = 0
        self.ban_reason = ""
        self.cool_until_s = 0.0
        self.server_used_weight: int | None = None
        self.requests = 0
        self.waited_s = 0.0

    def used(self) -> float:
        """Cost spent within the last window."""
        self._expire(self._now_s())
        return sum(cost for _, cost in self._spent)

    def ban(self, until_ms: int, reason: str) -> None:
        """Record an IP ban: every caller is refused until ``until_ms`` (epoch ms)."""
        if until_ms > self.banned_until_ms:
            self.banned_until_ms = until_ms
            self.ban_reason = reason

    def cool_down(self, seconds: float) -> None:
        """After a 429 every caller waits (not just the one that got it): the limit is per IP."""
        self.cool_until_s = max(self.cool_until_s, self._now_s() + max(0.0, seconds))

    def ban_remaining_s(self) -> float:
        return max(0.0, self.banned_until_ms / 1000.0 - self._now_s())

    def check_ban(self) -> None:
        """Raise :class:`IpBanned` while a ban is in force — calling now would lengthen it."""
        if self.ban_remaining_s() > 0:
            raise IpBanned(f"{self.name}: IP ban in force for {self.ban_remaining_s():.0f}s more "
                           f"({self.ban_reason})", until_ms=self.banned_until_ms)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait (through the injected sleep) until ``cost`` fits in the window, then spend it."""
        self.check_ban()
        cost = min(max(float(cost), 0.0), self.capacity)
        async with self._lock:
            while True:
                now = self._now_s()
                if now < self.cool_until_s:
                    self.waited_s += self.cool_until_s - now
                    await self._sleep(self.cool_until_s - now)
                    continue
                self._expire(now)
                used = sum(c for _, c in self._spent)
                if used + cost <= self.capacity:
                    self._spent.append((now, cost))
                    self.requests += 1
                    return
                wait = max(0.01, self._spent[0][0] + self.window_s - now)
                self.waited_s += wait
                await self._sleep(wait)

    async def throttle(self, cost: float | None = None) -> None:
        """Signature-compatible with ``ccxt.Exchange.throttle`` so it can replace it."""
        await self.acquire(1.0 if cost is None else cost)

    def observe_headers(self, headers: dict[str, str]) -> None:
        """Keep the server's own count of used weight (Binance ``X-MBX-USED-WEIGHT-1M``) for status."""
        for key, value in headers.items():
            if key.lower() == "x-mbx-used-weight-1m":
                try:
                    self.server_used_weight = int(value)
                except ValueError:
                    pass

    def snapshot(self) -> dict[str, float | int | str | None]:
        """For the status board."""
        return {"capacity_per_min": self.capacity, "used": round(self.used(), 2),
                "requests": self.requests, "waited_s": round(self.waited_s, 3),
                "server_used_weight": self.server_used_weight,
                "banned_for_s": round(self.ban_remaining_s(), 1), "ban_reason": self.ban_reason}

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._spent.popleft()
