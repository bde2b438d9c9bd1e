"""Live fills into the shared ledger, each exactly once, even across a crash between the two writes.

The live venue records a fill in the order store first (that is where the exchange's cumulative
reading is turned into a fill), then here. A ``kill -9`` between the two leaves a fill the ledger
lacks; :meth:`LiveFillRecorder.catch_up` at start-up appends exactly those, recognised by the
deterministic ``fill_id`` the order store gave them. Spot fills move base and quote in ``deltas``;
perp fills realize P&L on a netted position per symbol (as the exchange keeps it), so the sum of
the ledger stays the change in the exchange wallets.
"""

from __future__ import annotations

import logging

from src.orders.ledger import Ledger, LedgerEntry
from src.orders.order_store import OrderStore, StoredFill, StoredOrder
from src.orders.positions import Position

log = logging.getLogger(__name__)


class LiveFillRecorder:
    """Appends live fills to :class:`~src.orders.ledger.Ledger`, deduplicated by ``fill_id``."""

    def __init__(self, ledger: Ledger, quote: str = "USDT", venue: str = "live") -> None:
        self.ledger = ledger
        self.quote = quote
        self.venue = venue
        self._seen: set[str] = set()
        self._perp: dict[str, Position] = {}
        for entry in ledger.entries():
            if entry.venue == venue and entry.kind == "fill":
                self._seen.add(entry.fill_id)
                if entry.market == "perp" and entry.side is not None:
                    self._position(entry.symbol).apply_fill(entry.side, entry.qty_base, entry.price_quote,
                                                            entry.fee_quote, entry.ts_ms)

    def record(self, order: StoredOrder, fill: StoredFill) -> LedgerEntry | None:
        """Append one fill unless the ledger already has it; returns the new line (or None)."""
        if fill.fill_id in self._seen:
            return None
        intent = order.record.intent
        realized = 0.0
        if intent.market == "spot":
            sign = 1.0 if intent.side == "buy" else -1.0
            base = intent.symbol.split("/")[0]
            deltas = {base: sign * fill.qty_base, self.quote: -sign * fill.qty_base * fill.price_quote}
            _charge_fee(deltas, fill, self.quote)
        else:
            realized = self._position(intent.symbol).apply_fill(intent.side, fill.qty_base, fill.price_quote,
                                                                fill.fee_quote, fill.ts_ms)
            deltas = {self.quote: realized}
            _charge_fee(deltas, fill, self.quote)
        entry = self.ledger.append(
            kind="fill", ts_ms=fill.ts_ms, venue=self.venue, manual=intent.manual, strategy_id=intent.strategy_id,
            symbol=intent.symbol, market=intent.market, client_order_id=intent.client_order_id, fill_id=fill.fill_id,
            side=intent.side, qty_base=fill.qty_base, price_quote=fill.price_quote, fee_quote=fill.fee_quote,
            realized_pnl_quote=realized, liquidity="maker" if intent.type == "limit" else "taker", deltas=deltas,
            data={"purpose": intent.purpose, "exchange_order_id": order.record.exchange_order_id})
        self._seen.add(fill.fill_id)
        return entry

    def catch_up(self, orders: OrderStore) -> int:
        """Append every stored fill the ledger lacks (a crash hit between the two writes); returns how many."""
        added = 0
        for order in orders.all():
            for fill in order.fills:
                if self.record(order, fill) is not None:
                    added += 1
        if added:
            log.warning("ledger: appended %d live fill(s) recorded in state/ but missing from the ledger", added)
        return added


    def _position(self, symbol: str) -> Position:
        pos = self._perp.get(symbol)
        if pos is None:
            pos = self._perp[symbol] = Position(symbol=symbol, market="perp")
        return pos


def _charge_fee(deltas: dict[str, float], fill: StoredFill, quote: str) -> None:
    """Take the fee from the asset the exchange charged it in (Binance: base or BNB on spot buys)."""
    if fill.fee_asset and fill.fee_asset != quote:
        deltas[fill.fee_asset] = deltas.get(fill.fee_asset, 0.0) - fill.fee_amount
    else:
        deltas[quote] = deltas.get(quote, 0.0) - fill.fee_quote
