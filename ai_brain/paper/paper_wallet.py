"""The paper wallet: balances per asset, netted perp positions and paper orders, rebuilt from the ledger.

``state/paper_wallet.json`` is a *summary* of the ledger up to ``applied_seq``. Every change goes
ledger line first, then :meth:`PaperWallet.apply` (in memory), then (soon) an atomic save; a restart
loads the summary and applies the ledger lines after ``applied_seq`` through the very same
:meth:`apply`, so a crash between the two writes neither loses nor doubles a fill.

Each fill line also carries its order's intent, so an order that crashed before its record was ever
saved is rebuilt from its fills (and a re-send of the same client id finds it, instead of placing it
again).

Spot fills move the base and quote balances (fees are charged in quote); perp fills move only
the quote balance, by the P&L they realize minus the fee, and change the netted position.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from src.orders.interface import OrderIntent, OrderRecord
from src.orders.ledger import LedgerEntry
from src.orders.positions import EPS_QTY, Position
from src.state.store import StateStore

MAX_TERMINAL_ORDERS = 20  # older ones live in the ledger; the engine remembers their ids


class PaperState(BaseModel):
    """The persisted wallet summary."""

    model_config = ConfigDict(extra="forbid")

    applied_seq: int = 0
    quote: str = "USDT"
    starting: dict[str, float] = Field(default_factory=dict)
    balances: dict[str, float] = Field(default_factory=dict)
    perp: dict[str, Position] = Field(default_factory=dict)
    orders: dict[str, OrderRecord] = Field(default_factory=dict)
    last_funding_ms: dict[str, int] = Field(default_factory=dict)


def base_asset(symbol: str) -> str:
    return symbol.split("/")[0].split(":")[0]


class PaperWallet:
    """In-memory wallet plus its file; the only writer of ``state/paper_wallet.json``."""

    FILE = "paper_wallet.json"

    def __init__(self, store: StateStore | None, quote: str, starting_quote: float) -> None:
        self._store = store
        loaded = store.load(self.FILE, PaperState) if store is not None else None
        self.state = loaded or PaperState(quote=quote, starting={quote: starting_quote},
                                          balances={quote: starting_quote})
        self.quote = self.state.quote

    # -- reading -------------------------------------------------------------------------------
    def balance(self, asset: str) -> float:
        return self.state.balances.get(asset, 0.0)

    def perp_position(self, symbol: str) -> Position:
        pos = self.state.perp.get(symbol)
        if pos is None:
            pos = self.state.perp[symbol] = Position(symbol=symbol, market="perp")
        return pos

    def equity_quote(self, prices: dict[str, float]) -> float:
        """Quote + spot holdings at ``prices`` + unrealized perp P&L (assets without a price count 0)."""
        total = self.balance(self.quote)
        for asset, amount in self.state.balances.items():
            if asset != self.quote and abs(amount) > EPS_QTY:
                total += amount * prices.get(f"{asset}/{self.quote}", 0.0)
        for symbol, pos in self.state.perp.items():
            if pos.is_open and symbol in prices:
                total += pos.unrealized_quote(prices[symbol])
        return total

    # -- what a fill would do ------------------------------------------------------------------
    def fill_effect(self, symbol: str, market: str, side: str, qty_base: float, price_quote: float,
                    fee_quote: float) -> tuple[dict[str, float], float]:
        """Wallet deltas and realized gross P&L of a fill, computed without changing anything."""
        if market == "spot":
            sign = 1.0 if side == "buy" else -1.0
            deltas = {base_asset(symbol): sign * qty_base,
                      self.quote: -sign * qty_base * price_quote - fee_quote}
            return deltas, 0.0
        pos = replace(self.perp_position(symbol))
        realized = pos.apply_fill(side, qty_base, price_quote, fee_quote, 0)
        return {self.quote: realized - fee_quote}, realized

    # -- applying the ledger -------------------------------------------------------------------
    def apply(self, entry: LedgerEntry) -> None:
        """Apply one ledger line (idempotent by ``seq``: lines at or below ``applied_seq`` are skipped)."""
        if entry.seq <= self.state.applied_seq:
            return
        for asset, amount in entry.deltas.items():
            self.state.balances[asset] = self.state.balances.get(asset, 0.0) + amount
        if entry.kind == "fill" and entry.market == "perp" and entry.side is not None:
            self.perp_position(entry.symbol).apply_fill(entry.side, entry.qty_base, entry.price_quote,
                                                        entry.fee_quote, entry.ts_ms)
        elif entry.kind == "funding":
            self.perp_position(entry.symbol).apply_funding(entry.funding_quote)
            self.state.last_funding_ms[entry.symbol] = entry.ts_ms
        if entry.kind == "fill":
            self._apply_to_order(entry)
        self.state.applied_seq = entry.seq

    def _apply_to_order(self, entry: LedgerEntry) -> None:
        rec = self.state.orders.get(entry.client_order_id)
        if rec is None:
            if "intent" not in entry.data:
                return
            # the crash came before the order's first save: the fill line says what the order was
            rec = OrderRecord(intent=OrderIntent.model_validate(entry.data["intent"]), status="open",
                              created_ms=entry.ts_ms, updated_ms=entry.ts_ms)
            self.state.orders[entry.client_order_id] = rec
        filled = rec.filled_qty_base + entry.qty_base
        avg = ((rec.avg_price_quote or 0.0) * rec.filled_qty_base + entry.price_quote * entry.qty_base) / filled
        done = filled >= rec.intent.qty_base * (1 - 1e-9)
        rec.filled_qty_base, rec.avg_price_quote = filled, avg
        rec.fee_quote += entry.fee_quote
        rec.status = "filled" if done else "partially_filled"
        rec.updated_ms = entry.ts_ms

    def replay(self, entries: list[LedgerEntry]) -> int:
        """Apply ledger lines newer than ``applied_seq``; returns how many were applied."""
        n = 0
        for entry in entries:
            if entry.seq > self.state.applied_seq and entry.venue == "paper":
                self.apply(entry)
                n += 1
        return n

    def put_order(self, record: OrderRecord) -> None:
        self.state.orders[record.intent.client_order_id] = record
        self._prune()

    def _prune(self) -> None:
        terminal = [k for k, r in self.state.orders.items() if r.is_terminal]
        for key in terminal[: max(0, len(terminal) - MAX_TERMINAL_ORDERS)]:
            del self.state.orders[key]

    def save(self, durable: bool = True) -> None:
        """``durable=False`` for a summary the ledger can rebuild (fills, funding): no fsync."""
        if self._store is not None:
            self._store.save(self.FILE, self.state, durable)
