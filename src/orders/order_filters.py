"""Exchange order filters — price tick, lot step, min/max quantity, min notional, percent-price band.

ONE validation path for paper and live: the paper engine and the live executor both call
:func:`apply_filters` before an order exists, so a strategy that the exchange would reject live is
rejected in paper too, with the same typed reason, and a too-small order is refused by us rather
than by the exchange.

Rounding is always conservative: quantities are floored to the lot step (never buy more than was
sized), limit prices are rounded *away* from crossing (a buy down, a sell up) to the tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from src.core.errors import LabError
from src.orders.interface import OrderIntent


class FilterReason(StrEnum):
    """Why an order cannot be sent as it stands."""

    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"
    NOTIONAL_BELOW_MIN = "notional_below_min"
    PRICE_OUTSIDE_BAND = "price_outside_band"
    NO_REFERENCE_PRICE = "no_reference_price"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    NOTHING_TO_REDUCE = "nothing_to_reduce"


class FilterRejected(LabError):
    """Raised by :func:`apply_filters`; ``reason`` is typed so callers can count and report it."""

    def __init__(self, reason: FilterReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SymbolFilters:
    """The trading rules of one market, in the exchange's own units."""

    symbol: str
    tick_size: float
    step_size: float
    min_qty_base: float = 0.0
    max_qty_base: float = math.inf
    min_notional_quote: float = 0.0
    percent_band: float = 0.1

    @classmethod
    def from_ccxt_market(cls, market: dict[str, Any], percent_band: float = 0.1) -> SymbolFilters:
        """Build from a ccxt ``exchange.markets[symbol]`` entry (precision mode TICK_SIZE, as Binance)."""
        prec = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount = limits.get("amount") or {}
        cost = limits.get("cost") or {}
        return cls(symbol=str(market["symbol"]), tick_size=float(prec.get("price") or 0.0),
                   step_size=float(prec.get("amount") or 0.0), min_qty_base=float(amount.get("min") or 0.0),
                   max_qty_base=float(amount.get("max") or math.inf),
                   min_notional_quote=float(cost.get("min") or 0.0), percent_band=percent_band)

    @classmethod
    def default_for_price(cls, symbol: str, price_quote: float, min_notional_quote: float,
                          percent_band: float) -> SymbolFilters:
        """Binance-like rules when the exchange's are unknown (replay): ~6 significant price digits.

        BTC at 60,000 → tick 0.01, step 0.00001; SOL at 150 → tick 0.0001, step 0.001.
        """
        magnitude = math.floor(math.log10(price_quote)) if price_quote > 0 else 0
        return cls(symbol=symbol, tick_size=10.0 ** (magnitude - 6), step_size=10.0 ** (-(magnitude + 1)),
                   min_qty_base=10.0 ** (-(magnitude + 1)), min_notional_quote=min_notional_quote,
                   percent_band=percent_band)


@dataclass(frozen=True)
class FilteredOrder:
    """The quantity and price that may be sent, after rounding."""

    qty_base: float
    price_quote: float | None


def floor_to_step(value: float, step: float) -> float:
    """Largest multiple of ``step`` not above ``value`` (tolerant of binary noise like 0.3/0.1)."""
    if step <= 0:
        return value
    units = math.floor(value / step + 1e-9)
    return round(units * step, 12)


def round_price(price: float, tick: float, side: str) -> float:
    """Round a limit price to the tick, away from crossing: buys down, sells up."""
    if tick <= 0:
        return price
    units = price / tick
    units = math.floor(units + 1e-9) if side == "buy" else math.ceil(units - 1e-9)
    return round(units * tick, 12)


def apply_filters(intent: OrderIntent, filters: SymbolFilters, ref_price_quote: float | None) -> FilteredOrder:
    """Round ``intent`` to the market's rules or raise :class:`FilterRejected` naming the rule.

    ``ref_price_quote`` is the current price (last trade or mid); market orders are valued at it
    for the notional check, limit orders must lie within ``±percent_band`` of it.
    """
    qty = floor_to_step(intent.qty_base, filters.step_size)
    price = intent.price_quote
    if price is not None and intent.type == "limit":
        price = round_price(price, filters.tick_size, intent.side)
    if qty <= 0 or qty < filters.min_qty_base:
        raise FilterRejected(FilterReason.QTY_BELOW_MIN,
                            f"{intent.symbol}: qty {intent.qty_base:.10g} below minimum {filters.min_qty_base:.10g} "
                            f"(step {filters.step_size:.10g})")
    if qty > filters.max_qty_base:
        raise FilterRejected(FilterReason.QTY_ABOVE_MAX,
                            f"{intent.symbol}: qty {qty:.10g} above maximum {filters.max_qty_base:.10g}")
    value_price = price if (price is not None and intent.type == "limit") else ref_price_quote
    if value_price is None or value_price <= 0:
        raise FilterRejected(FilterReason.NO_REFERENCE_PRICE, f"{intent.symbol}: no price known to value the order")
    if not intent.reduce_only and qty * value_price < filters.min_notional_quote:
        raise FilterRejected(FilterReason.NOTIONAL_BELOW_MIN,
                            f"{intent.symbol}: order value {qty * value_price:.4f} below minimum "
                            f"{filters.min_notional_quote:.4f}")
    if intent.type == "limit" and price is not None and ref_price_quote:
        low, high = ref_price_quote * (1 - filters.percent_band), ref_price_quote * (1 + filters.percent_band)
        if not low <= price <= high:
            raise FilterRejected(FilterReason.PRICE_OUTSIDE_BAND,
                                f"{intent.symbol}: limit {price:.10g} outside [{low:.10g}, {high:.10g}]")
    return FilteredOrder(qty_base=qty, price_quote=price)


class FilterBook:
    """Filters per symbol: the exchange's when loaded, else defaults derived from the first price seen."""

    def __init__(self, min_notional_quote: float = 5.0, percent_band: float = 0.1) -> None:
        self.min_notional_quote = min_notional_quote
        self.percent_band = percent_band
        self._by_symbol: dict[str, SymbolFilters] = {}

    def set(self, filters: SymbolFilters) -> None:
        self._by_symbol[filters.symbol] = filters


    def get(self, symbol: str, ref_price_quote: float | None) -> SymbolFilters:
        found = self._by_symbol.get(symbol)
        if found is None:
            if ref_price_quote is None or ref_price_quote <= 0:
                raise FilterRejected(FilterReason.NO_REFERENCE_PRICE, f"{symbol}: no filters and no price known")
            found = SymbolFilters.default_for_price(symbol, ref_price_quote, self.min_notional_quote,
                                                    self.percent_band)
            self._by_symbol[symbol] = found
        return found

    def check(self, intent: OrderIntent, ref_price_quote: float | None) -> FilteredOrder:
        """The one entry point paper and live share."""
        return apply_filters(intent, self.get(intent.symbol, ref_price_quote), ref_price_quote)
