"""Re-deriving the kill switch's memory from the ledger after ``risk.json`` was lost.

``risk.json`` holds the peak equity and the day's starting equity. If it is gone, starting from
today's equity would forget a drawdown already suffered (the switch would trip next far below the
true peak) and the day's loss block. The ledger is the source of truth for money, so the realized
P&L path (gross realized on fills, minus fees and funding) is replayed and anchored on the equity
seen now: the peak is at least ``equity_now + max(path) − path_now`` and the day started at
``equity_now − (path_now − path_at_midnight)``. Unrealized swings between fills are not in the
ledger, so the re-derived peak is a lower bound of the true one, never above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from src.orders.ledger import LedgerEntry
from src.orders.positions import PositionBook

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Rederived:
    """What the ledger says about the peak and the day, anchored on ``equity_now``."""

    peak_equity_quote: float
    day_start_equity_quote: float
    money_lines: int


def realized_path(entries: Iterable[LedgerEntry]) -> list[tuple[int, float]]:
    """(ts_ms, cumulative net realized P&L) after every money line, in ledger order."""
    book = PositionBook()
    total, out = 0.0, []
    for e in entries:
        if e.kind == "fill" and e.side is not None:
            pos = book.get(f"{e.strategy_id or 'manual'}|{e.symbol}|{e.market}", e.symbol, e.market)
            total += pos.apply_fill(e.side, e.qty_base, e.price_quote, e.fee_quote, e.ts_ms) - e.fee_quote
        elif e.kind == "funding":
            total -= e.funding_quote
        else:
            continue
        out.append((e.ts_ms, total))
    return out


def rederive(entries: Iterable[LedgerEntry], equity_now: float, now_ms: int) -> Rederived:
    """Peak and day-start equity implied by the ledger's realized path and the equity now."""
    path = realized_path(entries)
    now_total = path[-1][1] if path else 0.0
    peak_total = max([0.0, *(t for _, t in path)])
    midnight = now_ms // DAY_MS * DAY_MS
    at_midnight = next((t for ts, t in reversed(path) if ts < midnight), 0.0)
    return Rederived(peak_equity_quote=max(equity_now, equity_now + peak_total - now_total),
                     day_start_equity_quote=equity_now - (now_total - at_midnight), money_lines=len(path))
