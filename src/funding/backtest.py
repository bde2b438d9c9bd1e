"""Funding carry over history: a pure function of funding settlements and spot (and perp) candles.

Time runs bar by bar on the spot candles. At each bar's close, in this order:

1. settlements at or before the close are paid to the position held over them (short receives
   ``qty × perp price × rate``) and credited to the perp margin;
2. the perp leg is marked; the :func:`~src.funding.carry.decide` rule sees only settled funding;
3. the action is filled at that close with slippage and fees on each leg.

Without perp candles the perp is priced at spot (zero basis): the shared data has no perp
candles, so basis P&L and the basis guard are then inert and the result is the pure funding leg
minus costs. Equity = cash + spot value + perp margin + perp unrealized P&L, in quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from src.funding.carry import CarryParams, CarryView, basis, decide, funding_payment_quote, trailing_apr
from src.strategy.data import Candles, Funding


@dataclass
class CarryTrade:
    """One carry from entry to exit; money in quote."""

    entry_ms: int
    entry_price: float
    qty_base: float
    entry_apr: float
    exit_ms: int | None = None
    exit_price: float | None = None
    exit_reason: str = ""
    funding_quote: float = 0.0
    fees_quote: float = 0.0
    slippage_quote: float = 0.0
    price_pnl_quote: float = 0.0
    rebalances: int = 0
    settlements: int = 0
    start_equity_quote: float = 0.0

    @property
    def net_quote(self) -> float:
        return self.funding_quote + self.price_pnl_quote - self.fees_quote - self.slippage_quote

    def close_at(self, equity_quote: float) -> None:
        """Price (basis) P&L is what the equity change leaves after funding and costs: nothing vanishes."""
        self.price_pnl_quote = (equity_quote - self.start_equity_quote - self.funding_quote + self.fees_quote
                                + self.slippage_quote)


@dataclass
class CarryBacktest:
    """Trades, the equity curve, and every settlement with whether the carry was held over it."""

    trades: list[CarryTrade]
    equity_ts: np.ndarray
    equity_quote: np.ndarray
    settlement_ts: np.ndarray
    settlement_rate: np.ndarray
    held: np.ndarray
    decisions: list[tuple[int, str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        start, end = float(self.equity_quote[0]), float(self.equity_quote[-1])
        years = max((self.equity_ts[-1] - self.equity_ts[0]) / (365 * 86_400_000), 1e-9)
        return {"trades": float(len(self.trades)), "start_quote": start, "end_quote": end,
                "return": end / start - 1.0, "apr": (end / start) ** (1 / years) - 1.0,
                "funding_quote": sum(t.funding_quote for t in self.trades),
                "fees_quote": sum(t.fees_quote + t.slippage_quote for t in self.trades),
                "time_in_market": float(self.held.mean()) if self.held.size else 0.0}


@dataclass
class _Book:
    """The open carry's state during the run."""

    cash: float
    spot_qty: float = 0.0
    perp_qty: float = 0.0  # short size, positive
    perp_entry: float = 0.0
    perp_margin: float = 0.0
    trade: CarryTrade | None = None

    def equity(self, spot: float, perp: float) -> float:
        return self.cash + self.spot_qty * spot + self.perp_margin + self.perp_qty * (self.perp_entry - perp)

    def margin_ratio(self, perp: float, leverage: float) -> float | None:
        if self.perp_qty <= 0:
            return None
        need = self.perp_qty * perp / leverage
        return (self.perp_margin + self.perp_qty * (self.perp_entry - perp)) / need


def run_carry_backtest(funding: Funding, spot: Candles, params: CarryParams, *, perp: Candles | None = None,
                       capital_quote: float = 10_000.0) -> CarryBacktest:
    """Simulate the carry over ``spot``'s bars; ``capital_quote`` is what the carry may use."""
    step = spot.step_ms()
    perp_close = _aligned_perp(spot, perp)
    book = _Book(cash=capital_quote)
    trades: list[CarryTrade] = []
    decisions: list[tuple[int, str, str]] = []
    eq = np.empty(len(spot))
    held = np.zeros(funding.ts.shape[0], dtype=bool)
    known: list[float] = []
    j = int(np.searchsorted(funding.ts, spot.ts[0] + step, side="left"))
    known.extend(float(r) for r in funding.rate[:j])
    for i in range(len(spot)):
        close_ms = int(spot.ts[i]) + step
        s, f = float(spot.close[i]), float(perp_close[i])
        while j < funding.ts.shape[0] and funding.ts[j] <= close_ms:
            rate = float(funding.rate[j])
            if book.trade is not None:
                _settle(book, f, rate)
                held[j] = True
            known.append(rate)
            j += 1
        view = CarryView(book.trade is not None, trailing_apr(known, params), basis(s, f), book.spot_qty,
                         book.perp_qty, book.margin_ratio(f, params.leverage))
        decision = decide(view, params)
        if decision.action != "hold":
            decisions.append((close_ms, decision.action, decision.reason))
            _act(book, decision.action, decision.reason, close_ms, s, f, view.gross_apr or 0.0, params, trades)
        eq[i] = book.equity(s, f)
    if book.trade is not None:  # still open at the end: mark it
        book.trade.close_at(float(eq[-1]))
    return CarryBacktest(trades, spot.ts + step, eq, funding.ts, funding.rate, held, decisions)


