"""What the cockpit reads from the rest of the bot, handed in by the composition root.

A typed, frozen bundle instead of a string-keyed service dictionary: a build without a ledger or a
portfolio (tests, a cockpit-only tool) passes None, and every reader says what is missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from src.state.control import Controller
from src.state.inbox import CommandRegistry


class PortfolioReader(Protocol):
    """The portfolio as the cockpit reads it."""

    def equity_quote(self) -> float: ...

    def open_positions(self) -> list[Any]: ...

    def net_positions(self) -> list[Any]:
        """What each venue holds per symbol (the sum of the strategies' positions)."""
        ...

    def pnl(self, period: Any) -> dict[str, Any]: ...

    def closed_trades(self) -> list[Any]: ...


class StrategyCounts(Protocol):
    """A strategy repository that can count its strategies per status."""

    def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class TradingView:
    """The parts of the trading machinery the cockpit may read or command."""

    commands: CommandRegistry
    control: Controller
    portfolio: PortfolioReader | None = None
    ledger: Any | None = None
    strategies: StrategyCounts | None = None


def strategy_counts(strategies_dir: Path, repository: StrategyCounts | None) -> dict[str, int]:
    """Strategies per status from the repository, or per lifecycle folder when there is none."""
    if repository is not None:
        return dict(repository.counts())
    counts: Counter[str] = Counter()
    for folder in ("testing", "active", "retired"):
        counts[folder] = sum(1 for _ in (strategies_dir / folder).glob("*.json"))
    return dict(counts)
