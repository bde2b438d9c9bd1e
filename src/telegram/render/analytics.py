"""Trade analytics for /analytics: summary, P&L distribution, and splits by side, exit reason and hour.

Automatic and manual trades come from separate ledgers and are analysed separately, always:
:func:`closed_trades` reads exactly one of them. Each trade is read by field name (object or
mapping): ``side``, ``exit_reason`` (or ``reason``), net P&L (``net_pnl_quote``, ``net_quote`` or
``pnl_quote``) and the exit time (``exit_ts_ms``, ``exit_ms`` or ``ts_ms``, UTC epoch ms).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from src.telegram.render.reports import pick, signed
from src.telegram.view import TradingView

BAR = "█"


@dataclass(frozen=True)
class ClosedTradeRow:
    """The four facts analytics needs from a closed trade."""

    side: str
    exit_reason: str
    net_pnl_quote: float
    exit_hour_utc: int | None


def to_rows(trades: Iterable[Any]) -> list[ClosedTradeRow]:
    """Read closed trades into rows; a trade without a P&L figure is skipped (it cannot be counted)."""
    rows: list[ClosedTradeRow] = []
    for t in trades:
        pnl = pick(t, "net_pnl_quote", "net_quote", "pnl_quote", "realized_pnl_quote")
        if pnl is None:
            continue
        ts = pick(t, "exit_ts_ms", "exit_ms", "exit_ts", "closed_ts_ms", "ts_ms")
        hour = int(ts) // 3_600_000 % 24 if isinstance(ts, int | float) else None
        reason = str(pick(t, "exit_reason", "reason", default="?"))
        rows.append(ClosedTradeRow(str(pick(t, "side", default="?")), reason, float(pnl), hour))
    return rows


def summary(rows: list[ClosedTradeRow], quote: str) -> list[str]:
    pnls = [r.net_pnl_quote for r in rows]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    factor = sum(wins) / -sum(losses) if losses else float("inf")
    return [f"trades {len(rows)} | win rate {len(wins) / len(rows):.0%} | net {signed(sum(pnls), quote)}",
            f"avg {signed(sum(pnls) / len(rows), quote)} | best {signed(max(pnls), quote)} | "
            f"worst {signed(min(pnls), quote)} | profit factor {'∞' if factor == float('inf') else f'{factor:.2f}'}"]


def distribution(pnls: list[float], bins: int = 6, width: int = 12) -> list[str]:
    """A text histogram of net P&L per trade (equal-width bins between worst and best)."""
    low, high = min(pnls), max(pnls)
    if high == low:
        return [f"{low:+.2f}: {BAR * width} {len(pnls)}"]
    step = (high - low) / bins
    counts = [0] * bins
    for p in pnls:
        counts[min(bins - 1, int((p - low) / step))] += 1
    peak = max(counts)
    return [f"{low + i * step:+9.2f} … {low + (i + 1) * step:+9.2f} | {BAR * round(width * c / peak)} {c}"
            for i, c in enumerate(counts)]


def split(rows: list[ClosedTradeRow], key: str, quote: str) -> list[str]:
    """Count, win rate and net per value of ``key`` (side, exit_reason or exit_hour_utc)."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for r in rows:
        groups[getattr(r, key)].append(r.net_pnl_quote)
    lines = []
    for value in sorted(groups, key=lambda v: (v is None, str(v).zfill(2) if key == "exit_hour_utc" else str(v))):
        pnls = groups[value]
        label = f"{value:02d}h" if isinstance(value, int) else str(value)
        wins = sum(1 for p in pnls if p > 0)
        lines.append(f"{label}: {len(pnls)} trades, {wins / len(pnls):.0%} won, net {signed(sum(pnls), quote)}")
    return lines


def closed_trades(view: TradingView, ledger: str) -> list[dict[str, Any]] | None:
    """Closed trades of ONE ledger (``auto`` or ``manual``); None when this build keeps no ledger."""
    source = view.ledger
    if source is not None:
        entries = source.entries(manual=(ledger == "manual"))
        return [{"side": e.side, "ts_ms": e.ts_ms, "strategy_id": e.strategy_id, "symbol": e.symbol, **e.data}
                for e in entries if e.kind == "trade"]
    portfolio = view.portfolio
    if ledger == "auto" and portfolio is not None:
        return list(portfolio.closed_trades())  # automatic trades only, by the portfolio's contract
    return None


def trade_analytics(trades: Iterable[Any], ledger: str, quote: str) -> str:
    """The /analytics answer for one ledger (``auto`` or ``manual``)."""
    rows = to_rows(trades)
    title = f"Analytics — {ledger} trades"
    if not rows:
        return f"{title}: no closed trades yet"
    parts = [title, *summary(rows, quote), "", "P&L distribution:", *distribution([r.net_pnl_quote for r in rows]),
             "", "by side:", *split(rows, "side", quote), "", "by exit reason:", *split(rows, "exit_reason", quote)]
    hours = split(rows, "exit_hour_utc", quote)
    if hours:
        parts += ["", "by exit hour (UTC):", *hours]
    return "\n".join(parts)
