"""The bot's vocabularies as enums: run mode, strategy status, order side, market, order purpose.

``StrEnum`` members are their own string values, so they compare equal to the strings in state
files, ledgers and config, serialise as those strings, and read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """Where market data comes from and where orders go (see README, "Modes")."""

    REPLAY = "replay"
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


EXCHANGE_MODES = frozenset({Mode.TESTNET, Mode.LIVE})
"""Modes whose orders reach an exchange (a sandbox or the real one)."""


class StrategyStatus(StrEnum):
    """A strategy's place in its lifecycle (strategies/<folder>/<id>.json ``status``)."""

    GENERATED = "generated"
    BACKTESTED = "backtested"
    DRY_RUN = "dry_run"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    LIVE = "live"
    SCALING = "scaling"
    RETIRED = "retired"
    REJECTED = "rejected"


MONEY_STATUSES = frozenset({StrategyStatus.LIVE, StrategyStatus.SCALING})
"""The only statuses that may trade real money (and only through the double gate)."""


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Market(StrEnum):
    SPOT = "spot"
    PERP = "perp"


class OrderPurpose(StrEnum):
    """Why an order was sent; part of its deterministic client order id."""

    ENTRY = "entry"
    EXIT = "exit"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    REBALANCE = "rebalance"
    FLATTEN = "flatten"
    MANUAL = "manual"
