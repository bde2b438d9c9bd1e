"""What the ledger's closed trades say, for /performance, /daily, /weekly, /monthly, /trades and /balance.

Pure functions from closed-trade rows (the ledger's ``trade`` lines: ``strategy_id``, ``symbol``,
``net_quote``, ``exit_ms`` ...) to :class:`~src.telegram.render.format.Message`. Periods are UTC calendar
days, ISO weeks and months, counted by a trade's exit time: the moment its P&L was realized.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from src.telegram.render.format import Message, esc, money, pct, price, qty, signed_money, when

Period = Literal["daily", "weekly", "monthly"]
ROWS = {"daily": 7, "weekly": 4, "monthly": 6}


@dataclass(frozen=True)
class Closed:
    """One closed trade, as these views need it."""

    strategy_id: str
    symbol: str
    side: str
    net: float
    exit_ms: int
    entry_price: float | None
    exit_price: float | None
    qty: float | None
    reason: str


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def rows_of(trades: Iterable[Mapping[str, Any]]) -> list[Closed]:
    """Closed trades that carry a net P&L, oldest exit first (one without a figure cannot be counted)."""
    out = []
    for t in trades:
        net = _float(t.get("net_quote", t.get("net_pnl_quote")))
        if net is None:
            continue
        exit_ms = int(_float(t.get("exit_ms", t.get("ts_ms"))) or 0)
        out.append(Closed(str(t.get("strategy_id") or "manual"), str(t.get("symbol", "?")), str(t.get("side", "?")),
                          net, exit_ms, _float(t.get("entry_price_quote")), _float(t.get("exit_price_quote")),
                          _float(t.get("qty_base")), str(t.get("reason", ""))))
    return sorted(out, key=lambda r: r.exit_ms)


def _group_line(label: str, nets: Sequence[float], quote: str) -> str:
    wins = sum(1 for n in nets if n > 0)
    return (f"<code>{esc(label)}</code> {signed_money(sum(nets), quote)} · {len(nets)} trades · "
            f"{pct(wins / len(nets), 0, signed=False)} won")


def performance(rows: Sequence[Closed], quote: str) -> Message:
    """Net P&L, trades and win rate per strategy and per symbol, best first."""
    if not rows:
        return Message("📈 Performance: no closed trades yet")
    lines: list[str] = []
    for title, key in (("By strategy", "strategy_id"), ("By symbol", "symbol")):
        groups: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            groups[getattr(r, key)].append(r.net)
        lines.append(f"<b>{title}</b>")
        lines += [_group_line(name, nets, quote) for name, nets in sorted(groups.items(), key=lambda g: -sum(g[1]))]
    total = sum(r.net for r in rows)
    return Message(f"📈 Performance: {signed_money(total, quote)} over {len(rows)} trades", lines)


def _bucket(exit_ms: int, period: Period) -> datetime:
    day = datetime.fromtimestamp(exit_ms / 1000.0, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous(start: datetime, period: Period) -> datetime:
    if period == "daily":
        return start - timedelta(days=1)
    if period == "weekly":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def _label(start: datetime, period: Period) -> str:
    if period == "monthly":
        return start.strftime("%Y-%m")
    if period == "weekly":
        return "week of " + start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%d")


def periods(rows: Sequence[Closed], period: Period, now_ms: int, quote: str) -> Message:
    """Net P&L and trade count for the last few days, weeks or months (empty ones included)."""
    sums: dict[datetime, list[float]] = defaultdict(list)
    for r in rows:
        sums[_bucket(r.exit_ms, period)].append(r.net)
    start = _bucket(now_ms, period)
    lines = []
    total = 0.0
    for _ in range(ROWS[period]):
        nets = sums.get(start, [])
        total += sum(nets)
        lines.append(f"<code>{_label(start, period)}</code> {signed_money(sum(nets), quote)} · {len(nets)} trades")
        start = _previous(start, period)
    return Message(f"🗓 {period.capitalize()} P&amp;L: {signed_money(total, quote)} over the last {ROWS[period]}", lines)


def recent_trades(rows: Sequence[Closed], quote: str, n: int, tick_of: Any = None) -> Message:
    """The last ``n`` closed trades, newest first; ``tick_of(symbol)`` gives a price tick when known."""
    if not rows:
        return Message("🧾 Trades: no closed trades yet")
    shown = list(reversed(rows))[:n]
    lines = []
    for r in shown:
        tick = tick_of(r.symbol) if callable(tick_of) else None
        lines.append(f"{when(r.exit_ms)} <code>{esc(r.strategy_id)}</code> {esc(r.symbol)} {esc(r.side)} "
                     f"{qty(r.qty)} {price(r.entry_price, tick)}→{price(r.exit_price, tick)} "
                     f"<b>{signed_money(r.net, quote)}</b> {esc(r.reason)}")
    return Message(f"🧾 Last {len(shown)} of {len(rows)} closed trades", lines)


def balance(equity: Any, start_balance: float, positions: Sequence[Mapping[str, Any]], quote: str,
            pnl_all: Mapping[str, Any] | None) -> Message:
    """Equity, cash and what is in positions, and the return since the starting balance."""
    in_positions = sum(float(p.get("notional_quote") or 0.0) for p in positions)
    eq = _float(equity)
    returned = eq / start_balance - 1.0 if eq is not None and start_balance > 0 else None
    lines = [f"Cash (free): {money(eq - in_positions if eq is not None else None, quote)}",
             f"In positions: {money(in_positions, quote)} ({len(positions)} open)",
             f"Started with: {money(start_balance, quote)} · return {pct(returned)}"]
    if pnl_all:
        lines.append(f"Realized net: {signed_money(pnl_all.get('net_quote'), quote)} · "
                     f"unrealized: {signed_money(pnl_all.get('unrealized_quote'), quote)}")
    for p in positions[:10]:
        lines.append(f"• <code>{esc(p.get('strategy_id', '?'))}</code> {esc(p.get('symbol', '?'))} "
                     f"{qty(p.get('qty_base'))} ≈ {money(p.get('notional_quote'), quote)}")
    return Message(f"💰 Balance: {money(equity, quote)}", lines)
