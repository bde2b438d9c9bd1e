"""Plain, immutable results of exchange reads, so callers never dig through ccxt's dicts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What an order needs to know about a market: rounding, size limits and fees."""

    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    type: str
    active: bool
    contract: bool
    linear: bool | None
    amount_step: float | None
    price_step: float | None
    min_qty_base: float | None
    max_qty_base: float | None
    min_cost_quote: float | None
    maker_fee: float | None
    taker_fee: float | None


@dataclass(frozen=True, slots=True)
class TickerSnapshot:
    """Best bid/ask and last price; ``ts_ms`` is the exchange's time when it gave one."""

    symbol: str
    ts_ms: int
    last: float
    bid: float | None
    ask: float | None
    base_volume_24h: float | None


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """An L2 snapshot, bids descending and asks ascending, as (price_quote, qty_base)."""

    symbol: str
    ts_ms: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class FundingSnapshot:
    """The current (predicted) funding rate of a perpetual, fraction per funding period."""

    symbol: str
    ts_ms: int
    rate: float
    next_funding_ms: int | None
    mark_price: float | None
    index_price: float | None
    period_hours: float = 8.0


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset of an account; ``used`` is locked in orders or margin."""

    asset: str
    free: float
    used: float
    total: float
