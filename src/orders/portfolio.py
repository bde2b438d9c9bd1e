"""The portfolio service (``ctx.services["portfolio"]``): equity, open positions, P&L and closed trades.

It owns no money: it is a read model rebuilt from the ledger (every fill, funding payment and
closed trade) plus the venues' own equity. Positions are kept per strategy and symbol so P&L is
attributed to the strategy that traded it, and closed automatic trades feed the learning engine
(:meth:`Portfolio.closed_trades`) without ever mixing in manual ones.

The equity curve (one point per bar close in memory, one per 15 minutes of market time in
``logs/equity_curve.jsonl`` for charts) is derived data, so it is written without fsync.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from src.orders.ledger import Ledger, LedgerEntry
from src.orders.positions import PositionBook

log = logging.getLogger(__name__)

Period = Literal["day", "week", "month", "all"]
_PERIOD_MS = {"day": 86_400_000, "week": 7 * 86_400_000, "month": 30 * 86_400_000}
CURVE_FILE = "equity_curve.jsonl"


@dataclass(frozen=True)
class StrategyStats:
    """What sizing and cooldown guards need to know about one strategy's closed trades."""

    n_trades: int
    wins: int
    avg_win_quote: float
    avg_loss_quote: float
    consecutive_losses: int
    last_loss_ms: int | None

    @property
    def win_rate(self) -> float:
        return self.wins / self.n_trades if self.n_trades else 0.0

    def kelly(self) -> float | None:
        """Full-Kelly fraction p − (1−p)/b with b = avg win / avg loss; None without both outcomes."""
        if self.avg_loss_quote <= 0 or self.avg_win_quote <= 0:
            return None
        b = self.avg_win_quote / self.avg_loss_quote
        p = self.win_rate
        return p - (1 - p) / b