def _aligned_perp(spot: Candles, perp: Candles | None) -> np.ndarray:
    """Perp closes on the spot bars (last known perp close; spot where the perp has none yet)."""
    if perp is None or len(perp) == 0:
        return spot.close
    idx = np.searchsorted(perp.ts, spot.ts, side="right") - 1
    return np.where(idx >= 0, perp.close[np.clip(idx, 0, None)], spot.close)


def _settle(book: _Book, perp_price: float, rate: float) -> None:
    paid = funding_payment_quote(book.perp_qty, perp_price, rate)
    book.perp_margin += paid
    assert book.trade is not None
    book.trade.funding_quote += paid
    book.trade.settlements += 1


def _act(book: _Book, action: str, reason: str, ts: int, s: float, f: float, apr: float, p: CarryParams,
         trades: list[CarryTrade]) -> None:
    if action == "enter":
        _enter(book, ts, s, f, apr, p, trades)
    elif action == "exit":
        _exit(book, ts, s, f, reason, p)
    else:
        _rebalance(book, s, f, p)


def _enter(book: _Book, ts: int, s: float, f: float, apr: float, p: CarryParams, trades: list[CarryTrade]) -> None:
    capital = book.cash
    qty = capital * p.spot_share() / (s * (1 + p.slippage) * (1 + p.spot_fee))
    if qty * s < p.min_notional_quote:
        return
    trade = CarryTrade(entry_ms=ts, entry_price=s, qty_base=qty, entry_apr=apr, start_equity_quote=capital)
    spot_cost = qty * s * (1 + p.slippage)
    perp_entry = f * (1 - p.slippage)
    fees = spot_cost * p.spot_fee + qty * perp_entry * p.perp_fee
    trade.fees_quote += fees
    trade.slippage_quote += qty * (s + f) * p.slippage
    book.spot_qty, book.perp_qty, book.perp_entry = qty, qty, perp_entry
    book.perp_margin = capital - spot_cost - fees
    book.cash = 0.0
    book.trade = trade
    trades.append(trade)


def _exit(book: _Book, ts: int, s: float, f: float, reason: str, p: CarryParams) -> None:
    trade = book.trade
    assert trade is not None
    qty = book.spot_qty
    spot_px, perp_px = s * (1 - p.slippage), f * (1 + p.slippage)
    fees = qty * spot_px * p.spot_fee + book.perp_qty * perp_px * p.perp_fee
    trade.fees_quote += fees
    trade.slippage_quote += qty * s * p.slippage + book.perp_qty * f * p.slippage
    book.cash += qty * spot_px + book.perp_margin + book.perp_qty * (book.perp_entry - perp_px) - fees
    trade.exit_ms, trade.exit_price, trade.exit_reason = ts, s, reason
    trade.close_at(book.cash)
    book.spot_qty = book.perp_qty = book.perp_margin = book.perp_entry = 0.0
    book.trade = None


def _rebalance(book: _Book, s: float, f: float, p: CarryParams) -> None:
    """Resize both legs to the current equity's split (margin restored), paying costs on the change."""
    trade = book.trade
    assert trade is not None
    equity = book.equity(s, f)
    traded = abs(equity * p.spot_share() / s - book.spot_qty)
    fees = traded * (s * p.spot_fee + f * p.perp_fee)
    slippage = traded * (s + f) * p.slippage
    target = (equity - fees - slippage) * p.spot_share() / s
    trade.fees_quote += fees
    trade.slippage_quote += slippage
    trade.rebalances += 1
    book.spot_qty = book.perp_qty = target
    book.perp_entry = f
    book.perp_margin = equity - fees - slippage - target * s
