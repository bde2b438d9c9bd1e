"""The order router: the only path from an intent to a venue, with the risk guards in the way.

Venue selection is one small rule, so nobody can trade live by accident:

- ``replay`` and ``paper`` modes: everything goes to the paper engine;
- ``testnet``: strategies whose status is ``live`` or ``scaling`` go to the sandbox venue;
- ``live``: those strategies go to the live venue only while BOTH halves of the double gate hold —
  ``live.allow_live_trading`` in config AND a person's confirmation in ``control.json``; revoking
  either sends the very next order back to paper. Everything else is paper.

The live venue is the :class:`~src.orders.interface.ExecutionVenue` the composition root hands
in (testnet/live only); without one, nothing can go live.

Every intent — automatic, manual, carry — passes :class:`~src.risk.guards.RiskGuards` here before
any venue sees it. An intent whose client order id the venue already knows is *recovered*, not
re-decided: re-sending an existing id never creates a second order, so the guards cannot be
asked twice about money that already moved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from src.core.enums import MONEY_STATUSES, Mode
from src.core.events import Event, OrderUpdate
from src.orders.interface import ExecutionVenue, OrderIntent, OrderRecord, SimulatedVenue
from src.risk.guards import GuardDecision, RiskGuards

log = logging.getLogger(__name__)

LIVE_STATUSES = MONEY_STATUSES


class Router:
    """Chooses the venue for a strategy and enforces the guards on every order."""

    def __init__(self, mode: Mode, allow_live: bool, control: Any, guards: RiskGuards, paper: SimulatedVenue,
                 live_venue: Callable[[], ExecutionVenue | None], publish: Callable[[Event], None],
                 clock_ms: Callable[[], int]) -> None:
        self.mode, self.allow_live, self.control = mode, allow_live, control
        self.guards, self.paper, self._live = guards, paper, live_venue
        self._publish, self._now = publish, clock_ms
        self.sent: dict[str, int] = {"paper": 0, "live": 0}

    def venue_for(self, status: str) -> ExecutionVenue:
        """The venue a strategy with lifecycle ``status`` trades on right now."""
        live = self._live()
        if live is None or status not in LIVE_STATUSES or self.mode in ("replay", "paper"):
            return self.paper
        if self.mode == "testnet":
            return live
        if self.live_gate_open():
            return live
        return self.paper

    def route_name(self, status: str) -> str:
        """``"live"`` or ``"paper"``: where an order of a strategy with ``status`` would go now."""
        return "paper" if self.venue_for(status) is self.paper else "live"

    def live_gate_open(self) -> bool:
        """Both halves of the double gate: config allows live trading AND a person confirmed it."""
        return bool(self.allow_live and self.control.state.live_confirmed)

    def price(self, symbol: str) -> float | None:
        return self.paper.ref_price(symbol)

    async def submit(self, intent: OrderIntent, status: str, leverage: float = 1.0,
                     held_base: float | None = None,
                     venue_name: str | None = None) -> tuple[GuardDecision, OrderRecord | None]:
        """Guards, then the venue; a refused intent never reaches a venue and is published as rejected.

        ``venue_name`` pins the venue (an exit goes where its position lives, whatever the gate
        says now); otherwise the strategy's ``status`` decides.
        """
        venue = self._named(venue_name) if venue_name else self.venue_for(status)
        if venue is None:
            log.critical("order %s needs the live venue, which is not available", intent.client_order_id)
            return self._refuse(intent, GuardDecision(False, 0.0, None, "live venue unavailable")), None
        known = await self.lookup(venue, intent.client_order_id)
        if known is not None:
            return GuardDecision(True, known.intent.qty_base, None, "recovered"), await venue.submit(known.intent)
        price = self.price(intent.symbol)
        if price is None:
            decision = GuardDecision(False, 0.0, None, "no price known")
        else:
            decision = self.guards.check(intent, price, leverage, held_base,
                                         venue="paper" if venue is self.paper else "live")
        if not decision.allowed:
            return self._refuse(intent, decision), None
        if decision.qty_base < intent.qty_base:
            intent = intent.model_copy(update={"qty_base": decision.qty_base})
        self.sent["live" if venue is not self.paper else "paper"] += 1
        return decision, await venue.submit(intent)

    def _named(self, name: str) -> ExecutionVenue | None:
        return self.paper if name == "paper" else self._live()

    def venue_named(self, name: str) -> ExecutionVenue | None:
        """The venue a position or order pinned to ``name`` lives on (None if live is unavailable)."""
        return self._named(name)

    def _refuse(self, intent: OrderIntent, decision: GuardDecision) -> GuardDecision:
        reason = decision.reason.value if decision.reason else decision.detail
        self._publish(OrderUpdate(intent.client_order_id, intent.symbol, intent.side, "rejected", intent.qty_base,
                                  intent.price_quote, self._now(), intent.strategy_id, f"risk: {reason}"))
        return decision

    @staticmethod
    async def lookup(venue: ExecutionVenue, client_order_id: str) -> OrderRecord | None:
        """The venue's record of ``client_order_id`` if it has one (venues may offer ``lookup``)."""
        find = getattr(venue, "lookup", None)
        if find is None:
            return None
        found = find(client_order_id)
        if hasattr(found, "__await__"):
            found = await found
        return found

    def on_market_event(self, ev: Event) -> None:
        """Market data for the paper engine (prices, books, tape, funding)."""
        self.paper.on_event(ev)

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "live_gate": self.live_gate_open(),
                "live_venue": self._live() is not None, "sent": dict(self.sent)}
