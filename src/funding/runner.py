"""The carry in a running bot (replay, paper, testnet, live): the backtest's rule on live events.

Every funding settlement and every closed candle of a carry symbol asks :func:`~src.funding.carry.decide`
what to do, exactly as the backtest does. Orders go through an :class:`OrderPort`: the router when
the trading loop is wired (so the risk guards see every carry order and the double gate picks the
venue), or a bare :class:`~src.orders.interface.ExecutionVenue` in tests and tools.

Crash safety: the intents of an action are written to ``state/carry.json`` *before* they are
sent, with deterministic client ids. After a ``kill -9`` the restart re-sends the same intents; the
venue recognises the ids and returns the existing orders, so nothing is doubled, and quantities
are booked from the orders' final fills only once (an intent leaves ``pending`` in the same write
that books it). A leg refused by the guards or only partly filled shows up as hedge drift, which
the rule repairs with a ``rebalance_hedge`` on the next bar.

Funding P&L: each settlement credits ``perp short × mark × rate`` to the carry's running total
(the paper engine and the exchange book the actual cash; this is the carry's attribution).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from src.core.events import CandleClosed, Event, FundingRate
from src.funding.carry import CarryParams, CarryView, Decision, basis, decide, funding_payment_quote, trailing_apr
from src.orders.interface import ExecutionVenue, OrderIntent, OrderRecord, client_order_id
from src.state.store import StateStore

log = logging.getLogger(__name__)

STRATEGY_ID = "funding_carry"
EPS_QTY = 1e-12
GRID_TOLERANCE_MS = 1_000  # settlement stamps run a few ms late; anything earlier is a prediction


class OrderPort(Protocol):
    """Where carry orders go; ``None`` means refused before any venue saw it."""

    async def send(self, intent: OrderIntent) -> OrderRecord | None: ...


class VenuePort:
    """Straight to a venue (tests, tools)."""

    def __init__(self, venue: ExecutionVenue) -> None:
        self.venue = venue

    async def send(self, intent: OrderIntent) -> OrderRecord | None:
        return await self.venue.submit(intent)


TRADING_STATUSES = frozenset({"dry_run", "awaiting_approval", "approved", "live", "scaling"})
OPENING_PURPOSES = frozenset({"entry", "rebalance"})


class RouterPort:
    """Through the trading loop's router: risk guards first, venue by the double gate.

    ``status`` is the carry's lifecycle status, read at every order (a string, or a function that
    reads the strategy record): ``dry_run`` trades on paper, only ``live``/``scaling`` may reach the
    exchange, and a status outside the trading ones (retired, rejected, record gone) opens nothing —
    exits still go, so a retired carry is wound down rather than stranded.
    """

    def __init__(self, router: Any, status: str | Callable[[], str | None]) -> None:
        self.router = router
        self._status = status

    def current_status(self) -> str | None:
        return self._status() if callable(self._status) else self._status

    async def send(self, intent: OrderIntent) -> OrderRecord | None:
        status = self.current_status()
        if status not in TRADING_STATUSES:
            if intent.purpose in OPENING_PURPOSES and not intent.reduce_only:
                log.warning("carry order %s not sent: the carry's status is %s", intent.client_order_id, status)
                return None
            status = "dry_run" if status is None else status
        _decision, record = await self.router.submit(intent, status)
        return record


class CarryPosition(BaseModel):
    """One symbol's carry as persisted; ``perp_qty`` is the short's size (positive)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str
    spot_qty: float = 0.0
    perp_qty: float = 0.0
    entry_ms: int = 0
    entry_price: float = 0.0
    funding_quote: float = 0.0
    fees_quote: float = 0.0
    last_funding_ms: int = 0
    rates: list[tuple[int, float]] = Field(default_factory=list)
    pending: list[OrderIntent] = Field(default_factory=list)
    seq: int = 0
    carries: int = 0
    last_decision: str = ""
    observed: tuple[int, float] | None = None  # latest predicted rate from a live feed (ts, rate)
    retry_after_ms: int = 0  # after a refused order: no new entry or rebalance before this (exits always run)

    @property
    def in_position(self) -> bool:
        return self.spot_qty > EPS_QTY or self.perp_qty > EPS_QTY


class CarryFile(BaseModel):
    """``state/carry.json``."""

    model_config = ConfigDict(extra="forbid")

    positions: dict[str, CarryPosition] = Field(default_factory=dict)


