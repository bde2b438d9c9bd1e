"""The console status line: readable at a glance, and quiet.

At most one line per market hour, and no more often than every ``every_s`` seconds of wall-clock
time (a replay at ``--speed 36000`` crosses ten market hours a second), except that a change of
run state (running → paused → halted) is printed at once. It reads what the composition root
hands it (the market cache and the cockpit's :class:`~src.telegram.view.TradingView`) and never
owns any state of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from src.core.events import CandleClosed, Event
from src.core.timeframes import fmt_ms, timeframe_ms
from src.market.cache import MarketCache
from src.runtime.context import AppContext
from src.telegram.view import TradingView, strategy_counts

log = logging.getLogger("status")


def format_status(ctx: AppContext, cache: MarketCache, view: TradingView) -> str:
    prices = " ".join(f"{s} {cache.last_price(s):,.2f}" for s in cache.symbols if cache.last_price(s))
    counts = " ".join(f"{k}={v}" for k, v in strategy_counts(ctx.paths.strategies, view.strategies).items()
                      if v) or "none"
    portfolio = view.portfolio
    if portfolio is not None:
        positions = len(portfolio.open_positions())
        equity = f"{portfolio.equity_quote():,.2f}"
    else:
        positions, equity = 0, f"{ctx.config.paper.starting_balance_quote:,.2f}"
    return (f"[{fmt_ms(ctx.clock.now_ms())} UTC] {view.control.state.run_state} | {prices} | strategies {counts} | "
            f"positions {positions} | equity {equity} {ctx.config.quote}")


class StatusLine:
    """Prints :func:`format_status` when market time crosses an hour and ``every_s`` wall seconds
    have passed since the last line, or at once when the run state changes."""

    name = "status_line"

    def __init__(self, ctx: AppContext, cache: MarketCache, view: TradingView, every_ms: int = 3_600_000,
                 every_s: float = 30.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ctx, self.cache, self.view, self.every_ms, self.every_s = ctx, cache, view, every_ms, every_s
        self._monotonic = monotonic
        self._last_slot: int | None = None
        self._last_at = float("-inf")
        self._last_state: str | None = None
        self.lines = 0
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=("candle",))

    async def on_event(self, event: Event) -> None:
        assert isinstance(event, CandleClosed)
        slot = (event.ts_ms + timeframe_ms(event.timeframe)) // self.every_ms
        state = str(self.view.control.state.run_state)
        new_hour = self._last_slot is None or slot > self._last_slot
        now = self._monotonic()
        if state != self._last_state or (new_hour and now - self._last_at >= self.every_s):
            self._last_slot, self._last_at, self._last_state = slot, now, state
            self.lines += 1
            log.info("%s", format_status(self.ctx, self.cache, self.view))

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
