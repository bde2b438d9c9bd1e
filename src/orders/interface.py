"""The one execution interface that paper and live both implement.

A strategy (through the runner and the risk guards) only ever sees :class:`ExecutionVenue`.
Paper trading is a second implementation of this interface, not an ``if paper:`` inside the live
code, so a strategy cannot tell them apart and the same order path is exercised in both.

Every order intent carries a deterministic ``client_order_id`` derived from what the order is
*for* (strategy, symbol, decision bar, purpose), so a retried or re-sent intent maps to the same
id and the exchange (or the paper engine) can refuse the duplicate.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from src.core.enums import Market, OrderPurpose, Side

OrderType = Literal["market", "limit"]
OrderStatus = Literal["new", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"filled", "cancelled", "rejected", "expired"})
Purpose = OrderPurpose


def client_order_id(strategy_id: str, symbol: str, decision_ts_ms: int, purpose: str, seq: int = 0) -> str:
    """Deterministic id (≤ 36 chars, Binance's limit) for one intent: same intent → same id."""
    digest = hashlib.sha256(f"{strategy_id}|{symbol}|{decision_ts_ms}|{purpose}|{seq}".encode()).hexdigest()
    return f"atl-{digest[:28]}"


class OrderIntent(BaseModel):
    """What a strategy (or a person) wants; guards may shrink or refuse it before it is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_order_id: str = Field(min_length=1, max_length=36)
    strategy_id: str
    symbol: str
    side: Side
    type: OrderType = "market"
    qty_base: float = Field(gt=0)
    price_quote: float | None = Field(None, gt=0)
    purpose: Purpose = OrderPurpose.ENTRY
    reduce_only: bool = False
    market: Market = Market.SPOT
    decision_ts_ms: int
    manual: bool = False


class OrderRecord(BaseModel):
    """The persisted state of one order (``state/orders.json`` holds them by client id)."""

    model_config = ConfigDict(extra="forbid")

    intent: OrderIntent
    status: OrderStatus = "new"
    exchange_order_id: str | None = None
    filled_qty_base: float = 0.0
    avg_price_quote: float | None = None
    fee_quote: float = 0.0
    fee_base: float = 0.0  # the part of the fee the exchange took from the base asset (spot buys, no BNB)
    reason: str = ""
    created_ms: int
    updated_ms: int

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def received_qty_base(self) -> float:
        """What the account really holds from this order: a spot buy whose fee was taken in the base
        asset delivers ``filled - fee``; positions must carry this, or every exit oversells."""
        if self.intent.side == "buy":
            return max(0.0, self.filled_qty_base - self.fee_base)
        return self.filled_qty_base


class ExecutionVenue(Protocol):
    """Paper engine and live ccxt executor both satisfy this."""

    name: str

    async def submit(self, intent: OrderIntent) -> OrderRecord:
        """Send (or simulate) an order; idempotent on ``intent.client_order_id``."""
        ...

    async def cancel(self, client_order_id: str) -> OrderRecord:
        ...

    async def open_orders(self) -> list[OrderRecord]:
        ...

    async def balances(self) -> dict[str, float]:
        """Free + locked balance per asset."""
        ...


class SimulatedVenue(ExecutionVenue, Protocol):
    """The paper engine as the execution layer sees it: a venue that also consumes market data.

    The engine itself lives in the AI brain (``ai_brain/paper/paper_trading_engine.py``); the composition
    root injects it, so nothing in ``src/`` imports it.
    """

    def ref_price(self, symbol: str) -> float | None:
        """The price the engine would mark ``symbol`` at now."""
        ...

    def on_event(self, ev: Any) -> None:
        """Prices, books, the tape and funding that drive simulated fills."""
        ...

    def equity_quote(self) -> float:
        """Wallet value in the quote currency at current prices."""
        ...
