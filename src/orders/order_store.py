"""The live order book of record: every order's state machine, persisted before and after each exchange call.

Why it exists: the exchange is the truth about an order, but only this file knows *why* an order
was sent and whether a send was attempted at all. The live venue writes the intent here (status
``new``, ``send_attempts`` counted) *before* the request leaves, so a ``kill -9`` between "sent"
and "answered" is recovered at restart by looking the order up by its client id — never by sending
it again.

Transitions (anything else is refused with :class:`IllegalOrderTransition`)::

    new ──► open ──► partially_filled ──► filled
     │        │            │
     └────────┴────────────┴──► cancelled | expired      (new ──► rejected as well)

Fills are recorded as cumulative-quantity deltas, so re-reading the same exchange answer twice
adds nothing, and a fill seen after a restart is added exactly once. Each order is one small JSON
file (``state/orders_<mode>/<client id>.json``), so a write costs the same with 5 or 2,000 orders
on record; every non-terminal order is kept, and the most recent ``keep_terminal`` terminal ones
(their fills are already in the ledgers; they stay so a re-sent intent is still recognised).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from src.core.errors import LabError
from src.orders.interface import TERMINAL_STATUSES, OrderIntent, OrderRecord, OrderStatus
from src.state.store import StateStore, fsync_dir, read_model, write_model

log = logging.getLogger(__name__)

_ALLOWED: dict[str, frozenset[str]] = {
    "new": frozenset({"new", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"}),
    "open": frozenset({"open", "partially_filled", "filled", "cancelled", "expired"}),
    "partially_filled": frozenset({"partially_filled", "filled", "cancelled", "expired"}),
}
_QTY_EPS = 1e-12
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class IllegalOrderTransition(LabError, ValueError):
    """An order update that would break the state machine (e.g. filled → open)."""


class StoredFill(BaseModel):
    """One recorded execution: the delta between two cumulative fill readings of an order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fill_id: str
    qty_base: float = Field(gt=0)
    price_quote: float = Field(gt=0)
    fee_quote: float = 0.0  # the whole fee, valued in quote (for P&L)
    fee_asset: str = ""  # the asset the exchange charged it in when not the quote (base, BNB, ...)
    fee_amount: float = 0.0  # ... and how much of that asset
    ts_ms: int


class StoredOrder(BaseModel):
    """An :class:`OrderRecord` plus what only the live venue needs: send attempts and fills."""

    model_config = ConfigDict(extra="forbid")

    record: OrderRecord
    send_attempts: int = 0
    outcome_unknown: bool = False
    last_sent_ms: int = 0  # when the last send attempt started: "not found" before lag has passed proves nothing
    exchange_symbol: str = ""
    fills: list[StoredFill] = Field(default_factory=list)

    @property
    def client_order_id(self) -> str:
        return self.record.intent.client_order_id


