"""Fill models of the paper engine: walking an L2 book, and a spread + impact model for candles only.

Pure functions, no state, so every price the paper engine produces can be recomputed by hand in a
test. A market buy takes asks from the best level outward (a sell takes bids) until its quantity
is done; each level consumed is one fill at that level's price, and the slippage of the whole
order is the VWAP's distance from the best price. When no usable book is known, the price is the
reference price moved against the trader by half the spread plus an impact that grows with the
square root of the order's share of the last bar's traded notional (the usual square-root law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Level = tuple[float, float]  # (price_quote, qty_base)
EPS = 1e-12


@dataclass(frozen=True)
class BookFill:
    """One level consumed by an order."""

    price_quote: float
    qty_base: float


@dataclass(frozen=True)
class WalkResult:
    """What a walk through the book produced; ``unfilled_base`` is left when depth (or the limit) ran out."""

    fills: tuple[BookFill, ...]
    filled_base: float
    unfilled_base: float
    vwap_quote: float | None
    slippage_bps: float

    @property
    def notional_quote(self) -> float:
        return sum(f.price_quote * f.qty_base for f in self.fills)


def walk_book(levels: tuple[Level, ...] | list[Level], side: str, qty_base: float,
              limit_price: float | None = None) -> WalkResult:
    """Consume ``levels`` (asks for a buy, bids for a sell; best first) for ``qty_base``.

    With ``limit_price`` only levels at or better than it are taken (a marketable limit order).
    """
    fills: list[BookFill] = []
    remaining = qty_base
    for price, size in levels:
        if remaining <= EPS:
            break
        if size <= 0:
            continue
        if limit_price is not None and (price > limit_price if side == "buy" else price < limit_price):
            break
        take = min(size, remaining)
        fills.append(BookFill(float(price), float(take)))
        remaining -= take
    filled = qty_base - max(remaining, 0.0)
    if not fills:
        return WalkResult((), 0.0, qty_base, None, 0.0)
    vwap = sum(f.price_quote * f.qty_base for f in fills) / filled
    best = fills[0].price_quote
    slip = (vwap - best) / best * 1e4 if side == "buy" else (best - vwap) / best * 1e4
    return WalkResult(tuple(fills), filled, max(remaining, 0.0), vwap, slip)


def candle_fill_price(ref_price_quote: float, side: str, qty_base: float, spread_bps: float,
                      impact_bps: float, bar_notional_quote: float | None) -> tuple[float, float]:
    """Price and slippage (bps from ``ref_price_quote``) of a market order when only candles are known.

    slippage = spread/2 + impact × sqrt(order notional / bar notional); the impact term is
    dropped when the bar's volume is unknown or zero.
    """
    slip_bps = spread_bps / 2.0
    if bar_notional_quote and bar_notional_quote > 0:
        share = qty_base * ref_price_quote / bar_notional_quote
        slip_bps += impact_bps * math.sqrt(share)
    sign = 1.0 if side == "buy" else -1.0
    return ref_price_quote * (1.0 + sign * slip_bps / 1e4), slip_bps


def limit_crosses(side: str, limit_price: float, touch_price: float) -> bool:
    """True when a buy limit at or above the touch (a sell at or below) would trade at once."""
    return limit_price >= touch_price if side == "buy" else limit_price <= touch_price


def resting_fill_qty(remaining_base: float, traded_base: float, participation: float) -> float:
    """How much of a resting limit order a trade (or a bar's volume) through its price fills."""
    return max(0.0, min(remaining_base, traded_base * participation))