class Portfolio:
    """Read model over the ledger, plus each venue's own equity.

    Equity is per venue and never summed: ``equity_source`` maps a route name (``"paper"``,
    ``"live"``) to that account's equity (a single function is the paper account). The
    ``primary_venue`` is the money the bot answers for — the exchange account in testnet/live,
    the paper wallet otherwise — and is what the equity curve, the kill switch and the daily loss
    limit watch; sizing and caps of an order read the equity of the venue it goes to.
    """

    def __init__(self, ledger: Ledger, equity_source: Callable[[], float] | Mapping[str, Callable[[], float]],
                 price_source: Callable[[str], float | None], logs_dir: Path | None = None,
                 curve_points: int = 20_000, curve_file_every_ms: int = 900_000,
                 clock_ms: Callable[[], int] | None = None, primary_venue: str | None = None,
                 equity_known: Callable[[], bool] = lambda: True) -> None:
        self._equity = dict(equity_source) if isinstance(equity_source, Mapping) else {"paper": equity_source}
        self.equity_known = equity_known  # the primary venue's equity is a fact (an exchange wallet was read)
        self.primary_venue = primary_venue or next(iter(self._equity))
        self._clock_ms = clock_ms  # market time (replay) for "today"; the wall clock when not given
        self._price = price_source
        self.book = PositionBook()
        self._venue_of: dict[str, str] = {}  # position key → the venue its fills came from
        # ts, gross realized, fees, funding — the last month only; older rows fold into _older, so a
        # bot that runs for months holds a month of rows, not every fill it ever made
        self._money: deque[tuple[int, float, float, float]] = deque()
        self._older = [0.0, 0.0, 0.0]
        self._trades: list[LedgerEntry] = []
        # strategy → (trades, wins, sum of wins, sum of losses, losses in a row, last loss exit ms)
        self._stats: dict[str, tuple[int, int, float, float, int, int | None]] = {}
        self.curve: deque[tuple[int, float]] = deque(maxlen=curve_points)
        self._curve_path = logs_dir / CURVE_FILE if logs_dir is not None else None
        self.curve_file_every_ms = curve_file_every_ms  # the file keeps one point per 15 min of market time
        self._written_ms = -(2**62)
        self._load_curve()
        for entry in ledger.entries():
            self.on_entry(entry)
        ledger.subscribe(self.on_entry)

    # -- feeding -------------------------------------------------------------------------------
    def on_entry(self, entry: LedgerEntry) -> None:
        """Fold one ledger line in (called for history at start, then for every new line)."""
        key = f"{entry.strategy_id or 'manual'}|{entry.symbol}|{entry.market}"
        if entry.kind == "fill" and entry.side is not None:
            self._venue_of[key] = entry.venue
            pos = self.book.get(key, entry.symbol, entry.market)
            realized = pos.apply_fill(entry.side, received_qty(entry), entry.price_quote, entry.fee_quote,
                                      entry.ts_ms)
            self._add_money((entry.ts_ms, realized, entry.fee_quote, 0.0))
        elif entry.kind == "funding":
            self._add_money((entry.ts_ms, 0.0, 0.0, entry.funding_quote))
            self._attribute_funding(entry)
        elif entry.kind == "trade":
            self._trades.append(entry)
            self._count_trade(entry)

    def _add_money(self, row: tuple[int, float, float, float]) -> None:
        self._money.append(row)
        horizon = row[0] - _PERIOD_MS["month"] - _PERIOD_MS["day"]
        while self._money and self._money[0][0] < horizon:
            old = self._money.popleft()
            for i in range(3):
                self._older[i] += old[i + 1]

    def _attribute_funding(self, entry: LedgerEntry) -> None:
        """Each strategy pays (or receives) funding on its own signed position, so opposite positions
        on one perp split the venue's net payment by side: the long pays, the short receives."""
        venue_net = sum(p.qty_base for k, p in self.book.positions.items()
                        if p.is_open and p.symbol == entry.symbol and p.market == "perp"
                        and self._venue_of.get(k, "paper") == entry.venue)
        if abs(venue_net) <= 1e-18:
            return
        per_unit = entry.funding_quote / venue_net  # funding paid per signed unit held
        for key, pos in self.book.positions.items():
            if pos.is_open and pos.symbol == entry.symbol and pos.market == "perp" \
                    and self._venue_of.get(key, "paper") == entry.venue:
                pos.apply_funding(per_unit * pos.qty_base)

    def mark(self, ts_ms: int) -> float | None:
        """Record one equity-curve point (the runner calls this at every bar close); None, and no point,
        while the primary venue's equity is unknown (an exchange wallet not read yet)."""
        if not self.equity_known():
            return None
        equity = self.equity_quote()
        if self.curve and self.curve[-1][0] >= ts_ms:
            return equity
        self.curve.append((ts_ms, equity))
        if self._curve_path is not None and ts_ms - self._written_ms >= self.curve_file_every_ms:
            self._written_ms = ts_ms
            with self._curve_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"ts_ms": ts_ms, "equity_quote": round(equity, 8)}) + "\n")
        return equity

    def _load_curve(self) -> None:
        if self._curve_path is None or not self._curve_path.exists():
            return
        for line in self._curve_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                self.curve.append((int(row["ts_ms"]), float(row["equity_quote"])))
                self._written_ms = int(row["ts_ms"])
            except (ValueError, KeyError, TypeError):
                log.warning("equity curve: unreadable line skipped")

    # -- reading -------------------------------------------------------------------------------
    def equity_quote(self, venue: str | None = None) -> float:
        """Equity of ``venue`` (a route name), or of the primary venue; an unknown venue is the primary."""
        source = self._equity.get(venue or self.primary_venue) or self._equity[self.primary_venue]
        return float(source())

    def open_positions(self) -> list[dict[str, Any]]:
        """Open positions per strategy and symbol, with unrealized P&L at the last price."""
        out = []
        for key, pos in self.book.positions.items():
            if not pos.is_open:
                continue
            price = self._price(pos.symbol) or pos.avg_entry_quote
            out.append({"strategy_id": key.split("|")[0], "symbol": pos.symbol, "market": pos.market,
                        "qty_base": pos.qty_base, "avg_entry_quote": pos.avg_entry_quote,
                        "price_quote": price, "notional_quote": pos.notional_quote(price),
                        "unrealized_quote": pos.unrealized_quote(price), "opened_ms": pos.opened_ms})
        return out

    def net_positions(self) -> list[dict[str, Any]]:
        """What each venue holds per symbol and market: the sum of the strategies' (and manual) positions.

        A venue nets by symbol (spot balances, one-way perp positions), so this is the position the
        exchange itself reports; the per-strategy rows of :meth:`open_positions` add up to it.
        """
        net: dict[tuple[str, str, str], float] = {}
        for key, pos in self.book.positions.items():
            if pos.is_open:
                k = (self._venue_of.get(key, "paper"), pos.symbol, pos.market)
                net[k] = net.get(k, 0.0) + pos.qty_base
        out = []
        for (venue, symbol, market), qty in sorted(net.items()):
            price = self._price(symbol) or 0.0
            out.append({"venue": venue, "symbol": symbol, "market": market, "qty_base": qty,
                        "price_quote": price, "notional_quote": abs(qty) * price})
        return out

    def notional_by_symbol(self) -> dict[str, float]:
        """Signed notional per symbol over all strategies (long > 0)."""
        out: dict[str, float] = {}
        for p in self.open_positions():
            out[p["symbol"]] = out.get(p["symbol"], 0.0) + p["qty_base"] * p["price_quote"]
        return out

    def notional_by_strategy(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.open_positions():
            out[p["strategy_id"]] = out.get(p["strategy_id"], 0.0) + abs(p["notional_quote"])
        return out

    def pnl(self, period: Period = "all", now_ms: int | None = None) -> dict[str, float]:
        """Realized gross, fees, funding and net over ``period`` (ending ``now_ms``), plus unrealized now."""
        since = 0
        if period != "all":
            end = now_ms if now_ms is not None else (
                self._clock_ms() if self._clock_ms is not None else int(datetime.now(UTC).timestamp() * 1000))
            since = end - _PERIOD_MS[period]
        rows = [r for r in self._money if r[0] >= since]
        gross, fees, funding = (sum(r[i] for r in rows) for i in (1, 2, 3))
        if period == "all":
            gross, fees, funding = gross + self._older[0], fees + self._older[1], funding + self._older[2]
        unreal = sum(p["unrealized_quote"] for p in self.open_positions())
        trades = sum(1 for t in self._trades if t.ts_ms >= since and not t.manual)
        return {"gross_quote": gross, "fees_quote": fees, "funding_quote": funding,
                "net_quote": gross - fees - funding, "unrealized_quote": unreal, "trades": trades}

    def equity_curve(self, since_ms: int = 0) -> list[tuple[int, float]]:
        """(bar close ms, equity) points for charts, oldest first."""
        return [pt for pt in self.curve if pt[0] >= since_ms]

    def closed_trades(self, strategy_id: str | None = None, include_manual: bool = False) -> list[dict[str, Any]]:
        """Closed trades (ledger ``trade`` lines), automatic only unless asked."""
        out = []
        for t in self._trades:
            if (t.manual and not include_manual) or (strategy_id is not None and t.strategy_id != strategy_id):
                continue
            out.append({"strategy_id": t.strategy_id, "symbol": t.symbol, "ts_ms": t.ts_ms, **t.data})
        return out

    def strategy_stats(self, strategy_id: str) -> StrategyStats:
        """Win/loss statistics of one strategy's automatic trades (kept up to date per trade: O(1))."""
        acc = self._stats.get(strategy_id)
        if acc is None:
            return StrategyStats(0, 0, 0.0, 0.0, 0, None)
        n, wins, win_sum, loss_sum, streak, last_loss = acc
        losses = n - wins
        return StrategyStats(n, wins, win_sum / wins if wins else 0.0, loss_sum / losses if losses else 0.0,
                             streak, last_loss)

    def _count_trade(self, t: LedgerEntry) -> None:
        if t.manual or t.strategy_id is None:
            return
        net = float(t.data.get("net_quote", 0.0))
        n, wins, win_sum, loss_sum, streak, last_loss = self._stats.get(t.strategy_id, (0, 0, 0.0, 0.0, 0, None))
        if net > 0:
            self._stats[t.strategy_id] = (n + 1, wins + 1, win_sum + net, loss_sum, 0, last_loss)
        else:
            exit_ms = int(t.data.get("exit_ms", t.ts_ms))
            self._stats[t.strategy_id] = (n + 1, wins, win_sum, loss_sum - net, streak + 1, exit_ms)

    def describe(self) -> dict[str, object]:
        pnl = self.pnl("all")
        return {"equity_quote": round(self.equity_quote(), 2), "open_positions": len(self.open_positions()),
                "closed_trades": len(self._trades), **{k: round(v, 4) for k, v in pnl.items()}}


def received_qty(entry: LedgerEntry) -> float:
    """What a fill moved into the position: on a spot buy whose fee the exchange took in the base
    asset (Binance without BNB), the quantity received, read from the line's wallet deltas; the fee
    is still counted once, in ``fee_quote``."""
    if entry.market != "spot" or entry.side != "buy" or not entry.deltas:
        return entry.qty_base
    got = entry.deltas.get(entry.symbol.split("/")[0])
    if got is None or got <= 0:
        return entry.qty_base
    return min(entry.qty_base, got)
