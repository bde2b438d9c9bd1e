"""Composition root, live side: live execution, reconciliation and the funding carry.

Used by :func:`src.app.wiring.assemble`, which builds the live venue before the trading loop
(:mod:`src.app.wire_execution`) and the reconciler and carry after it:

* ``testnet`` / ``live``: the :class:`~src.execution.live_ccxt.LiveVenue` on the shared exchange
  clients (sandbox in testnet) — the router sends approved strategies there only through the
  double gate — plus a poller that records fills;
* every mode: a :class:`~src.execution.reconcile.Reconciler` against the venue in use (the exchange,
  or the paper engine in replay/paper) with the ``ack_reconcile`` command;
* ``funding.enabled``: the carry runner, its orders through the router (so through the guards).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ai_brain.paper.paper_trading_engine import PaperEngine
from src.app.supervisor import Supervisor
from src.app.wire_execution import Execution
from src.exchange.clients import ExchangeClients
from src.execution.account_preflight import preflight_component
from src.execution.live_ccxt import LiveSettings, LiveVenue
from src.execution.reconcile import LiveTruth, Reconciler, TruthSource, VenueTruth
from src.funding.carry import CarryParams
from src.funding.perp_prices import PerpPriceWatcher
from src.funding.runner import CarryRunner, RouterPort
from src.market.cache import MarketCache
from src.orders.fees import FeeSchedule
from src.orders.ledger import Ledger
from src.orders.live_ledger import LiveFillRecorder
from src.orders.order_store import OrderStore
from src.runtime.context import AppContext
from src.state.control import Controller
from src.state.inbox import CommandRegistry

log = logging.getLogger(__name__)

POLL_S = 5.0


class LiveOrderPoller:
    """Component ``live_orders``: resolve unknown send outcomes at start, then record fills as they come."""

    name = "live_orders"

    def __init__(self, venue: LiveVenue, interval_s: float = POLL_S) -> None:
        self.venue, self.interval_s = venue, interval_s

    async def run(self) -> None:
        await self.venue.resolve_unresolved()
        while True:
            try:
                await self.venue.poll_active()
            except Exception:  # an outage must not stop the poller; the next round retries
                log.exception("polling live orders failed")
            await asyncio.sleep(self.interval_s)


class CarryComponent:
    """Component ``funding_carry``: the tick pipeline feeds it; this only keeps it on the status board."""

    name = "funding_carry"

    def __init__(self, runner: CarryRunner) -> None:
        self.runner = runner

    async def run(self) -> None:
        await asyncio.Event().wait()


def build_live_venue(ctx: AppContext, clients: ExchangeClients, ledger: Ledger, cache: MarketCache) -> LiveVenue:
    """The live (or sandbox) venue on the shared, budgeted exchange clients; fills go to ``ledger``."""
    orders = OrderStore(ctx.store, folder=f"orders_{ctx.config.mode}", now_ms=ctx.clock.now_ms)
    recorder = LiveFillRecorder(ledger, ctx.config.quote, venue=ctx.config.mode)
    recorder.catch_up(orders)
    return LiveVenue(clients.spot, clients.futures, orders, publish=ctx.bus.publish, now_ms=ctx.clock.now_ms,
                     quote=ctx.config.quote, name=ctx.config.mode, recorder=recorder, ref_price=cache.last_price,
                     fees=FeeSchedule.from_config(ctx.config.fees),
                     settings=LiveSettings(lookup_window_s=ctx.config.exchange.order_lookup_window_s))


def _truth_source(ctx: AppContext, live: LiveVenue | None, paper: PaperEngine) -> TruthSource:
    if live is not None:
        carry = list(ctx.config.funding.symbols) if ctx.config.funding.enabled else []
        return LiveTruth(live, list(ctx.config.exchange.symbols), carry)

    def paper_positions() -> dict[str, float]:
        return {s: p.qty_base for s, p in paper.wallet.state.perp.items() if p.is_open}

    return VenueTruth(paper, positions=paper_positions)


def _perp_prices(ctx: AppContext, supervisor: Supervisor, clients: ExchangeClients | None) -> PerpPriceWatcher | None:
    """Real perp prices for the basis guard outside replay (replay prices the perp at spot)."""
    if clients is None or clients.futures is None:
        return None
    watcher = PerpPriceWatcher(clients.futures, ctx.config.funding.symbols, ctx.clock.now_ms)
    supervisor.add(watcher)
    return watcher


def _carry_runner(ctx: AppContext, ex: Execution, control: Controller, cache: MarketCache,
                  perp: PerpPriceWatcher | None, status: Callable[[], str | None]) -> CarryRunner:
    cfg = ctx.config
    port = RouterPort(ex.router, status)  # the lifecycle's status, like any strategy

    def history(symbol: str) -> list[tuple[int, float]]:
        frame = cache.funding(symbol)
        return [(int(t), float(r)) for t, r in zip(frame["timestamp"], frame["funding_rate"], strict=True)]

    params = CarryParams.from_config(cfg.funding, cfg.replay.simulator.funding_period_hours,
                                     FeeSchedule.from_config(cfg.fees))
    return CarryRunner(params,
                       cfg.funding.symbols, port, ctx.store, spot_price=cache.last_price,
                       equity_quote=lambda: ex.portfolio.equity_quote(ex.router.route_name(status() or "dry_run")),
                       entries_allowed=lambda: control.state.entries_allowed,
                       history=history, perp_price=perp.price if perp is not None else None)


@dataclass(frozen=True)
class LiveParts:
    """What the live side adds: the reconciler always, the carry when enabled."""

    reconciler: Reconciler
    carry: CarryRunner | None


def add_live_components(ctx: AppContext, supervisor: Supervisor, ex: Execution, live: LiveVenue | None,
                        clients: ExchangeClients | None, control: Controller, registry: CommandRegistry,
                        cache: MarketCache, carry_status: Callable[[], str | None] = lambda: None) -> LiveParts:
    """Register the live venue's poller (testnet/live), the reconciler (all modes), the carry (when enabled)."""
    if live is not None:
        ctx.status.register("live_venue", live.snapshot)
        supervisor.add(LiveOrderPoller(live))
        live.account_gate = asyncio.Event()  # entries wait for the key / futures account checks
        perps = sorted(set(ctx.config.exchange.symbols) | set(ctx.config.funding.symbols))
        def halt(why: str) -> None:
            control.hold("account", "preflight", why)

        supervisor.add(preflight_component(live.spot, live.futures, ctx.config.exchange, ctx.config.mode, perps,
                                           live.account_gate, halt=halt, publish=ctx.bus.publish,
                                           now_ms=ctx.clock.now_ms), restart=False)
        if ctx.config.supervisor.cancel_open_orders_on_stop:
            async def cancel_open() -> None:
                await live.cancel_all()
            supervisor.on_shutdown("cancel_live_orders", cancel_open)
    rec = Reconciler(_truth_source(ctx, live, ex.paper), store=ctx.store, ledger=ex.ledger, control=control,
                     publish=ctx.bus.publish, now_ms=ctx.clock.now_ms)
    rec.register_commands(registry)
    if live is not None:
        live.entry_gate = rec.ready  # no new risk before the exchange and our files were compared once
    ctx.status.register("reconcile", rec.snapshot)
    supervisor.add(rec)
    carry: CarryRunner | None = None
    if ctx.config.funding.enabled:
        carry = _carry_runner(ctx, ex, control, cache, _perp_prices(ctx, supervisor, clients), carry_status)
        ctx.status.register("funding_carry", carry.describe)
        supervisor.add(CarryComponent(carry))
    return LiveParts(rec, carry)
