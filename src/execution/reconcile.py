"""Reconciliation: compare the exchange's truth with ``state/`` at start-up and periodically.

Start-up is recovery: before the bot trades again it asks the venue what is really there (open
orders, balances, perp positions) and compares that with what our files say it should be:

* **orders** — our non-terminal orders against the venue's open orders, by client id;
* **balances** — a baseline adopted from the venue plus every ledger line since (the ledger is the
  source of truth for money), against the venue's balances now;
* **positions** — likewise for perp quantities.

Every difference raises an :class:`~src.core.events.Alert` and the venue's version is *adopted*
(our baseline and orders are moved to what the exchange says: it holds the money). A *material*
difference — an order we never sent, an order that vanished, a balance or position off by more
than the tolerance — also sets the controller's ``reconcile`` hold (which drops live to paper)
until a person sends ``ack_reconcile``; that lifts only this hold, never a person's pause. A
difference must be seen on two reads ``confirm_delay_s`` apart before it
counts, so a fill that lands between two reads is not mistaken for a mismatch.

The same reconciler runs against the paper engine (through :class:`VenueTruth`): there the venue
is its own state, so a healthy run finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from src.core.events import Alert, Event
from src.exchange.binance import perp_symbol
from src.execution.live_ccxt import LiveVenue
from src.orders.interface import ExecutionVenue
from src.orders.ledger import Ledger, LedgerEntry
from src.state.control import Controller
from src.state.store import StateStore

log = logging.getLogger(__name__)

Publish = Callable[[Event], None]
Result = tuple[bool, str, dict[str, Any]]
ACTOR = "reconcile"


@dataclass(frozen=True)
class OrderView:
    """One open order as either side sees it."""

    client_order_id: str
    symbol: str
    status: str
    filled_qty_base: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Truth:
    """What the venue says right now."""

    open_orders: dict[str, OrderView]
    balances: dict[str, float]
    positions: dict[str, float] | None  # None: this venue cannot tell (not compared)


@dataclass(frozen=True)
class Difference:
    """One mismatch; ``key`` identifies it across the two confirming reads."""

    key: str
    text: str
    material: bool


class TruthSource(Protocol):
    """A venue seen by the reconciler (live exchange or paper engine)."""

    venue_name: str
    balance_markets: frozenset[str]

    async def prepare(self) -> None: ...

    async def read(self) -> Truth: ...

    async def local_open_orders(self) -> dict[str, OrderView]: ...

    async def adopt_order(self, view: OrderView, now_ms: int) -> None: ...

    async def refresh_order(self, client_order_id: str) -> str | None: ...


class LiveTruth:
    """The exchange through :class:`~src.execution.live_ccxt.LiveVenue`; balances compared on spot only."""

    balance_markets = frozenset({"spot"})

    def __init__(self, venue: LiveVenue, symbols: list[str], perp_symbols: list[str] | None = None) -> None:
        self.venue = venue
        self.venue_name = venue.name
        self.symbols = list(symbols)
        self.perp_symbols = list(perp_symbols or [])

    async def prepare(self) -> None:
        """Settle what we already know: resolve unknown send outcomes, record fills of open orders."""
        await self.venue.resolve_unresolved()
        await self.venue.poll_active()

    async def read(self) -> Truth:
        syms = self.symbols + [perp_symbol(s) for s in self.perp_symbols if self.venue.futures is not None]
        syms += [o.exchange_symbol for o in self.venue.orders.active() if o.exchange_symbol]  # every market we use
        raw = await self.venue.exchange_open_orders(list(dict.fromkeys(syms)))
        orders = {str(o.get("clientOrderId")): OrderView(str(o.get("clientOrderId")), str(o.get("symbol")),
                                                         str(o.get("status")), float(o.get("filled") or 0.0), o)
                  for o in raw}
        return Truth(orders, await self.venue.balances(), await self.venue.positions())

    async def local_open_orders(self) -> dict[str, OrderView]:
        return {o.client_order_id: OrderView(o.client_order_id, o.exchange_symbol, o.record.status,
                                             o.record.filled_qty_base)
                for o in self.venue.orders.active() if o.record.status != "new"}

    async def adopt_order(self, view: OrderView, now_ms: int) -> None:
        self.venue.adopt_external(view.raw, now_ms)

    async def refresh_order(self, client_order_id: str) -> str | None:
        rec = await self.venue.refresh(client_order_id)
        return rec.status if rec is not None else None


class VenueTruth:
    """Any :class:`ExecutionVenue` (the paper engine): its records are both truth and state."""

    def __init__(self, venue: ExecutionVenue, balance_markets: frozenset[str] = frozenset({"spot", "perp"}),
                 positions: Callable[[], dict[str, float]] | None = None) -> None:
        self.venue = venue
        self.venue_name = venue.name
        self.balance_markets = balance_markets
        self._positions = positions

    async def prepare(self) -> None:
        return None

    async def read(self) -> Truth:
        orders = {r.intent.client_order_id: OrderView(r.intent.client_order_id, r.intent.symbol, r.status,
                                                      r.filled_qty_base) for r in await self.venue.open_orders()}
        positions = self._positions() if self._positions is not None else None
        return Truth(orders, await self.venue.balances(), positions)

    async def local_open_orders(self) -> dict[str, OrderView]:
        return (await self.read()).open_orders

    async def adopt_order(self, _view: OrderView, _now_ms: int) -> None:
        return None

    async def refresh_order(self, _client_order_id: str) -> str | None:
        return None


class ReconcileState(BaseModel):
    """``state/reconcile_<venue>.json``: the adopted baseline and whether a person still has to acknowledge."""

    model_config = ConfigDict(extra="forbid")

    baseline_set: bool = False
    baseline_seq: int = 0
    baseline_balances: dict[str, float] = Field(default_factory=dict)
    baseline_positions: dict[str, float] = Field(default_factory=dict)
    pending_ack: bool = False
    mismatches: list[str] = Field(default_factory=list)
    runs: int = 0
    last_run_ms: int = 0
    last_differences: int = 0


@dataclass(frozen=True)
class ReconcileSettings:
    """Tolerances and timing; a difference above ``max(abs_tol, rel_tol × size)`` is material."""

    interval_s: float = 300.0
    retry_s: float = 10.0
    confirm_delay_s: float = 2.0
    rel_tol: float = 0.005
    abs_tol: float = 1e-8


@dataclass
class ReconcileReport:
    """What one run found and did."""

    differences: list[Difference]
    paused: bool
    baseline_adopted: bool = False

    @property
    def material(self) -> list[Difference]:
        return [d for d in self.differences if d.material]


class Reconciler:
    """Component ``reconcile``: one run at start, then every ``interval_s``; owns ``ack_reconcile``."""

    name = "reconcile"

    def __init__(self, source: TruthSource, *, store: StateStore, ledger: Ledger | None, control: Controller | None,
                 publish: Publish, now_ms: Callable[[], int], settings: ReconcileSettings = ReconcileSettings(),
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, file_name: str | None = None) -> None:
        self.source = source
        self.file = file_name or f"reconcile_{source.venue_name}.json"
        self.ledger = ledger
        self.control = control
        self.settings = settings
        self._store = store
        self._publish = publish
        self._now_ms = now_ms
        self._sleep = sleep
        self.state = store.load_or(self.file, ReconcileState, ReconcileState())
        self.ready = asyncio.Event()
        self.failures = 0

    # ----------------------------------------------------------------- component
    async def run(self) -> None:
        """Reconcile now (start-up is recovery), then periodically; a failed read alerts and retries."""
        while True:
            try:
                await self.reconcile_once()
                self.ready.set()
            except Exception as exc:  # an exchange outage must not kill the component
                self.failures += 1
                log.exception("reconcile failed")
                self._alert("warning", "Reconciliation failed", f"{type(exc).__name__}: {exc}; retrying",
                            "reconcile-failed")
            # Until the first success entries wait on us: retry soon rather than after a full interval.
            await self._sleep(self.settings.interval_s if self.ready.is_set() else self.settings.retry_s)

    async def reconcile_once(self) -> ReconcileReport:
        """One full comparison; adopts the venue's truth and pauses entries on a material difference."""
        await self.source.prepare()
        truth, seq = await self._read()
        if not self.state.baseline_set:
            return self._adopt_baseline(truth, seq)
        first = await self._differences(truth, seq)
        if first:
            await self._sleep(self.settings.confirm_delay_s)
            await self.source.prepare()
            truth, seq = await self._read()
            again = {d.key: d for d in await self._differences(truth, seq)}
            first = [again[d.key] for d in first if d.key in again]
        return await self._settle(first, truth, seq)

    # ----------------------------------------------------------------- comparing
    async def _read(self) -> tuple[Truth, int]:
        """Truth and the ledger position it corresponds to (re-read if a fill landed meanwhile)."""
        for _ in range(3):
            seq = self._seq()
            truth = await self.source.read()
            if self._seq() == seq:
                return truth, seq
        return truth, self._seq()

    async def _differences(self, truth: Truth, seq: int) -> list[Difference]:
        diffs = await self._order_differences(truth)
        entries = self._entries_since(self.state.baseline_seq, seq)
        expected_bal = _add(self.state.baseline_balances, _balance_deltas(entries, self.source.balance_markets))
        diffs += self._amount_differences("balance", expected_bal, truth.balances)
        if truth.positions is not None:
            expected_pos = _add(self.state.baseline_positions, _perp_qty(entries))
            diffs += self._amount_differences("position", expected_pos, truth.positions)
        return diffs

    async def _order_differences(self, truth: Truth) -> list[Difference]:
        local = await self.source.local_open_orders()
        out: list[Difference] = []
        for cid, view in truth.open_orders.items():
            if cid not in local:
                out.append(Difference(f"order-unknown:{cid}", f"the exchange holds order {cid} ({view.symbol}) that "
                                      "we never placed; now tracked as a manual order", True))
            elif abs(local[cid].filled_qty_base - view.filled_qty_base) > self.settings.abs_tol:
                out.append(Difference(f"order-fill:{cid}", f"order {cid}: filled {view.filled_qty_base:g} on the "
                                      f"exchange vs {local[cid].filled_qty_base:g} here", False))
        for cid, view in local.items():
            if cid not in truth.open_orders:
                out.append(Difference(f"order-gone:{cid}", f"our open order {cid} ({view.symbol}) is not open on "
                                      "the exchange", True))
        return out

    def _amount_differences(self, what: str, expected: dict[str, float], actual: dict[str, float]) -> list[Difference]:
        out = []
        for key in sorted(set(expected) | set(actual)):
            e, a = expected.get(key, 0.0), actual.get(key, 0.0)
            diff = a - e
            if abs(diff) <= self.settings.abs_tol:
                continue
            material = abs(diff) > max(self.settings.abs_tol, self.settings.rel_tol * max(abs(a), abs(e)))
            out.append(Difference(f"{what}:{key}", f"{what} {key}: exchange {a:.10g}, expected {e:.10g} "
                                  f"(diff {diff:+.10g})", material))
        return out

    # ----------------------------------------------------------------- adopting
    async def _settle(self, diffs: list[Difference], truth: Truth, seq: int) -> ReconcileReport:
        now = self._now_ms()
        for d in diffs:
            await self._adopt_order_difference(d, truth, now)
            level = "action" if d.material else "warning"
            self._alert(level, "Reconciliation: exchange differs from state", d.text, f"reconcile:{d.key}")
        if any(d.key.startswith(("balance:", "position:")) for d in diffs):
            self._rebase(truth, seq)
        material = [d for d in diffs if d.material]
        paused = bool(material)
        if material:
            self.state.pending_ack = True
            self.state.mismatches = (self.state.mismatches + [d.text for d in material])[-50:]
            if self.control is not None:
                self.control.hold("reconcile", ACTOR, f"reconciliation found {len(material)} material "
                                  "difference(s); send ack_reconcile after checking the exchange")
        self.state.runs += 1
        self.state.last_run_ms = now
        self.state.last_differences = len(diffs)
        self._save()
        return ReconcileReport(diffs, paused)

    async def _adopt_order_difference(self, d: Difference, truth: Truth, now: int) -> None:
        kind, _, cid = d.key.partition(":")
        if kind == "order-unknown":
            await self.source.adopt_order(truth.open_orders[cid], now)
        elif kind in ("order-gone", "order-fill"):
            status = await self.source.refresh_order(cid)
            log.info("reconcile: order %s re-read from the exchange: %s", cid, status)

    def _adopt_baseline(self, truth: Truth, seq: int) -> ReconcileReport:
        self._rebase(truth, seq)
        self.state.baseline_set = True
        self.state.runs += 1
        self.state.last_run_ms = self._now_ms()
        self._save()
        n_pos = len(truth.positions or {})
        self._alert("info", "Reconciliation baseline adopted",
                    f"{self.source.venue_name}: {len(truth.balances)} balance(s), {n_pos} position(s), "
                    f"{len(truth.open_orders)} open order(s) taken as the starting point", "reconcile-baseline")
        return ReconcileReport([], False, baseline_adopted=True)

    def _rebase(self, truth: Truth, seq: int) -> None:
        self.state.baseline_balances = dict(truth.balances)
        self.state.baseline_positions = dict(truth.positions or {})
        self.state.baseline_seq = seq

    # ----------------------------------------------------------------- the person's side
    async def ack(self, _args: dict[str, str], actor: str) -> Result:
        """``ack_reconcile``: a person checked the exchange; entries may resume (a guard's halt stays)."""
        if not self.state.pending_ack:
            return True, "nothing to acknowledge: the last reconciliation found no material difference", {}
        seen = list(self.state.mismatches)
        self.state.pending_ack = False
        self.state.mismatches = []
        self._save()
        if self.control is None:
            return True, f"acknowledged {len(seen)} difference(s)", {"differences": seen}
        _, remains = self.control.release("reconcile", actor)  # only reconciliation's own hold
        return True, f"acknowledged {len(seen)} difference(s); now {remains}", {"differences": seen}

    def register_commands(self, registry: Any) -> None:
        registry.register("ack_reconcile", self.ack,
                          "acknowledge exchange/state differences found by reconciliation and resume entries")

    def snapshot(self) -> dict[str, Any]:
        """For the status board."""
        s = self.state
        return {"venue": self.source.venue_name, "ready": self.ready.is_set(), "runs": s.runs,
                "pending_ack": s.pending_ack, "last_differences": s.last_differences, "failures": self.failures,
                "mismatches": s.mismatches[-5:]}

    # ----------------------------------------------------------------- helpers
    def _seq(self) -> int:
        return self.ledger.last_seq if self.ledger is not None else 0

    def _entries_since(self, after: int, upto: int) -> list[LedgerEntry]:
        if self.ledger is None:
            return []
        return [e for e in self.ledger.since(after) if e.seq <= upto and e.venue == self.source.venue_name]

    def _alert(self, level: str, title: str, text: str, key: str) -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s: %s", title, text)
        self._publish(Alert(level, title, text, key=key, ts_ms=self._now_ms()))  # type: ignore[arg-type]

    def _save(self) -> None:
        self._store.save(self.file, self.state)


def _add(base: dict[str, float], deltas: dict[str, float]) -> dict[str, float]:
    out = dict(base)
    for k, v in deltas.items():
        out[k] = out.get(k, 0.0) + v
    return out


def _balance_deltas(entries: list[LedgerEntry], markets: frozenset[str]) -> dict[str, float]:
    total: dict[str, float] = {}
    for e in entries:
        if e.market in markets:
            for asset, amount in e.deltas.items():
                total[asset] = total.get(asset, 0.0) + amount
    return total


def _perp_qty(entries: list[LedgerEntry]) -> dict[str, float]:
    total: dict[str, float] = {}
    for e in entries:
        if e.kind == "fill" and e.market == "perp" and e.side is not None:
            total[e.symbol] = total.get(e.symbol, 0.0) + (e.qty_base if e.side == "buy" else -e.qty_base)
    return total


__all__ = ["Difference", "LiveTruth", "OrderView", "ReconcileReport", "ReconcileSettings", "ReconcileState",
           "Reconciler", "Truth", "TruthSource", "VenueTruth"]
