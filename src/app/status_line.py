"""The console status line: one line per simulated hour, readable at a glance.

It reads what other components publish (the market cache, ``portfolio`` and ``strategies``
services) and never owns any state of its own.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Protocol

from src.core.events import CandleClosed, Event
from src.core.timeframes import fmt_ms, timeframe_ms
from src.market.cache import MarketCache
from src.runtime.context import AppContext

log = logging.getLogger("status")


class Portfolio(Protocol):
    """What the status line needs from the execution layer."""

    def equity_quote(self) -> float: ...

    def open_positions(self) -> list[Any]: ...


def strategy_counts(ctx: AppContext) -> dict[str, int]:
    """Strategies per lifecycle folder (or per status if the lifecycle service offers it)."""
    svc = ctx.services.get("strategies")
    if svc is not None and hasattr(svc, "counts"):
        return dict(svc.counts())
    counts: Counter[str] = Counter()
    for folder in ("testing", "active", "retired"):
        counts[folder] = sum(1 for _ in (ctx.paths.strategies / folder).glob("*.json"))
    return dict(counts)


def format_status(ctx: AppContext, cache: MarketCache) -> str:
    prices = " ".join(f"{s} {cache.last_price(s):,.2f}" for s in cache.symbols if cache.last_price(s))
    counts = " ".join(f"{k}={v}" for k, v in strategy_counts(ctx).items())
    portfolio: Portfolio | None = ctx.services.get("portfolio")
    if portfolio is not None:
        positions = len(portfolio.open_positions())
        equity = f"{portfolio.equity_quote():,.2f}"
    else:
        positions, equity = 0, f"{ctx.config.paper.starting_balance_quote:,.2f}"
    control = ctx.services.get("control")
    state = control.state.run_state if control is not None else "running"
    return (f"[{fmt_ms(ctx.clock.now_ms())} UTC] {state} | {prices} | strategies {counts} | "
            f"positions {positions} | equity {equity} {ctx.config.quote}")


class StatusLine:
    """Prints :func:`format_status` whenever market time crosses an hour boundary."""

    name = "status_line"

    def __init__(self, ctx: AppContext, cache: MarketCache, every_ms: int = 3_600_000) -> None:
        self.ctx, self.cache, self.every_ms = ctx, cache, every_ms
        self._last_slot: int | None = None
        self.lines = 0
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=("candle",))

    async def on_event(self, event: Event) -> None:
        assert isinstance(event, CandleClosed)
        slot = (event.ts_ms + timeframe_ms(event.timeframe)) // self.every_ms
        if self._last_slot is None or slot > self._last_slot:
            self._last_slot = slot
            self.lines += 1
            log.info("%s", format_status(self.ctx, self.cache))

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