class CarryRunner:
    """Applies the carry rule to market events; feed it with :meth:`on_event`."""

    FILE = "carry.json"
    KEEP_RATES = 200

    def __init__(self, params: CarryParams, symbols: tuple[str, ...], port: OrderPort, store: StateStore, *,
                 spot_price: Callable[[str], float | None], equity_quote: Callable[[], float],
                 entries_allowed: Callable[[], bool] = lambda: True,
                 perp_price: Callable[[str], float | None] | None = None,
                 history: Callable[[str], list[tuple[int, float]]] | None = None) -> None:
        self.params = params
        self.symbols = symbols
        self.port = port
        self._store = store
        self._spot_price = spot_price
        self._perp_price = perp_price or spot_price
        self._equity = equity_quote
        self._entries_allowed = entries_allowed
        self.doc = store.load_or(self.FILE, CarryFile, CarryFile())
        for sym in symbols:
            pos = self.doc.positions.setdefault(sym, CarryPosition(symbol=sym))
            if history is not None and not pos.rates:
                pos.rates = self._settled_only(history(sym))[-self.KEEP_RATES:]

    def _settled_only(self, items: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """Keep history entries stamped on the settlement grid (a live cache also holds predictions)."""
        period = self._period_ms()
        out: list[tuple[int, float]] = []
        for ts, rate in items:
            boundary = ts // period * period
            if ts - boundary <= GRID_TOLERANCE_MS and (not out or boundary > out[-1][0]):
                out.append((boundary, rate))
        return out

    # ----------------------------------------------------------------- events
    async def on_event(self, ev: Event) -> None:
        """Funding settlements are booked then judged; closed candles are judged (basis, hedge)."""
        if isinstance(ev, FundingRate) and ev.symbol in self.symbols:
            self._book_funding(ev)
            await self.evaluate(ev.symbol, ev.ts_ms)
        elif isinstance(ev, CandleClosed) and ev.symbol in self.symbols:
            await self.evaluate(ev.symbol, ev.ts_ms)

    def _book_funding(self, ev: FundingRate) -> None:
        """Turn a funding event into settlements: records on the period grid, or predictions crossing it.

        Replay, the simulator and history publish the *settled* rate at the settlement time (on the
        8h grid). A live feed publishes the *predicted* rate every poll; the last prediction seen
        before a grid time is what settles there, so a settlement is booked when the stream crosses it.
        """
        pos = self.doc.positions[ev.symbol]
        period = self._period_ms()
        boundary = ev.ts_ms // period * period
        if pos.observed is not None and pos.observed[0] < boundary:
            self._settle(pos, boundary, pos.observed[1])
        if ev.ts_ms - boundary <= GRID_TOLERANCE_MS:
            self._settle(pos, boundary, ev.rate)
        elif pos.observed != (ev.ts_ms, ev.rate):
            pos.observed = (ev.ts_ms, ev.rate)
            self.save()

    def _settle(self, pos: CarryPosition, ts_ms: int, rate: float) -> None:
        """Book one settlement (once per grid time): the trailing window and the carry's funding P&L."""
        if pos.rates and ts_ms <= pos.rates[-1][0]:
            return
        pos.rates = ([*pos.rates, (ts_ms, rate)])[-self.KEEP_RATES:]
        if pos.perp_qty > EPS_QTY:
            mark = self._perp_price(pos.symbol) or pos.entry_price
            pos.funding_quote += funding_payment_quote(pos.perp_qty, mark, rate)
            pos.last_funding_ms = ts_ms
        self.save()

    def _period_ms(self) -> int:
        return int(self.params.period_hours * 3_600_000)

    # ----------------------------------------------------------------- the rule
    async def evaluate(self, symbol: str, ts_ms: int) -> Decision | None:
        """Finish pending orders, then decide and act; returns the decision (None while orders are pending)."""
        pos = self.doc.positions[symbol]
        await self._settle_pending(pos, ts_ms)
        if pos.pending:
            return None
        spot, perp = self._spot_price(symbol), self._perp_price(symbol)
        if spot is None or perp is None:
            return None
        rates = [r for _, r in pos.rates]
        view = CarryView(pos.in_position, trailing_apr(rates, self.params), basis(spot, perp), pos.spot_qty,
                         pos.perp_qty, None)
        decision = decide(view, self.params)
        pos.last_decision = f"{decision.action}: {decision.reason}"
        if decision.action == "hold":
            return decision
        if decision.action == "enter" and not self._entries_allowed():
            pos.last_decision = "hold: entries paused"
            return decision
        if decision.action != "exit" and ts_ms < pos.retry_after_ms:
            pos.last_decision = f"hold: an order was refused; {decision.action} retried after {pos.retry_after_ms}"
            return decision
        intents = self._intents(pos, decision, ts_ms, spot)
        if intents:
            log.info("carry %s: %s (%s)", symbol, decision.action, decision.reason)
            pos.pending = intents
            pos.seq += 1
            self.save()  # write-ahead: a crash from here on re-sends exactly these intents
            await self._settle_pending(pos, ts_ms)
        return decision

    def _intents(self, pos: CarryPosition, d: Decision, ts_ms: int, spot: float) -> list[OrderIntent]:
        if d.action == "enter":
            notional = self._equity() * self.params.allocation_fraction * self.params.spot_share()
            if notional < self.params.min_notional_quote:
                pos.last_decision = f"hold: carry notional {notional:.2f} below minimum"
                return []
            qty = notional / spot
            return [self._intent(pos, ts_ms, "entry", 0, "buy", "spot", qty),
                    self._intent(pos, ts_ms, "entry", 1, "sell", "perp", qty)]
        if d.action == "exit":
            out = []
            if pos.spot_qty > EPS_QTY:
                out.append(self._intent(pos, ts_ms, "exit", 0, "sell", "spot", pos.spot_qty))
            if pos.perp_qty > EPS_QTY:
                out.append(self._intent(pos, ts_ms, "exit", 1, "buy", "perp", pos.perp_qty, reduce_only=True))
            return out
        diff = pos.spot_qty - pos.perp_qty
        if d.action == "rebalance_hedge" and abs(diff) > EPS_QTY:
            side = "sell" if diff > 0 else "buy"
            return [self._intent(pos, ts_ms, "rebalance", 0, side, "perp", abs(diff), reduce_only=diff < 0)]
        return []  # rebalance_margin needs a wallet transfer: the exchange's margin and the guards own it

    def _intent(self, pos: CarryPosition, ts_ms: int, purpose: str, leg: int, side: str, market: str, qty: float,
                reduce_only: bool = False) -> OrderIntent:
        cid = client_order_id(STRATEGY_ID, f"{pos.symbol}|{market}", ts_ms, purpose, pos.seq * 2 + leg)
        return OrderIntent(client_order_id=cid, strategy_id=STRATEGY_ID, symbol=pos.symbol, side=side,  # type: ignore[arg-type]
                           qty_base=qty, purpose=purpose, market=market, reduce_only=reduce_only,  # type: ignore[arg-type]
                           decision_ts_ms=ts_ms)

    # ----------------------------------------------------------------- orders
    async def _settle_pending(self, pos: CarryPosition, ts_ms: int) -> None:
        """(Re-)send pending intents (idempotent by client id) and book the ones that finished."""
        for intent in list(pos.pending):
            record = await self.port.send(intent)
            if record is not None and not record.is_terminal:
                continue  # resting or unresolved: asked again on the next event
            was_in = pos.in_position
            if record is not None:
                self._book_fill(pos, intent, record)
            if record is None or record.status == "rejected":
                pos.retry_after_ms = ts_ms + int(self.params.period_hours * 3_600_000)
            pos.pending = [i for i in pos.pending if i.client_order_id != intent.client_order_id]
            self._note_transition(pos, was_in, ts_ms)
            self.save()

    def _book_fill(self, pos: CarryPosition, intent: OrderIntent, record: OrderRecord) -> None:
        qty = record.received_qty_base  # a spot buy's fee taken in the base asset is not held
        sign = 1.0 if intent.side == "buy" else -1.0
        if intent.market == "spot":
            pos.spot_qty = max(0.0, pos.spot_qty + sign * qty)
        else:
            pos.perp_qty = max(0.0, pos.perp_qty - sign * qty)
        pos.fees_quote += record.fee_quote
        if qty > 0 and pos.entry_price == 0.0 and record.avg_price_quote:
            pos.entry_price = record.avg_price_quote
        if record.status == "rejected":
            log.warning("carry %s: %s leg rejected: %s", pos.symbol, intent.market, record.reason)

    def _note_transition(self, pos: CarryPosition, was_in: bool, ts_ms: int) -> None:
        if not was_in and pos.in_position:
            pos.entry_ms = ts_ms
        elif was_in and not pos.in_position and not pos.pending:
            pos.carries += 1
            log.info("carry %s closed: funding %+.2f, fees %.2f (quote)", pos.symbol, pos.funding_quote,
                     pos.fees_quote)
            pos.entry_price = 0.0

    def save(self) -> None:
        self._store.save(self.FILE, self.doc)

    def describe(self) -> dict[str, Any]:
        """For the status board."""
        return {sym: {"in_position": p.in_position, "spot_qty": p.spot_qty, "perp_short_qty": p.perp_qty,
                      "funding_quote": round(p.funding_quote, 4), "fees_quote": round(p.fees_quote, 4),
                      "carries": p.carries, "pending": len(p.pending), "last_decision": p.last_decision}
                for sym, p in self.doc.positions.items()}


__all__ = ["CarryFile", "CarryPosition", "CarryRunner", "OrderPort", "RouterPort", "VenuePort"]