class OrderStore:
    """The single owner of the order files; every change is written atomically before it counts."""

    def __init__(self, store: StateStore, *, folder: str = "orders_live", keep_terminal: int = 2_000,
                 now_ms: Callable[[], int]) -> None:
        self._dir = store.dir / folder
        self._quarantine = store.quarantine_dir
        self._keep_terminal = keep_terminal
        self._now_ms = now_ms
        self._dir.mkdir(parents=True, exist_ok=True)
        self._orders: dict[str, StoredOrder] = {}
        loaded = [read_model(path, StoredOrder, self._quarantine) for path in self._dir.glob("*.json")]
        for order in sorted((o for o in loaded if o is not None),
                            key=lambda o: (o.record.created_ms, o.client_order_id)):
            self._orders[order.client_order_id] = order

    # ----------------------------------------------------------------- reads
    def get(self, client_order_id: str) -> StoredOrder | None:
        return self._orders.get(client_order_id)

    def all(self) -> list[StoredOrder]:
        return list(self._orders.values())

    def active(self) -> list[StoredOrder]:
        """Orders not yet in a terminal state (including ``new`` ones whose send outcome is unknown)."""
        return [o for o in self._orders.values() if not o.record.is_terminal]

    def unresolved(self) -> list[StoredOrder]:
        """``new`` orders a send was attempted for: the exchange may or may not hold them."""
        return [o for o in self.active() if o.record.status == "new" and o.send_attempts > 0]

    # ----------------------------------------------------------------- writes
    def record_intent(self, intent: OrderIntent, exchange_symbol: str = "") -> StoredOrder:
        """Persist a brand-new intent (status ``new``, nothing sent yet); idempotent on the client id."""
        found = self.get(intent.client_order_id)
        if found is not None:
            if found.record.intent != intent:
                raise IllegalOrderTransition(f"client id {intent.client_order_id} already used by a different intent")
            return found
        now = self._now_ms()
        order = StoredOrder(record=OrderRecord(intent=intent, created_ms=now, updated_ms=now),
                            exchange_symbol=exchange_symbol)
        self._orders[intent.client_order_id] = order
        self._save(order)
        return order

    def mark_sending(self, client_order_id: str) -> StoredOrder:
        """Count one more send attempt; written *before* the request so a crash mid-send is detectable."""
        order = self._require(client_order_id)
        if order.record.status != "new":
            raise IllegalOrderTransition(f"{client_order_id}: cannot send an order in status {order.record.status}")
        order.send_attempts += 1
        order.outcome_unknown = True
        order.last_sent_ms = self._now_ms()
        self._touch(order)
        self._save(order)
        return order

    def mark_not_sent(self, client_order_id: str) -> StoredOrder:
        """The exchange confirmed it does not hold the order: a later send is not a duplicate."""
        order = self._require(client_order_id)
        order.outcome_unknown = False
        self._touch(order)
        self._save(order)
        return order

    def apply(self, client_order_id: str, status: OrderStatus, *, filled_qty_base: float | None = None,
              cum_quote: float | None = None, fee_quote: float | None = None, exchange_order_id: str | None = None,
              reason: str = "", ts_ms: int | None = None,
              fee_native: tuple[str, float] | None = None) -> tuple[StoredOrder, list[StoredFill]]:
        """Move an order to ``status`` with the exchange's cumulative fill figures; returns the new fills.

        Fills are derived from the increase of the cumulative filled quantity (and cumulative quote
        cost for the price), so applying the same reading twice records nothing new. A cumulative
        quantity that goes *down* is refused: it would mean we double-counted before. ``fee_native``
        is ``(asset, cumulative amount)`` when the exchange charged the fee in another asset than quote.
        """
        order = self._require(client_order_id)
        rec = order.record
        self._check_transition(rec, status)
        ts = ts_ms if ts_ms is not None else self._now_ms()
        new_fills = self._fills_from(order, filled_qty_base, cum_quote, fee_quote, ts)
        if new_fills and fee_native is not None:
            asset, cum = fee_native
            have = sum(f.fee_amount for f in order.fills if f.fee_asset == asset)
            new_fills = [new_fills[0].model_copy(update={"fee_asset": asset, "fee_amount": max(0.0, cum - have)})]
        update: dict[str, object] = {"status": status, "updated_ms": self._now_ms()}
        if exchange_order_id:
            update["exchange_order_id"] = exchange_order_id
        if reason:
            update["reason"] = reason
        if new_fills:
            total_qty = sum(f.qty_base for f in order.fills) + sum(f.qty_base for f in new_fills)
            total_quote = sum(f.qty_base * f.price_quote for f in [*order.fills, *new_fills])
            base = rec.intent.symbol.split("/")[0]
            update.update(filled_qty_base=total_qty, avg_price_quote=total_quote / total_qty,
                          fee_quote=sum(f.fee_quote for f in [*order.fills, *new_fills]),
                          fee_base=sum(f.fee_amount for f in [*order.fills, *new_fills] if f.fee_asset == base))
            order.fills.extend(new_fills)
        order.record = rec.model_copy(update=update)
        order.outcome_unknown = False
        self._save(order)
        self._prune()
        if status != rec.status:
            log.info("order %s %s → %s %s", client_order_id, rec.status, status, reason)
        return order, new_fills

    # ----------------------------------------------------------------- internals
    @staticmethod
    def _check_transition(rec: OrderRecord, status: str) -> None:
        if rec.status == status:
            return
        if rec.status in TERMINAL_STATUSES or status not in _ALLOWED.get(rec.status, frozenset()):
            raise IllegalOrderTransition(f"{rec.intent.client_order_id}: illegal transition {rec.status} → {status}")

    @staticmethod
    def _fills_from(order: StoredOrder, filled_qty_base: float | None, cum_quote: float | None,
                    fee_quote: float | None, ts_ms: int) -> list[StoredFill]:
        if filled_qty_base is None:
            return []
        have_qty = sum(f.qty_base for f in order.fills)
        delta = filled_qty_base - have_qty
        if delta < -1e-9 * max(1.0, filled_qty_base):
            raise IllegalOrderTransition(f"{order.client_order_id}: cumulative fill went down "
                                    f"({have_qty} → {filled_qty_base})")
        if delta <= _QTY_EPS:
            return []
        have_quote = sum(f.qty_base * f.price_quote for f in order.fills)
        price = _delta_price(order, delta, cum_quote, have_quote)
        have_fee = sum(f.fee_quote for f in order.fills)
        fee = max(0.0, (fee_quote if fee_quote is not None else have_fee) - have_fee)
        fill_id = f"{order.client_order_id}:{len(order.fills) + 1}"
        return [StoredFill(fill_id=fill_id, qty_base=delta, price_quote=price, fee_quote=fee, ts_ms=ts_ms)]

    def _require(self, client_order_id: str) -> StoredOrder:
        order = self.get(client_order_id)
        if order is None:
            raise KeyError(f"unknown client order id {client_order_id}")
        return order

    def _touch(self, order: StoredOrder) -> None:
        order.record = order.record.model_copy(update={"updated_ms": self._now_ms()})

    def _prune(self) -> None:
        terminal = [cid for cid, o in self._orders.items() if o.record.is_terminal]
        drop = terminal[: max(0, len(terminal) - self._keep_terminal)]
        for cid in drop:
            del self._orders[cid]
            self._path(cid).unlink(missing_ok=True)
        if drop:
            fsync_dir(self._dir)

    def _path(self, client_order_id: str) -> Path:
        return self._dir / f"{_SAFE.sub('_', client_order_id)}.json"

    def _save(self, order: StoredOrder) -> None:
        write_model(self._path(order.client_order_id), order)

    def snapshot(self) -> dict[str, object]:
        """For the status board."""
        active = self.active()
        return {"active": len(active), "unresolved": len(self.unresolved()), "known": len(self._orders)}


def _delta_price(order: StoredOrder, delta_qty: float, cum_quote: float | None, have_quote: float) -> float:
    """Average price of the newly filled part: from cumulative quote when known, else the limit price."""
    if cum_quote is not None and cum_quote - have_quote > 0:
        return (cum_quote - have_quote) / delta_qty
    fallback = order.record.intent.price_quote or order.record.avg_price_quote
    if fallback is None:
        raise IllegalOrderTransition(f"{order.client_order_id}: a fill without a price (no cumulative quote, no limit)")
    return fallback


__all__ = ["IllegalOrderTransition", "OrderStore", "StoredFill", "StoredOrder"]
