"""The one fee schedule: what a fill costs, for the backtester, the paper engine, the carry and live.

Every part of the bot that prices a fill asks this object, so a backtest, a dry run and a live
trade of the same strategy pay the same rate. Rates come from config (``fees:``, the exchange's
published regular-tier figures by default) and are replaced per symbol by the exchange's own
figures when they are known (ccxt's market ``taker``/``maker``, or the account's trading fees).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from src.config.fees import FeesConfig
from src.core.enums import Market

Liquidity = Literal["taker", "maker"]


@dataclass(frozen=True)
class FeeSchedule:
    """Fee rates as fractions of notional, per market and liquidity, with per-symbol overrides."""

    spot_taker: float = 0.001
    spot_maker: float = 0.001
    perp_taker: float = 0.0005
    perp_maker: float = 0.0002
    by_symbol: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (taker, maker)

    @classmethod
    def from_config(cls, cfg: FeesConfig) -> FeeSchedule:
        return cls(cfg.spot_taker_bps / 1e4, cfg.spot_maker_bps / 1e4, cfg.perp_taker_bps / 1e4,
                   cfg.perp_maker_bps / 1e4)

    def with_exchange_rates(self, markets: Mapping[str, Mapping[str, Any]]) -> FeeSchedule:
        """The exchange's own rates where a market states them (ccxt unified ``taker``/``maker``)."""
        found = dict(self.by_symbol)
        for symbol, market in markets.items():
            taker, maker = market.get("taker"), market.get("maker")
            if isinstance(taker, (int, float)) and isinstance(maker, (int, float)) and taker >= 0 and maker >= 0:
                found[symbol] = (float(taker), float(maker))
        return FeeSchedule(self.spot_taker, self.spot_maker, self.perp_taker, self.perp_maker, found)

    def rate(self, market: Market | str, liquidity: Liquidity = "taker", symbol: str | None = None) -> float:
        """The fraction of notional a fill pays."""
        if symbol is not None and symbol in self.by_symbol:
            taker, maker = self.by_symbol[symbol]
            return taker if liquidity == "taker" else maker
        if market == "perp":
            return self.perp_taker if liquidity == "taker" else self.perp_maker
        return self.spot_taker if liquidity == "taker" else self.spot_maker

    def fee_quote(self, notional_quote: float, market: Market | str, liquidity: Liquidity = "taker",
                  symbol: str | None = None) -> float:
        """What a fill of ``notional_quote`` costs, in the quote currency."""
        return abs(notional_quote) * self.rate(market, liquidity, symbol)

    def bps(self, market: Market | str, liquidity: Liquidity = "taker") -> float:
        """The configured rate in basis points (what a backtest's cost model is built from)."""
        return round(self.rate(market, liquidity) * 1e4, 9)  # bps/1e4*1e4 without float dust
