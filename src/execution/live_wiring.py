"""Wiring of live execution, reconciliation and the funding carry into the supervised bot.

Called from :func:`src.app.components.add_components` *after* the trading loop
(:mod:`src.execution.setup`), whose ledger, paper engine and router it reuses:

* ``testnet`` / ``live``: the :class:`~src.execution.live_ccxt.LiveVenue` on the shared exchange
  clients (sandbox in testnet) becomes ``ctx.services["live_venue"]`` — the router sends approved
  strategies there only through the double gate — plus a poller that records fills;
* every mode: a :class:`~src.execution.reconcile.Reconciler` against the venue in use (the exchange,
  or the paper engine in replay/paper) with the ``ack_reconcile`` command;
* ``funding.enabled``: the carry runner, its orders through the router (so through the guards).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from src.app.supervisor import Supervisor
from src.execution.live_ccxt import LiveVenue
from src.execution.live_ledger import LiveFillRecorder
from src.execution.order_store import OrderStore
from src.execution.reconcile import LiveTruth, Reconciler, TruthSource, VenueTruth
from src.funding.carry import CarryParams
from src.funding.perp_prices import PerpPriceWatcher
from src.funding.runner import CarryRunner, OrderPort, RouterPort, VenuePort
from src.runtime.context import AppContext

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
    """Component ``funding_carry``: feeds funding and candle events to the carry runner."""

    name = "funding_carry"

    def __init__(self, ctx: AppContext, runner: CarryRunner) -> None:
        self.ctx, self.runner = ctx, runner
        self.sub = ctx.bus.subscribe(self.name, runner.on_event, kinds=("funding", "candle"))

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self.sub)


def build_live_venue(ctx: AppContext) -> LiveVenue:
    """The live (or sandbox) venue on the shared, budgeted exchange clients."""
    from src.exchange.clients import exchange_clients

    clients = exchange_clients(ctx)
    orders = OrderStore(ctx.store, folder=f"orders_{ctx.config.mode}", now_ms=ctx.clock.now_ms)
    ledger = ctx.services.get("ledger")
    recorder = LiveFillRecorder(ledger, ctx.config.quote, venue=ctx.config.mode) if ledger is not None else None
    if recorder is not None:
        recorder.catch_up(orders)
    cache = ctx.services.get("market_cache")
    return LiveVenue(clients.spot, clients.futures, orders, publish=ctx.bus.publish, now_ms=ctx.clock.now_ms,
                     quote=ctx.config.quote, name=ctx.config.mode, recorder=recorder,
                     ref_price=cache.last_price if cache is not None else None)


def _truth_source(ctx: AppContext, live: LiveVenue | None) -> TruthSource | None:
    if live is not None:
        carry = list(ctx.config.funding.symbols) if ctx.config.funding.enabled else []
        return LiveTruth(live, list(ctx.config.exchange.symbols), carry)
    paper = ctx.services.get("paper_engine")
    if paper is None:
        return None

    def paper_positions() -> dict[str, float]:
        return {s: p.qty_base for s, p in paper.wallet.state.perp.items() if p.is_open}

    return VenueTruth(paper, positions=paper_positions)


def _perp_prices(ctx: AppContext, supervisor: Supervisor) -> PerpPriceWatcher | None:
    """Real perp prices for the basis guard outside replay (replay prices the perp at spot)."""
    if ctx.config.mode == "replay":
        return None
    from src.exchange.clients import exchange_clients

    futures = exchange_clients(ctx).futures
    if futures is None:
        return None
    watcher = PerpPriceWatcher(futures, ctx.config.funding.symbols, ctx.clock.now_ms)
    supervisor.add(watcher)
    return watcher


def _carry_runner(ctx: AppContext, live: LiveVenue | None, perp: PerpPriceWatcher | None) -> CarryRunner:
    cfg, services = ctx.config, ctx.services
    router, paper, cache = services.get("router"), services.get("paper_engine"), services["market_cache"]
    port: OrderPort
    if router is not None:
        port = RouterPort(router, "live" if cfg.mode in ("testnet", "live") else "paper")
    else:
        port = VenuePort(live or paper)
    portfolio = services.get("portfolio")
    equity = portfolio.equity_quote if portfolio is not None else paper.equity_quote
    control = services["control"]

    def history(symbol: str) -> list[tuple[int, float]]:
        frame = cache.funding(symbol)
        return [(int(t), float(r)) for t, r in zip(frame["timestamp"], frame["funding_rate"], strict=True)]

    return CarryRunner(CarryParams.from_config(cfg.funding, cfg.replay.simulator.funding_period_hours),
                       cfg.funding.symbols, port, ctx.store, spot_price=cache.last_price, equity_quote=equity,
                       entries_allowed=lambda: control.state.entries_allowed, history=history,
                       perp_price=perp.price if perp is not None else None)


def add_live_components(ctx: AppContext, supervisor: Supervisor) -> dict[str, Any]:
    """Register live venue (testnet/live), reconciler (all modes) and carry (when enabled)."""
    added: dict[str, Any] = {}
    live: LiveVenue | None = None
    if ctx.config.mode in ("testnet", "live"):
        live = build_live_venue(ctx)
        ctx.services["live_venue"] = added["live_venue"] = live
        ctx.status.register("live_venue", live.snapshot)
        supervisor.add(LiveOrderPoller(live))
        if ctx.config.supervisor.cancel_open_orders_on_stop:
            async def cancel_open() -> None:
                await live.cancel_all()  # type: ignore[union-attr]
            supervisor.on_shutdown("cancel_live_orders", cancel_open)
        supervisor.on_shutdown("exchange_clients", ctx.services["exchange"].close, phase="release")  # idempotent
    source = _truth_source(ctx, live)
    if source is not None:
        rec = Reconciler(source, store=ctx.store, ledger=ctx.services.get("ledger"), control=ctx.services["control"],
                         publish=ctx.bus.publish, now_ms=ctx.clock.now_ms)
        rec.register_commands(ctx.services["commands"])
        if live is not None:
            live.entry_gate = rec.ready  # no new risk before the exchange and our files were compared once
        ctx.services["reconciler"] = added["reconciler"] = rec
        ctx.status.register("reconcile", rec.snapshot)
        supervisor.add(rec)
    if ctx.config.funding.enabled:
        runner = _carry_runner(ctx, live, _perp_prices(ctx, supervisor))
        ctx.services["carry"] = added["carry"] = runner
        ctx.status.register("funding_carry", runner.describe)
        supervisor.add(CarryComponent(ctx, runner))
    return added
