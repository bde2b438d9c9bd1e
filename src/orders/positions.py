"""Position accounting: average entry, realized and unrealized P&L, fees and funding, gross vs net.

Pure bookkeeping with no I/O, shared by the paper wallet (one netted position per perp symbol,
as an exchange keeps it) and the portfolio (one position per strategy and symbol, for
attribution). A fill that reduces a position realizes ``qty × (price − avg_entry) × side``; a fill
that crosses zero closes the old side and opens the new one at the fill price.

Conventions: ``qty_base`` is signed (long > 0); fees and funding are costs (positive = paid);
``net = gross realized − fees − funding``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

EPS_QTY = 1e-12


@dataclass
class Position:
    """One position's running totals."""

    symbol: str
    market: str = "spot"
    qty_base: float = 0.0
    avg_entry_quote: float = 0.0
    realized_gross_quote: float = 0.0
    fees_quote: float = 0.0
    funding_quote: float = 0.0
    opened_ms: int = 0
    last_fill_ms: int = 0

    @property
    def is_open(self) -> bool:
        return abs(self.qty_base) > EPS_QTY

    @property
    def side(self) -> int:
        return 1 if self.qty_base > EPS_QTY else (-1 if self.qty_base < -EPS_QTY else 0)

    def notional_quote(self, price_quote: float) -> float:
        return abs(self.qty_base) * price_quote

    def unrealized_quote(self, price_quote: float) -> float:
        return self.qty_base * (price_quote - self.avg_entry_quote) if self.is_open else 0.0

    @property
    def realized_net_quote(self) -> float:
        return self.realized_gross_quote - self.fees_quote - self.funding_quote

    def apply_fill(self, side: str, qty_base: float, price_quote: float, fee_quote: float, ts_ms: int) -> float:
        """Book one fill; returns the gross P&L it realized (0 for a pure increase)."""
        signed = qty_base if side == "buy" else -qty_base
        self.fees_quote += fee_quote
        self.last_fill_ms = ts_ms
        if not self.is_open or (signed > 0) == (self.qty_base > 0):
            new_qty = self.qty_base + signed
            self.avg_entry_quote = ((self.avg_entry_quote * abs(self.qty_base) + price_quote * abs(signed))
                                    / abs(new_qty))
            if not self.is_open:
                self.opened_ms = ts_ms
            self.qty_base = new_qty
            return 0.0
        closing = min(abs(signed), abs(self.qty_base))
        realized = closing * (price_quote - self.avg_entry_quote) * self.side
        self.realized_gross_quote += realized
        remainder = abs(signed) - closing
        if remainder > EPS_QTY:  # crossed zero: the rest opens the other side at this price
            self.qty_base = remainder if signed > 0 else -remainder
            self.avg_entry_quote = price_quote
            self.opened_ms = ts_ms
        else:
            self.qty_base += signed
            if not self.is_open:
                self.qty_base, self.avg_entry_quote = 0.0, 0.0
        return realized

    def apply_funding(self, amount_paid_quote: float) -> None:
        """Funding paid (positive) or received (negative) for holding this position."""
        self.funding_quote += amount_paid_quote

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class PositionBook:
    """Positions keyed by a caller-chosen string (symbol, or ``strategy|symbol``)."""

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}

    def get(self, key: str, symbol: str, market: str = "spot") -> Position:
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(symbol=symbol, market=market)
        return pos

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.is_open]

    def totals(self) -> dict[str, float]:
        """Realized gross, fees, funding and net over every position ever held."""
        gross = sum(p.realized_gross_quote for p in self.positions.values())
        fees = sum(p.fees_quote for p in self.positions.values())
        funding = sum(p.funding_quote for p in self.positions.values())
        return {"gross_quote": gross, "fees_quote": fees, "funding_quote": funding,
                "net_quote": gross - fees - funding}
