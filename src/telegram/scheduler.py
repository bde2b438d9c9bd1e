"""Scheduled messages: a start-up note, the hourly status and the 6-hourly heartbeat; equity sampling.

Wall-clock intervals (a person's phone lives in real time, even when the market is replayed),
with an injectable ``sleep`` so tests do not wait an hour. Messages go through the notifier, so
without a token they land in the log on the same schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from src.core.events import CandleClosed, Event
from src.core.timeframes import timeframe_ms
from src.runtime.context import AppContext
from src.telegram.actions import Cockpit
from src.telegram.notifier import Notifier

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class Scheduler:
    """Component ``telegram_scheduler``: one loop per periodic message."""

    name = "telegram_scheduler"

    def __init__(self, ctx: AppContext, cockpit: Cockpit, notifier: Notifier, sleep: Sleep = asyncio.sleep) -> None:
        self.ctx = ctx
        self.cockpit = cockpit
        self.notifier = notifier
        self._sleep = sleep
        self.sent = {"status": 0, "heartbeat": 0}
        self._announced = False

    async def run(self) -> None:
        cfg = self.ctx.config.telegram
        if not self._announced:  # once per process, not once per restart of this task
            self._announced = True
            self.notifier.notify(f"▶️ AI Trading Lab started ({self.ctx.config.mode} mode)", key="started")
        await asyncio.gather(self._every(cfg.status_every_minutes * 60.0, self.send_status),
                             self._every(cfg.heartbeat_every_hours * 3600.0, self.send_heartbeat))

    async def _every(self, period_s: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await self._sleep(period_s)
            try:
                await job()
            except Exception:  # a report that cannot be built must not kill the schedule
                log.exception("scheduled message %s failed", getattr(job, "__name__", job))

    async def send_status(self) -> None:
        self.sent["status"] += 1
        self.notifier.notify("🕐 " + await self.cockpit.status_text("scheduler"), key="scheduled:status", replace=True,
                             html=True)

    async def send_heartbeat(self) -> None:
        self.sent["heartbeat"] += 1
        self.notifier.notify("💓 " + await self.cockpit.heartbeat_text(), key="scheduled:heartbeat", replace=True)


class EquitySampler:
    """Records portfolio equity once per closed candle time (for /chart when the portfolio keeps no
    curve) and the close prices of one symbol, the buy-and-hold benchmark of the equity chart."""

    name = "equity_sampler"

    def __init__(self, ctx: AppContext, view: Any, max_points: int = 5000, benchmark_symbol: str | None = None) -> None:
        self.ctx, self.view = ctx, view  # a TradingView: its ``portfolio`` may be None in a cockpit-only build
        self.points: deque[tuple[int, float]] = deque(maxlen=max_points)
        self.prices: deque[tuple[int, float]] = deque(maxlen=max_points)
        self.benchmark_symbol = benchmark_symbol  # None: the first symbol whose candle closes
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=("candle",), maxsize=1000)

    def _record_price(self, event: CandleClosed) -> None:
        if self.benchmark_symbol is None:
            self.benchmark_symbol = event.symbol
        if event.symbol != self.benchmark_symbol:
            return
        ts = event.ts_ms + timeframe_ms(event.timeframe)  # the close time, like the equity points
        if not self.prices or ts > self.prices[-1][0]:
            self.prices.append((ts, float(event.close)))

    def benchmark(self) -> tuple[str, list[tuple[int, float]]]:
        """(symbol, [(close ms, price)]) for the buy-and-hold line."""
        return self.benchmark_symbol or "", list(self.prices)

    async def on_event(self, event: Event) -> None:
        assert isinstance(event, CandleClosed)
        self._record_price(event)
        portfolio = self.view.portfolio
        if portfolio is None or getattr(portfolio, "curve", None) is not None:
            return  # nothing to sample, or the portfolio keeps its own curve
        ts = self.ctx.clock.now_ms() or event.ts_ms
        if self.points and ts <= self.points[-1][0]:
            return
        self.points.append((ts, float(portfolio.equity_quote())))

    def curve(self) -> list[tuple[int, float]]:
        """The portfolio's own equity curve when it offers one, else what was sampled here."""
        portfolio = self.view.portfolio
        curve = getattr(portfolio, "curve", None) if portfolio is not None else None
        if curve:
            return [(int(t), float(v)) for t, v in list(curve)]
        return list(self.points)

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
