"""Typed, immutable events that flow through the in-process bus.

Every event is a frozen dataclass with a literal ``kind`` tag so subscribers can
filter cheaply and nobody can mutate a message another component already saw.
Timestamps are UTC epoch milliseconds of *market* time (the simulated clock in
replay), never wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from src.core.enums import Side as SideEnum

Side = SideEnum  # src/core/enums.py
AlertLevel = Literal["info", "warning", "action", "critical"]


@dataclass(frozen=True, slots=True)
class CandleClosed:
    """A candle whose interval has ended; ``ts_ms`` is the candle's open time."""

    symbol: str
    timeframe: str
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    source: str = "replay"
    kind: Literal["candle"] = "candle"


@dataclass(frozen=True, slots=True)
class Tick:
    """Best bid/ask and last trade price at one instant."""

    symbol: str
    ts_ms: int
    last: float
    bid: float
    ask: float
    kind: Literal["tick"] = "tick"


@dataclass(frozen=True, slots=True)
class OrderBook:
    """An L2 snapshot; ``bids`` descending and ``asks`` ascending as (price, qty_base)."""

    symbol: str
    ts_ms: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    kind: Literal["book"] = "book"


@dataclass(frozen=True, slots=True)
class TradePrint:
    """One trade on the tape; ``side`` is the aggressor."""

    symbol: str
    ts_ms: int
    price: float
    qty_base: float
    side: Side
    kind: Literal["trade"] = "trade"


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A perpetual funding rate (fraction per funding period) at ``ts_ms``."""

    symbol: str
    ts_ms: int
    rate: float
    period_hours: float = 8.0
    kind: Literal["funding"] = "funding"


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed state (new, open, partially_filled, filled, cancelled, rejected, expired)."""

    client_order_id: str
    symbol: str
    side: Side
    status: str
    qty_base: float
    price_quote: float | None
    ts_ms: int
    strategy_id: str | None = None
    reason: str = ""
    kind: Literal["order"] = "order"


@dataclass(frozen=True, slots=True)
class Fill:
    """A (partial) execution of an order; fees are in quote currency."""

    client_order_id: str
    symbol: str
    side: Side
    qty_base: float
    price_quote: float
    fee_quote: float
    ts_ms: int
    strategy_id: str | None = None
    liquidity: Literal["maker", "taker"] = "taker"
    kind: Literal["fill"] = "fill"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a person should read; ``key`` de-duplicates repeats of one condition."""

    level: AlertLevel
    title: str
    text: str
    key: str = ""
    ts_ms: int = 0
    kind: Literal["alert"] = "alert"


@dataclass(frozen=True, slots=True)
class Command:
    """A validated control command (from Telegram, a script via the inbox, or the console)."""

    name: str
    args: dict[str, str] = field(default_factory=dict)
    actor: str = "script"
    command_id: str = ""
    kind: Literal["command"] = "command"


@dataclass(frozen=True, slots=True)
class DataStatus:
    """The data-integrity verdict for one symbol changed."""

    symbol: str
    status: Literal["OK", "DEGRADED", "BLOCKED"]
    reasons: tuple[str, ...]
    ts_ms: int
    kind: Literal["data_status"] = "data_status"


@dataclass(frozen=True, slots=True)
class StrategyEvent:
    """A strategy changed lifecycle status (discovered, approved, retired, ...)."""

    strategy_id: str
    status: str
    reason: str
    ts_ms: int
    actor: str = ""  # who made the change ("telegram:<user id>", "ai", "script"): they already know
    kind: Literal["strategy"] = "strategy"


@dataclass(frozen=True, slots=True)
class TradeOpened:
    """A strategy's position was opened (its entry filled); figures are the strategy's own fill."""

    strategy_id: str
    symbol: str
    side: Literal["long", "short"]
    qty_base: float
    price_quote: float
    ts_ms: int
    venue: str = "paper"
    kind: Literal["trade_opened"] = "trade_opened"


@dataclass(frozen=True, slots=True)
class TradeClosed:
    """A strategy's position was closed and its closed-trade line booked in the ledger."""

    strategy_id: str
    symbol: str
    side: Literal["long", "short"]
    qty_base: float
    entry_price_quote: float
    exit_price_quote: float
    net_quote: float
    fees_quote: float
    reason: str
    ts_ms: int
    venue: str = "paper"
    kind: Literal["trade_closed"] = "trade_closed"


Event = (
    CandleClosed
    | Tick
    | OrderBook
    | TradePrint
    | FundingRate
    | OrderUpdate
    | Fill
    | Alert
    | Command
    | DataStatus
    | StrategyEvent
    | TradeOpened
    | TradeClosed
)

# Kinds that must never be dropped, whatever a subscriber's queue looks like.
CRITICAL_KINDS: frozenset[str] = frozenset({"order", "fill", "alert", "command", "strategy", "data_status"})
