"""The strategy runner's durable state (``state/runner.json``): open trades and pending intents.

Kept apart from the decision loop (:mod:`src.execution.runner`) so that the scripts that read or
repair this file (``scripts/flatten.py``) and the tests import the schema without the machinery.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from src.orders.interface import OrderIntent


class OpenTrade(BaseModel):
    """One strategy's open position on one symbol, with the tracker's state."""

    model_config = ConfigDict(extra="forbid")

    strategy_id: str
    symbol: str
    market: str
    side: int
    qty0_base: float
    remaining_base: float
    entry_price_quote: float
    entry_bar_ts: int
    entry_ms: int
    tracker_state: list[float | None]  # NaN (an unset level) is stored as null: JSON has no NaN
    tracker_bar_ts: int = 0  # the last bar the tracker has seen; later bars are re-stepped after a restart
    fees_quote: float = 0.0
    gross_quote: float = 0.0
    funding_quote: float = 0.0
    exit_value_quote: float = 0.0
    exited_base: float = 0.0
    last_reason: str = ""
    status: str = "dry_run"  # lifecycle status at entry
    venue: str = "paper"  # where the position lives: its exits go there, whatever the gate says later
    spec: dict[str, Any] = Field(default_factory=dict)  # the rules it was opened with


class PendingIntent(BaseModel):
    """An intent written before it is sent; ``atr_signal`` opens the tracker when an entry fills."""

    model_config = ConfigDict(extra="forbid")

    intent: OrderIntent
    status: str
    leverage: float = 1.0
    reason: str = ""
    atr_signal: float = 0.0
    bar_ts: int = 0
    closes: bool = False
    venue: str = "paper"
    spec: dict[str, Any] | None = None  # entries carry their spec, so recovery never needs the file
    # sent, but the venue could not say what became of it (answer lost, lookups lagging): until it
    # resolves, no other order of this strategy on this symbol is sent
    unresolved: bool = False
    unresolved_since_ms: int = 0


class RunnerState(BaseModel):
    """``state/runner.json``."""

    model_config = ConfigDict(extra="forbid")

    trades: dict[str, OpenTrade] = Field(default_factory=dict)
    pending: list[PendingIntent] = Field(default_factory=list)
    last_bar: dict[str, int] = Field(default_factory=dict)
    applied_seq: int = 0  # the journal (ledger) line this summary includes everything up to
    booked: list[str] = Field(default_factory=list)  # client ids resolved lately (booked or refused)


def tracker_json(state: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in state]
