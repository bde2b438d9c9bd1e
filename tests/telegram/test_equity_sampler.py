"""Equity for /chart: the portfolio's own curve when it keeps one, else one sample per closed candle."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from src.core.clock import MarketClock
from src.core.events import CandleClosed
from src.telegram.scheduler import EquitySampler
from tests.telegram.conftest import make_ctx

HOUR_MS = 3_600_000


class Wallet:
    """A portfolio surface without an equity curve: only the current equity."""

    def __init__(self) -> None:
        self.equity = 1000.0

    def equity_quote(self) -> float:
        return self.equity


async def test_samples_once_per_candle_time_when_the_portfolio_keeps_no_curve(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.clock = MarketClock()
    wallet = Wallet()
    sampler = EquitySampler(ctx, SimpleNamespace(portfolio=wallet))
    task = asyncio.create_task(sampler.run())
    for hour in range(3):
        ctx.clock.advance_to((hour + 1) * HOUR_MS)
        for symbol in ("BTC/USDT", "ETH/USDT"):  # two candles close at the same time: one sample
            ctx.bus.publish(CandleClosed(symbol, "1h", hour * HOUR_MS, 1, 1, 1, 1, 1))
        await ctx.bus.drain()
        wallet.equity += 10
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sampler.curve() == [(HOUR_MS, 1000.0), (2 * HOUR_MS, 1010.0), (3 * HOUR_MS, 1020.0)]
    assert sampler.benchmark() == ("BTC/USDT", [(HOUR_MS, 1.0), (2 * HOUR_MS, 1.0), (3 * HOUR_MS, 1.0)])
    wallet.curve = [(5, 1.0), (6, 2.0)]  # type: ignore[attr-defined]
    assert sampler.curve() == [(5, 1.0), (6, 2.0)]
