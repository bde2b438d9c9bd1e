"""Perp prices for the carry's basis guard in paper/testnet/live: one ticker read per symbol and interval.

The market-data feed streams spot prices; the carry also needs the perpetual's price to know the
basis (perp / spot − 1). This small component reads the futures ticker through the shared client
(so through the shared request budget) and serves only *fresh* prices: a stale or missing perp
price makes the carry hold rather than trade blind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from src.exchange.binance import ExchangeClient, perp_symbol
from src.exchange.errors import ExchangeAccessError

log = logging.getLogger(__name__)


class PerpPriceWatcher:
    """Component ``carry_perp_prices``: last perp price per (spot-style) symbol, with its age."""

    name = "carry_perp_prices"

    def __init__(self, futures: ExchangeClient, symbols: tuple[str, ...], now_ms: Callable[[], int], *,
                 interval_s: float = 30.0, max_age_ms: int = 120_000) -> None:
        self.futures = futures
        self.symbols = symbols
        self.interval_s = interval_s
        self.max_age_ms = max_age_ms
        self._now_ms = now_ms
        self._prices: dict[str, tuple[int, float]] = {}
        self.failures = 0

    def price(self, symbol: str) -> float | None:
        """The perp's last price if read within ``max_age_ms``, else None."""
        found = self._prices.get(symbol)
        if found is None or self._now_ms() - found[0] > self.max_age_ms:
            return None
        return found[1]

    async def poll_once(self) -> None:
        for symbol in self.symbols:
            try:
                ticker = await self.futures.fetch_ticker(perp_symbol(symbol))
            except ExchangeAccessError as exc:
                self.failures += 1
                log.warning("perp price for %s unavailable: %s", symbol, exc)
                continue
            self._prices[symbol] = (self._now_ms(), ticker.last)

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval_s)
